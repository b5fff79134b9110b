// W3 short-tasks: 20,000 tasks of ~10 us of CPU each, posted by one outside thread, then
// waited for.
//
// The task body is a spin loop calibrated in this process before the pool starts (see
// common/spin_work.hpp). Figure: overhead_pct = measured / ideal - 1 (in percent), where
// ideal = tasks x (serial cost of one task) / usable cores; the serial cost is the best of
// several trials, so the ideal is the optimistic one. Thread-per-task and std::async run here:
// this is the workload where "one thread per task" is a real alternative.
//
// Timed: the posts and the wait. Not timed: calibration, starting the pool and its warm-up.

#include <cstddef>
#include <cstdint>
#include <optional>

#include <benchmark/benchmark.h>

#include "common/spin_work.hpp"
#include "workloads/workload_support.hpp"
#include "workloads/workloads.hpp"

namespace weft_bench {
namespace {

const spin_calibration& task_calibration() {
  static const spin_calibration calibration = calibrate(10e-6);
  return calibration;
}

template <class Pool>
void run(benchmark::State& state) {
  const spin_calibration& calibration = task_calibration();
  const std::uint64_t rounds = calibration.rounds;
  const std::size_t tasks = scaled(20'000);
  double elapsed = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::optional<Pool> pool{std::in_place, threads()};
    warm_up(*pool, threads());
    state.ResumeTiming();

    const auto start = bench_clock::now();
    for (std::size_t i = 0; i < tasks; ++i) {
      pool->post([rounds] { benchmark::DoNotOptimize(spin(rounds)); });
    }
    pool->wait_idle();
    elapsed += seconds_between(start, bench_clock::now());

    state.PauseTiming();
    pool.reset();
    state.ResumeTiming();
  }
  const auto runs = static_cast<double>(state.iterations());
  const double ideal =
      static_cast<double>(tasks) * calibration.task_seconds / static_cast<double>(usable_cores());
  state.counters["overhead_pct"] = (elapsed / runs / ideal - 1.0) * 100.0;
  state.counters["ideal_ms"] = ideal * 1e3;
  state.counters["task_us"] = calibration.task_seconds * 1e6;
  state.SetItemsProcessed(static_cast<std::int64_t>(static_cast<double>(tasks) * runs));
  report_common_counters(state, threads());
}

}  // namespace

void register_w3_short_tasks() {
  register_workload({.name = "W3ShortTasks", .iterations = 1}, [](auto peer) -> benchmark_function {
    return &run<typename decltype(peer)::type>;
  });
}

}  // namespace weft_bench
