// W6 wake-up latency: an idle pool; 5,000 times: sleep 200 us, submit a task that records
// the time it starts, wait for its future.
//
// Figures (microseconds, over the 5,000 samples of the run): start_p50_us / start_p99_us,
// submit -> the task starts; ready_p50_us / ready_p99_us, submit -> the waiting thread has
// the value. The waiting thread only waits: for oneTBB task_group it sleeps on the future
// (get_blocking) instead of task_group::wait(), which would run the task itself and measure
// no wake-up at all.
//
// Timed: the whole loop, sleeps included (its time is not a figure). Not timed: starting the
// pool and its warm-up.

#include <chrono>
#include <cstddef>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "common/stats.hpp"
#include "workloads/workload_support.hpp"
#include "workloads/workloads.hpp"

namespace weft_bench {
namespace {

/// Waits for a future without running tasks on this thread.
template <class Future>
int wait_without_helping(Future& future) {
  if constexpr (requires { future.get_blocking(); }) {
    return future.get_blocking();
  } else {
    return future.get();
  }
}

template <class Pool>
void run(benchmark::State& state) {
  const std::size_t samples = scaled(5'000, 10);
  std::vector<double> to_start;
  std::vector<double> to_ready;
  to_start.reserve(samples);
  to_ready.reserve(samples);
  Pool pool{threads()};
  warm_up(pool, threads());
  for (auto _ : state) {
    for (std::size_t i = 0; i < samples; ++i) {
      std::this_thread::sleep_for(std::chrono::microseconds{200});
      bench_clock::time_point started{};
      const auto submitted = bench_clock::now();
      auto future = pool.submit([&started] {
        started = bench_clock::now();
        return 1;
      });
      benchmark::DoNotOptimize(wait_without_helping(future));
      const auto ready = bench_clock::now();
      to_start.push_back(seconds_between(submitted, started) * 1e6);
      to_ready.push_back(seconds_between(submitted, ready) * 1e6);
    }
  }
  state.counters["start_p50_us"] = percentile(to_start, 50);
  state.counters["start_p99_us"] = percentile(to_start, 99);
  state.counters["ready_p50_us"] = percentile(to_ready, 50);
  state.counters["ready_p99_us"] = percentile(to_ready, 99);
  report_common_counters(state, threads());
}

}  // namespace

void register_w6_wake_latency() {
  register_workload(
      {.name = "W6WakeLatency", .iterations = 1},
      [](auto peer) -> benchmark_function { return &run<typename decltype(peer)::type>; });
}

}  // namespace weft_bench
