// Tests of weft's exception hierarchy (weft/error.hpp) and of the messages weft's calls throw.
//
// DESIGN.md: every error derives from weft::error, itself a std::runtime_error. STYLE.md §2.8:
// a message reads "weft::<component>::<function>: <what went wrong> (<values>); <what to do>",
// starts lowercase after the call's name and ends without a period. Each message test below
// triggers the error through the public API, so it checks what users actually see.

#include <exception>
#include <functional>
#include <latch>
#include <regex>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

#include "support/test_support.hpp"
#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/pool_options.hpp>
#include <weft/thread_pool.hpp>

namespace {

using namespace std::chrono_literals;

// ---- Hierarchy ---------------------------------------------------------------------------------

template <typename E>
class ErrorHierarchy : public ::testing::Test {};

using error_types = ::testing::Types<weft::pool_shutdown, weft::queue_full, weft::timeout_error,
                                     weft::cancelled_error, weft::queue_closed, weft::broken_pool,
                                     weft::usage_error>;
// Names the typed tests after the error type (PoolShutdown, QueueFull, ...).
struct error_type_name {
  template <typename E>
  static std::string GetName(int /*index*/) {
    if constexpr (std::is_same_v<E, weft::pool_shutdown>) {
      return "PoolShutdown";
    } else if constexpr (std::is_same_v<E, weft::queue_full>) {
      return "QueueFull";
    } else if constexpr (std::is_same_v<E, weft::timeout_error>) {
      return "TimeoutError";
    } else if constexpr (std::is_same_v<E, weft::cancelled_error>) {
      return "CancelledError";
    } else if constexpr (std::is_same_v<E, weft::queue_closed>) {
      return "QueueClosed";
    } else if constexpr (std::is_same_v<E, weft::broken_pool>) {
      return "BrokenPool";
    } else {
      return "UsageError";
    }
  }
};
TYPED_TEST_SUITE(ErrorHierarchy, error_types, error_type_name);

TYPED_TEST(ErrorHierarchy, DerivesFromWeftErrorAndRuntimeError) {
  static_assert(std::is_base_of_v<weft::error, TypeParam>);
  static_assert(std::is_base_of_v<std::runtime_error, TypeParam>);
  static_assert(std::is_base_of_v<std::runtime_error, weft::error>);
  static_assert(std::is_nothrow_copy_constructible_v<TypeParam>,
                "exceptions must be copyable without throwing (std::exception_ptr copies)");
}

TYPED_TEST(ErrorHierarchy, IsCaughtAsWeftErrorWithItsMessage) {
  const std::string message = "weft::test::call: something went wrong (x); do this instead";
  try {
    throw TypeParam(message);
  } catch (const weft::error& e) {
    EXPECT_EQ(e.what(), message) << "weft::error must keep the message it was given";
    EXPECT_NE(dynamic_cast<const TypeParam*>(&e), nullptr) << "the dynamic type must survive";
    return;
  } catch (...) {
    ADD_FAILURE() << "the error was not caught as weft::error";
    return;
  }
}

TYPED_TEST(ErrorHierarchy, IsCaughtAsStdRuntimeError) {
  try {
    throw TypeParam("weft::test::call: failed; retry");
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "weft::test::call: failed; retry");
    return;
  } catch (...) {
    ADD_FAILURE() << "the error was not caught as std::runtime_error";
    return;
  }
}

// ---- Messages of real calls --------------------------------------------------------------------

// Runs `call`, which must throw exactly E, and returns the message ("" after a failure).
template <typename E, typename F>
std::string message_of(F&& call) {
  try {
    std::invoke(std::forward<F>(call));
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw another exception type: " << e.what();
    return "";
  } catch (...) {
    ADD_FAILURE() << "threw an exception not derived from std::exception";
    return "";
  }
  ADD_FAILURE() << "threw nothing";
  return "";
}

// Checks the project-wide format: "weft::<scope>::<function>: <lowercase text>; <what to do>",
// without a trailing period.
void expect_well_formed(const std::string& message, const std::string& function) {
  SCOPED_TRACE("message: " + message);
  EXPECT_EQ(message.rfind(function + ": ", 0), 0U) << "must start with \"" << function << ": \"";
  EXPECT_TRUE(std::regex_search(message, std::regex("^weft::[a-z_:]+: [a-z]")))
      << "the text after the call's name must start lowercase";
  EXPECT_NE(message.find("; "), std::string::npos) << "must say what to do after \"; \"";
  ASSERT_FALSE(message.empty());
  EXPECT_NE(message.back(), '.') << "must end without a period";
}

TEST(ErrorMessages, SubmitAfterShutdownNamesTheCallThePoolAndTheRemedy) {
  weft::thread_pool pool{weft::pool_options{.threads = 1, .name = "orders"}};
  pool.shutdown();
  const std::string submit = message_of<weft::pool_shutdown>([&] { pool.submit([] {}); });
  expect_well_formed(submit, "weft::thread_pool::submit");
  EXPECT_NE(submit.find("shut down"), std::string::npos) << submit;
  EXPECT_NE(submit.find("'orders'"), std::string::npos) << "must name the pool: " << submit;
  EXPECT_NE(submit.find("new pool"), std::string::npos) << "must say what to do: " << submit;

  const std::string post = message_of<weft::pool_shutdown>([&] { pool.post([] {}); });
  expect_well_formed(post, "weft::thread_pool::post");
  EXPECT_NE(post.find("shut down"), std::string::npos) << post;

  const std::vector<int> inputs{1, 2, 3};
  const std::string each =
      message_of<weft::pool_shutdown>([&] { pool.submit_each(inputs, [](int x) { return x; }); });
  expect_well_formed(each, "weft::thread_pool::submit_each");
  EXPECT_NE(each.find("shut down"), std::string::npos) << each;
}

TEST(ErrorMessages, EmptyCallableSaysEmpty) {
  weft::thread_pool pool{1};
  void (*null_function)() = nullptr;
  const std::string submit = message_of<weft::usage_error>([&] { pool.submit(null_function); });
  expect_well_formed(submit, "weft::thread_pool::submit");
  EXPECT_NE(submit.find("empty"), std::string::npos) << submit;

  const std::function<void()> empty;
  const std::string post = message_of<weft::usage_error>([&] { pool.post(empty); });
  expect_well_formed(post, "weft::thread_pool::post");
  EXPECT_NE(post.find("empty"), std::string::npos) << post;
}

TEST(ErrorMessages, WaitAndJoinFromOwnWorkerSayWhyAndWhatToDo) {
  weft::thread_pool pool{weft::pool_options{.threads = 1, .name = "self"}};
  auto messages = pool.submit([&pool] {
    return std::vector<std::string>{
        message_of<weft::usage_error>([&] { pool.wait(); }),
        message_of<weft::usage_error>([&] { pool.join(); }),
    };
  });
  const std::vector<std::string>& m = messages.get();
  ASSERT_EQ(m.size(), 2U);
  expect_well_formed(m[0], "weft::thread_pool::wait");
  expect_well_formed(m[1], "weft::thread_pool::join");
  for (const std::string& text : m) {
    EXPECT_NE(text.find("worker 0"), std::string::npos) << "must name the worker: " << text;
    EXPECT_NE(text.find("'self'"), std::string::npos) << "must name the pool: " << text;
  }
}

TEST(ErrorMessages, BrokenPoolCarriesTheHookError) {
  std::latch hook_may_throw{1};
  weft::thread_pool pool{weft::pool_options{
      .threads = 1,
      .name = "fragile",
      .on_thread_start =
          [&] {
            hook_may_throw.wait();
            throw std::runtime_error("no database connection");
          },
      .on_error = [](const std::exception_ptr&) {},
  }};
  auto f = pool.submit([] { return 1; });
  hook_may_throw.count_down();
  const std::string queued = message_of<weft::broken_pool>([&] { static_cast<void>(f.get()); });
  EXPECT_NE(queued.find("on_thread_start"), std::string::npos) << queued;
  EXPECT_NE(queued.find("no database connection"), std::string::npos)
      << "must carry the hook's own message: " << queued;
  EXPECT_NE(queued.find("'fragile'"), std::string::npos) << queued;

  const std::string later = message_of<weft::broken_pool>([&] { pool.submit([] {}); });
  expect_well_formed(later, "weft::thread_pool::submit");
  EXPECT_NE(later.find("no database connection"), std::string::npos) << later;
}

TEST(ErrorMessages, FutureErrorsNameTheCallAndTheState) {
  weft::future<int> invalid;
  const std::string get_invalid =
      message_of<weft::usage_error>([&] { static_cast<void>(invalid.get()); });
  expect_well_formed(get_invalid, "weft::future::get");
  EXPECT_NE(get_invalid.find("invalid"), std::string::npos) << get_invalid;

  weft::thread_pool pool{1};
  std::latch release{1};
  auto blocker = pool.submit([&] { release.wait(); });
  auto queued = pool.submit([] { return 7; });

  const std::string timeout =
      message_of<weft::timeout_error>([&] { static_cast<void>(queued.get_for(0ms)); });
  expect_well_formed(timeout, "weft::future::get_for");
  EXPECT_NE(timeout.find("pending"), std::string::npos) << "must name the state: " << timeout;

  ASSERT_TRUE(queued.cancel()) << "the task cannot have started: the only worker is blocked";
  const std::string cancelled =
      message_of<weft::cancelled_error>([&] { static_cast<void>(queued.get()); });
  expect_well_formed(cancelled, "weft::future::get");
  EXPECT_NE(cancelled.find("cancelled"), std::string::npos) << cancelled;

  release.count_down();
  auto value = pool.submit([] { return 5; });
  EXPECT_EQ(std::move(value).get(), 5);
  // get() after the move-out is the misuse under test.
  // NOLINTNEXTLINE(bugprone-use-after-move)
  const std::string moved = message_of<weft::usage_error>([&] { static_cast<void>(value.get()); });
  expect_well_formed(moved, "weft::future::get");
  EXPECT_NE(moved.find("moved out"), std::string::npos) << moved;
  blocker.get();
}

}  // namespace
