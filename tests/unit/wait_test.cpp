// Tests of weft::wait (C5, C6): the three return_when modes, distinct inputs in the order of
// their first occurrence, the split at a timeout (never a timeout_error), empty inputs,
// invalid inputs, and a wait on a worker of a one-worker pool that helps.
//
// Inputs are held at known points with gates (support/task_gates.hpp). A timed test only
// asserts what holds on a loaded machine: the call returned no earlier than its timeout.

#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/task_gates.hpp"
#include "support/test_support.hpp"
#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/thread_pool.hpp>
#include <weft/wait.hpp>

namespace {

using namespace std::chrono_literals;
using weft_test::event_timeout;
using weft_test::held;
using weft_test::scaled;

std::vector<int> values(const std::vector<weft::future<int>>& fs) {
  std::vector<int> out;
  for (const auto& f : fs) {
    out.push_back(f.get());
  }
  return out;
}

TEST(Wait, AllCompletedWaitsForEveryInputAndListsEachStateOnce) {
  weft::thread_pool pool{2};
  weft::future<int> a = pool.submit([] { return 1; });
  weft::future<int> b = pool.submit([] { return 2; });
  auto [done, not_done] = weft::wait(std::vector{b, a, b, a});
  EXPECT_TRUE(not_done.empty());
  EXPECT_EQ(values(done), (std::vector{2, 1})) << "distinct, in order of first occurrence";
}

TEST(Wait, FirstCompletedReturnsOnceAnyInputIsDone) {
  weft::thread_pool pool{3};
  weft_test::gate g0;
  weft_test::gate g1;
  weft_test::gate g2;
  std::vector<weft::future<int>> in{held(pool, g0.waiter(), 0), held(pool, g1.waiter(), 1),
                                    held(pool, g2.waiter(), 2)};
  g1.open();
  auto r = weft::wait(in, weft::return_when::first_completed);
  ASSERT_EQ(r.done.size(), 1U);
  EXPECT_EQ(r.done[0].get(), 1);
  ASSERT_EQ(r.not_done.size(), 2U);
  EXPECT_FALSE(r.not_done[0].done());
  g0.open();
  g2.open();
  EXPECT_EQ(values(r.not_done), (std::vector{0, 2})) << "not_done keeps input order";
}

TEST(Wait, FirstExceptionIgnoresCancellationsAndReturnsOnAFailure) {
  weft::thread_pool held_pool{1};
  weft_test::worker_gate hold(held_pool, 1);  // its queued task can always be cancelled
  ASSERT_TRUE(hold.all_running());
  weft::future<int> cancelled = held_pool.submit([] { return 0; });
  ASSERT_TRUE(cancelled.cancel());
  weft::thread_pool pool{1};
  weft_test::gate fail_now;
  weft::future<int> failing = pool.submit([go = fail_now.waiter()]() -> int {
    go.wait();
    throw std::runtime_error("the failure");
  });
  std::vector<weft::future<int>> in{cancelled, failing};
  // Only a cancellation so far: the wait runs into its timeout.
  const auto start = std::chrono::steady_clock::now();
  auto early = weft::wait(in, weft::return_when::first_exception, 50ms);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
  ASSERT_EQ(early.done.size(), 1U);
  EXPECT_TRUE(early.done[0].cancelled());
  ASSERT_EQ(early.not_done.size(), 1U) << "the failing input has not failed yet";
  fail_now.open();
  auto r = weft::wait(in, weft::return_when::first_exception);
  ASSERT_EQ(r.done.size(), 2U);
  EXPECT_EQ(r.done[1].state(), weft::future_state::failed);
  hold.open();
}

TEST(Wait, FirstExceptionWithoutAFailureReturnsWhenAllAreDone) {
  weft::thread_pool pool{2};
  weft_test::gate g;
  std::vector<weft::future<int>> in{pool.submit([] { return 1; }), held(pool, g.waiter(), 2)};
  g.open();
  auto r = weft::wait(in, weft::return_when::first_exception);
  EXPECT_TRUE(r.not_done.empty());
  EXPECT_EQ(values(r.done), (std::vector{1, 2}));
}

TEST(Wait, ATimeoutReturnsTheSplitAtTheDeadlineAndAZeroTimeoutPolls) {
  weft::thread_pool pool{2};
  weft_test::gate g;
  weft::future<int> fast = pool.submit([] { return 1; });
  ASSERT_TRUE(fast.wait_for(scaled(event_timeout)));
  weft::future<int> slow = held(pool, g.waiter(), 2);
  for (const auto rw : {weft::return_when::all_completed, weft::return_when::first_exception}) {
    const auto start = std::chrono::steady_clock::now();
    auto [done, not_done] = weft::wait(std::vector{slow, fast}, rw, 30ms);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
    EXPECT_EQ(values(done), (std::vector{1}));
    ASSERT_EQ(not_done.size(), 1U);
  }
  auto polled = weft::wait(std::vector{slow}, weft::return_when::first_completed, 0ms);
  EXPECT_EQ(polled.not_done.size(), 1U);
  auto all_form = weft::wait(std::vector{slow, fast}, -5ms);
  EXPECT_EQ(all_form.done.size(), 1U);
  g.open();
  EXPECT_EQ(weft::wait(std::vector{slow}, 1h).done.size(), 1U);
}

TEST(Wait, AnEmptyInputReturnsAtOnceInEveryMode) {
  const std::vector<weft::future<int>> none;
  for (const auto rw : {weft::return_when::first_completed, weft::return_when::first_exception,
                        weft::return_when::all_completed}) {
    auto [done, not_done] = weft::wait(none, rw);
    EXPECT_TRUE(done.empty());
    EXPECT_TRUE(not_done.empty());
    EXPECT_TRUE(weft::wait(none, rw, 1h).done.empty());
  }
}

TEST(Wait, AnInvalidInputThrowsUsageError) {
  weft::thread_pool pool{1};
  std::vector<weft::future<int>> in{pool.submit([] { return 1; }), weft::future<int>{}};
  try {
    static_cast<void>(weft::wait(in));
    FAIL() << "an invalid input must be refused";
  } catch (const weft::usage_error& e) {
    EXPECT_NE(std::string(e.what()).find("weft::wait: input 1"), std::string::npos) << e.what();
  }
}

TEST(Wait, ATaskWaitingForItsChildrenHelpsOnAOneWorkerPoolInEveryMode) {
  weft::thread_pool pool{1};
  for (const auto rw : {weft::return_when::first_completed, weft::return_when::first_exception,
                        weft::return_when::all_completed}) {
    weft::future<std::size_t> parent = pool.submit([&pool, rw] {
      std::vector<weft::future<int>> children;
      for (int i = 0; i < 3; ++i) {
        children.push_back(pool.submit([i] { return i; }));
      }
      return weft::wait(children, rw).done.size();  // the only worker must run them
    });
    const std::size_t done = parent.get_for(scaled(event_timeout));
    EXPECT_GE(done, 1U);
    if (rw != weft::return_when::first_completed) {
      EXPECT_EQ(done, 3U);
    }
  }
}

TEST(Wait, InputsCompletingDuringTheCallAreSeen) {
  weft::thread_pool pool{2};
  const std::size_t rounds = weft_test::iterations<std::size_t>(5'000, 500);
  for (std::size_t r = 0; r < rounds; ++r) {
    std::vector<weft::future<int>> in;
    for (int i = 0; i < 4; ++i) {
      in.push_back(pool.submit([i] { return i; }));
    }
    auto first = weft::wait(in, weft::return_when::first_completed);
    ASSERT_FALSE(first.done.empty());
    for (const auto& f : first.done) {
      ASSERT_TRUE(f.done());
    }
    auto all = weft::wait(in, weft::return_when::first_exception);
    ASSERT_EQ(all.done.size(), 4U);
  }
}

}  // namespace
