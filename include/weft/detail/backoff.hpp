#pragma once
// backoff: the one spin helper of weft. Every spin loop escalates through it: first a few
// exponentially growing bursts of the CPU's pause instruction, then yields, and after
// tuning::backoff_yield_limit rounds it tells the caller to block instead (is_completed()).

#include <thread>

#include <weft/detail/tuning.hpp>

namespace weft {
inline namespace v1 {
namespace detail {

/// Issues one "I am spinning" hint to the processor (pause on x86, yield on ARM).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield" ::: "memory");
#endif
}

/// Exponential backoff for bounded spin loops. Thread: owned by one thread (not shared).
class backoff {
 public:
  /// Waits a little longer than the previous call did.
  void pause() noexcept {
    if (step_ < backoff_spin_limit) {
      for (unsigned i = 0; i < (1U << step_); ++i) {
        cpu_relax();
      }
    } else {
      std::this_thread::yield();
    }
    if (step_ <= backoff_yield_limit) {
      ++step_;
    }
  }

  /// True once spinning has lasted long enough that the caller should block (park) instead.
  [[nodiscard]] bool is_completed() const noexcept { return step_ > backoff_yield_limit; }

  /// Starts over (after progress was made).
  void reset() noexcept { step_ = 0; }

 private:
  unsigned step_ = 0;
};

}  // namespace detail
}  // namespace v1
}  // namespace weft
