// W7 multi-producer: 2 outside threads each post 500,000 empty tasks at once; then the
// benchmark thread waits for all of them.
//
// The producers are started before the timed region and released together by a latch; they
// stay alive (blocked) until the wait is over, so that no peer loses or delays work when a
// producing thread exits. Timed: from the release to the end of the wait. Figure: tasks_per_s.
// Thread-per-task and std::async would start 10^6 threads: left out.

#include <cstddef>
#include <cstdint>
#include <latch>
#include <optional>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "workloads/workload_support.hpp"
#include "workloads/workloads.hpp"

namespace weft_bench {
namespace {

constexpr std::ptrdiff_t producers = 2;

template <class Pool>
double timed_round(Pool& pool, std::size_t tasks_per_producer) {
  std::latch go{1};
  std::latch posted{producers};
  std::latch release{1};
  std::vector<std::thread> threads;
  for (std::ptrdiff_t p = 0; p < producers; ++p) {
    threads.emplace_back([&] {
      go.wait();
      for (std::size_t i = 0; i < tasks_per_producer; ++i) {
        pool.post([] {});
      }
      posted.count_down();
      release.wait();
    });
  }
  const auto start = bench_clock::now();
  go.count_down();
  posted.wait();
  pool.wait_idle();
  const double elapsed = seconds_between(start, bench_clock::now());
  release.count_down();
  for (auto& thread : threads) {
    thread.join();
  }
  return elapsed;
}

template <class Pool>
void run(benchmark::State& state) {
  if constexpr (Pool::one_thread_per_task) {
    state.SkipWithError("n/a (would take minutes): 1,000,000 threads per run");
    for (auto _ : state) {
    }
  } else {
    const std::size_t per_producer = scaled(500'000);
    double elapsed = 0;
    for (auto _ : state) {
      state.PauseTiming();
      std::optional<Pool> pool{std::in_place, threads()};
      warm_up(*pool, threads());
      state.ResumeTiming();

      // Thread start and join are outside the figure (timed_round times only its core);
      // Google Benchmark's own real_time includes them.
      elapsed += timed_round(*pool, per_producer);

      state.PauseTiming();
      pool.reset();
      state.ResumeTiming();
    }
    const double total = static_cast<double>(per_producer) * static_cast<double>(producers) *
                         static_cast<double>(state.iterations());
    state.SetItemsProcessed(static_cast<std::int64_t>(total));
    state.counters["tasks_per_s"] = total / elapsed;
  }
  report_common_counters(state, threads());
}

}  // namespace

void register_w7_multi_producer() {
  register_workload(
      {.name = "W7MultiProducer", .iterations = 1},
      [](auto peer) -> benchmark_function { return &run<typename decltype(peer)::type>; });
}

}  // namespace weft_bench
