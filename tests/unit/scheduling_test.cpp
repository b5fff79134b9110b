// Tests of how the pool spreads work (RELIABILITY.md B12, J2, J3):
//
// - B12: an outside submission starts within 1 s while every worker keeps spawning local
//   children (the injection queue is not starved by the workers' own deques).
// - J2: a fork-join spawned from one worker, with as many long branches as workers, keeps every
//   worker busy (each worker index appears).
// - J3: with 8 workers on 2 cores, and on a single core, nested and flat work gives exact results.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <set>
#include <vector>

#include <gtest/gtest.h>
#include <sched.h>

#include "support/pool_helpers.hpp"
#include "support/test_support.hpp"
#include <weft/this_worker.hpp>
#include <weft/thread_pool.hpp>

namespace {

using namespace std::chrono_literals;
using weft_test::pool_size;

// B12's bound: an outside task must start this soon (scaled) despite the spawning workers.
constexpr auto outside_start_bound = 1s;
// How long to wait for a starved outside task before reporting it (scaled).
constexpr auto outside_wait_bound = 5 * outside_start_bound;
// Bounds waits that succeed quickly when the pool works (scaled); only bound a failing test.
constexpr auto generous_bound = 20s;

// A task that posts one copy of itself to its worker's deque until told to stop, and records
// which workers ran it.
struct respawning_task {
  weft::thread_pool* pool;
  std::atomic<bool>* stop;
  std::vector<std::atomic<int>>* seen;
  void operator()() const {
    const std::size_t i = weft::this_worker::index().value_or(0);
    (*seen)[i].store(1, std::memory_order_relaxed);
    if (!stop->load(std::memory_order_relaxed)) {
      pool->post(*this);  // from a worker: goes to its own deque
    }
  }
};

class Scheduling : public ::testing::TestWithParam<pool_size> {};

TEST_P(Scheduling, OutsideSubmissionStartsWhileWorkersSpawnLocalChildren) {
  const std::size_t threads = GetParam().threads;
  weft::thread_pool pool{threads};
  std::atomic<bool> stop{false};
  std::vector<std::atomic<int>> seen(threads);
  for (std::size_t i = 0; i < 2 * threads; ++i) {
    pool.post(respawning_task{&pool, &stop, &seen});
  }
  const bool all_spawning = weft_test::wait_until(
      [&] {
        return std::all_of(seen.begin(), seen.end(), [](const auto& s) { return s.load() != 0; });
      },
      generous_bound);
  ASSERT_TRUE(all_spawning) << "not every worker ran a spawning task";

  const auto submitted = std::chrono::steady_clock::now();
  auto outside = pool.submit([] { return std::chrono::steady_clock::now(); });
  const bool started = outside.wait_for(weft_test::scaled(outside_wait_bound));
  stop.store(true, std::memory_order_relaxed);
  pool.wait();
  ASSERT_TRUE(started) << "the outside task never ran while the workers kept spawning";
  const auto delay = outside.get() - submitted;
  EXPECT_LT(delay, weft_test::scaled(outside_start_bound))
      << "the outside task waited "
      << std::chrono::duration_cast<std::chrono::milliseconds>(delay).count() << " ms";
}

TEST_P(Scheduling, ForkJoinFromOneWorkerReachesEveryWorker) {
  const std::size_t threads = GetParam().threads;
  weft::thread_pool pool{threads};
  struct branch_result {
    bool met;
    std::size_t index;
  };
  auto root = pool.submit([&pool, threads] {
    std::atomic<std::size_t> arrived{0};
    const auto deadline = std::chrono::steady_clock::now() + weft_test::scaled(generous_bound);
    std::vector<weft::future<branch_result>> branches;
    for (std::size_t b = 0; b < threads; ++b) {
      // A long branch: it ends only when all branches run at once (or at the deadline).
      branches.push_back(pool.submit([&arrived, threads, deadline] {
        arrived.fetch_add(1);
        const bool met = weft_test::wait_until([&] { return arrived.load() == threads; }, deadline);
        return branch_result{met, weft::this_worker::index().value_or(threads)};
      }));
    }
    std::vector<branch_result> results;
    results.reserve(branches.size());
    for (auto& f : branches) {
      results.push_back(f.get());  // helps: runs a branch itself while the others are stolen
    }
    return results;
  });
  const std::vector<branch_result>& results = root.get();
  std::set<std::size_t> indices;
  for (const branch_result& r : results) {
    EXPECT_TRUE(r.met) << "the branches never all ran at once: a worker stayed idle";
    indices.insert(r.index);
  }
  EXPECT_EQ(indices.size(), threads) << "the branches did not reach every worker";
  EXPECT_LT(*indices.rbegin(), threads);
}

INSTANTIATE_TEST_SUITE_P(PoolSizes, Scheduling,
                         ::testing::ValuesIn(weft_test::standard_pool_sizes()),
                         weft_test::pool_size_name);

// ---- J3: oversubscription ----------------------------------------------------------------------

// NOLINTNEXTLINE(misc-no-recursion): recursive fork-join is the workload under test
std::uint64_t fib(weft::thread_pool& pool, int n) {
  if (n < 2) {
    return static_cast<std::uint64_t>(n);
  }
  auto left = pool.submit([&pool, n] { return fib(pool, n - 1); });
  const std::uint64_t right = fib(pool, n - 2);
  return left.get() + right;
}

// Pins the calling thread to one CPU for its lifetime; threads it creates inherit the mask.
class single_cpu_scope {
 public:
  single_cpu_scope() {
    CPU_ZERO(&saved_);
    if (sched_getaffinity(0, sizeof(saved_), &saved_) != 0) {
      return;
    }
    for (std::size_t cpu = 0; cpu < static_cast<std::size_t>(CPU_SETSIZE); ++cpu) {
      if (CPU_ISSET(cpu, &saved_)) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        pinned_ = sched_setaffinity(0, sizeof(one), &one) == 0;
        return;
      }
    }
  }
  ~single_cpu_scope() {
    if (pinned_) {
      static_cast<void>(sched_setaffinity(0, sizeof(saved_), &saved_));
    }
  }
  single_cpu_scope(const single_cpu_scope&) = delete;
  single_cpu_scope& operator=(const single_cpu_scope&) = delete;
  single_cpu_scope(single_cpu_scope&&) = delete;
  single_cpu_scope& operator=(single_cpu_scope&&) = delete;
  [[nodiscard]] bool pinned() const { return pinned_; }

 private:
  cpu_set_t saved_{};
  bool pinned_ = false;
};

// Nested fork-join and a flat batch on an oversubscribed pool; checks exact results.
void expect_exact_results(weft::thread_pool& pool) {
  constexpr int fib_n = 20;
  constexpr std::uint64_t fib_value = 6765;
  EXPECT_EQ(pool.submit([&pool] { return fib(pool, fib_n); }).get(), fib_value);

  const auto n = weft_test::iterations<std::size_t>(100'000, 20'000);
  std::vector<std::uint64_t> inputs(n);
  std::iota(inputs.begin(), inputs.end(), std::uint64_t{1});
  auto squares = pool.submit_each(inputs, [](std::uint64_t x) { return x * x; });
  std::uint64_t sum = 0;
  for (auto& f : squares) {
    sum += f.get();
  }
  const std::uint64_t m = n;
  EXPECT_EQ(sum, m * (m + 1) * (2 * m + 1) / 6) << "sum of squares 1.." << n;
}

TEST(SchedulingOversubscribed, EightWorkersOnAllCoresGiveExactResults) {
  weft::thread_pool pool{8};
  expect_exact_results(pool);
}

TEST(SchedulingOversubscribed, EightWorkersOnOneCoreGiveExactResults) {
  const single_cpu_scope pin;
  if (!pin.pinned()) {
    GTEST_SKIP() << "cannot restrict this thread to one CPU (sched_setaffinity failed)";
  }
  weft::thread_pool pool{8};  // the workers inherit the single-CPU mask
  expect_exact_results(pool);
}

}  // namespace
