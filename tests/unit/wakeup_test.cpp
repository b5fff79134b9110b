// Tests that an idle pool is never missed by a wake-up (RELIABILITY.md H9).
//
// Rounds of "the pool is idle, submit one task, wait for it": 10^5 rounds (10^4 in slow
// builds). A lost wake-up leaves the task queued with every worker asleep; the round then
// stalls. Every round must finish within 1 s (scaled): the stall count must be 0.

#include <chrono>
#include <cstddef>
#include <thread>

#include <gtest/gtest.h>

#include "support/pool_helpers.hpp"
#include "support/test_support.hpp"
#include <weft/thread_pool.hpp>

namespace {

using namespace std::chrono_literals;
using weft_test::pool_size;

// A round that takes longer than this (scaled) counts as a stall: a missed wake-up.
constexpr auto stall_bound = 1s;
// Every this many rounds, the workers are given time to finish spinning and park.
constexpr int park_every = 256;
constexpr auto park_time = 2ms;

class WakeUp : public ::testing::TestWithParam<pool_size> {};

TEST_P(WakeUp, EveryRoundOfIdleSubmitWaitCompletesPromptly) {
  const int rounds = weft_test::iterations(100'000, 10'000);
  weft::thread_pool pool{GetParam().threads};
  int stalls = 0;
  int first_stall = -1;
  for (int round = 0; round < rounds; ++round) {
    if (round % park_every == 0) {
      // Lets the wrong outcome happen: after the spin phase the workers park, so the next
      // submission must wake a parked worker (the lost wake-up case). Orders nothing.
      std::this_thread::sleep_for(park_time);
    }
    auto f = pool.submit([round] { return round; });
    if (!f.wait_for(weft_test::scaled(stall_bound))) {
      ++stalls;
      first_stall = first_stall < 0 ? round : first_stall;
      f.wait();  // a late wake-up is still a stall; a lost one hangs here (watchdog)
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
  weft::thread_pool pool{GetParam().threads};
  int stalls = 0;
  for (int round = 0; round < rounds; ++round) {
    if (round % park_every == 0) {
      std::this_thread::sleep_for(park_time);  // as above: lets the workers park; orders nothing
    }
    auto parent = pool.submit([&pool, round] { return pool.submit([round] { return round; }); });
    auto child = parent.get();
    if (!child.wait_for(weft_test::scaled(stall_bound))) {
      ++stalls;
      child.wait();
    }
    ASSERT_EQ(child.get(), round);
  }
  EXPECT_EQ(stalls, 0) << "child tasks that took over 1 s to run";
}

INSTANTIATE_TEST_SUITE_P(PoolSizes, WakeUp, ::testing::ValuesIn(weft_test::standard_pool_sizes()),
                         weft_test::pool_size_name);

}  // namespace
