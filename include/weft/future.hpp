#pragma once
// weft::future<T>: a cheap, copyable handle to the outcome of a task.
//
// A future comes from thread_pool::submit (and submit_each, then). Copies share one state; the
// state lives until the last handle and the task are gone.
//
// - Observers: valid, state, done, running, cancelled.
// - Control: cancel (only before the task starts), request_stop (the task's std::stop_token).
// - Results: get (const T&; std::move(f).get() moves the value out), get_for, exception.
// - Waiting: wait, wait_for, wait_until. Zero and negative timeouts poll; duration::max() and
//   time_point::max() wait forever; every wait measures steady_clock.
// - Continuations: on_done (a callback when done), on_done_removable (one that a
//   callback_handle can take back before it runs), then (a new task on the pool after success).
//
// Cooperative waiting: get() and the waits, called on a worker of the future's own pool, run
// other tasks of that pool while they wait: first the awaited task itself if it has not
// started, then tasks from the worker's own deque, then tasks of other workers. So recursive
// fork-join never deadlocks, even on a one-worker pool. Each nested level costs a few frames
// (about 450 bytes of stack in an optimised build), so 10,000 nested waits fit a worker's
// default 8 MB stack; unoptimised and sanitizer builds use two to five times more per level. Like
// oneTBB's waits, helping may run an unrelated task on the waiting worker's stack: a task must not
// hold a lock across get() that another task of the pool needs (see docs/design/futures.md for the
// example).
//
// Synchronization: everything a task did before it finished happens-before the return of any
// wait, get or exception call that observes it as done, and before its on_done callbacks and
// then() continuations run.
//
// Length. Over 500 lines because it is the whole public surface of one type: each member's
// contract is documented where it is declared, and the template definitions must be visible.

#include <chrono>
#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include <weft/callback_handle.hpp>
#include <weft/detail/deadline.hpp>
#include <weft/detail/shared_state.hpp>
#include <weft/error.hpp>
#include <weft/future_state.hpp>

namespace weft {
inline namespace v1 {

template <class T>
class future;

namespace detail {

template <class T>
future<T> adopt_future(result_state<T>* s) noexcept;
template <class T, class F>
class continuation;
template <class T, class F>
class removable_on_done_node;
struct future_access;

[[noreturn]] void throw_invalid_future(const char* function);
[[noreturn]] void throw_value_taken(const char* function);
[[noreturn]] void throw_cancelled(const char* function);
[[noreturn]] void throw_timeout(const char* function, future_state s,
                                std::chrono::nanoseconds waited);
std::exception_ptr make_cancelled_error(const char* function);
/// A pool_shutdown saying that the future's pool was destroyed.
std::exception_ptr make_pool_gone_error(const char* function);

/// Callback that calls `fn(const future<T>&)` or `fn()`.
template <class T, class F>
class on_done_node final : public callback_node {
 public:
  template <class G>
  explicit on_done_node(G&& fn) : fn_(std::forward<G>(fn)) {}
  void invoke(state_base& s) override;

 private:
  std::decay_t<F> fn_;
};

}  // namespace detail

/// Handle to the outcome of a task. See the file comment.
template <class T>
class future {
 public:
  /// The type of the task's result.
  using value_type = T;

  /// Creates an invalid future (valid() is false).
  future() noexcept = default;

  /// Shares the state of `other`.
  future(const future& other) noexcept : s_(other.s_) {
    if (s_ != nullptr) {
      s_->add_ref();
    }
  }

  /// Takes the state of `other`, which becomes invalid.
  future(future&& other) noexcept : s_(std::exchange(other.s_, nullptr)) {}

  /// Shares the state of `other`.
  future& operator=(const future& other) noexcept {
    future(other).swap(*this);
    return *this;
  }

  /// Takes the state of `other`, which becomes invalid.
  future& operator=(future&& other) noexcept {
    future(std::move(other)).swap(*this);
    return *this;
  }

  /// Drops this handle. The task still runs if it has not yet (a future is not its task).
  ~future() {
    if (s_ != nullptr) {
      s_->release();
    }
  }

  /// Exchanges the states of two handles.
  void swap(future& other) noexcept { std::swap(s_, other.s_); }

  /// True if the handle refers to a task's state (false when default-constructed or moved-from).
  [[nodiscard]] bool valid() const noexcept { return s_ != nullptr; }

  /// Where the task is in its life.
  ///
  /// Throws: weft::usage_error if !valid().
  [[nodiscard]] future_state state() const { return checked("weft::future::state").state(); }

  /// True once the task succeeded, failed or was cancelled.
  ///
  /// Throws: weft::usage_error if !valid().
  [[nodiscard]] bool done() const { return checked("weft::future::done").done(); }

  /// True while the task runs.
  ///
  /// Throws: weft::usage_error if !valid().
  [[nodiscard]] bool running() const {
    return checked("weft::future::running").state() == future_state::running;
  }

  /// True if the task was cancelled (it never ran).
  ///
  /// Throws: weft::usage_error if !valid().
  [[nodiscard]] bool cancelled() const {
    return checked("weft::future::cancelled").state() == future_state::cancelled;
  }

  /// Cancels the task if it has not started.
  ///
  /// Effects: if the task is pending, it will never run; its callable (and captures) is
  /// destroyed now, waiters wake, callbacks run, and get() throws weft::cancelled_error.
  /// Returns: true if this call cancelled the task; false if it had started, finished, or was
  /// already cancelled (so a second call returns false).
  /// Throws: weft::usage_error if !valid().
  /// Thread safety: any thread; races with the task's start are decided exactly once.
  bool cancel() { return checked("weft::future::cancel").cancel(); }

  /// Requests the stop of the task's std::stop_token.
  ///
  /// Returns: true if this call made the request; false if the callable takes no token or the
  /// stop was already requested.
  /// Throws: weft::usage_error if !valid().
  bool request_stop() { return checked("weft::future::request_stop").request_stop(); }

  /// Waits for the task and returns its value.
  ///
  /// Returns: a reference to the value, valid while a handle to the state exists (nothing for
  /// future<void>).
  /// Throws: the task's own exception; weft::cancelled_error if it was cancelled;
  /// weft::usage_error if !valid() or the value was moved out by std::move(f).get().
  /// Blocking: waits; on a worker of the same pool it runs other tasks meanwhile.
  decltype(auto) get() const& {
    detail::result_state<T>& s = checked("weft::future::get");
    s.wait_until(detail::steady_time::max());
    return result_of(s, "weft::future::get");
  }

  /// Waits for the task and moves its value out (once for all copies of this future).
  ///
  /// Throws: as get() const&; weft::usage_error on a second move-out or a get() after it.
  T get() && {
    detail::result_state<T>& s = checked("weft::future::get");
    s.wait_until(detail::steady_time::max());
    outcome_or_throw(s, "weft::future::get");
    if constexpr (!std::is_void_v<T>) {
      if (!s.take_value()) {
        detail::throw_value_taken("weft::future::get");
      }
      return std::move(s.value());
    }
  }

  /// As get(), but gives up after `timeout`.
  ///
  /// Throws: weft::timeout_error if the task is not done in time (the task goes on), and
  /// what get() throws.
  template <class Rep, class Period>
  decltype(auto) get_for(const std::chrono::duration<Rep, Period>& timeout) const& {
    detail::result_state<T>& s = checked("weft::future::get_for");
    const auto start = std::chrono::steady_clock::now();
    if (!s.wait_until(detail::deadline_after(timeout))) {
      detail::throw_timeout("weft::future::get_for", s.state(),
                            std::chrono::steady_clock::now() - start);
    }
    return result_of(s, "weft::future::get_for");
  }

  /// Blocks until the task is done (helps on a worker of the same pool).
  ///
  /// Throws: weft::usage_error if !valid().
  void wait() const { checked("weft::future::wait").wait_until(detail::steady_time::max()); }

  /// Waits at most `timeout`. Returns true if the task is done.
  ///
  /// Zero and negative timeouts poll; duration::max() waits forever.
  template <class Rep, class Period>
  bool wait_for(const std::chrono::duration<Rep, Period>& timeout) const {
    return checked("weft::future::wait_for").wait_until(detail::deadline_after(timeout));
  }

  /// Waits until `deadline` (any clock; converted once to steady_clock). Returns true if done.
  template <class Clock, class Duration>
  bool wait_until(const std::chrono::time_point<Clock, Duration>& deadline) const {
    return checked("weft::future::wait_until").wait_until(detail::deadline_at(deadline));
  }

  /// Waits, then returns the task's exception: null on success, the exception on failure, a
  /// weft::cancelled_error on cancel.
  std::exception_ptr exception() const {
    detail::result_state<T>& s = checked("weft::future::exception");
    s.wait_until(detail::steady_time::max());
    switch (s.state()) {
      case future_state::failed:
        return s.error();
      case future_state::cancelled:
        return detail::make_cancelled_error("weft::future::exception");
      default:
        return nullptr;
    }
  }

  /// Runs `fn(const future<T>&)` (or `fn()`) exactly once when the task is done.
  ///
  /// Effects: at completion, on the thread that completed the task (a worker, or the thread
  /// that cancelled it), or, when a registration races the completion, on a thread registering
  /// a callback on the same future at that moment; an exception it throws goes to the pool's
  /// on_error (standard error once the pool is gone) and later callbacks still run. If the
  /// future is already done, `fn` runs at once on the calling thread and an exception it
  /// throws propagates to the caller. Works after the pool is destroyed. `fn` may use the pool
  /// freely (submit, get(), cancel(), request_stop(), more callbacks): no lock of the pool is
  /// held while it runs, and a get() inside it runs the completions it waits for.
  ///
  /// Throws: weft::usage_error if !valid(); what `fn` throws when it runs at once.
  template <class F>
  void on_done(F&& fn) const {
    static_assert(std::is_invocable_v<std::decay_t<F>&, const future<T>&> ||
                      std::is_invocable_v<std::decay_t<F>&>,
                  "on_done needs a callable taking (const weft::future<T>&) or nothing");
    detail::result_state<T>& s = checked("weft::future::on_done");
    s.add_callback(new detail::on_done_node<T, F>(std::forward<F>(fn)));
  }

  /// As on_done(), and returns a handle that can take the callback back before it runs.
  ///
  /// Effects: as on_done(fn); if the future is already done, `fn` runs at once and the
  /// handle's remove() returns false. callback_handle::remove() before the callback starts
  /// means it never runs, and destroys `fn` at once; the registration's small node is freed
  /// by a later removable registration on the same future, or when it completes (or its last
  /// handle goes), so register-and-remove rounds on a pending future keep memory flat. Dropping the
  /// handle without remove() leaves the callback registered. Throws: weft::usage_error if !valid();
  /// std::bad_alloc (nothing registered); what `fn` throws when it runs at once.
  template <class F>
  [[nodiscard]] callback_handle on_done_removable(F&& fn) const {
    static_assert(std::is_invocable_v<std::decay_t<F>&, const future<T>&> ||
                      std::is_invocable_v<std::decay_t<F>&>,
                  "on_done_removable needs a callable taking (const weft::future<T>&) or nothing");
    detail::result_state<T>& s = checked("weft::future::on_done_removable");
    auto* node = new detail::removable_on_done_node<T, F>(std::forward<F>(fn));
    callback_handle handle(node);  // one of the node's two references; the stack takes the other
    s.add_callback(node);
    return handle;
  }

  /// Returns a future for `fn(value)` (`fn()` for future<void>), run as a new task on the pool
  /// after this task succeeds. A failed or cancelled task passes its outcome on without
  /// running `fn`. If `fn` takes the future itself (`fn(future<T>)`), it runs on every outcome.
  /// A generic lambda (`[](const auto& x)`) accepts the future too, so it gets that form: name
  /// the parameter's type (`const T&`) to get the value after success instead.
  ///
  /// Effects: `fn` taking `const T&` reads the value in place. `fn` taking `T` or `T&&` gets
  /// the value moved only when the continuation holds the only handle to this future (every
  /// other copy was dropped); otherwise it gets a copy, so no other holder ever sees a
  /// moved-from value. A move-only T is always moved: get() on another handle then throws
  /// weft::usage_error. If the pool is destroyed before this task completes and the
  /// continuation could be queued, the returned future fails with weft::pool_shutdown.
  /// [[nodiscard]]: the returned future is the only place an exception of `fn` goes; to run
  /// code without a result, use on_done.
  /// Throws: weft::usage_error if !valid(); weft::pool_shutdown if the task is already done
  /// and its pool was shut down or destroyed (the message says which).
  template <class F>
  [[nodiscard]] auto then(F&& fn) const;

 private:
  template <class U>
  friend future<U> detail::adopt_future(detail::result_state<U>* s) noexcept;
  template <class U>
  friend class future;
  template <class U, class G>
  friend class detail::continuation;
  friend struct detail::future_access;

  explicit future(detail::result_state<T>* s) noexcept : s_(s) {}

  detail::result_state<T>& checked(const char* function) const {
    if (s_ == nullptr) {
      detail::throw_invalid_future(function);
    }
    return *s_;
  }

  static void outcome_or_throw(detail::result_state<T>& s, const char* function) {
    switch (s.state()) {
      case future_state::failed:
        std::rethrow_exception(s.error());
      case future_state::cancelled:
        detail::throw_cancelled(function);
      default:
        break;
    }
  }

  static decltype(auto) result_of(detail::result_state<T>& s, const char* function) {
    outcome_or_throw(s, function);
    if constexpr (std::is_void_v<T>) {
      return;
    } else {
      if (s.value_taken()) {
        detail::throw_value_taken(function);
      }
      return static_cast<const T&>(s.value());
    }
  }

  detail::result_state<T>* s_ = nullptr;
};

namespace detail {

template <class T>
future<T> adopt_future(result_state<T>* s) noexcept {
  return future<T>(s);
}

/// The combinators' (include/weft/when_all.hpp and its siblings) view of a future's state.
struct future_access {
  /// The state of a valid future, null for an invalid one.
  template <class T>
  static result_state<T>* state(const future<T>& f) noexcept {
    return f.s_;
  }
};

template <class T, class F>
void on_done_node<T, F>::invoke(state_base& s) {
  if constexpr (std::is_invocable_v<std::decay_t<F>&, const future<T>&>) {
    s.add_ref();
    const future<T> f = adopt_future(static_cast<result_state<T>*>(&s));
    std::invoke(fn_, f);
  } else {
    std::invoke(fn_);
  }
}

/// Callback of on_done_removable(): an on_done callback whose handle may take it back (F8).
template <class T, class F>
class removable_on_done_node final : public removable_node {
 public:
  template <class G>
  explicit removable_on_done_node(G&& fn) {
    ::new (static_cast<void*>(storage_)) Fn(std::forward<G>(fn));
  }
  removable_on_done_node(const removable_on_done_node&) = delete;
  removable_on_done_node& operator=(const removable_on_done_node&) = delete;
  ~removable_on_done_node() override {
    if (!destroyed_) {
      fn().~Fn();
    }
  }

  void invoke(state_base& s) override {
    if constexpr (std::is_invocable_v<Fn&, const future<T>&>) {
      s.add_ref();
      const future<T> f = adopt_future(static_cast<result_state<T>*>(&s));
      std::invoke(fn(), f);
    } else {
      std::invoke(fn());
    }
  }

 private:
  using Fn = std::decay_t<F>;
  Fn& fn() noexcept { return *std::launder(reinterpret_cast<Fn*>(storage_)); }
  void destroy_callable() noexcept override {
    fn().~Fn();
    destroyed_ = true;  // written by the remover, which owns the callable (F8)
  }

  alignas(Fn) unsigned char storage_[sizeof(Fn)];
  bool destroyed_ = false;
};

/// Callback of then(): forwards the source's outcome to the dependent state.
template <class T>
class then_node final : public callback_node {
 public:
  then_node(state_base* dependent, bool runs_on_every_outcome) noexcept
      : dependent_(dependent), every_(runs_on_every_outcome) {}
  then_node(const then_node&) = delete;
  then_node& operator=(const then_node&) = delete;
  ~then_node() override {
    if (dependent_ != nullptr) {
      dependent_->release();
    }
  }
  void invoke(state_base& source) override {
    state_base* d = std::exchange(dependent_, nullptr);
    if (every_ || source.state() == future_state::succeeded) {
      core_submit_continuation(d->pool(), d);  // takes our reference
    } else {
      d->complete_like(source);
      d->release();
    }
  }

 private:
  state_base* dependent_;
  bool every_;
};

/// The callable of a then() continuation: calls `fn` with the source's value or future.
template <class T, class F>
class continuation {
 public:
  continuation(future<T> source, F&& fn) : source_(std::move(source)), fn_(std::move(fn)) {}
  continuation(future<T> source, const F& fn) : source_(std::move(source)), fn_(fn) {}

  decltype(auto) operator()() {
    if constexpr (std::is_invocable_v<F&, future<T>>) {
      return std::invoke(fn_, source_);
    } else if constexpr (std::is_void_v<T>) {
      return std::invoke(fn_);
    } else if constexpr (std::is_copy_constructible_v<T>) {
      // The value goes as an rvalue only out of a state nobody else can read (this
      // continuation holds the only reference): a by-value or rvalue parameter then takes it
      // without a copy, and a const T& parameter binds to it in place. Otherwise a const T&
      // parameter reads it in place and any other parameter gets a copy.
      // (An overload set whose rvalue and const T& overloads return different types always
      // takes the const T& one, the overload then()'s result type names.)
      if constexpr (rvalue_path()) {
        result_state<T>& s = *source_.s_;
        if (s.sole_holder() && s.state() == future_state::succeeded && s.take_value()) {
          return std::invoke(fn_, std::move(s.value()));
        }
      }
      if constexpr (std::is_invocable_v<F&, const T&>) {
        return std::invoke(fn_, source_.get());
      } else {
        return std::invoke(fn_, T(source_.get()));
      }
    } else {
      // A move-only value has no copy to give: it is moved out, and get() on any other
      // handle then throws usage_error (documented on then()).
      return std::invoke(fn_, std::move(source_).get());
    }
  }

 private:
  // True if `fn` may take the value as an rvalue: it accepts one, with the result type then()
  // named for it.
  static constexpr bool rvalue_path() {
    if constexpr (!std::is_invocable_v<F&, T&&>) {
      return false;
    } else if constexpr (!std::is_invocable_v<F&, const T&>) {
      return true;
    } else {
      return std::is_same_v<std::invoke_result_t<F&, T&&>, std::invoke_result_t<F&, const T&>>;
    }
  }

  future<T> source_;
  F fn_;
};

template <class T, class F>
struct then_result {
  static auto probe() {
    if constexpr (std::is_invocable_v<F&, future<T>>) {
      return std::type_identity<std::invoke_result_t<F&, future<T>>>{};
    } else if constexpr (std::is_void_v<T>) {
      return std::type_identity<std::invoke_result_t<F&>>{};
    } else if constexpr (std::is_invocable_v<F&, const T&>) {
      return std::type_identity<std::invoke_result_t<F&, const T&>>{};
    } else {
      return std::type_identity<std::invoke_result_t<F&, T&&>>{};
    }
  }
  using type = std::remove_cvref_t<typename decltype(probe())::type>;
};

/// Throws pool_shutdown for then() on a done future whose pool was shut down or destroyed.
void check_continuation_accepted(const pool_ref& pool);

}  // namespace detail

template <class T>
template <class F>
auto future<T>::then(F&& fn) const {
  using D = std::decay_t<F>;
  using U = typename detail::then_result<T, D>::type;
  using state_type = detail::task_state<U, detail::continuation<T, D>, false>;
  detail::result_state<T>& s = checked("weft::future::then");
  if (s.done()) {
    detail::check_continuation_accepted(s.pool());
  }
  constexpr bool every = std::is_invocable_v<D&, future<T>>;
  // Two references: the returned future and the callback.
  auto* dependent =
      new state_type(s.pool(), 2, std::stop_token{}, future<T>(*this), std::forward<F>(fn));
  future<U> result = detail::adopt_future<U>(dependent);
  detail::callback_node* node = nullptr;
  try {
    node = new detail::then_node<T>(dependent, every);
  } catch (...) {
    dependent->release();  // the callback's reference; `result` drops the other
    throw;
  }
  s.add_callback(node);
  return result;
}

}  // namespace v1
}  // namespace weft
