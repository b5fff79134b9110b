// bounded_thread.hpp: header-only helpers for tests whose failure mode is a thread stuck inside
// the library (a deadlock the test is there to catch).
//
// - bounded_thread: a std::thread whose end the test waits for with a scaled deadline
//   (join_for) instead of an unbounded join().
// - quarantine(owner, why): reports a failure and leaks `owner`, the heap object that holds
//   everything the stuck threads may touch (the pool, gates, counters, the bounded_threads).
//   A thread blocked forever never runs again, and one that is only very late still finds valid
//   memory, so the rest of the test binary runs on. Only the failing path leaks.
//
// Use them for scenarios whose deadlock the test's own gates cannot break; everywhere else,
// open the gates and let the pool's destructor join as usual.

#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include <gtest/gtest.h>

#include "support/task_gates.hpp"

namespace weft_test {

/// A thread running `fn()`, joined with a deadline. Destroying it joins (unbounded) if the
/// test never called join_for(): only do that once the body is known to have returned.
class bounded_thread {
 public:
  template <typename F>
  explicit bounded_thread(F fn) {
    // Started in the body, once finished_ is fully built.
    thread_ = std::thread([body = std::move(fn), finished = finished_]() mutable {
      body();
      finished.set();
    });
  }
  bounded_thread(const bounded_thread&) = delete;
  bounded_thread& operator=(const bounded_thread&) = delete;
  bounded_thread(bounded_thread&&) = delete;
  bounded_thread& operator=(bounded_thread&&) = delete;
  ~bounded_thread() {
    if (thread_.joinable()) {
      thread_.join();
    }
  }

  /// Waits up to `timeout` x time_scale() for the body to return. Joins and returns true if it
  /// did; returns false (the thread still runs) otherwise.
  template <typename Rep, typename Period>
  [[nodiscard]] bool join_for(std::chrono::duration<Rep, Period> timeout) {
    if (!thread_.joinable()) {
      return true;
    }
    if (!finished_.wait_for(timeout)) {
      return false;
    }
    thread_.join();
    return true;
  }

 private:
  event finished_;
  std::thread thread_;
};

/// Fails the current test with `why` and leaks `*owner` (see the file comment).
template <typename T>
void quarantine(std::unique_ptr<T>& owner, const std::string& why) {
  ADD_FAILURE() << why
                << "; threads are stuck in the library, so this test leaks its pool and threads "
                   "(quarantined) to let the other tests run";
  static_cast<void>(owner.release());  // NOLINT(bugprone-unused-return-value): leaked on purpose
}

}  // namespace weft_test
