// futex(2) behind detail/futex.hpp. FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC
// deadline (the clock of steady_clock on Linux), so a timed wait neither drifts across
// spurious wake-ups nor moves with the system clock.

#include <cerrno>
#include <climits>
#include <ctime>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <weft/detail/futex.hpp>

namespace weft {
inline namespace v1 {
namespace detail {
namespace {

std::uint32_t* address_of(std::atomic<std::uint32_t>& word) noexcept {
  // std::atomic<uint32_t> is layout-compatible with uint32_t (static_asserts in futex.hpp).
  return reinterpret_cast<std::uint32_t*>(&word);
}

long futex_call(std::atomic<std::uint32_t>& word, int op, std::uint32_t value,
                const timespec* deadline) noexcept {
  return syscall(SYS_futex, address_of(word), op | FUTEX_PRIVATE_FLAG, value, deadline, nullptr,
                 FUTEX_BITSET_MATCH_ANY);
}

}  // namespace

void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept {
  futex_call(word, FUTEX_WAIT_BITSET, expected, nullptr);
}

bool futex_wait_until(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                      std::chrono::steady_clock::time_point deadline) noexcept {
  if (deadline == std::chrono::steady_clock::time_point::max()) {
    futex_wait(word, expected);
    return true;
  }
  const auto since_epoch = deadline.time_since_epoch();
  if (since_epoch.count() < 0) {
    return false;  // before the clock's epoch: long past
  }
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(secs.count());
  ts.tv_nsec = static_cast<long>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - secs).count());
  const long rc = futex_call(word, FUTEX_WAIT_BITSET, expected, &ts);
  return !(rc == -1 && errno == ETIMEDOUT);
}

void futex_wake(std::atomic<std::uint32_t>& word, int count) noexcept {
  futex_call(word, FUTEX_WAKE, static_cast<std::uint32_t>(count), nullptr);
}

void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept {
  futex_wake(word, INT_MAX);
}

}  // namespace detail
}  // namespace v1
}  // namespace weft
