#pragma once
// weft::thread_pool: a pool of reusable worker threads on a work-stealing engine.
//
//   weft::thread_pool pool{4};
//   weft::future<int> f = pool.submit([](int x) { return x * 2; }, 21);
//   pool.post([] { log("fire and forget"); });
//   int v = f.get();   // 42
//
// - Construction: thread_pool{} (hardware_concurrency() workers), thread_pool{n},
//   thread_pool{pool_options{...}} (name, hooks, error handler).
// - Submission: submit (a future), post (fire and forget; errors go to on_error),
//   submit_each (one task per input).
// - Waiting and lifecycle: wait, wait_for, shutdown, join, join_for, request_stop,
//   cancel_pending; the destructor joins.
// - Observation: stats(), name().
//
// Engine: each worker owns a deque (LIFO for itself, FIFO for thieves); submissions from
// outside the pool go to a shared injection queue; idle workers steal before they park, and
// parked workers use no CPU. Submissions made by a running task go to its worker's own deque:
// they are never refused, not even while the pool drains after shutdown().
//
// Exceptions: a task's exception never kills a worker and never reaches std::terminate. It is
// stored in the task's future (submit) or handed to on_error (post).
//
// Synchronization: a submission happens-before the task starts; everything a task did
// happens-before the return of a wait on its future, and before wait()/join() return.

#include <chrono>
#include <cstddef>
#include <iterator>
#include <memory>
#include <ranges>
#include <stop_token>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <weft/detail/deadline.hpp>
#include <weft/detail/injection_queue.hpp>
#include <weft/detail/shared_state.hpp>
#include <weft/detail/task.hpp>
#include <weft/future.hpp>
#include <weft/pool_options.hpp>
#include <weft/pool_stats.hpp>

namespace weft {
inline namespace v1 {
namespace detail {

struct worker;

/// A submission admitted to a pool, before its task is built (src/admission.cpp).
///
/// Admission is decided first, so a refused submission leaves the caller's callable and
/// arguments untouched. From a worker of the pool in its task loop, the task will go to the
/// worker's own deque (refused only by a broken pool). From any other thread it is refused
/// once the pool is shut down, and otherwise takes one of two routes (A2):
/// - `build_first` (building the task may run user code that can throw: a copy, an allocating
///   constructor): the submission passes the pool's entrance, which also reserves the memory
///   its queue position may need; the caller builds the task; submit() or post() then queues
///   it and cannot fail. Nothing is queued while the caller's constructors run, so no worker
///   ever waits for them, however long they take or whatever they wait for.
/// - otherwise (every construction is noexcept): a position of the injection queue is claimed
///   (one CAS, the whole cost of admission), the task is built and the position filled. Only
///   noexcept constructors and the pool's own allocation run in between.
/// If building throws, the destructor takes the submission back (it leaves the entrance, or
/// fills the claimed position with a tombstone), so nothing is half-queued.
class admission {
 public:
  /// Admits one submission. Throws weft::pool_shutdown or weft::broken_pool if refused
  /// (counted in stats().rejected), std::bad_alloc if the queue cannot grow.
  admission(pool_core* core, const char* function, bool build_first);
  admission(const admission&) = delete;
  admission& operator=(const admission&) = delete;
  ~admission() {
    if (slot_ || reserve_ != nullptr) {
      abandon();
    }
  }

  /// Queues a state holding two references (the queue's and a future's). If the worker's deque
  /// cannot grow (std::bad_alloc), releases the queue's reference and rethrows.
  void submit(state_base* s);
  /// Queues a fire-and-forget task. Throws std::bad_alloc, leaving `t` as it was, if it
  /// cannot be queued.
  void post(task& t);

 private:
  void abandon() noexcept;

  pool_core* core_;
  worker* local_ = nullptr;
  injection_queue::claimed_slot slot_;                 // the claim route, until filled
  injection_queue::block_reserve* reserve_ = nullptr;  // the entrance route, until queued
};

/// True if storing `F` and `Args` (decay-copied from these argument types) may run a
/// constructor that can throw: user code such as a copy, which the pool then runs before it
/// queues anything (admission's `build_first`).
template <class F, class... Args>
inline constexpr bool build_first =
    !(std::is_nothrow_constructible_v<std::decay_t<F>, F&&> &&
      (std::is_nothrow_constructible_v<std::decay_t<Args>, Args&&> && ...));

/// Throws pool_shutdown or broken_pool unless the pool accepts outside submissions (a worker
/// of the pool in its task loop is always accepted, unless the pool is broken).
void core_check_open(const pool_core* pool, const char* function);
/// The token of the pool's current stop epoch (see thread_pool::request_stop).
std::stop_token core_stop_token(pool_core* pool);
/// The reference a state keeps to its pool.
pool_ref core_ref(const pool_core* pool) noexcept;
/// Throws usage_error for an empty callable.
[[noreturn]] void throw_empty_callable(const char* function);

/// True for a null function pointer, an empty std::function, and the like.
template <class F>
bool is_empty_callable(const F& f) noexcept {
  if constexpr (std::is_function_v<F>) {
    return false;  // a function (reference) always exists
  } else if constexpr (std::is_pointer_v<F> || std::is_member_pointer_v<F>) {
    return f == nullptr;
  } else if constexpr (std::is_constructible_v<bool, const F&>) {
    return !static_cast<bool>(f);
  } else {
    return false;
  }
}

/// The callable of one submit_each task: the shared function applied to one input.
template <class Fn, class V>
class each_call {
 public:
  each_call(std::shared_ptr<Fn> fn, V&& value) : fn_(std::move(fn)), value_(std::move(value)) {}
  each_call(std::shared_ptr<Fn> fn, const V& value) : fn_(std::move(fn)), value_(value) {}
  decltype(auto) operator()() { return std::invoke(*fn_, std::move(value_)); }
  decltype(auto) operator()(std::stop_token token) {
    return std::invoke(*fn_, std::move(token), std::move(value_));
  }

 private:
  std::shared_ptr<Fn> fn_;
  V value_;
};

}  // namespace detail

/// A pool of worker threads. See the file comment.
class thread_pool {
 public:
  /// Starts std::thread::hardware_concurrency() workers (at least 1).
  thread_pool();

  /// Starts `threads` workers (0 means hardware_concurrency()).
  explicit thread_pool(std::size_t threads);

  /// Starts a pool configured by `options`.
  ///
  /// Throws: std::system_error (naming the pool) if no worker thread can be started, for want
  /// of threads or of memory; std::bad_alloc if the pool's own structures cannot be allocated.
  /// If some workers start and a later one cannot, the pool works with fewer and reports the
  /// error to on_error (stats().threads says how many run).
  explicit thread_pool(pool_options options);

  /// Joins: equivalent to join(). Run on one of the pool's own workers, it prints a message
  /// saying so and aborts (it could never finish).
  ~thread_pool();

  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;
  thread_pool(thread_pool&&) = delete;
  thread_pool& operator=(thread_pool&&) = delete;

  /// Runs `f(args...)` on the pool and returns a future for its result.
  ///
  /// Effects: f and args are decay-copied (moved when rvalues; pass std::ref for a reference)
  /// and invoked once as rvalues on a worker. A callable invocable as f(std::stop_token,
  /// args...) and not as f(args...) receives its task's token.
  /// Returns: a weft::future of the (decayed) result.
  /// Throws: weft::usage_error for an empty callable; weft::pool_shutdown after shutdown(),
  /// weft::broken_pool if on_thread_start threw; std::bad_alloc. A refused call, and one whose
  /// allocation fails, leaves the callable and the arguments untouched (admission comes before
  /// the task is built), also when the refusal races shutdown().
  /// Thread safety: any thread. From a worker of this pool the task goes to that worker's deque
  /// and is never refused.
  template <class F, class... Args>
  auto submit(F&& f, Args&&... args) {
    using D = std::decay_t<F>;
    static_assert(std::is_invocable_v<D, std::decay_t<Args>...> ||
                      std::is_invocable_v<D, std::stop_token, std::decay_t<Args>...>,
                  "weft::thread_pool::submit: the callable cannot be invoked with these arguments");
    constexpr bool stop_aware = detail::takes_stop_token<D, std::decay_t<Args>...>;
    using R = std::remove_cvref_t<detail::call_result_t<D, std::decay_t<Args>...>>;
    using fn_type = detail::bound_call<D, std::decay_t<Args>...>;
    check_callable(f, "weft::thread_pool::submit");
    detail::admission admitted(core_.get(), "weft::thread_pool::submit",
                               detail::build_first<F, Args...>);
    std::stop_token token;
    if constexpr (stop_aware) {
      token = detail::core_stop_token(core_.get());
    }
    auto* s = new detail::task_state<R, fn_type, stop_aware>(
        ref_, 2, std::move(token), std::forward<F>(f), std::forward<Args>(args)...);
    future<R> result = detail::adopt_future<R>(s);
    admitted.submit(s);
    return result;
  }

  /// Runs `f(args...)` on the pool, fire and forget.
  ///
  /// Effects: as submit(), without a future. An exception the task throws goes to on_error
  /// (once) and counts in stats().failed. From outside the pool, a callable of up to 48 bytes
  /// (with its arguments) is stored without a heap allocation; from a worker, it is boxed in
  /// a block of the worker's node cache, which reaches the heap only while it warms up.
  /// Throws: as submit().
  template <class F, class... Args>
  void post(F&& f, Args&&... args) {
    using D = std::decay_t<F>;
    static_assert(std::is_invocable_v<D, std::decay_t<Args>...> ||
                      std::is_invocable_v<D, std::stop_token, std::decay_t<Args>...>,
                  "weft::thread_pool::post: the callable cannot be invoked with these arguments");
    check_callable(f, "weft::thread_pool::post");
    detail::admission admitted(core_.get(), "weft::thread_pool::post",
                               detail::build_first<F, Args...>);
    if constexpr (detail::takes_stop_token<D, std::decay_t<Args>...>) {
      detail::task t{[call = detail::bound_call<D, std::decay_t<Args>...>(
                          std::forward<F>(f), std::forward<Args>(args)...),
                      token = detail::core_stop_token(core_.get())]() mutable {
        static_cast<void>(call(token));
      }};
      admitted.post(t);
    } else if constexpr (sizeof...(Args) == 0) {
      detail::task t{[g = D(std::forward<F>(f))]() mutable { static_cast<void>(std::move(g)()); }};
      admitted.post(t);
    } else {
      detail::task t{[call = detail::bound_call<D, std::decay_t<Args>...>(
                          std::forward<F>(f), std::forward<Args>(args)...)]() mutable {
        static_cast<void>(call());
      }};
      admitted.post(t);
    }
  }

  /// Submits `fn(x)` for every element x of `inputs`, in input order.
  ///
  /// Effects: one task per element; the element is copied (moved, for an rvalue range) into
  /// its task. `fn` is moved (or, for an lvalue, copied once) into one shared object that
  /// every task calls, concurrently from several workers: it must be safe for that, as for a
  /// parallel std::for_each. Pass std::ref(fn) to share the caller's object itself.
  /// Returns: one future per element, in input order.
  /// Throws: as submit(); tasks submitted before a refusal keep running.
  template <std::ranges::input_range Range, class F>
  auto submit_each(Range&& inputs, F&& fn) {
    using D = std::decay_t<F>;
    using V = std::remove_cvref_t<std::ranges::range_reference_t<Range>>;
    static_assert(std::is_invocable_v<D&, V> || std::is_invocable_v<D&, std::stop_token, V>,
                  "weft::thread_pool::submit_each: the callable cannot be invoked with an "
                  "element of the range");
    constexpr bool stop_aware =
        std::is_invocable_v<D&, std::stop_token, V> && !std::is_invocable_v<D&, V>;
    using R = std::remove_cvref_t<typename std::conditional_t<
        stop_aware, std::invoke_result<D&, std::stop_token, V>, std::invoke_result<D&, V>>::type>;
    using call_type = detail::each_call<D, V>;
    check_callable(fn, "weft::thread_pool::submit_each");
    detail::core_check_open(core_.get(), "weft::thread_pool::submit_each");
    auto shared = std::make_shared<D>(std::forward<F>(fn));
    std::vector<future<R>> futures;
    if constexpr (std::ranges::sized_range<Range>) {
      futures.reserve(static_cast<std::size_t>(std::ranges::size(inputs)));
    }
    for (auto&& element : inputs) {
      futures.emplace_back();  // room first: a full vector throws before anything is queued
      constexpr bool copies = std::is_lvalue_reference_v<Range>;
      detail::admission admitted(core_.get(), "weft::thread_pool::submit_each",
                                 copies ? !std::is_nothrow_copy_constructible_v<V>
                                        : !std::is_nothrow_move_constructible_v<V>);
      std::stop_token token;
      if constexpr (stop_aware) {
        token = detail::core_stop_token(core_.get());
      }
      auto* s = [&]() {
        if constexpr (std::is_lvalue_reference_v<Range>) {
          return new detail::task_state<R, call_type, stop_aware>(ref_, 2, std::move(token), shared,
                                                                  static_cast<const V&>(element));
        } else {
          return new detail::task_state<R, call_type, stop_aware>(ref_, 2, std::move(token), shared,
                                                                  V(std::move(element)));
        }
      }();
      futures.back() = detail::adopt_future<R>(s);
      admitted.submit(s);
    }
    return futures;
  }

  /// Blocks until no task is queued or running. The pool stays usable.
  ///
  /// Throws: weft::usage_error if called from one of the pool's own workers (it could never
  /// return).
  /// Blocking: yes, without running tasks itself.
  void wait();

  /// As wait(), for at most `timeout`. Returns true if the pool became idle.
  template <class Rep, class Period>
  bool wait_for(const std::chrono::duration<Rep, Period>& timeout) {
    return wait_until_steady(detail::deadline_after(timeout), "weft::thread_pool::wait_for");
  }

  /// Stops accepting submissions from outside the pool; returns at once. Queued tasks still
  /// run, and so do tasks they submit while the pool drains. Idempotent; any thread.
  void shutdown() noexcept;

  /// shutdown(), then waits until every accepted task ran and every worker exited.
  /// Idempotent and safe from several threads at once.
  ///
  /// Throws: weft::usage_error if called from one of the pool's own workers.
  void join();

  /// As join(), for at most `timeout`. Returns true once every worker exited; it can be
  /// called again after a false return.
  template <class Rep, class Period>
  bool join_for(const std::chrono::duration<Rep, Period>& timeout) {
    return join_until_steady(detail::deadline_after(timeout), "weft::thread_pool::join_for");
  }

  /// Requests the stop token of every task already submitted (running or queued) that takes a
  /// std::stop_token. Tasks submitted later get a fresh, unrequested token. Any thread.
  void request_stop();

  /// Cancels every task that is queued and not started. Their futures end cancelled; their
  /// callables are destroyed now. Running tasks are untouched.
  ///
  /// Returns: the number of tasks this call cancelled.
  std::size_t cancel_pending();

  /// A snapshot of the pool's counters (see pool_stats). Any thread.
  [[nodiscard]] pool_stats stats() const noexcept;

  /// The pool's name (pool_options::name, or "weft").
  [[nodiscard]] const std::string& name() const noexcept;

 private:
  template <class F>
  static void check_callable(const F& f, const char* function) {
    if (detail::is_empty_callable(f)) {
      detail::throw_empty_callable(function);
    }
  }

  bool wait_until_steady(detail::steady_time deadline, const char* function);
  bool join_until_steady(detail::steady_time deadline, const char* function);

  std::unique_ptr<detail::pool_core> core_;
  detail::pool_ref ref_;  // the core's, kept here so that submit builds states inline
};

}  // namespace v1
}  // namespace weft
