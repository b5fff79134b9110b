#pragma once
// Order statistics over samples taken inside one benchmark run (W4 iterations, W6 latencies).
//
// Thread: any; the functions take their samples by value and sort the copy.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace weft_bench {

/// The p-th percentile (0 <= p <= 100) by the nearest-rank method; 0 for no samples.
inline double percentile(std::vector<double> samples, double p) {
  if (samples.empty()) {
    return 0.0;
  }
  std::sort(samples.begin(), samples.end());
  const double rank = std::ceil(p / 100.0 * static_cast<double>(samples.size()));
  const auto index = static_cast<std::size_t>(std::max(1.0, rank)) - 1;
  return samples[std::min(index, samples.size() - 1)];
}

/// The median (the mean of the two middle samples for an even count); 0 for no samples.
inline double median(std::vector<double> samples) {
  if (samples.empty()) {
    return 0.0;
  }
  std::sort(samples.begin(), samples.end());
  const std::size_t mid = samples.size() / 2;
  if (samples.size() % 2 == 1) {
    return samples[mid];
  }
  return (samples[mid - 1] + samples[mid]) / 2.0;
}

}  // namespace weft_bench
