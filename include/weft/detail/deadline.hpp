#pragma once
// Saturating conversions from user timeouts to steady_clock deadlines.
//
// Users pass zero, negative and duration::max() timeouts, and time points of any clock including
// time_point::min() and max(). `now + d` overflows for large d (undefined for signed
// representations), so every timed wait in weft goes through these helpers: a deadline that
// cannot be represented saturates to steady_clock::time_point::max(), which means "no deadline".

#include <chrono>
#include <type_traits>

namespace weft {
inline namespace v1 {
namespace detail {

using steady_time = std::chrono::steady_clock::time_point;

/// steady_clock::now() + d, saturating at time_point::max() (no deadline) and at now for d <= 0.
template <class Rep, class Period>
steady_time deadline_after(const std::chrono::duration<Rep, Period>& d) noexcept {
  using steady_dur = std::chrono::steady_clock::duration;
  const steady_time now = std::chrono::steady_clock::now();
  if (d <= std::chrono::duration<Rep, Period>::zero()) {
    return now;
  }
  // Compare in floating point: exact enough to decide "representable", and it cannot overflow.
  const auto limit = std::chrono::duration<long double, std::nano>(steady_time::max() - now);
  const auto wanted = std::chrono::duration<long double, std::nano>(d);
  if (wanted >= limit) {
    return steady_time::max();
  }
  auto converted = std::chrono::ceil<steady_dur>(d);
  return now + converted;
}

/// Converts a time point of any clock to a steady deadline, once, at the call: the distance from
/// the clock's now is measured in long double nanoseconds (exact for every 64-bit count, and
/// free of overflow for min() and max()), then added to steady_clock::now() with saturation.
/// steady_clock time points keep their exact value.
template <class Clock, class Duration>
steady_time deadline_at(const std::chrono::time_point<Clock, Duration>& tp) noexcept {
  using wide = std::chrono::duration<long double, std::nano>;
  if (tp == std::chrono::time_point<Clock, Duration>::max()) {
    return steady_time::max();
  }
  const wide remaining = wide(tp.time_since_epoch()) - wide(Clock::now().time_since_epoch());
  const steady_time now = std::chrono::steady_clock::now();
  if (remaining <= wide::zero()) {
    return now;
  }
  if (remaining >= wide(steady_time::max() - now)) {
    return steady_time::max();
  }
  if constexpr (std::is_same_v<Clock, std::chrono::steady_clock>) {
    return std::chrono::ceil<std::chrono::steady_clock::duration>(tp);
  } else {
    return now + std::chrono::ceil<std::chrono::steady_clock::duration>(remaining);
  }
}

}  // namespace detail
}  // namespace v1
}  // namespace weft
