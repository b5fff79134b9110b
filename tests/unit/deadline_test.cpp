// Tests of detail::deadline_after and detail::deadline_at, the saturating conversions every timed
// wait in weft goes through (RELIABILITY.md bar line 4, C6, I3): zero and negative timeouts mean
// "now", timeouts too large to represent mean "no deadline" (steady_clock::time_point::max()),
// time_point::min()/max() of any clock do not overflow, and a system_clock time point becomes the
// steady deadline the same distance ahead. The sanitizer build (UBSan) runs these to show that
// no signed overflow or out-of-range conversion happens on the way.

#include <chrono>
#include <cstdint>
#include <limits>
#include <ratio>

#include <gtest/gtest.h>

#include "support/test_support.hpp"
#include <weft/detail/deadline.hpp>

namespace {

using namespace std::chrono_literals;
using std::chrono::steady_clock;
using std::chrono::system_clock;
using weft::detail::deadline_after;
using weft::detail::deadline_at;
using weft::detail::steady_time;

constexpr steady_time no_deadline = steady_time::max();

// How far the conversion of a system_clock point may land from the distance the test expects:
// the test and the function read the clocks at slightly different moments (microseconds; more
// under a sanitizer or a loaded machine). Generous, and scaled; the assertion is about "about 1 s
// ahead", not about precision.
constexpr auto clock_read_tolerance = 100ms;

// Expects deadline_after(d) to be "now": within [before, after] of the call.
template <class Rep, class Period>
void expect_now(const std::chrono::duration<Rep, Period>& d, const char* what) {
  const steady_time before = steady_clock::now();
  const steady_time r = deadline_after(d);
  const steady_time after = steady_clock::now();
  EXPECT_GE(r, before) << what;
  EXPECT_LE(r, after) << what;
}

template <class Rep, class Period>
void expect_saturated(const std::chrono::duration<Rep, Period>& d, const char* what) {
  EXPECT_EQ(deadline_after(d), no_deadline) << what;
}

TEST(Deadline, ZeroAndNegativeTimeoutsMeanNow) {
  expect_now(0ns, "0 ns");
  expect_now(0s, "0 s");
  expect_now(-1ns, "-1 ns");
  expect_now(-1s, "-1 s");
  expect_now(-24h, "-24 h");
  expect_now(std::chrono::nanoseconds::min(), "nanoseconds::min()");
  expect_now(std::chrono::seconds::min(), "seconds::min()");
  expect_now(std::chrono::hours::min(), "hours::min()");
  expect_now(std::chrono::duration<double>(0.0), "0.0 s (double)");
  expect_now(std::chrono::duration<double>(-0.0), "-0.0 s (double)");
  expect_now(std::chrono::duration<double>(-1.5), "-1.5 s (double)");
  expect_now(std::chrono::duration<double>::min(), "duration<double>::min()");
  expect_now(std::chrono::duration<double>(-std::numeric_limits<double>::infinity()),
             "-infinity s (double)");
  expect_now(std::chrono::duration<double, std::milli>::min(), "duration<double, milli>::min()");
  expect_now(std::chrono::duration<std::uint32_t>::zero(), "0 s (unsigned)");
}

TEST(Deadline, MaximalTimeoutsMeanNoDeadline) {
  expect_saturated(std::chrono::nanoseconds::max(), "nanoseconds::max()");
  expect_saturated(std::chrono::microseconds::max(), "microseconds::max()");
  expect_saturated(std::chrono::milliseconds::max(), "milliseconds::max()");
  expect_saturated(std::chrono::seconds::max(), "seconds::max()");
  expect_saturated(std::chrono::minutes::max(), "minutes::max()");
  expect_saturated(std::chrono::hours::max(), "hours::max()");
  expect_saturated(std::chrono::duration<double>::max(), "duration<double>::max()");
  expect_saturated(std::chrono::duration<double, std::ratio<3600>>::max(),
                   "duration<double, hours>::max()");
  expect_saturated(std::chrono::duration<double, std::nano>::max(),
                   "duration<double, nano>::max()");
  expect_saturated(std::chrono::duration<float>::max(), "duration<float>::max()");
  expect_saturated(std::chrono::duration<long double>::max(), "duration<long double>::max()");
  expect_saturated(std::chrono::duration<double>(std::numeric_limits<double>::infinity()),
                   "+infinity s (double)");
  expect_saturated(std::chrono::duration<std::uint64_t, std::milli>::max(),
                   "duration<uint64_t, milli>::max()");
  expect_saturated(std::chrono::duration<std::int32_t, std::ratio<31'556'952>>::max(),
                   "int32 years::max()");
  // Representable as a duration, but not once added to now: 300 years of nanoseconds do not fit
  // in 64 bits (292 years do).
  expect_saturated(std::chrono::hours(24 * 365 * 300), "300 years in hours");
  expect_saturated(std::chrono::duration<double>(300.0 * 365 * 24 * 3600), "300 years (double)");
}

TEST(Deadline, RepresentableTimeoutsAreAddedToNow) {
  using ns = std::chrono::nanoseconds;
  for (const ns d : {ns(1ns), ns(1ms), ns(1s), ns(100h), ns(24h * 365 * 100)}) {
    const steady_time before = steady_clock::now();
    const steady_time r = deadline_after(d);
    const steady_time after = steady_clock::now();
    EXPECT_NE(r, no_deadline) << d.count() << " ns";
    EXPECT_GE(r - before, d) << d.count() << " ns";  // never early
    EXPECT_LE(r - after, d) << d.count() << " ns";
  }
  // Just below the limit: the largest timeout that still fits stays a real deadline.
  const steady_time before = steady_clock::now();
  const std::chrono::nanoseconds near_limit = (no_deadline - before) - 1h;
  const steady_time r = deadline_after(near_limit);
  EXPECT_NE(r, no_deadline);
  EXPECT_GE(r - before, near_limit);
}

TEST(Deadline, FractionalTimeoutsRoundUp) {
  // Rounding must never make a deadline early: half a nanosecond becomes one.
  const steady_time before = steady_clock::now();
  const steady_time r = deadline_after(std::chrono::duration<double, std::nano>(0.5));
  EXPECT_GE(r - before, 1ns);
  const steady_time before2 = steady_clock::now();
  const steady_time r2 = deadline_after(std::chrono::duration<double>(1.25));
  const steady_time after2 = steady_clock::now();
  EXPECT_GE(r2 - before2, 1250ms);
  EXPECT_LE(r2 - after2, 1250ms + 1ns);
}

// Expects deadline_at(tp) to be "now".
template <class Clock, class Duration>
void expect_at_now(const std::chrono::time_point<Clock, Duration>& tp, const char* what) {
  const steady_time before = steady_clock::now();
  const steady_time r = deadline_at(tp);
  const steady_time after = steady_clock::now();
  EXPECT_GE(r, before) << what;
  EXPECT_LE(r, after) << what;
}

TEST(Deadline, ExtremeTimePointsOfEveryClockSaturate) {
  EXPECT_EQ(deadline_at(steady_clock::time_point::max()), no_deadline);
  EXPECT_EQ(deadline_at(system_clock::time_point::max()), no_deadline);
  EXPECT_EQ(deadline_at(std::chrono::time_point<system_clock, std::chrono::seconds>::max()),
            no_deadline);
  EXPECT_EQ(deadline_at(std::chrono::time_point<system_clock, std::chrono::hours>::max()),
            no_deadline);
  EXPECT_EQ(
      deadline_at(std::chrono::time_point<steady_clock, std::chrono::duration<double>>::max()),
      no_deadline);
  EXPECT_EQ(
      deadline_at(std::chrono::time_point<system_clock, std::chrono::duration<double>>::max()),
      no_deadline);

  expect_at_now(steady_clock::time_point::min(), "steady min()");
  expect_at_now(system_clock::time_point::min(), "system min()");
  expect_at_now(std::chrono::time_point<system_clock, std::chrono::seconds>::min(),
                "system min() in seconds");
  expect_at_now(std::chrono::time_point<system_clock, std::chrono::hours>::min(),
                "system min() in hours");
  expect_at_now(std::chrono::time_point<steady_clock, std::chrono::duration<double>>::min(),
                "steady min() in double seconds");
  expect_at_now(std::chrono::time_point<system_clock, std::chrono::duration<double>>::min(),
                "system min() in double seconds");
}

TEST(Deadline, PastTimePointsMeanNow) {
  expect_at_now(steady_clock::now() - 1s, "steady now - 1 s");
  expect_at_now(steady_clock::now(), "steady now");
  expect_at_now(system_clock::now() - 1s, "system now - 1 s");
  expect_at_now(steady_clock::time_point{}, "steady epoch");
  expect_at_now(system_clock::time_point{}, "system epoch (1970)");
}

TEST(Deadline, FutureSteadyTimePointsKeepTheirExactValue) {
  const steady_time tp = steady_clock::now() + 5s;
  EXPECT_EQ(deadline_at(tp), tp);
  const steady_time far = steady_clock::now() + 24h * 365 * 100;
  EXPECT_EQ(deadline_at(far), far);
  const auto coarse = std::chrono::time_point_cast<std::chrono::seconds>(steady_clock::now()) + 10s;
  EXPECT_EQ(deadline_at(coarse), steady_time(coarse));
}

TEST(Deadline, SystemTimePointOneSecondAheadIsAboutOneSecondAheadOnSteady) {
  const auto tolerance = weft_test::scaled(std::chrono::nanoseconds(clock_read_tolerance));
  const steady_time before = steady_clock::now();
  const steady_time r = deadline_at(system_clock::now() + 1s);
  const steady_time after = steady_clock::now();
  ASSERT_NE(r, no_deadline);
  EXPECT_GE(r - before, 1s - tolerance);
  EXPECT_LE(r - after, 1s + tolerance);

  // A coarser system time point converts as well.
  const auto in_ms = std::chrono::time_point_cast<std::chrono::milliseconds>(system_clock::now());
  const steady_time before2 = steady_clock::now();
  const steady_time r2 = deadline_at(in_ms + 2000ms);
  const steady_time after2 = steady_clock::now();
  EXPECT_GE(r2 - before2, 2s - 1ms - tolerance);  // in_ms may lie up to 1 ms in the past
  EXPECT_LE(r2 - after2, 2s + tolerance);
}

TEST(Deadline, FarFutureSystemTimePoints) {
  // 200 years ahead still fits (about 292 years of nanoseconds minus the steady clock's uptime);
  // 300 years ahead saturates.
  const auto tolerance = weft_test::scaled(std::chrono::nanoseconds(clock_read_tolerance));
  const std::chrono::nanoseconds ahead = 24h * 365 * 200;
  const steady_time before = steady_clock::now();
  const steady_time r = deadline_at(system_clock::now() + ahead);
  ASSERT_NE(r, no_deadline);
  EXPECT_GE(r - before, ahead - tolerance);
  EXPECT_LE(r - before, ahead + tolerance);
  // 300 years do not fit in system_clock's own 64-bit nanoseconds either: use seconds.
  const auto far = std::chrono::time_point_cast<std::chrono::seconds>(system_clock::now()) +
                   std::chrono::seconds(24LL * 3600 * 365 * 300);
  EXPECT_EQ(deadline_at(far), no_deadline);
}

}  // namespace
