#pragma once
/*
 * pool_core — the engine behind weft::thread_pool (private to the compiled library).
 * Essays: docs/design/sleep-and-wake.md, docs/design/shutdown.md, docs/design/futures.md.
 *
 * Purpose. Owns the workers, their deques, the injection queue, the sleep controller, the
 * counters and the lifecycle. The public thread_pool is a thin handle over it. Each concern
 * lives in its own file, with its protocol written there:
 *
 *   worker_registry.cpp  construction, worker threads, on_thread_start / on_thread_exit
 *   worker.cpp           the task loop, taking and stealing, search and park (S1-S4)
 *   admission.cpp        the open check, admit-build-push submission, continuations (A1-A4)
 *   idle_and_join.cpp    busy/idle accounting, wait, shutdown, join, the lifecycle (B1-B2, L1-L4)
 *   drain.cpp            cancel_pending, the broken pool, stragglers (D1-D3)
 *   helping.cpp          waits on a worker that run other tasks (H1)
 *   stop_epoch.cpp       request_stop, the tokens of later submissions, running tasks (E1-E3)
 *   stats.cpp            counters and stats()
 *   error_reporting.cpp  on_error and its default
 *   pool_link.cpp        how a state reaches its pool, and learns it is gone (K1-K3)
 *   thread_pool.cpp      the public class: forwards to the core
 *
 * Roles. Worker i: runs worker_main(i) and owns deque i and counters i. Outside thread: any
 * thread that is not a worker of this pool (submits, waits, joins). Helper: a worker inside
 * future::get() (help_until). Hook: a worker running on_thread_start or on_thread_exit; it
 * submits like an outside thread and helps like a worker.
 *
 * Shared state (beyond the queues and the sleep controller, which document their own).
 *   phase_    pool_phase: open → draining → stopping → joined, only ever raised
 *             (transition_to); a hook that throws raises it to broken from open or draining,
 *             and a broken pool stays broken until joined (its workers exit through D2, not
 *             through stopping). A hook that throws once the pool is stopping leaves the
 *             phase alone; broken_reason() still reports it.
 *   entrance_closed_, entrance_[16]  A2's entrance: a flag set by shutdown and by a break,
 *             never cleared; per shard, the outside submitters admitted and not yet queued.
 *   busy_     uint64: bits 0-31 the number of busy workers (holding or looking to take a task);
 *             bits 32-63 an epoch, incremented on every idle → busy transition.
 *   counters  per worker, written by that worker only (relaxed load + store, no RMW):
 *             completed, failed, running, stale_created, stale_dropped.
 *   shared counters (RMW, off the hot path): cancelled_, rejected_, unrun_failed_,
 *             stale_created_ext_, stale_dropped_ext_.
 *
 * Invariants (each file cites those it keeps).
 *   I1 A task leaves a queue only into the hands of a busy worker, or of a drain (which
 *      cancels or fails it). Hence the idle check B2 is sound.
 *   I2 Every accepted task is run once, or cancelled (counted in cancelled_), or failed
 *      without running (broken pool, a then() pass-through: unrun_failed_); at rest
 *      completed + failed + cancelled + rejected = all submissions.
 *   I3 stats().queued = entries in queues - stale entries (claimed or cancelled elsewhere
 *      while their entry stays queued), clamped at 0.
 *   I4 No lock of the pool is held while user code runs (tasks, callbacks, stop callbacks,
 *      hooks, on_error), and no worker waits for user code that runs on another thread.
 */

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
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
  /// on_thread_exit) the thread submits like an outside thread, so a hook cannot slip a task
  /// past shutdown(); it still helps in get() like a worker.
  bool in_loop = false;
};

/// The calling thread's context; empty outside a pool.
worker_context& current_worker() noexcept;

/// The lifecycle of a pool (docs/design/shutdown.md draws the transitions). Ordered: a pool only
/// moves to a later phase.
enum class pool_phase : std::uint8_t {
  open,      ///< accepts submissions from anywhere
  draining,  ///< shut down: outside submissions are refused; queued work still runs
  broken,    ///< an on_thread_start hook threw: nothing runs, everything queued fails
  stopping,  ///< join saw the pool idle and closed: workers exit
  joined,    ///< every worker thread was joined and stragglers were cancelled
};

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

/// Where errors that no future can carry go: shared, so that a thread reporting from outside
/// the pool can keep it past the pool's destruction and call the handler outside any visit.
struct error_sink {
  error_sink(std::string name, std::function<void(std::exception_ptr)> handler)
      : pool_name(std::move(name)), on_error(std::move(handler)) {}
  std::string pool_name;
  std::function<void(std::exception_ptr)> on_error;
  mutable std::atomic<bool> handler_threw{false};
};

/// Reports `error` to `sink` (its on_error, or standard error); a null sink is a pool that was
/// destroyed. Never throws (error_reporting.cpp).
void report_to(const error_sink* sink, const std::exception_ptr& error) noexcept;

/// The text of an exception, for messages.
std::string describe(const std::exception_ptr& error);

/// The engine. See the design note above.
class pool_core {
 public:
  pool_core(thread_pool* owner, pool_options options);
  ~pool_core();
  pool_core(const pool_core&) = delete;
  pool_core& operator=(const pool_core&) = delete;

  /// Starts the worker threads. Throws std::system_error if not even one starts (no thread,
  /// or no memory for one); with fewer than asked for, reports to on_error and goes on (R1).
  void start_workers();
  [[noreturn]] void throw_no_worker_started(const std::exception_ptr& cause) const;

  // Submission (admission.cpp).
  void check_open(const char* function) const;
  worker* admit_local(const char* function) const;
  /// A2, claim route: admits an outside submission by claiming its queue position; the caller
  /// builds the task (no user code that can throw or wait) and fills the position.
  injection_queue::claimed_slot admit_outside(const char* function);
  void fill(injection_queue::claimed_slot slot, task& t) noexcept;
  /// A2, entrance route: admits an outside submission before its task is built; returns the block
  /// reserve its push will use. Throws (refused, or std::bad_alloc), having changed nothing.
  injection_queue::block_reserve* enter_outside(const char* function);
  /// A2: queues the admitted task (cannot fail), then leaves the entrance.
  void push_outside(task& t, injection_queue::block_reserve* reserve) noexcept;
  /// A2: an admitted submission whose task could not be built leaves the entrance.
  void leave_outside(injection_queue::block_reserve* reserve) noexcept;
  void push_local(worker& me, task_node* node);
  void submit_continuation(state_base* s);
  void check_continuation_accepted() const;

  // Stop epochs (stop_epoch.cpp).
  std::stop_token stop_token();
  void request_stop();
  bool stop_register(const std::stop_token& epoch, stop_registration& entry) noexcept;
  void stop_unregister(stop_registration& entry) noexcept;

  // Waiting and lifecycle (idle_and_join.cpp, drain.cpp).
  bool wait_until(steady_time deadline, const char* function);
  void shutdown() noexcept;
  bool join_until(steady_time deadline, const char* function);
  /// The destructor's last steps: retire the link (K3), then cancel what a visitor queued.
  void retire() noexcept;
  std::size_t cancel_pending();

  // Observation (stats.cpp).
  [[nodiscard]] pool_stats stats() const noexcept;
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] thread_pool* owner() const noexcept { return owner_; }
  [[nodiscard]] const pool_ref& ref() const noexcept { return ref_; }

  // Hooks for the futures.
  bool help_until(state_base& s, steady_time deadline);
  /// True on any thread of this pool, hooks included (for the misuse checks of wait and join).
  [[nodiscard]] bool on_own_worker() const noexcept { return current_worker().core == this; }
  /// The calling worker if it is in its task loop (it may then push to its deque).
  [[nodiscard]] worker* own_loop_worker() const noexcept {
    const worker_context& ctx = current_worker();
    return ctx.core == this && ctx.in_loop ? ctx.self : nullptr;
  }
  void report_error(const std::exception_ptr& error) noexcept;
  [[nodiscard]] std::shared_ptr<const error_sink> errors() const noexcept { return errors_; }
  void count_unrun(future_state final, bool was_queued) noexcept;

 private:
  // worker_registry.cpp
  void worker_main(worker& me);
  /// Runs a hook; returns what it threw (after reporting it), or null.
  std::exception_ptr run_hook(const std::function<void()>& hook) noexcept;

  // worker.cpp
  void worker_loop(worker& me);
  bool search_then_park(worker& me, bool& searching);
  bool take_work(worker& me, task& out);
  bool steal_work(worker& me, task& out);
  void run_task(worker& me, task& t) noexcept;
  void count_outcome(worker& me, run_outcome outcome, bool stale_claim) noexcept;
  [[nodiscard]] bool work_visible() const noexcept;

  // idle_and_join.cpp
  void go_busy(worker& me) noexcept;
  void go_idle(worker& me) noexcept;
  [[nodiscard]] bool is_idle() const noexcept;
  void notify_idle_waiters() noexcept;
  /// D2: fails what is queued with the broken_pool error, then notifies idle waiters.
  void drain_broken() noexcept;
  [[nodiscard]] pool_phase phase(std::memory_order order) const noexcept {
    return phase_.load(order);
  }
  /// Raises the phase to `to` (no-op if already there or later). Returns the phase before.
  pool_phase transition_to(pool_phase to) noexcept;
  [[nodiscard]] bool is_broken() const noexcept {
    // acquire: pairs with transition_to_broken(); broken_error_ is visible.
    return phase_.load(std::memory_order_acquire) == pool_phase::broken;
  }
  bool wait_for_exits(steady_time deadline);
  [[nodiscard]] std::size_t busy_workers() const noexcept;

  // drain.cpp
  void transition_to_broken(const std::exception_ptr& cause) noexcept;
  std::size_t drain(const std::exception_ptr& reason) noexcept;
  void fail_broken(std::size_t n) noexcept;
  void cancel_stragglers() noexcept;
  [[nodiscard]] std::exception_ptr broken_reason() const noexcept;
  [[noreturn]] void refuse(const char* function) const;

  thread_pool* const owner_;
  pool_options options_;
  std::string name_;
  std::shared_ptr<const error_sink> errors_;
  pool_ref ref_;
  std::vector<std::unique_ptr<worker>> workers_;
  injection_queue injection_;
  sleep_controller sleep_;

  // A2's entrance: closed once (shutdown, a break); per shard, the outside submitters
  // between their admission and their push. A submitting thread always uses the same shard
  // (admission.cpp), so concurrent producers count on lines of their own.
  static constexpr std::size_t entrance_shards = 16;
  struct alignas(cache_line) entrance_shard {
    std::atomic<std::uint64_t> inside{0};
  };
  alignas(cache_line) std::atomic<bool> entrance_closed_{false};
  entrance_shard entrance_[entrance_shards];
  void close_entrance() noexcept;
  [[nodiscard]] bool submitters_inside() const noexcept;
  alignas(cache_line) std::atomic<std::uint64_t> busy_{0};
  alignas(cache_line) std::atomic<std::uint32_t> idle_waiters_{0};
  std::atomic<pool_phase> phase_{pool_phase::open};
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
  mutable mutex life_mutex_;
  std::condition_variable life_cv_;
  std::size_t exited_ WEFT_GUARDED_BY(life_mutex_) = 0;
  bool joining_ WEFT_GUARDED_BY(life_mutex_) = false;  // a joiner is joining the threads
  bool joined_ WEFT_GUARDED_BY(life_mutex_) = false;   // threads joined, stragglers cancelled
  std::thread::id final_joiner_ WEFT_GUARDED_BY(life_mutex_);  // the thread that runs L3
  std::exception_ptr broken_error_;  // written once before the phase becomes broken

  // The stop epoch of request_stop().
  mutex stop_mutex_;
  std::stop_source stop_source_ WEFT_GUARDED_BY(stop_mutex_);
  // Running stop-aware tasks (E2), an intrusive list through their states.
  stop_registration* running_stoppable_ WEFT_GUARDED_BY(stop_mutex_) = nullptr;
  void unlink_stoppable(stop_registration& entry) noexcept WEFT_REQUIRES(stop_mutex_);
};

}  // namespace detail
}  // namespace v1
}  // namespace weft
