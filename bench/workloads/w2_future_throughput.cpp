// W2 future-throughput: 200,000 tasks each return an int through a future; every result is
// read (and checked).
//
// Timed: the submits, reading every result, and releasing the futures. Not timed: starting
// the pool, its warm-up, and destroying it. Figure: tasks_per_s. Each peer returns values its
// own way (weft::future, std::future from a packaged_task or a promise): see bench/peers/.
// Thread-per-task and std::async would start 200,000 threads per run: left out.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include "workloads/workload_support.hpp"
#include "workloads/workloads.hpp"

namespace weft_bench {
namespace {

/// The task: returns a value derived from its index, so that reading it can be checked.
class return_index {
 public:
  explicit return_index(std::uint32_t index) : index_{index} {}
  int operator()() const { return static_cast<int>(index_ & 0xffffU); }

 private:
  std::uint32_t index_;
};

template <class Pool>
void run(benchmark::State& state) {
  if constexpr (Pool::one_thread_per_task) {
    state.SkipWithError("n/a (would take minutes): 200,000 threads per run");
    for (auto _ : state) {
    }
  } else {
    const std::size_t tasks = scaled(200'000);
    std::int64_t expected = 0;
    for (std::size_t i = 0; i < tasks; ++i) {
      expected += return_index{static_cast<std::uint32_t>(i)}();
    }
    using future_type = decltype(std::declval<Pool&>().submit(return_index{0}));
    std::vector<future_type> futures;
    double elapsed = 0;
    bool correct = true;
    for (auto _ : state) {
      state.PauseTiming();
      std::optional<Pool> pool{std::in_place, threads()};
      warm_up(*pool, threads());
      futures.reserve(tasks);
      state.ResumeTiming();

      const auto start = bench_clock::now();
      for (std::size_t i = 0; i < tasks; ++i) {
        futures.push_back(pool->submit(return_index{static_cast<std::uint32_t>(i)}));
      }
      std::int64_t sum = 0;
      for (auto& future : futures) {
        sum += future.get();
      }
      futures.clear();
      elapsed += seconds_between(start, bench_clock::now());
      correct = correct && sum == expected;

      state.PauseTiming();
      futures.shrink_to_fit();
      pool.reset();
      state.ResumeTiming();
    }
    if (!correct) {
      state.SkipWithError("wrong result: the values read do not add up to the expected sum");
    }
    const double total = static_cast<double>(tasks) * static_cast<double>(state.iterations());
    state.SetItemsProcessed(static_cast<std::int64_t>(total));
    state.counters["tasks_per_s"] = total / elapsed;
  }
  report_common_counters(state, threads());
}

}  // namespace

void register_w2_future_throughput() {
  register_workload(
      {.name = "W2FutureThroughput", .iterations = 1},
      [](auto peer) -> benchmark_function { return &run<typename decltype(peer)::type>; });
}

}  // namespace weft_bench
