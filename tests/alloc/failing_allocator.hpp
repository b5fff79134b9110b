// failing_allocator.hpp: control of the replacement global operator new of the allocation-failure
// tests (failing_allocator.cpp), in the manner of SQLite's malloc tests.
//
// Linking failing_allocator.cpp into a test executable replaces every standard form of global
// operator new and operator delete (plain, array, nothrow, aligned, sized) in that executable:
// allocations then go through malloc / posix_memalign, so AddressSanitizer and LeakSanitizer
// still see every block. The replacement:
//
// - counts live blocks at all times (live_allocations()), for leak checks that also work
//   without LeakSanitizer;
// - once arm(n, mode) was called, counts the allocations made by any thread, and fails the n-th
//   (fail_mode::once) or the n-th and every later one (fail_mode::from_then_on): the throwing
//   forms throw std::bad_alloc, the nothrow forms return nullptr. disarm() stops counting and
//   says how many allocations were counted and how many failed.
//
// Every thread counts while armed, worker threads included: the library's worker-side paths (a
// task that submits to its own deque, continuations, hooks) are part of the sweep. When
// several threads allocate at once, which allocation is the n-th depends on the schedule; the
// scenarios keep their allocations on one thread at a time wherever they can, so that a
// failing n reproduces.
//
// Diagnostics: with WEFT_TEST_ALLOC_BACKTRACE=1 in the environment, every injected failure
// prints the allocating thread's stack to standard error (read once, at arm()).
//
// Synchronization: arm() happens-before the counting of any allocation that starts after it;
// the counters are atomics, so exactly one allocation is the n-th.

#pragma once

#include <cstdint>

namespace weft_test::alloc {

/// Which counted allocations fail.
enum class fail_mode : std::uint8_t {
  once,          ///< only the n-th
  from_then_on,  ///< the n-th and every later one, until disarm()
};

/// What happened between arm() and disarm().
struct arm_report {
  std::uint64_t counted = 0;   ///< allocations made while armed, failed ones included
  std::uint64_t injected = 0;  ///< allocations that were made to fail
};

/// Starts counting allocations from zero; the `fail_at`-th (1-based) fails as `mode` says.
/// Precondition: not armed. Thread: any (the test's driver thread).
void arm(std::uint64_t fail_at, fail_mode mode) noexcept;

/// Stops counting and failing. Returns what happened since arm(). Thread: any.
arm_report disarm() noexcept;

/// The number of blocks allocated through the replaced operators and not yet freed.
std::int64_t live_allocations() noexcept;

/// True if this executable's global operator new is the replacement (a sanity check: a
/// linker that dropped the replacement would make every sweep vacuous).
bool replacement_active() noexcept;

}  // namespace weft_test::alloc
