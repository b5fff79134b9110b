// W1 submit-throughput: one outside thread posts 1,000,000 empty tasks, then waits for all.
//
// Timed: the posts and the wait. Not timed: starting the pool and its warm-up, and destroying
// it. Figures: tasks_per_s (also items_per_second), and peak_rss_mib, the process's peak
// resident memory, which run.sh reads from a process that ran only this benchmark for one
// pool (rss_before_pool_mib is the resident memory just before the pool was started).
// Thread-per-task and std::async would start 10^6 threads: left out.

#include <cstddef>
#include <cstdint>
#include <optional>

#include <benchmark/benchmark.h>

#include "workloads/workload_support.hpp"
#include "workloads/workloads.hpp"

namespace weft_bench {
namespace {

template <class Pool>
void run(benchmark::State& state) {
  if constexpr (Pool::one_thread_per_task) {
    state.SkipWithError("n/a (would take minutes): 1,000,000 threads per run");
    for (auto _ : state) {
    }
  } else {
    const std::size_t tasks = scaled(1'000'000);
    const double rss_before = current_rss_mib();
    double elapsed = 0;
    for (auto _ : state) {
      state.PauseTiming();
      std::optional<Pool> pool{std::in_place, threads()};
      warm_up(*pool, threads());
      state.ResumeTiming();

      const auto start = bench_clock::now();
      for (std::size_t i = 0; i < tasks; ++i) {
        pool->post([] {});
      }
      pool->wait_idle();
      elapsed += seconds_between(start, bench_clock::now());

      state.PauseTiming();
      pool.reset();
      state.ResumeTiming();
    }
    const double total = static_cast<double>(tasks) * static_cast<double>(state.iterations());
    state.SetItemsProcessed(static_cast<std::int64_t>(total));
    state.counters["tasks_per_s"] = total / elapsed;
    state.counters["rss_before_pool_mib"] = rss_before;
  }
  report_common_counters(state, threads());
}

}  // namespace

void register_w1_submit_throughput() {
  register_workload(
      {.name = "W1SubmitThroughput", .iterations = 1},
      [](auto peer) -> benchmark_function { return &run<typename decltype(peer)::type>; });
}

}  // namespace weft_bench
