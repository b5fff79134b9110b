#pragma once
// wait_group: "wait until every task handed off so far has finished", for peers that have no
// such call of their own (oneTBB's task_arena::enqueue). It is what a user of that peer would
// write, and it costs what it costs them: one shared atomic increment per hand-off and one
// decrement per finished task.
//
// Roles: any thread calls add(); the tasks call done(); one outside thread calls wait().
//
// Lost wake-up: done() decrements and, on reaching zero, takes the mutex before notifying.
// wait() checks the count while holding the mutex and sleeps atomically with releasing it, so
// a decrement to zero either happens before the check (wait() sees zero) or its notify waits
// for the mutex until wait() sleeps (and then wakes it).

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace weft_bench {

class wait_group {
 public:
  /// Thread: any. Counts one task about to be handed off.
  void add() noexcept { pending_.fetch_add(1, std::memory_order_relaxed); }

  /// Thread: the task, as its last action. acq_rel: the task's effects happen before wait()
  /// returns (pairs with the acquire load in wait()).
  void done() {
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      const std::lock_guard lock{mutex_};
      idle_.notify_all();
    }
  }

  /// Thread: outside the tasks. Returns once every add() has been matched by a done().
  void wait() {
    std::unique_lock lock{mutex_};
    idle_.wait(lock, [this] { return pending_.load(std::memory_order_acquire) == 0; });
  }

 private:
  alignas(64) std::atomic<std::int64_t> pending_{0};
  std::mutex mutex_;
  std::condition_variable idle_;
};

}  // namespace weft_bench
