// Tests of weft::future<T> (RELIABILITY.md group C): values and move-out (C1), exceptions (C2),
// states (C3), exception() (C8), invalid handles (C9), shared ownership (C10), futures that
// never run (C12), plus void and move-only results and tasks that take a std::stop_token.
// Waiting (C4-C6, C11) is in future_wait_test.cpp.
//
// Tasks are held at known points with gates (support/task_gates.hpp), never with sleeps.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "support/pool_helpers.hpp"
#include "support/task_gates.hpp"
#include "support/test_support.hpp"
#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/future_state.hpp>
#include <weft/this_worker.hpp>
#include <weft/thread_pool.hpp>

namespace {

using namespace std::chrono_literals;
using weft::future_state;
using weft_test::event_timeout;
using weft_test::test_error;

class derived_error : public test_error {
 public:
  using test_error::test_error;
};

bool is_done_state(future_state s) {
  return s == future_state::succeeded || s == future_state::failed || s == future_state::cancelled;
}

// C3: the four observers agree with `expected`.
template <typename T>
void expect_state(const weft::future<T>& f, future_state expected) {
  EXPECT_EQ(f.state(), expected);
  EXPECT_EQ(f.done(), is_done_state(expected));
  EXPECT_EQ(f.running(), expected == future_state::running);
  EXPECT_EQ(f.cancelled(), expected == future_state::cancelled);
}

class FutureOnPool : public ::testing::TestWithParam<weft_test::pool_size> {};

// ---- C1, move-only results, void -------------------------------------------------------------

TEST(Future, GetReturnsTheSameConstReferenceRepeatedly) {
  weft::thread_pool pool{2};
  weft::future<std::string> f = pool.submit([] { return std::string("weft"); });
  static_assert(std::is_same_v<decltype(f.get()), const std::string&>);
  const std::string& first = f.get();
  const std::string& second = f.get();
  EXPECT_EQ(first, "weft");
  EXPECT_EQ(&first, &second);
  const weft::future<std::string> copy = f;
  EXPECT_EQ(&copy.get(), &first);
}

TEST(Future, MoveOutTakesTheValueOnce) {
  weft::thread_pool pool{2};
  weft::future<std::unique_ptr<int>> f = pool.submit([] { return std::make_unique<int>(42); });
  const weft::future<std::unique_ptr<int>> copy = f;
  static_assert(std::is_same_v<decltype(f.get()), const std::unique_ptr<int>&>);
  ASSERT_NE(f.get(), nullptr);  // get() on an lvalue reads without taking
  EXPECT_EQ(*f.get(), 42);
  std::unique_ptr<int> taken = std::move(f).get();
  ASSERT_NE(taken, nullptr);
  EXPECT_EQ(*taken, 42);
  EXPECT_THROW(static_cast<void>(std::move(f).get()), weft::usage_error);
  EXPECT_THROW(static_cast<void>(f.get()), weft::usage_error);
  EXPECT_THROW(static_cast<void>(copy.get()), weft::usage_error);  // once for all copies
  EXPECT_THROW(static_cast<void>(f.get_for(0s)), weft::usage_error);
  try {
    static_cast<void>(copy.get());
  } catch (const weft::usage_error& e) {
    EXPECT_NE(std::string(e.what()).find("moved out"), std::string::npos) << e.what();
  }
  expect_state(f, future_state::succeeded);  // the outcome itself is unchanged
}

TEST(Future, VoidFutureWaitsRethrowsAndCancels) {
  weft::thread_pool pool{1};
  std::atomic<int> ran{0};
  weft::future<void> ok = pool.submit([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
  static_assert(std::is_void_v<decltype(ok.get())>);
  ok.get();
  ok.get();
  std::move(ok).get();
  EXPECT_EQ(ran.load(), 1);
  expect_state(ok, future_state::succeeded);

  weft::future<void> bad = pool.submit([] { throw test_error("void failed"); });
  EXPECT_THROW(bad.get(), test_error);
  EXPECT_THROW(std::move(bad).get(), test_error);

  weft_test::worker_gate hold(pool, 1);
  ASSERT_TRUE(hold.all_running());
  weft::future<void> never = pool.submit([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
  ASSERT_TRUE(never.cancel());
  EXPECT_THROW(never.get(), weft::cancelled_error);
  hold.open();
  pool.wait();
  EXPECT_EQ(ran.load(), 1);
}

// ---- C2 ------------------------------------------------------------------------------------

TEST_P(FutureOnPool, GetRethrowsTheTasksExceptionWithItsDynamicType) {
  weft::thread_pool pool{GetParam().threads};
  weft::future<int> f = pool.submit([]() -> int { throw derived_error("the task failed"); });
  try {
    static_cast<void>(f.get());
    ADD_FAILURE() << "get() returned instead of rethrowing";
  } catch (const test_error& e) {  // caught as a base: the dynamic type must still be derived
    EXPECT_EQ(typeid(e), typeid(derived_error));
    EXPECT_STREQ(e.what(), "the task failed");
  }
  EXPECT_THROW(static_cast<void>(f.get()), derived_error);  // again: the outcome is kept
  EXPECT_THROW(static_cast<void>(std::move(f).get()), derived_error);
  expect_state(f, future_state::failed);
}

TEST_P(FutureOnPool, GetRethrowsExceptionsNotDerivedFromStdException) {
  weft::thread_pool pool{GetParam().threads};
  weft::future<int> number = pool.submit([]() -> int { throw 42; });
  weft::future<void> text = pool.submit([] { throw std::string("plain string"); });
  try {
    static_cast<void>(number.get());
    ADD_FAILURE() << "get() returned instead of rethrowing";
  } catch (int thrown) {
    EXPECT_EQ(thrown, 42);
  }
  try {
    text.get();
    ADD_FAILURE() << "get() returned instead of rethrowing";
  } catch (const std::string& thrown) {
    EXPECT_EQ(thrown, "plain string");
  }
}

TEST_P(FutureOnPool, FailedTasksAreCountedAndThePoolKeepsWorking) {
  const std::size_t threads = GetParam().threads;
  weft::thread_pool pool{threads};
  const weft::pool_stats before = pool.stats();
  constexpr int failures = 50;
  std::vector<weft::future<int>> failed;
  for (int i = 0; i < failures; ++i) {
    failed.push_back(pool.submit([i]() -> int {
      if (i % 2 == 0) {
        throw test_error("even");
      }
      throw i;
    }));
  }
  for (auto& f : failed) {
    ASSERT_TRUE(f.wait_for(event_timeout));
    expect_state(f, future_state::failed);
  }
  pool.wait();  // the counters are final once the pool is idle
  const weft::pool_stats after = pool.stats();
  EXPECT_EQ(after.failed - before.failed, static_cast<std::uint64_t>(failures));
  EXPECT_EQ(after.threads, threads);
  // Every worker is still alive and takes tasks: all of them run one at the same time.
  const auto indices = weft_test::on_every_worker(
      pool, threads, [threads] { return weft::this_worker::index().value_or(threads + 1); });
  ASSERT_TRUE(indices.has_value()) << "not every worker survived the failures";
  EXPECT_EQ(pool.submit([] { return 7; }).get(), 7);
}

// ---- C3 ------------------------------------------------------------------------------------

TEST_P(FutureOnPool, StatesGoPendingRunningSucceeded) {
  const std::size_t threads = GetParam().threads;
  weft::thread_pool pool{threads};
  weft_test::worker_gate hold(pool, threads);
  ASSERT_TRUE(hold.all_running());
  const weft_test::event started;
  const weft_test::gate finish;
  weft::future<int> f = pool.submit([started, go = finish.waiter()] {
    started.set();
    go.wait();
    return 5;
  });
  expect_state(f, future_state::pending);
  hold.open();
  ASSERT_TRUE(started.wait_for(event_timeout));
  expect_state(f, future_state::running);
  EXPECT_FALSE(f.cancel());  // a running task cannot be cancelled...
  expect_state(f, future_state::running);
  finish.open();
  EXPECT_EQ(f.get(), 5);  // ...and still completes
  expect_state(f, future_state::succeeded);
}

TEST_P(FutureOnPool, StatesGoRunningFailed) {
  weft::thread_pool pool{GetParam().threads};
  const weft_test::event started;
  const weft_test::gate finish;
  weft::future<int> f = pool.submit([started, go = finish.waiter()]() -> int {
    started.set();
    go.wait();
    throw test_error("late failure");
  });
  ASSERT_TRUE(started.wait_for(event_timeout));
  expect_state(f, future_state::running);
  finish.open();
  EXPECT_THROW(static_cast<void>(f.get()), test_error);
  expect_state(f, future_state::failed);
}

TEST_P(FutureOnPool, StatesGoPendingCancelled) {
  const std::size_t threads = GetParam().threads;
  weft::thread_pool pool{threads};
  weft_test::worker_gate hold(pool, threads);
  ASSERT_TRUE(hold.all_running());
  weft::future<int> f = pool.submit([] { return 1; });
  expect_state(f, future_state::pending);
  ASSERT_TRUE(f.cancel());
  expect_state(f, future_state::cancelled);  // at once, not when the entry leaves the queue
  hold.open();
  pool.wait();
  expect_state(f, future_state::cancelled);
}

// ---- C8 ------------------------------------------------------------------------------------

TEST(FutureException, NullOnSuccessTheErrorOnFailureCancelledErrorOnCancel) {
  weft::thread_pool pool{1};
  weft::future<int> ok = pool.submit([] { return 1; });
  EXPECT_EQ(ok.exception(), nullptr);  // waits first
  EXPECT_TRUE(ok.done());

  weft::future<int> bad = pool.submit([]() -> int { throw derived_error("stored"); });
  const std::exception_ptr stored = bad.exception();
  ASSERT_NE(stored, nullptr);
  EXPECT_EQ(stored, bad.exception());  // the same stored exception each time
  try {
    std::rethrow_exception(stored);
  } catch (const derived_error& e) {
    EXPECT_STREQ(e.what(), "stored");
  } catch (...) {
    ADD_FAILURE() << "exception() returned another exception";
  }

  weft_test::worker_gate hold(pool, 1);
  ASSERT_TRUE(hold.all_running());
  weft::future<int> cancelled = pool.submit([] { return 2; });
  ASSERT_TRUE(cancelled.cancel());
  const std::exception_ptr reason = cancelled.exception();
  ASSERT_NE(reason, nullptr);
  try {
    std::rethrow_exception(reason);
  } catch (const weft::cancelled_error& e) {
    EXPECT_NE(std::string(e.what()).find("weft::future::exception"), std::string::npos)
        << "the message should name the call: " << e.what();
  } catch (...) {
    ADD_FAILURE() << "exception() on a cancelled future is not a weft::cancelled_error";
  }
}

// ---- C9 ------------------------------------------------------------------------------------

// Checks that `call` throws weft::usage_error whose message names `function` and says why.
template <typename F>
void expect_invalid(F&& call, const std::string& function) {
  try {
    call();
    ADD_FAILURE() << function << " on an invalid future did not throw";
  } catch (const weft::usage_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind(function + ":", 0), 0U) << what;
    EXPECT_NE(what.find("invalid"), std::string::npos) << what;
  } catch (...) {
    ADD_FAILURE() << function << " on an invalid future threw something else";
  }
}

void expect_every_member_rejects(weft::future<int>& f) {
  EXPECT_FALSE(f.valid());
  expect_invalid([&] { static_cast<void>(f.state()); }, "weft::future::state");
  expect_invalid([&] { static_cast<void>(f.done()); }, "weft::future::done");
  expect_invalid([&] { static_cast<void>(f.running()); }, "weft::future::running");
  expect_invalid([&] { static_cast<void>(f.cancelled()); }, "weft::future::cancelled");
  expect_invalid([&] { static_cast<void>(f.cancel()); }, "weft::future::cancel");
  expect_invalid([&] { static_cast<void>(f.request_stop()); }, "weft::future::request_stop");
  expect_invalid([&] { static_cast<void>(f.get()); }, "weft::future::get");
  expect_invalid([&] { static_cast<void>(std::move(f).get()); }, "weft::future::get");
  expect_invalid([&] { static_cast<void>(f.get_for(1s)); }, "weft::future::get_for");
  expect_invalid([&] { f.wait(); }, "weft::future::wait");
  expect_invalid([&] { static_cast<void>(f.wait_for(1s)); }, "weft::future::wait_for");
  expect_invalid([&] { static_cast<void>(f.wait_until(std::chrono::steady_clock::now())); },
                 "weft::future::wait_until");
  expect_invalid([&] { static_cast<void>(f.exception()); }, "weft::future::exception");
  expect_invalid([&] { f.on_done([] {}); }, "weft::future::on_done");
  expect_invalid([&] { static_cast<void>(f.then([](int v) { return v; })); }, "weft::future::then");
}

TEST(FutureInvalid, DefaultConstructedRejectsEveryUse) {
  weft::future<int> f;
  expect_every_member_rejects(f);
}

TEST(FutureInvalid, MovedFromRejectsEveryUse) {
  weft::thread_pool pool{1};
  weft::future<int> source = pool.submit([] { return 1; });
  weft::future<int> constructed(std::move(source));
  expect_every_member_rejects(source);  // NOLINT(bugprone-use-after-move): the point
  weft::future<int> assigned;
  assigned = std::move(constructed);
  expect_every_member_rejects(constructed);  // NOLINT(bugprone-use-after-move): the point
  EXPECT_TRUE(assigned.valid());
  EXPECT_EQ(assigned.get(), 1);
}

// ---- C10 -----------------------------------------------------------------------------------

TEST(FutureSharing, CopiesShareOneState) {
  weft::thread_pool pool{1};
  weft_test::worker_gate hold(pool, 1);
  ASSERT_TRUE(hold.all_running());
  weft::future<int> f = pool.submit([] { return 3; });
  weft::future<int> copy = f;
  weft::future<int> assigned;
  assigned = copy;
  EXPECT_TRUE(assigned.cancel());  // through one handle...
  EXPECT_TRUE(f.cancelled());      // ...seen through every other
  EXPECT_TRUE(copy.cancelled());
  EXPECT_FALSE(f.cancel());
}

// A result that tells the test when it is destroyed: the state owns it, so its token expires
// exactly when the state is freed.
struct tracked_result {
  std::shared_ptr<int> token;
};

TEST(FutureSharing, StateIsFreedWhenTheLastHandleAndTheTaskAreGone) {
  weft::thread_pool pool{2};
  std::weak_ptr<int> watch;
  weft::future<tracked_result> f =
      pool.submit([] { return tracked_result{std::make_shared<int>(1)}; });
  weft::future<tracked_result> copy = f;
  watch = f.get().token;
  pool.wait();  // the task and its queue entry are done with the state
  EXPECT_FALSE(watch.expired());
  f = weft::future<tracked_result>{};
  EXPECT_FALSE(watch.expired()) << "freed while a copy still refers to it";
  copy = weft::future<tracked_result>{};
  EXPECT_TRUE(watch.expired()) << "the last handle is gone but the state lives on";
}

TEST(FutureSharing, DroppedHandleLetsTheTaskRunThenFreesTheState) {
  weft::thread_pool pool{1};
  std::atomic<int> ran{0};
  auto created = std::make_shared<std::weak_ptr<int>>();
  {
    weft_test::worker_gate hold(pool, 1);
    ASSERT_TRUE(hold.all_running());
    static_cast<void>(pool.submit([&ran, created] {
      ran.fetch_add(1, std::memory_order_relaxed);
      auto token = std::make_shared<int>(2);
      *created = token;
      return tracked_result{token};
    }));  // the only handle is dropped here, before the task runs
  }
  pool.wait();
  EXPECT_EQ(ran.load(), 1) << "a future is not its task: dropping it must not drop the task";
  EXPECT_TRUE(created->expired()) << "nobody holds the state, yet its result is alive";
}

// ---- C12 -----------------------------------------------------------------------------------

TEST_P(FutureOnPool, TasksCancelledBeforeDestructionEndCancelledNeverPending) {
  const std::size_t threads = GetParam().threads;
  std::atomic<int> ran{0};
  std::vector<weft::future<int>> queued;
  std::vector<weft::future<int>> dependents;
  std::size_t cancelled_now = 0;
  {
    weft::thread_pool pool{threads};
    weft_test::worker_gate hold(pool, threads);
    ASSERT_TRUE(hold.all_running());
    for (int i = 0; i < 20; ++i) {
      queued.push_back(pool.submit([&ran, i] {
        ran.fetch_add(1, std::memory_order_relaxed);
        return i;
      }));
      dependents.push_back(queued.back().then([](int v) { return v + 1; }));
    }
    pool.shutdown();
    cancelled_now = pool.cancel_pending();
    hold.open();
  }  // destroyed: nothing is left to run these tasks
  EXPECT_EQ(cancelled_now, queued.size());
  EXPECT_EQ(ran.load(), 0);
  for (std::size_t i = 0; i < queued.size(); ++i) {
    expect_state(queued[i], future_state::cancelled);
    expect_state(dependents[i], future_state::cancelled);
    EXPECT_THROW(static_cast<void>(dependents[i].get()), weft::cancelled_error);
  }
}

// ---- Stop tokens ---------------------------------------------------------------------------

TEST(FutureStop, CallableTakingAStopTokenReceivesOne) {
  weft::thread_pool pool{2};
  weft::future<int> f = pool.submit(
      [](std::stop_token token, int a, int b) {
        return token.stop_possible() && !token.stop_requested() ? a + b : -1;
      },
      2, 3);
  EXPECT_EQ(f.get(), 5);
}

TEST(FutureStop, RequestStopStopsAPollingTask) {
  weft::thread_pool pool{2};
  const weft_test::event started;
  weft::future<bool> f = pool.submit([started](std::stop_token token) {
    started.set();
    // Polls its token like a long computation would; bounded so a failure cannot hang.
    return weft_test::wait_until([&] { return token.stop_requested(); }, event_timeout);
  });
  ASSERT_TRUE(started.wait_for(event_timeout));
  EXPECT_TRUE(f.request_stop());
  EXPECT_FALSE(f.request_stop()) << "the second request must report that it changed nothing";
  EXPECT_TRUE(f.get()) << "the task never saw its stop request";
}

TEST(FutureStop, RequestStopBeforeTheTaskStartsIsSeenWhenItRuns) {
  weft::thread_pool pool{1};
  weft_test::worker_gate hold(pool, 1);
  ASSERT_TRUE(hold.all_running());
  weft::future<bool> f = pool.submit([](std::stop_token token) { return token.stop_requested(); });
  EXPECT_TRUE(f.request_stop());
  hold.open();
  EXPECT_TRUE(f.get());
}

TEST(FutureStop, RequestStopIsFalseForACallableWithoutAToken) {
  weft::thread_pool pool{1};
  const weft_test::gate finish;
  weft::future<int> f = pool.submit([go = finish.waiter()] {
    go.wait();
    return 1;
  });
  EXPECT_FALSE(f.request_stop());
  finish.open();
  EXPECT_EQ(f.get(), 1);
  EXPECT_FALSE(f.request_stop());
}

INSTANTIATE_TEST_SUITE_P(PoolSizes, FutureOnPool,
                         ::testing::ValuesIn(weft_test::standard_pool_sizes()),
                         weft_test::pool_size_name);

// future_state is a public type of its own header, with names for logs.
TEST(FutureState, EveryStateHasItsName) {
  static_assert(weft::to_string(weft::future_state::pending) == "pending");
  EXPECT_EQ(weft::to_string(weft::future_state::running), "running");
  EXPECT_EQ(weft::to_string(weft::future_state::succeeded), "succeeded");
  EXPECT_EQ(weft::to_string(weft::future_state::failed), "failed");
  EXPECT_EQ(weft::to_string(weft::future_state::cancelled), "cancelled");
  std::ostringstream out;
  out << weft::future_state::cancelled << ' ' << weft::future_state::succeeded;
  EXPECT_EQ(out.str(), "cancelled succeeded");
}

}  // namespace
