#pragma once
// The platform's "wait on an address" primitive: the one thing weft's parking and future waits
// need from the operating system. Linux implements it with futex(2) (src/platform/linux_futex.cpp);
// the waits measure CLOCK_MONOTONIC, the clock of std::chrono::steady_clock, so a step of the
// system clock neither shortens nor stretches them.

#include <atomic>
#include <chrono>
#include <cstdint>

namespace weft {
inline namespace v1 {
namespace detail {

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t),
              "futex words must be plain 32-bit integers");
static_assert(std::atomic<std::uint32_t>::is_always_lock_free,
              "futex words must be lock-free atomics");

/// Blocks while `word` holds `expected`, until woken (or spuriously). Returns at once if the
/// value differs. Callers re-check their condition in a loop.
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept;

/// As futex_wait, but gives up at `deadline`. Returns false if the deadline passed.
/// time_point::max() waits without a deadline.
bool futex_wait_until(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                      std::chrono::steady_clock::time_point deadline) noexcept;

/// Wakes up to `count` threads blocked on `word`.
void futex_wake(std::atomic<std::uint32_t>& word, int count) noexcept;

/// Wakes every thread blocked on `word`.
void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept;

}  // namespace detail
}  // namespace v1
}  // namespace weft
