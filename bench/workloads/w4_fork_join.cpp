// W4 fork-join: recursive fib(32), serial at n <= 12; every level above spawns fib(n-1) as a
// child task, computes fib(n-2) itself and waits for the child inside the pool.
// W4b spawn-join: fib(27) with no cutoff (~318,000 spawns): pure spawn/join cost.
//
// The root runs inside the pool (run_root) and is waited for from outside. Pools whose
// waiting task blocks its worker (Asio, the textbook pool) deadlock here, and are reported as
// such rather than run. Thread-per-task and std::async run W4 (17,710 threads) but not W4b.
//
// Timed: each fork-join computation. Not timed: starting the pool and its warm-up. Figures:
// time_ms, the median over the run's iterations; serial_ms, plain recursive fib(n) on one
// thread in the same process, for scale.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <benchmark/benchmark.h>

#include "common/stats.hpp"
#include "workloads/workload_support.hpp"
#include "workloads/workloads.hpp"

namespace weft_bench {
namespace {

// NOLINTBEGIN(misc-no-recursion): recursive fib is the workload; the depth is at most n.
std::uint64_t fib_serial(int n) {
  return n < 2 ? static_cast<std::uint64_t>(n) : fib_serial(n - 1) + fib_serial(n - 2);
}

/// fib(n), spawning the n-1 branch as a child task while n > cutoff.
template <class Pool>
std::uint64_t fib_fork_join(Pool& pool, int n, int cutoff) {
  if (n <= cutoff || n < 2) {
    return fib_serial(n);
  }
  const auto [left, right] =
      pool.fork_join([&pool, n, cutoff] { return fib_fork_join(pool, n - 1, cutoff); },
                     [&pool, n, cutoff] { return fib_fork_join(pool, n - 2, cutoff); });
  return left + right;
}
// NOLINTEND(misc-no-recursion)

double serial_seconds(int n) {
  double best = 0;
  for (int trial = 0; trial < 3; ++trial) {
    const auto start = bench_clock::now();
    benchmark::DoNotOptimize(fib_serial(n));
    const double elapsed = seconds_between(start, bench_clock::now());
    best = trial == 0 ? elapsed : std::min(best, elapsed);
  }
  return best;
}

template <class Pool>
void run_fib(benchmark::State& state, int n, int cutoff) {
  const std::uint64_t expected = fib_serial(n);
  std::vector<double> times;
  Pool pool{threads()};
  warm_up(pool, threads());
  bool correct = true;
  for (auto _ : state) {
    const auto start = bench_clock::now();
    const std::uint64_t value =
        pool.run_root([&pool, n, cutoff] { return fib_fork_join(pool, n, cutoff); });
    times.push_back(seconds_between(start, bench_clock::now()));
    correct = correct && value == expected;
  }
  if (!correct) {
    state.SkipWithError("wrong result: fib(n) differs from the serial value");
  }
  state.counters["time_ms"] = median(times) * 1e3;
  state.counters["serial_ms"] = serial_seconds(n) * 1e3;
  state.counters["fib_n"] = n;
}

template <class Pool>
void run_w4(benchmark::State& state) {
  if constexpr (!Pool::waits_inside_pool) {
    state.SkipWithError(
        "deadlocks: a task waiting for its child blocks its worker until no worker is left");
    for (auto _ : state) {
    }
  } else {
    run_fib<Pool>(state, scaled_fib_n(32, 14), 12);
  }
  report_common_counters(state, threads());
}

template <class Pool>
void run_w4b(benchmark::State& state) {
  if constexpr (!Pool::waits_inside_pool) {
    state.SkipWithError(
        "deadlocks: a task waiting for its child blocks its worker until no worker is left");
    for (auto _ : state) {
    }
  } else if constexpr (Pool::one_thread_per_task) {
    state.SkipWithError("n/a (would take minutes): ~318,000 threads per run");
    for (auto _ : state) {
    }
  } else {
    run_fib<Pool>(state, scaled_fib_n(27, 10), 1);
  }
  report_common_counters(state, threads());
}

}  // namespace

void register_w4_fork_join() {
  register_workload(
      {.name = "W4ForkJoin", .iterations = 10, .iterations_thread_per_task = 2},
      [](auto peer) -> benchmark_function { return &run_w4<typename decltype(peer)::type>; });
  register_workload(
      {.name = "W4bSpawnJoin", .iterations = 10},
      [](auto peer) -> benchmark_function { return &run_w4b<typename decltype(peer)::type>; });
}

}  // namespace weft_bench
