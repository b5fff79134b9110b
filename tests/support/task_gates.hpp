// task_gates.hpp: header-only helpers that hold tasks at a known point, for the tests of futures,
// cancellation and cooperative waiting.
//
// - event: a one-shot flag shared with tasks (a copyable handle). Tasks wait() on it; the test
//   set()s it, or waits for it with a scaled deadline.
// - gate: an event that also opens when the gate is destroyed. Declared after the pool, it
//   guarantees that a test which stops early (a failed ASSERT) never leaves a task waiting, so
//   the pool's destructor cannot hang. Tasks capture gate::waiter(), a plain event that keeps
//   the shared flag alive and never opens it.
// - worker_gate: occupies every worker of a pool with a task that waits on a gate, so that
//   later submissions stay queued for as long as the test needs.
// - race_balancer: delays one side of a race by a random number of spins whose range adapts so
//   that each side wins about half of the rounds, so a race test keeps hitting close calls.
// - stress_count(full, reduced): the repetition count of a race or volume test: `full`, or
//   `reduced` when time_scale() > 1 (the sanitizer builds, several times slower).
// - under_sanitizer: true in ASan and TSan builds, whose stack frames are several times larger;
//   for limits about stack depth, which a time scale does not describe.
// - event_timeout: how long a test waits for something that should happen at once; it only
//   bounds how long a failing test takes (scaled).
// - PrintTo(weft::future_state): GoogleTest prints states by name.
//
// Lifetime rule used throughout the tests: objects a task touches by reference are declared
// before the pool (so they outlive its join); gates are declared after it.

#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <ostream>
#include <random>
#include <vector>

#include "support/test_support.hpp"
#include <weft/future.hpp>
#include <weft/thread_pool.hpp>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define WEFT_TEST_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define WEFT_TEST_UNDER_SANITIZER 1
#endif
#endif

namespace weft_test {

#ifdef WEFT_TEST_UNDER_SANITIZER
inline constexpr bool under_sanitizer = true;
#else
inline constexpr bool under_sanitizer = false;
#endif

/// Bounds a wait for an event that should happen at once (scaled by time_scale()).
inline constexpr std::chrono::seconds event_timeout{20};

/// `full` normally; `reduced` when time_scale() > 1 (sanitizer builds).
inline std::size_t stress_count(std::size_t full, std::size_t reduced) {
  return time_scale() > 1.0 ? reduced : full;
}

/// Delays the second side of a race (say, cancel() after submit()) by a random number of spins
/// below a limit. After each round, record() says whether that side came early (won when the
/// test wants it to lose half the time); the limit grows after early rounds and shrinks after
/// late ones, so the delay settles where both outcomes happen. It perturbs timing only: tests
/// check every outcome, never rely on one.
class race_balancer {
 public:
  explicit race_balancer(std::uint64_t seed) : rng_(seed) {}

  /// Spins for a random number of rounds below the current limit.
  void pause() {
    for (std::uint64_t n = rng_() % (limit_ + 1); n > 0; --n) {
      sink_.fetch_add(1, std::memory_order_relaxed);  // work the compiler cannot remove
    }
  }

  /// Adapts the limit to the outcome of the round just run.
  void record(bool came_early) {
    // A few microseconds at most: when one side is slow (a parked worker waking up) the
    // balance point may be far out, and 10^5 rounds must still take seconds, not minutes.
    constexpr std::uint64_t max_limit = std::uint64_t{1} << 12;
    if (came_early) {
      limit_ = std::min(max_limit, limit_ + limit_ / 8 + 1);
    } else {
      limit_ -= limit_ / 8;
    }
  }

 private:
  std::mt19937_64 rng_;
  std::uint64_t limit_ = 64;
  std::atomic<std::uint64_t> sink_{0};
};

/// A one-shot flag shared by copies of the handle.
class event {
 public:
  event() : s_(std::make_shared<state>()) {}

  /// Sets the flag and wakes every waiter. Idempotent.
  void set() const {
    {
      const std::lock_guard lock(s_->mu);
      s_->set = true;
    }
    s_->cv.notify_all();
  }

  /// True once set() was called.
  [[nodiscard]] bool is_set() const {
    const std::lock_guard lock(s_->mu);
    return s_->set;
  }

  /// Blocks until set() (for tasks: the test, or a gate's destructor, always sets it).
  void wait() const {
    std::unique_lock lock(s_->mu);
    s_->cv.wait(lock, [this] { return s_->set; });
  }

  /// Blocks until set() or `timeout` x time_scale() passes; returns whether it was set.
  template <typename Rep, typename Period>
  [[nodiscard]] bool wait_for(std::chrono::duration<Rep, Period> timeout) const {
    std::unique_lock lock(s_->mu);
    return s_->cv.wait_until(lock, detail::deadline_after(timeout), [this] { return s_->set; });
  }

 private:
  struct state {
    std::mutex mu;
    std::condition_variable cv;
    bool set = false;
  };
  std::shared_ptr<state> s_;
};

/// An event that is set when the gate is destroyed (see the file comment).
class gate {
 public:
  gate() = default;
  gate(const gate&) = delete;
  gate& operator=(const gate&) = delete;
  ~gate() { flag_.set(); }

  /// Lets every waiting task go.
  void open() const { flag_.set(); }

  /// The handle tasks wait on; it never opens the gate by itself.
  [[nodiscard]] event waiter() const { return flag_; }

 private:
  event flag_;
};

/// Holds every worker of a pool in a task until open() or destruction (declare it after the
/// pool). Construction submits one blocker per worker; all_running() confirms they all run.
class worker_gate {
 public:
  worker_gate(weft::thread_pool& pool, std::size_t workers)
      : workers_(workers), started_(std::make_shared<std::atomic<std::size_t>>(0)) {
    blockers_.reserve(workers);
    for (std::size_t i = 0; i < workers; ++i) {
      blockers_.push_back(pool.submit([started = started_, open = open_.waiter()] {
        started->fetch_add(1, std::memory_order_acq_rel);
        open.wait();
      }));
    }
  }

  /// Waits (bounded) until every blocker runs, so each worker holds one; returns whether they
  /// all did. After a true return, anything submitted from outside stays queued until open().
  [[nodiscard]] bool all_running() const {
    return wait_until([this] { return started_->load(std::memory_order_acquire) == workers_; },
                      event_timeout);
  }

  /// Releases the workers.
  void open() const { open_.open(); }

  /// The blockers' futures (they succeed once opened).
  [[nodiscard]] const std::vector<weft::future<void>>& blockers() const { return blockers_; }

 private:
  std::size_t workers_;
  std::shared_ptr<std::atomic<std::size_t>> started_;
  gate open_;
  std::vector<weft::future<void>> blockers_;
};

/// A task of `pool` that returns `value` once `go` is set: an input that completes when the
/// test says (the combinator tests use it to choose the order of completions).
inline weft::future<int> held(weft::thread_pool& pool, const event& go, int value) {
  return pool.submit([go, value] {
    go.wait();
    return value;
  });
}

}  // namespace weft_test

namespace weft {
inline namespace v1 {

/// Prints a future_state by name in GoogleTest messages (found by argument-dependent lookup).
inline void PrintTo(future_state s, std::ostream* out) {
  switch (s) {
    case future_state::pending:
      *out << "pending";
      return;
    case future_state::running:
      *out << "running";
      return;
    case future_state::succeeded:
      *out << "succeeded";
      return;
    case future_state::failed:
      *out << "failed";
      return;
    case future_state::cancelled:
      *out << "cancelled";
      return;
  }
  *out << "future_state(" << static_cast<int>(s) << ")";
}

}  // namespace v1
}  // namespace weft
