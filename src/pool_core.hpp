#pragma once
/*
 * pool_core — the engine behind weft::thread_pool (private to the compiled library).
 * Essays: docs/design/sleep-and-wake.md, docs/design/shutdown.md.
 *
 * Purpose. Owns the workers, their deques, the injection queue, the sleep controller, the
 * counters and the lifecycle. The public thread_pool is a thin handle over it.
 *
 * Roles. Worker i: runs worker_main(i) and owns deque i and counters i. Outside thread: any
 * thread that is not a worker of this pool (submits, waits, joins). Helper: a worker inside
 * future::get() (help_until).
 *
 * Shared state (beyond the queues and the sleep controller, which document their own).
 *   busy_     uint64: bits 0-31 the number of busy workers (holding or looking to take a task);
 *             bits 32-63 an epoch, incremented on every idle → busy transition.
 *   counters  per worker, written by that worker only (relaxed load + store, no RMW):
 *             completed, failed, running, stale_created, stale_dropped.
 *   shared counters (RMW, off the hot path): cancelled_, rejected_, unrun_failed_,
 *             stale_created_ext_, stale_dropped_ext_.
 *   stopping_ bool: set once by join after the pool is idle and closed; workers then exit.
 *   broken_   bool: set once when an on_thread_start hook threw; workers fail what is queued.
 *
 * Protocol (numbers cited in thread_pool.cpp).
 *   B1 A worker becomes busy (busy_ += 1 + epoch) before it takes a task from any queue, and
 *      idle (busy_ -= 1) only after it found no task anywhere. A worker that goes idle with
 *      busy_ reaching 0 wakes the idle waiters if there are any.
 *   B2 is_idle (wait/join): read busy_ (count 0), check every queue is empty, read busy_ again
 *      (unchanged). Then no worker was busy in between, so no task left a queue, so at the
 *      moment of the queue check nothing was queued or running.
 *   L1 shutdown: close the injection queue (outside submissions fail from then on; worker
 *      submissions still go to their deques).
 *   L2 join: shutdown, wait until idle (B2); closed and idle stays idle. Then set stopping_,
 *      wake every parked worker, wait for all workers to exit, join the threads, and cancel
 *      whatever a racing continuation managed to queue (C12: never left pending).
 *   H1 help_until: while the awaited state is not done: if it is pending, run it here (from
 *      the bottom of our deque if it is there, else by claiming it); else run any task we can
 *      take; else block on the state for a short, growing interval and look again.
 *
 * Invariants.
 *   I1 A task leaves a queue only into the hands of a busy worker, or of cancel_pending/drain
 *      (which cancel it). Hence B2 is sound.
 *   I2 Every accepted task is run once, or cancelled (counted in cancelled_), or failed with
 *      broken_pool; at rest completed + failed + cancelled + rejected = all submissions.
 *   I3 stats().queued = entries in queues - stale entries (claimed or cancelled elsewhere
 *      while their entry stays queued), clamped at 0.
 *
 * Memory orders: busy_ and idle_waiters_ RMWs and loads are seq_cst: B1's "busy, then take"
 * against B2's "read busy_, read queues, read busy_" is a store-load pattern on two locations,
 * and the idle notification is a Dekker pair (worker: busy_ -= 1, then load idle_waiters_;
 * waiter: idle_waiters_ += 1, then B2). Per-worker counters are relaxed statistics with a
 * single writer. stopping_ and broken_ are stored seq_cst (they pair with the sleep
 * controller's S3 re-check) and loaded acquire elsewhere.
 */

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <weft/detail/injection_queue.hpp>
#include <weft/detail/shared_state.hpp>
#include <weft/detail/sleep_controller.hpp>
#include <weft/detail/task.hpp>
#include <weft/detail/thread_annotations.hpp>
#include <weft/detail/work_stealing_deque.hpp>
#include <weft/pool_options.hpp>
#include <weft/pool_stats.hpp>

namespace weft {
inline namespace v1 {

class thread_pool;

namespace detail {

class pool_core;
struct worker;

/// What a worker thread knows about itself (this_worker, routing of submissions).
struct worker_context {
  pool_core* core = nullptr;
  worker* self = nullptr;
  /// True while the worker runs its task loop. Outside it (in on_thread_start and
  /// on_thread_exit) the thread submits and waits like an outside thread, so a hook cannot slip
  /// a task past shutdown().
  bool in_loop = false;
};

/// The calling thread's context; empty outside a pool.
worker_context& current_worker() noexcept;

/// A statistic written by one thread only: a relaxed load and store, no RMW.
class owned_counter {
 public:
  void add(std::uint64_t n = 1) noexcept {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void sub(std::uint64_t n = 1) noexcept {
    value_.store(value_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t get() const noexcept {
    return value_.load(std::memory_order_relaxed);  // a statistic
  }

 private:
  std::atomic<std::uint64_t> value_{0};
};

/// One worker: its deque, its counters, its thread.
struct worker {
  explicit worker(std::size_t i) : index(i), rng(0x9E3779B97F4A7C15ULL * (i + 1)) {}
  const std::size_t index;
  work_stealing_deque<task_node*> deque;
  // Written by this worker only; on their own line so that stats() readers and thieves do not
  // slow the owner down.
  alignas(cache_line) owned_counter completed;
  owned_counter failed;
  owned_counter running;
  owned_counter stale_created;
  owned_counter stale_dropped;
  bool busy = false;  // owner only (mirrors its share of busy_)
  unsigned tick = 0;  // owner only: tasks since the last injection-queue-first check
  std::uint64_t rng;  // owner only: victim selection
  std::thread thread;
};

/// The engine. See the design note above.
class pool_core {
 public:
  pool_core(thread_pool* owner, pool_options options);
  ~pool_core();
  pool_core(const pool_core&) = delete;
  pool_core& operator=(const pool_core&) = delete;

  /// Starts the worker threads. Throws std::system_error if not even one starts.
  void start_workers();

  // Submission.
  void check_open(const char* function) const;
  void post(task& t, const char* function);
  void submit(state_base* s, const char* function);
  void submit_continuation(state_base* s);
  void check_continuation_accepted() const;
  std::stop_token stop_token();

  // Waiting and lifecycle.
  bool wait_until(steady_time deadline, const char* function);
  void shutdown() noexcept;
  bool join_until(steady_time deadline, const char* function);
  void request_stop();
  std::size_t cancel_pending();
  [[nodiscard]] pool_stats stats() const noexcept;
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] thread_pool* owner() const noexcept { return owner_; }

  // Hooks for the futures.
  bool help_until(state_base& s, steady_time deadline);
  /// True on any thread of this pool, hooks included (for the misuse checks of wait and join).
  [[nodiscard]] bool on_own_worker() const noexcept { return current_worker().core == this; }
  /// The calling worker if it is in its task loop (it may then push to its deque and help).
  [[nodiscard]] worker* own_loop_worker() const noexcept {
    const worker_context& ctx = current_worker();
    return ctx.core == this && ctx.in_loop ? ctx.self : nullptr;
  }
  void report_error(const std::exception_ptr& error) noexcept;
  void count_unrun(future_state final, bool was_queued) noexcept;

 private:
  void worker_main(worker& me);
  void worker_loop(worker& me);
  bool search_then_park(worker& me, bool& searching);
  bool take_work(worker& me, task& out);
  bool steal_work(worker& me, task& out);
  void run_task(worker& me, task& t) noexcept;
  void go_busy(worker& me) noexcept;
  void go_idle(worker& me) noexcept;
  [[nodiscard]] bool work_visible() const noexcept;
  [[nodiscard]] bool is_idle() const noexcept;
  void push_local(worker& me, task_node* node);
  void push_outside(task& t, bool bypass_close, const char* function);
  void break_pool(const std::exception_ptr& cause) noexcept;
  std::size_t drain(const std::exception_ptr& reason) noexcept;
  void refuse(const char* function) const;
  void count_outcome(worker& me, run_outcome outcome, bool stale_claim) noexcept;
  void notify_idle_waiters() noexcept;
  void cancel_stragglers() noexcept;

  thread_pool* const owner_;
  pool_options options_;
  std::string name_;
  std::vector<std::unique_ptr<worker>> workers_;
  injection_queue injection_;
  sleep_controller sleep_;

  alignas(cache_line) std::atomic<std::uint64_t> busy_{0};
  alignas(cache_line) std::atomic<std::uint32_t> idle_waiters_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> broken_{false};
  std::atomic<bool> on_error_threw_{false};
  std::atomic<std::size_t> live_threads_{0};
  std::size_t started_threads_ = 0;  // written by the constructor only

  // Shared counters, off the hot path (user cancels, refusals, pass-throughs).
  alignas(cache_line) std::atomic<std::uint64_t> cancelled_{0};
  mutable std::atomic<std::uint64_t> rejected_{0};
  std::atomic<std::uint64_t> unrun_failed_{0};
  std::atomic<std::uint64_t> stale_created_ext_{0};
  std::atomic<std::uint64_t> stale_dropped_ext_{0};

  // Idle waiters (wait/join) block here; workers notify when busy_ reaches 0 (B1).
  mutable mutex idle_mutex_;
  std::condition_variable idle_cv_;

  // Lifecycle: exits of workers, joining of threads.
  mutex life_mutex_;
  std::condition_variable life_cv_;
  std::size_t exited_ WEFT_GUARDED_BY(life_mutex_) = 0;
  bool joining_ WEFT_GUARDED_BY(life_mutex_) = false;  // a joiner is joining the threads
  bool joined_ WEFT_GUARDED_BY(life_mutex_) = false;   // threads joined, stragglers cancelled
  std::exception_ptr broken_error_;  // written once before broken_ is set (seq_cst)

  // The stop epoch of request_stop().
  mutex stop_mutex_;
  std::stop_source stop_source_ WEFT_GUARDED_BY(stop_mutex_);
};

}  // namespace detail
}  // namespace v1
}  // namespace weft
