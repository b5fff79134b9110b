#pragma once
// Run-wide settings of weft_bench, read once from the environment.
//
// - WEFT_BENCH_THREADS: workers per pool (default: std::thread::hardware_concurrency()).
//   Every pool of every peer gets this many workers, except W8, which always uses 8.
// - WEFT_BENCH_SCALE: a factor in (0, 1] applied to task counts and durations, for smoke
//   runs (CI uses 0.01). Figures from a scaled run are not comparable with full runs.
//
// Thread: any. The values are computed on first use and never change afterwards.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <string>
#include <thread>

namespace weft_bench {

namespace detail {

inline double read_positive_double(const char* name, double fallback) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read once, before any benchmark thread starts
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') {
    return fallback;
  }
  char* end = nullptr;
  const double value = std::strtod(text, &end);
  if (end == text || !(value > 0.0) || !std::isfinite(value)) {
    return fallback;
  }
  return value;
}

}  // namespace detail

/// Workers per pool: WEFT_BENCH_THREADS, else the machine's hardware threads (at least 1).
inline std::size_t threads() {
  static const std::size_t value = [] {
    const unsigned hw = std::max(1U, std::thread::hardware_concurrency());
    const double requested = detail::read_positive_double("WEFT_BENCH_THREADS", hw);
    return static_cast<std::size_t>(std::max(1.0, std::floor(requested)));
  }();
  return value;
}

/// Cores that can run at the same time: min(threads(), hardware threads). The ideal of W3.
inline std::size_t usable_cores() {
  const unsigned hw = std::max(1U, std::thread::hardware_concurrency());
  return std::min<std::size_t>(threads(), hw);
}

/// WEFT_BENCH_SCALE, clamped to (0, 1]; 1 for a real run.
inline double scale() {
  static const double value = std::min(1.0, detail::read_positive_double("WEFT_BENCH_SCALE", 1.0));
  return value;
}

/// `count` scaled by WEFT_BENCH_SCALE, at least `minimum`.
inline std::size_t scaled(std::size_t count, std::size_t minimum = 1) {
  const double value = std::round(static_cast<double>(count) * scale());
  return std::max(minimum, static_cast<std::size_t>(value));
}

/// fib(n) does about phi^n work: a scale s takes log_phi(s) off n (never below `floor`).
inline int scaled_fib_n(int n, int floor) {
  const double phi = (1.0 + std::sqrt(5.0)) / 2.0;
  const long shift = std::lround(std::log(scale()) / std::log(phi));
  return std::max(floor, n + static_cast<int>(shift));
}

}  // namespace weft_bench
