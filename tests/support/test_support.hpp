// test_support.hpp: helpers shared by weft's tests (library weft_test_support).
//
// - time_scale(), scaled(d): one knob for every duration a test waits on. It reads
//   WEFT_TEST_TIME_SCALE (default 1); CTest sets it to 5 in sanitizer builds.
// - wait_until(pred, timeout): a deadline helper for a condition the test then asserts on. It
//   polls with a short yield-then-sleep backoff and gives up (returns false) at the deadline. It
//   orders nothing: use std::latch, std::barrier or futures to order events (STYLE.md §2.9).
// - thread_count(): the number of threads in this process, for thread-leak checks.
// - seed(): the seed for a test's random choices, from WEFT_TEST_SEED or else random. When a
//   test that called seed() fails, the seed is printed so that the failure can be rerun.
// - test_error: the exception type tests throw, to tell their own from any other.
// - slow_build(), iterations(full, reduced): loop counts for builds whose time is scaled up
//   (the sanitizer builds run the reduced counts of RELIABILITY.md section 4.3).
//
// Linking weft_test_support also installs a hang watchdog for every test (test_support.cpp):
// when one test runs longer than WEFT_TEST_WATCHDOG_SECONDS x time_scale() (default 100 s x
// scale), it prints the test's name and every thread's stack (through gdb when installed), then
// aborts, so that a hang is diagnosed and never costs more than one test's budget.

#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>

namespace weft_test {

/// Returns the factor applied to every test duration (WEFT_TEST_TIME_SCALE, default 1).
double time_scale();

/// True when durations are scaled up (time_scale() > 1), as in the sanitizer builds.
bool slow_build();

/// Returns `full`, or `reduced` in a slow build: the iteration count of a long loop.
template <typename T>
T iterations(T full, T reduced) {
  return slow_build() ? reduced : full;
}

/// Returns `d` multiplied by time_scale(), in the same duration type.
template <typename Rep, typename Period>
std::chrono::duration<Rep, Period> scaled(std::chrono::duration<Rep, Period> d) {
  const std::chrono::duration<double, Period> stretched =
      std::chrono::duration<double, Period>(d) * time_scale();
  return std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(stretched);
}

namespace detail {

/// Returns now + timeout x time_scale(), saturated at time_point::max() (no overflow).
std::chrono::steady_clock::time_point deadline_after(std::chrono::duration<double> timeout);

/// Waits a little before poll number `round`: yields first, then sleeps for growing periods.
void poll_backoff(unsigned round);

}  // namespace detail

/// Polls `pred` until it returns true or `deadline` passes; returns the last result.
///
/// The deadline is taken as given (not scaled). `pred` runs on the calling thread only.
template <typename Predicate>
[[nodiscard]] bool wait_until(Predicate&& pred, std::chrono::steady_clock::time_point deadline) {
  for (unsigned round = 0;; ++round) {
    if (pred()) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return static_cast<bool>(pred());
    }
    detail::poll_backoff(round);
  }
}

/// Polls `pred` for at most `timeout` x time_scale(); returns whether it became true.
///
/// Tests assert on the result. Pick a timeout far above the expected time: it only bounds how
/// long a failing test takes.
template <typename Predicate, typename Rep, typename Period>
[[nodiscard]] bool wait_until(Predicate&& pred, std::chrono::duration<Rep, Period> timeout) {
  return wait_until(pred, detail::deadline_after(timeout));
}

/// Returns the number of threads in this process (entries of /proc/self/task).
std::size_t thread_count();

/// Returns this process's random seed: WEFT_TEST_SEED if set, else a random value.
///
/// The value is fixed for the whole process. A failing test that called it prints it.
std::uint64_t seed();

/// The exception type tests throw from tasks and callbacks, so that a test can tell its own
/// exception from any other.
class test_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace weft_test
