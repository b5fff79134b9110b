// W8 idle cost: a pool of 8 workers (always 8, whatever WEFT_BENCH_THREADS says) runs a short
// warm-up, settles for 100 ms, then sits idle for 2 s.
//
// Figure: cpu_pct_of_core = CPU time used by the whole process over the 2 s (getrusage), in
// percent of one core; cpu_ms is the same in milliseconds. The benchmark thread sleeps
// meanwhile, so the figure is the pool's idle cost. Valid only when the process runs this one
// benchmark (as run.sh does): threads left over by earlier benchmarks would count too.
// oneTBB appears once (tbb_arena): task_group uses the same TBB workers, in an implicit arena
// whose size cannot be set to 8. Thread-per-task and std::async have no idle threads.

#include <chrono>
#include <cstddef>
#include <optional>
#include <thread>
#include <type_traits>

#include <benchmark/benchmark.h>

#include "common/process_stats.hpp"
#include "workloads/workload_support.hpp"
#include "workloads/workloads.hpp"

namespace weft_bench {
namespace {

constexpr std::size_t idle_workers = 8;

template <class Pool>
void run(benchmark::State& state) {
  if constexpr (Pool::one_thread_per_task) {
    state.SkipWithError("n/a (no idle threads): no thread outlives its task");
    for (auto _ : state) {
    }
#if WEFT_BENCH_HAVE_TBB
  } else if constexpr (std::is_same_v<Pool, tbb_task_group_pool>) {
    state.SkipWithError(
        "n/a (see tbb_arena): task_group uses the same TBB workers, in an implicit arena that "
        "cannot be given 8 of them");
    for (auto _ : state) {
    }
#endif
  } else {
    const auto settle = std::chrono::duration<double>(0.1 * scale());
    const auto idle = std::chrono::duration<double>(2.0 * scale());
    double cpu_seconds = 0;
    double wall_seconds = 0;
    for (auto _ : state) {
      state.PauseTiming();
      std::optional<Pool> pool{std::in_place, idle_workers};
      warm_up(*pool, idle_workers);
      std::this_thread::sleep_for(settle);
      state.ResumeTiming();

      const double cpu_before = process_cpu_seconds();
      const auto start = bench_clock::now();
      std::this_thread::sleep_for(idle);
      wall_seconds += seconds_between(start, bench_clock::now());
      cpu_seconds += process_cpu_seconds() - cpu_before;

      state.PauseTiming();
      pool.reset();
      state.ResumeTiming();
    }
    state.counters["cpu_pct_of_core"] = cpu_seconds / wall_seconds * 100.0;
    state.counters["cpu_ms"] = cpu_seconds * 1e3 / static_cast<double>(state.iterations());
  }
  report_common_counters(state, idle_workers);
}

}  // namespace

void register_w8_idle_cost() {
  register_workload({.name = "W8IdleCost", .iterations = 1}, [](auto peer) -> benchmark_function {
    return &run<typename decltype(peer)::type>;
  });
}

}  // namespace weft_bench
