// Tests that an idle pool is never missed by a wake-up (RELIABILITY.md H9).
//
// Rounds of "the pool is idle, submit one task, wait for it": 10^5 rounds (10^4 in slow
// builds). A lost wake-up leaves the task queued with every worker asleep; the round then
// stalls. Every round must finish within 1 s (scaled): the stall count must be 0.

#include <chrono>
#include <cstddef>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "support/pool_helpers.hpp"
#include "support/test_support.hpp"
#include <weft/thread_pool.hpp>

namespace {

using namespace std::chrono_literals;
using weft_test::pool_size;

// A round that takes longer than this (scaled) counts as a stall: a missed wake-up.
constexpr auto stall_bound = 1s;
// A stalled task still not run after this much longer (scaled) was lost: the test stops.
constexpr auto lost_bound = 10s;
// Every this many rounds, the workers are given time to finish spinning and park.
constexpr int park_every = 256;
constexpr auto park_time = 2ms;

class WakeUp : public ::testing::TestWithParam<pool_size> {
 protected:
  // Waits for a round's task. Returns false after a stall; ends the test if the task was lost.
  // A pool with a lost task can never be joined, so it is then moved to a list that is never
  // destroyed: the failure is reported instead of a hang.
  template <typename T>
  static bool wait_round(std::unique_ptr<weft::thread_pool>& pool, const weft::future<T>& f,
                         int round) {
    if (f.wait_for(weft_test::scaled(stall_bound))) {
      return true;
    }
    if (!f.wait_for(weft_test::scaled(lost_bound))) {
      static auto* const abandoned = new std::vector<std::unique_ptr<weft::thread_pool>>;
      abandoned->push_back(std::move(pool));
      ADD_FAILURE() << "round " << round << ": the task never ran (a lost wake-up)";
    }
    return false;
  }
};

TEST_P(WakeUp, EveryRoundOfIdleSubmitWaitCompletesPromptly) {
  const int rounds = weft_test::iterations(100'000, 10'000);
  auto pool = std::make_unique<weft::thread_pool>(GetParam().threads);
  int stalls = 0;
  int first_stall = -1;
  for (int round = 0; round < rounds; ++round) {
    if (round % park_every == 0) {
      // Lets the wrong outcome happen: after the spin phase the workers park, so the next
      // submission must wake a parked worker (the lost wake-up case). Orders nothing.
      std::this_thread::sleep_for(park_time);
    }
    auto f = pool->submit([round] { return round; });
    if (!wait_round(pool, f, round)) {
      ++stalls;
      first_stall = first_stall < 0 ? round : first_stall;
      ASSERT_TRUE(pool) << "stopped after a lost task";
    }
    ASSERT_EQ(f.get(), round);
  }
  EXPECT_EQ(stalls, 0) << "rounds that took over 1 s (first: round " << first_stall << ") of "
                       << rounds;
}

TEST_P(WakeUp, TaskSubmittedFromAWorkerToAnIdlePoolIsPickedUp) {
  // A worker submits to its own deque, then the submitting task ends and its worker may park:
  // another worker (or the same one) must still run the child.
  const int rounds = weft_test::iterations(20'000, 2'000);
  auto pool = std::make_unique<weft::thread_pool>(GetParam().threads);
  weft::thread_pool* const raw = pool.get();
  int stalls = 0;
  for (int round = 0; round < rounds; ++round) {
    if (round % park_every == 0) {
      std::this_thread::sleep_for(park_time);  // as above: lets the workers park; orders nothing
    }
    auto parent = raw->submit([raw, round] { return raw->submit([round] { return round; }); });
    if (!wait_round(pool, parent, round)) {
      ++stalls;
      ASSERT_TRUE(pool) << "stopped after a lost task";
    }
    const weft::future<int>& child = parent.get();
    if (!wait_round(pool, child, round)) {
      ++stalls;
      ASSERT_TRUE(pool) << "stopped after a lost task";
    }
    ASSERT_EQ(child.get(), round);
  }
  EXPECT_EQ(stalls, 0) << "child tasks that took over 1 s to run";
}

INSTANTIATE_TEST_SUITE_P(PoolSizes, WakeUp, ::testing::ValuesIn(weft_test::standard_pool_sizes()),
                         weft_test::pool_size_name);

}  // namespace
