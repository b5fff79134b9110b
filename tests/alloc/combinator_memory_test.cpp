// Memory of the combinators over a long-running future (issue: "10^6 when_any rounds over the
// same long-running future keep memory flat"): when_any removes its callbacks from the inputs
// that did not win, and an as_completed range (or a wait) that stops watching removes the
// callbacks it left, so round after round over one pending future leaves nothing behind.
//
// The count of live blocks comes from the replacement operator new of failing_allocator.cpp
// (never armed here), so the check holds in every build, sanitizers included.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "failing_allocator.hpp"
#include "support/task_gates.hpp"
#include "support/test_support.hpp"
#include <weft/as_completed.hpp>
#include <weft/future.hpp>
#include <weft/thread_pool.hpp>
#include <weft/wait.hpp>
#include <weft/when_any.hpp>

namespace {

using namespace std::chrono_literals;
namespace alloc = weft_test::alloc;

// The task of the current round spins until release(): a round's other input is not done
// before the combinator registers on it, and no allocation is needed to hold it.
std::atomic<bool> go{false};

weft::future<int> released_later(weft::thread_pool& runner) {
  go.store(false, std::memory_order_relaxed);  // the previous round's task has finished
  return runner.submit([] {
    while (!go.load(std::memory_order_acquire)) {
      std::this_thread::yield();
    }
    return 1;
  });
}

void release() {
  go.store(true, std::memory_order_release);
}

/// Runs `round` `rounds` times after a warm-up and returns the growth of live blocks (the peak
/// over the run, sampled, and the end, whichever is larger).
template <class Round>
std::int64_t growth_over(std::size_t rounds, Round&& round) {
  for (std::size_t i = 0; i < 1'000; ++i) {
    round();  // warm-up: the first compactions, caches, any lazy setup
  }
  const std::int64_t baseline = alloc::live_allocations();
  std::int64_t peak = baseline;
  for (std::size_t i = 0; i < rounds; ++i) {
    round();
    if (i % 1'024 == 0) {
      peak = std::max(peak, alloc::live_allocations());
    }
  }
  return std::max(peak, alloc::live_allocations()) - baseline;
}

TEST(CombinatorMemory, WhenAnyRoundsOverALongRunningFutureKeepMemoryFlat) {
  ASSERT_TRUE(alloc::replacement_active());
  const std::size_t rounds = weft_test::iterations<std::size_t>(1'000'000, 100'000);
  weft::thread_pool pool{1};
  weft_test::worker_gate hold(pool, 1);
  ASSERT_TRUE(hold.all_running());
  weft::future<int> watched = pool.submit([] { return 0; });  // pending until the gate opens
  weft::thread_pool runner{1};
  std::size_t won = 0;
  // Each round, the other input is a task of `runner` that finishes only once the when_any
  // exists: the round registers on `watched`, the other input wins, and the registration on
  // `watched` must be removed.
  const std::int64_t grown = growth_over(rounds, [&] {
    weft::future<int> other = released_later(runner);
    auto any = weft::when_any(watched, other);
    release();
    won += any.get().index;
  });
  EXPECT_LE(grown, 64) << "live blocks grew over " << rounds << " when_any rounds";
  EXPECT_EQ(won, rounds + 1'000) << "the other input wins every round";
  hold.open();
  EXPECT_EQ(watched.get(), 0);
}

TEST(CombinatorMemory, AsCompletedAndWaitThatStopEarlyKeepMemoryFlat) {
  ASSERT_TRUE(alloc::replacement_active());
  const std::size_t rounds = weft_test::iterations<std::size_t>(200'000, 20'000);
  weft::thread_pool pool{1};
  weft_test::worker_gate hold(pool, 1);
  ASSERT_TRUE(hold.all_running());
  weft::future<int> watched = pool.submit([] { return 0; });
  weft::thread_pool runner{1};
  const std::int64_t as_completed_growth = growth_over(rounds, [&] {
    weft::future<int> other = released_later(runner);
    auto range = weft::as_completed(std::vector{watched, other});  // registers on both
    release();
    auto it = range.begin();
    EXPECT_EQ((*it).get(), 1);  // the range is dropped before `watched` completes
  });
  EXPECT_LE(as_completed_growth, 64) << "an as_completed range dropped early left callbacks";
  const std::int64_t wait_growth = growth_over(rounds, [&] {
    auto r = weft::wait(std::vector{watched}, weft::return_when::first_completed, 0ms);
    static_cast<void>(r);
  });
  EXPECT_LE(wait_growth, 64) << "a timed-out wait left callbacks";
  hold.open();
  EXPECT_EQ(watched.get(), 0);
}

}  // namespace
