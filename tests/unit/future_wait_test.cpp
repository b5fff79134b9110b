// Tests of waiting on a weft::future<T> (RELIABILITY.md group C): get_for with a zero timeout
// in every state (C4), waits on done futures never block (C5), zero, negative and maximal
// timeouts of every kind (C6), and many threads blocked on one future (C11).
//
// Tasks are held at known points with gates (support/task_gates.hpp); the only sleeps give a
// wrong outcome (an overflowed deadline returning at once) room to happen.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/task_gates.hpp"
#include "support/test_support.hpp"
#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/thread_pool.hpp>

namespace {

using namespace std::chrono_literals;
using weft::future_state;
using weft_test::event_timeout;

// How long a test gives a wrong outcome room to happen before checking that it did not: a wait
// whose deadline overflowed returns at once, far within this window.
constexpr auto wrong_outcome_window = 50ms;

// An upper bound for calls that must return at once (polls, waits on done futures); generous
// so that a loaded machine does not fail them (scaled).
constexpr auto prompt_bound = 2s;

using weft_test::test_error;

class derived_error : public test_error {
 public:
  using test_error::test_error;
};

// ---- C4, C5 --------------------------------------------------------------------------------

TEST(FutureGetFor, ZeroTimeoutGivesEachStatesAnswer) {
  weft::thread_pool pool{1};
  const weft_test::event started;
  const weft_test::gate finish;
  weft::future<int> running = pool.submit([started, go = finish.waiter()] {
    started.set();
    go.wait();
    return 1;
  });
  ASSERT_TRUE(started.wait_for(event_timeout));
  weft::future<int> pending = pool.submit([] { return 2; });  // the only worker is busy
  weft::future<int> cancelled = pool.submit([] { return 3; });
  ASSERT_TRUE(cancelled.cancel());

  EXPECT_THROW(static_cast<void>(pending.get_for(0s)), weft::timeout_error);
  try {
    static_cast<void>(running.get_for(0ms));
    ADD_FAILURE() << "get_for(0) on a running task returned";
  } catch (const weft::timeout_error& e) {
    EXPECT_NE(std::string(e.what()).find("running"), std::string::npos) << e.what();
  }
  EXPECT_THROW(static_cast<void>(cancelled.get_for(0s)), weft::cancelled_error);

  finish.open();
  ASSERT_TRUE(pending.wait_for(event_timeout));
  weft::future<int> failed = pool.submit([]() -> int { throw test_error("failed"); });
  ASSERT_TRUE(failed.wait_for(event_timeout));
  EXPECT_THROW(static_cast<void>(failed.get_for(0s)), test_error);
  EXPECT_EQ(running.get_for(0s), 1);
  EXPECT_EQ(pending.get_for(0s), 2);
}

TEST(FutureWait, DoneFuturesNeverBlockOrTimeOut) {
  weft::thread_pool pool{1};
  weft::future<int> succeeded = pool.submit([] { return 9; });
  weft::future<int> failed = pool.submit([]() -> int { throw test_error("x"); });
  weft::future<int> cancelled;
  {
    weft_test::worker_gate hold(pool, 1);
    ASSERT_TRUE(hold.all_running());
    cancelled = pool.submit([] { return 0; });
    ASSERT_TRUE(cancelled.cancel());
  }
  ASSERT_TRUE(succeeded.wait_for(event_timeout));
  ASSERT_TRUE(failed.wait_for(event_timeout));
  for (const weft::future<int>* f : {&succeeded, &failed, &cancelled}) {
    SCOPED_TRACE(::testing::PrintToString(f->state()));
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(f->wait_for(0s));
    EXPECT_TRUE(f->wait_for(-1h));
    EXPECT_TRUE(f->wait_until(std::chrono::steady_clock::time_point::min()));
    EXPECT_TRUE(f->wait_until(std::chrono::system_clock::time_point::min()));
    f->wait();
    try {
      static_cast<void>(f->get_for(0s));
    } catch (const weft::timeout_error& e) {
      ADD_FAILURE() << "a done future timed out: " << e.what();
    } catch (...) {  // the outcome itself (failed, cancelled) is expected here
    }
    static_cast<void>(f->exception());
    EXPECT_LT(std::chrono::steady_clock::now() - start, weft_test::scaled(prompt_bound));
  }
  EXPECT_EQ(succeeded.get_for(-1s), 9);
}

// ---- C6 ------------------------------------------------------------------------------------

TEST(FutureWait, ZeroAndNegativeTimeoutsPoll) {
  weft::thread_pool pool{1};
  const weft_test::event started;
  const weft_test::gate finish;
  weft::future<int> running = pool.submit([started, go = finish.waiter()] {
    started.set();
    go.wait();
    return 1;
  });
  ASSERT_TRUE(started.wait_for(event_timeout));
  weft::future<int> pending = pool.submit([] { return 2; });
  using steady = std::chrono::steady_clock;
  using system = std::chrono::system_clock;
  for (const weft::future<int>* f : {&running, &pending}) {
    SCOPED_TRACE(::testing::PrintToString(f->state()));
    const auto start = steady::now();
    EXPECT_FALSE(f->wait_for(0ns));
    EXPECT_FALSE(f->wait_for(-1ns));
    EXPECT_FALSE(f->wait_for(-24h));
    EXPECT_FALSE(f->wait_for(std::chrono::nanoseconds::min()));
    EXPECT_FALSE(f->wait_for(std::chrono::hours::min()));
    EXPECT_FALSE(f->wait_for(std::chrono::duration<double>(-1.5)));
    EXPECT_FALSE(f->wait_until(steady::time_point::min()));
    EXPECT_FALSE(f->wait_until(system::time_point::min()));
    EXPECT_FALSE(f->wait_until(steady::now() - 1h));
    EXPECT_FALSE(f->wait_until(system::now()));
    EXPECT_FALSE(f->wait_until(std::chrono::time_point<system, std::chrono::hours>::min()));
    EXPECT_THROW(static_cast<void>(f->get_for(0s)), weft::timeout_error);
    EXPECT_THROW(static_cast<void>(f->get_for(std::chrono::nanoseconds::min())),
                 weft::timeout_error);
    EXPECT_THROW(static_cast<void>(f->get_for(std::chrono::seconds::min())), weft::timeout_error);
    EXPECT_LT(steady::now() - start, weft_test::scaled(prompt_bound)) << "a poll blocked";
  }
  finish.open();
}

// One way of waiting "forever" on a future; returns true if it saw the future done.
struct endless_wait {
  const char* name;
  std::function<bool(const weft::future<int>&)> wait;
};

std::vector<endless_wait> endless_waits() {
  using steady = std::chrono::steady_clock;
  using system = std::chrono::system_clock;
  return {
      {"wait_for(nanoseconds::max())",
       [](const auto& f) { return f.wait_for(std::chrono::nanoseconds::max()); }},
      {"wait_for(seconds::max())",
       [](const auto& f) { return f.wait_for(std::chrono::seconds::max()); }},
      {"wait_for(hours::max())",
       [](const auto& f) { return f.wait_for(std::chrono::hours::max()); }},
      {"wait_for(duration<double>::max())",
       [](const auto& f) { return f.wait_for(std::chrono::duration<double>::max()); }},
      {"wait_for(milliseconds::max() / 2)",
       [](const auto& f) { return f.wait_for(std::chrono::milliseconds::max() / 2); }},
      {"wait_until(steady max)",
       [](const auto& f) { return f.wait_until(steady::time_point::max()); }},
      {"wait_until(steady max - 1h)",
       [](const auto& f) { return f.wait_until(steady::time_point::max() - 1h); }},
      {"wait_until(system max)",
       [](const auto& f) { return f.wait_until(system::time_point::max()); }},
      {"wait_until(system max - 1h)",
       [](const auto& f) { return f.wait_until(system::time_point::max() - 1h); }},
      {"wait_until(time_point<system_clock, seconds>::max())",
       [](const auto& f) {
         return f.wait_until(std::chrono::time_point<system, std::chrono::seconds>::max());
       }},
      {"get_for(nanoseconds::max())",
       [](const auto& f) { return f.get_for(std::chrono::nanoseconds::max()) == 11; }},
      {"get_for(hours::max())",
       [](const auto& f) { return f.get_for(std::chrono::hours::max()) == 11; }},
  };
}

TEST(FutureWait, MaximalTimeoutsWaitWithoutOverflow) {
  weft::thread_pool pool{1};
  for (const endless_wait& way : endless_waits()) {
    SCOPED_TRACE(way.name);
    const weft_test::gate finish;
    weft::future<int> f = pool.submit([go = finish.waiter()] {
      go.wait();
      return 11;
    });
    std::atomic<bool> returned{false};
    bool saw_done = false;
    std::thread waiter([&] {
      try {
        saw_done = way.wait(f);
      } catch (...) {  // a timeout_error here means the deadline overflowed
      }
      returned.store(true, std::memory_order_release);
    });
    // Not ordering: a deadline that overflowed would return at once; give it room to.
    std::this_thread::sleep_for(wrong_outcome_window);
    EXPECT_FALSE(returned.load(std::memory_order_acquire)) << "an endless wait returned early";
    finish.open();
    waiter.join();
    EXPECT_TRUE(saw_done);
  }
}

// ---- C11 -----------------------------------------------------------------------------------

enum class outcome { value, error, cancel };

class FutureWaiters : public ::testing::TestWithParam<outcome> {};

TEST_P(FutureWaiters, ManyBlockedGettersAllWakeWithTheSameOutcome) {
  constexpr int waiters = 8;
  weft::thread_pool pool{1};
  const weft_test::gate finish;
  weft_test::worker_gate hold(pool, 1);  // keeps the awaited task queued (cancellable)
  ASSERT_TRUE(hold.all_running());
  weft::future<std::string> f = pool.submit([mode = GetParam()] {
    if (mode == outcome::error) {
      throw derived_error("shared failure");
    }
    return std::string("shared value");
  });
  std::atomic<int> ready{0};
  std::vector<std::string> seen(waiters);
  std::vector<const std::string*> addresses(waiters, nullptr);
  std::vector<std::thread> threads;
  for (int i = 0; i < waiters; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1, std::memory_order_acq_rel);
      try {
        const std::string& v = f.get();
        addresses[static_cast<std::size_t>(i)] = &v;
        seen[static_cast<std::size_t>(i)] = v;
      } catch (const derived_error& e) {
        seen[static_cast<std::size_t>(i)] = std::string("error: ") + e.what();
      } catch (const weft::cancelled_error&) {
        seen[static_cast<std::size_t>(i)] = "cancelled";
      } catch (...) {
        seen[static_cast<std::size_t>(i)] = "unexpected exception";
      }
    });
  }
  // EXPECT, not ASSERT: the waiters must be released and joined in any case.
  EXPECT_TRUE(weft_test::wait_until([&] { return ready.load() == waiters; }, event_timeout));
  // Not ordering: lets the waiters reach their blocking wait, the case under test.
  std::this_thread::sleep_for(wrong_outcome_window);
  if (GetParam() == outcome::cancel) {
    EXPECT_TRUE(f.cancel());
  }
  hold.open();
  for (auto& t : threads) {
    t.join();
  }
  const std::string expected = GetParam() == outcome::value   ? "shared value"
                               : GetParam() == outcome::error ? "error: shared failure"
                                                              : "cancelled";
  for (int i = 0; i < waiters; ++i) {
    EXPECT_EQ(seen[static_cast<std::size_t>(i)], expected) << "waiter " << i;
    if (GetParam() == outcome::value) {
      EXPECT_EQ(addresses[static_cast<std::size_t>(i)], &f.get()) << "waiter " << i;
    }
  }
}

std::string outcome_name(const ::testing::TestParamInfo<outcome>& param) {
  return param.param == outcome::value   ? "Value"
         : param.param == outcome::error ? "Error"
                                         : "Cancel";
}

INSTANTIATE_TEST_SUITE_P(Outcomes, FutureWaiters,
                         ::testing::Values(outcome::value, outcome::error, outcome::cancel),
                         outcome_name);

}  // namespace
