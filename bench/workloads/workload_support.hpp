#pragma once
// Helpers shared by the workload files: the common counters, the warm-up, the clock.
//
// Thread: the benchmark thread.

#include <chrono>
#include <cstddef>
#include <future>
#include <vector>

#include <benchmark/benchmark.h>

#include "common/bench_config.hpp"
#include "common/process_stats.hpp"
#include "peers/all_peers.hpp"

namespace weft_bench {

using bench_clock = std::chrono::steady_clock;

inline double seconds_between(bench_clock::time_point start, bench_clock::time_point end) {
  return std::chrono::duration<double>(end - start).count();
}

/// Counters every benchmark reports: workers per pool, the scale, and the process's peak RSS
/// so far (meaningful per pool only when the process runs one benchmark, as run.sh does).
inline void report_common_counters(benchmark::State& state, std::size_t pool_threads) {
  state.counters["threads"] = static_cast<double>(pool_threads);
  state.counters["scale"] = scale();
  state.counters["peak_rss_mib"] = peak_rss_mib();
}

/// Makes sure a pool's workers exist and have run before the timed region (oneTBB starts its
/// workers lazily): 4 tasks per worker, each busy for ~50 us, submitted together, then read.
/// The same for every pool.
template <class Pool>
void warm_up(Pool& pool, std::size_t pool_threads) {
  using future_type = decltype(pool.submit([] { return 0; }));
  std::vector<future_type> futures;
  futures.reserve(4 * pool_threads);
  for (std::size_t i = 0; i < 4 * pool_threads; ++i) {
    futures.push_back(pool.submit([] {
      const auto until = bench_clock::now() + std::chrono::microseconds{50};
      while (bench_clock::now() < until) {
      }
      return 0;
    }));
  }
  for (auto& future : futures) {
    benchmark::DoNotOptimize(future.get());
  }
}

}  // namespace weft_bench
