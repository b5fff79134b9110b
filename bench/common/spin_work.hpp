#pragma once
// A CPU-bound task body of a calibrated duration (W3's ~10 us tasks).
//
// spin(rounds) runs a dependent chain of integer operations the compiler cannot remove or
// vectorise; calibrate() finds how many rounds take the requested time on this machine, now,
// and measures what one task really costs when run serially (the basis of W3's "ideal").
//
// Thread: spin() from any thread; calibrate() from the benchmark thread before any pool runs.

#include <algorithm>
#include <chrono>
#include <cstdint>

#include <benchmark/benchmark.h>

namespace weft_bench {

/// Runs `rounds` rounds of an xorshift chain and returns its last value.
inline std::uint64_t spin(std::uint64_t rounds) {
  std::uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (std::uint64_t i = 0; i < rounds; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    benchmark::DoNotOptimize(x);
  }
  return x;
}

struct spin_calibration {
  std::uint64_t rounds = 1;  ///< rounds of spin() per task
  double task_seconds = 0;   ///< measured serial cost of one task (best of several trials)
};

/// Finds the rounds that make one spin() take about `target_seconds`. The serial cost is the
/// best of several trials, so the ideal built on it is the optimistic one.
inline spin_calibration calibrate(double target_seconds) {
  using clock = std::chrono::steady_clock;
  const auto time_batch = [](std::uint64_t rounds, int tasks) {
    const auto start = clock::now();
    for (int i = 0; i < tasks; ++i) {
      benchmark::DoNotOptimize(spin(rounds));
    }
    const std::chrono::duration<double> elapsed = clock::now() - start;
    return elapsed.count() / tasks;
  };
  // Grow a probe until it is long enough to time well, then solve for the rounds.
  std::uint64_t probe = 1000;
  double probe_seconds = time_batch(probe, 1);
  while (probe_seconds < 1e-3) {
    probe *= 2;
    probe_seconds = time_batch(probe, 1);
  }
  double best_per_round = probe_seconds / static_cast<double>(probe);
  for (int trial = 0; trial < 5; ++trial) {
    best_per_round = std::min(best_per_round, time_batch(probe, 1) / static_cast<double>(probe));
  }
  spin_calibration result;
  result.rounds =
      std::max<std::uint64_t>(1, static_cast<std::uint64_t>(target_seconds / best_per_round));
  result.task_seconds = time_batch(result.rounds, 200);
  for (int trial = 0; trial < 4; ++trial) {
    result.task_seconds = std::min(result.task_seconds, time_batch(result.rounds, 200));
  }
  return result;
}

}  // namespace weft_bench
