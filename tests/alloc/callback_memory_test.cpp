// Memory of removable callbacks (step F9 of the shared state): a future that stays pending while
// callbacks are registered on it and removed again, round after round (what a when_any or an
// as_completed range that is dropped early does to a long-running future), keeps its memory
// flat. Removing a callback frees its captures at once; the registrations that follow unlink
// the removed nodes, so the number of live blocks stays bounded however many rounds run.
//
// The count of live blocks comes from the replacement operator new of failing_allocator.cpp
// (never armed here: nothing fails), so the check holds in every build, sanitizers included.

#include <cstddef>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "failing_allocator.hpp"
#include "support/task_gates.hpp"
#include "support/test_support.hpp"
#include <weft/callback_handle.hpp>
#include <weft/future.hpp>
#include <weft/thread_pool.hpp>

namespace {

namespace alloc = weft_test::alloc;

// One round of a when_any over `watched` that another future won: register, then remove.
void register_and_remove(const weft::future<void>& watched, std::size_t& ran) {
  weft::callback_handle h = watched.on_done_removable([&ran] { ++ran; });
  ASSERT_TRUE(h.remove());
}

TEST(CallbackMemory, RegisterRemoveRoundsOnAPendingFutureKeepMemoryFlat) {
  ASSERT_TRUE(alloc::replacement_active());
  const std::size_t rounds = weft_test::iterations<std::size_t>(1'000'000, 200'000);
  weft::thread_pool pool{1};
  weft_test::worker_gate hold(pool, 1);
  ASSERT_TRUE(hold.all_running());
  weft::future<void> watched = pool.submit([] {});  // pending until the gate opens
  std::size_t ran = 0;
  // A live callback under the churn: compaction must keep it, and it must still run.
  bool live_ran = false;
  watched.on_done([&live_ran] { live_ran = true; });
  for (std::size_t i = 0; i < 1'000; ++i) {
    register_and_remove(watched, ran);  // warm-up: the first compactions, any lazy setup
  }
  const std::int64_t baseline = alloc::live_allocations();
  std::int64_t peak = baseline;
  for (std::size_t i = 0; i < rounds; ++i) {
    register_and_remove(watched, ran);
    if (i % 1'024 == 0) {
      peak = std::max(peak, alloc::live_allocations());
    }
  }
  const std::int64_t after = alloc::live_allocations();
  // Without compaction every round would leave its node: `rounds` blocks. With it, the removed
  // nodes waiting for the next compaction are a small constant (F9's schedule: at least 4
  // registrations, and as many as the nodes the previous compaction left).
  EXPECT_LE(peak - baseline, 32) << "live blocks grew over " << rounds << " rounds";
  EXPECT_LE(after - baseline, 32);
  hold.open();
  watched.wait();
  pool.wait();
  EXPECT_EQ(ran, 0U) << "a removed callback ran";
  EXPECT_TRUE(live_ran) << "compaction dropped a live callback";
}

TEST(CallbackMemory, LiveRemovableCallbacksAreKeptAndRemovedOnesStillFreed) {
  ASSERT_TRUE(alloc::replacement_active());
  weft::thread_pool pool{1};
  weft_test::worker_gate hold(pool, 1);
  ASSERT_TRUE(hold.all_running());
  weft::future<void> watched = pool.submit([] {});
  std::size_t live_runs = 0;
  std::size_t ran = 0;
  std::vector<weft::callback_handle> live;
  const std::int64_t baseline = alloc::live_allocations();
  // 100 live removable callbacks among 100,000 removed ones: the schedule stretches with the
  // number of live nodes, and the garbage stays proportional to them.
  for (std::size_t i = 0; i < 100'000; ++i) {
    if (i % 1'000 == 0) {
      live.push_back(watched.on_done_removable([&live_runs] { ++live_runs; }));
    } else {
      register_and_remove(watched, ran);
    }
  }
  const std::int64_t growth = alloc::live_allocations() - baseline;
  // The 100 live nodes, the handles' vector, and at most about as many removed nodes again.
  EXPECT_LE(growth, 2 * 100 + 32) << "removed nodes were not unlinked";
  hold.open();
  watched.wait();
  pool.wait();
  EXPECT_EQ(live_runs, 100U);
  EXPECT_EQ(ran, 0U);
}

}  // namespace
