#pragma once
// The list of pools every workload runs on, and their registration with Google Benchmark.
//
// A workload registers once, for all pools, as BM_<workload>/<pool>. A peer whose library was
// not found at configure time is still registered, as a benchmark that reports
// "not built: ...", so that every table lists every peer. Workloads skip a pool they cannot
// run the same way (SkipWithError("<cell text>: <why>")); the report prints the cell text in the
// table and the why in its notes.
//
// Google Benchmark appends "/iterations:N/real_time" to each name; bench/run.sh selects one
// benchmark with the filter ^BM_<workload>/<pool>/ for that reason.

#include <cstddef>
#include <string>
#include <string_view>

#include <benchmark/benchmark.h>

#include "peers/pool_adapter.hpp"
#include "peers/std_async.hpp"
#include "peers/textbook_pool.hpp"
#include "peers/thread_per_task.hpp"
#include "peers/weft_pool.hpp"

#if WEFT_BENCH_HAVE_TBB
#include "peers/tbb_arena.hpp"
#include "peers/tbb_task_group.hpp"
#endif

#if WEFT_BENCH_HAVE_ASIO
#include "peers/asio_pool.hpp"
#endif

namespace weft_bench {

/// Names a pool type for a workload's factory lambda: `[](auto peer) { ... decltype(peer)::type }`.
template <class Pool>
struct peer {
  using type = Pool;
};

using benchmark_function = void (*)(benchmark::State&);

struct workload_settings {
  std::string name;                          ///< e.g. "W1SubmitThroughput"
  benchmark::IterationCount iterations = 1;  ///< timed iterations per run
  /// Iterations for thread-per-task and std::async (0: the same as `iterations`).
  benchmark::IterationCount iterations_thread_per_task = 0;
};

namespace detail {

inline std::string benchmark_name(const workload_settings& workload, std::string_view pool) {
  return "BM_" + workload.name + "/" + std::string{pool};
}

inline void add(const workload_settings& workload, std::string_view pool, bool thread_per_task,
                benchmark_function function) {
  benchmark::IterationCount iterations = workload.iterations;
  if (thread_per_task && workload.iterations_thread_per_task > 0) {
    iterations = workload.iterations_thread_per_task;
  }
  benchmark::RegisterBenchmark(benchmark_name(workload, pool).c_str(), function)
      ->UseRealTime()
      ->Iterations(iterations)
      ->Unit(benchmark::kMillisecond);
}

inline void add_not_built(const workload_settings& workload, std::string_view pool,
                          const char* reason) {
  benchmark::RegisterBenchmark(benchmark_name(workload, pool).c_str(),
                               [reason](benchmark::State& state) {
                                 state.SkipWithError(reason);
                                 for (auto _ : state) {
                                 }
                               })
      ->UseRealTime()
      ->Iterations(1)
      ->Unit(benchmark::kMillisecond);
}

template <class Pool, class Factory>
void add_peer(const workload_settings& workload, Factory& factory) {
  add(workload, Pool::name, Pool::one_thread_per_task, factory(peer<Pool>{}));
}

}  // namespace detail

/// Registers BM_<workload>/<pool> for every pool. `factory(peer<Pool>{})` returns the
/// benchmark function for Pool (normally `&run<Pool>`). The order here is the table's order.
template <class Factory>
void register_workload(const workload_settings& workload, Factory factory) {
  detail::add_peer<weft_pool>(workload, factory);
#if WEFT_BENCH_HAVE_TBB
  detail::add_peer<tbb_task_group_pool>(workload, factory);
  detail::add_peer<tbb_arena_pool>(workload, factory);
#else
  detail::add_not_built(workload, "tbb_task_group",
                        "not built: oneTBB was not found at configure time");
  detail::add_not_built(workload, "tbb_arena", "not built: oneTBB was not found at configure time");
#endif
#if WEFT_BENCH_HAVE_ASIO
  detail::add_peer<asio_pool>(workload, factory);
#else
  detail::add_not_built(workload, "asio",
                        "not built: Boost (Asio) was not found at configure time");
#endif
  detail::add_peer<textbook_pool>(workload, factory);
  detail::add_peer<thread_per_task_pool>(workload, factory);
  detail::add_peer<std_async_pool>(workload, factory);
}

}  // namespace weft_bench
