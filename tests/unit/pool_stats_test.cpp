// Tests of thread_pool::stats() (RELIABILITY.md A1, B14): the counters are exact at rest.
//
// At quiescence completed + failed + cancelled + rejected equals every submission the pool saw,
// each outcome lands in its own counter, and queued = running = 0. The thread counters match
// the configured size.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include "support/pool_helpers.hpp"
#include "support/test_support.hpp"
#include <weft/error.hpp>
#include <weft/pool_stats.hpp>
#include <weft/thread_pool.hpp>

namespace {

using namespace std::chrono_literals;
using weft_test::pool_size;

// How long to wait for a counter that must settle (scaled); only bounds a failing test.
constexpr auto settle_bound = 10s;

class PoolStats : public ::testing::TestWithParam<pool_size> {};

TEST_P(PoolStats, ThreadCountersMatchTheConfiguredSize) {
  const std::size_t threads = GetParam().threads;
  weft::thread_pool pool{threads};
  const weft::pool_stats s = pool.stats();
  EXPECT_EQ(s.threads, threads);
  EXPECT_EQ(s.largest_threads, threads);
  EXPECT_TRUE(
      weft_test::wait_until([&] { return pool.stats().idle_threads == threads; }, settle_bound))
      << "an idle pool reports " << pool.stats().idle_threads << " idle of " << threads;
}

TEST_P(PoolStats, CountersAddUpToAllSubmissionsAtRest) {
  const std::size_t threads = GetParam().threads;
  constexpr std::uint64_t succeeding = 300;
  constexpr std::uint64_t throwing = 40;
  constexpr std::uint64_t cancelled_by_future = 25;
  constexpr std::uint64_t cancelled_by_pool = 35;
  constexpr std::uint64_t refused = 3;

  weft::thread_pool pool{
      weft::pool_options{.threads = threads, .on_error = [](const std::exception_ptr&) {}}};
  // Occupy every worker so that the tasks queued next stay queued until cancelled.
  std::latch release{1};
  std::atomic<std::size_t> blocked{0};
  std::vector<weft::future<void>> blockers;
  for (std::size_t i = 0; i < threads; ++i) {
    blockers.push_back(pool.submit([&] {
      blocked.fetch_add(1);
      release.wait();
    }));
  }
  ASSERT_TRUE(weft_test::wait_until([&] { return blocked.load() == threads; }, settle_bound))
      << "the blockers never all started";
  std::vector<weft::future<int>> doomed;
  for (std::uint64_t i = 0; i < cancelled_by_future + cancelled_by_pool; ++i) {
    doomed.push_back(pool.submit([] { return 0; }));
  }
  for (std::uint64_t i = 0; i < cancelled_by_future; ++i) {
    ASSERT_TRUE(doomed[i].cancel()) << "a queued task could not be cancelled";
  }
  EXPECT_EQ(pool.cancel_pending(), cancelled_by_pool) << "cancel_pending() miscounted";
  release.count_down();

  for (std::uint64_t i = 0; i < succeeding; ++i) {
    pool.post([] {});
  }
  std::vector<weft::future<void>> failing;
  for (std::uint64_t i = 0; i < throwing; ++i) {
    failing.push_back(pool.submit([] { throw std::runtime_error("counted"); }));
  }
  pool.wait();
  weft::pool_stats s = pool.stats();
  EXPECT_EQ(s.queued, 0U);
  EXPECT_EQ(s.running, 0U);

  pool.shutdown();
  for (std::uint64_t i = 0; i < refused; ++i) {
    EXPECT_THROW(pool.post([] {}), weft::pool_shutdown);
  }
  pool.join();
  s = pool.stats();
  const std::uint64_t all =
      threads + succeeding + throwing + cancelled_by_future + cancelled_by_pool + refused;
  EXPECT_EQ(s.completed, threads + succeeding) << "blockers and plain tasks";
  EXPECT_EQ(s.failed, throwing);
  EXPECT_EQ(s.cancelled, cancelled_by_future + cancelled_by_pool);
  EXPECT_EQ(s.rejected, refused);
  EXPECT_EQ(s.completed + s.failed + s.cancelled + s.rejected, all);
  EXPECT_EQ(s.queued, 0U);
  EXPECT_EQ(s.running, 0U);
  EXPECT_EQ(s.largest_threads, threads);
}

TEST_P(PoolStats, QueuedAndRunningReflectBlockedWork) {
  const std::size_t threads = GetParam().threads;
  constexpr std::size_t waiting = 50;
  weft::thread_pool pool{threads};
  std::latch release{1};
  std::atomic<std::size_t> blocked{0};
  for (std::size_t i = 0; i < threads; ++i) {
    pool.post([&] {
      blocked.fetch_add(1);
      release.wait();
    });
  }
  ASSERT_TRUE(weft_test::wait_until([&] { return blocked.load() == threads; }, settle_bound));
  for (std::size_t i = 0; i < waiting; ++i) {
    pool.post([] {});
  }
  const weft::pool_stats busy = pool.stats();
  EXPECT_EQ(busy.running, threads) << "every worker holds a blocked task";
  EXPECT_EQ(busy.queued, waiting) << "nothing can have started";
  EXPECT_EQ(busy.idle_threads, 0U) << "every worker is busy";
  release.count_down();
  pool.wait();
  const weft::pool_stats rest = pool.stats();
  EXPECT_EQ(rest.queued, 0U);
  EXPECT_EQ(rest.running, 0U);
  EXPECT_EQ(rest.completed, threads + waiting);
}

INSTANTIATE_TEST_SUITE_P(PoolSizes, PoolStats,
                         ::testing::ValuesIn(weft_test::standard_pool_sizes()),
                         weft_test::pool_size_name);

}  // namespace
