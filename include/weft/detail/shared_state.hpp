#pragma once
/*
 * shared_state — the state that a future<T> handle and a task share.
 * Full essay: docs/design/futures.md.
 *
 * Purpose. One heap object per submitted task holds the callable, the outcome (value or
 * exception), the list of on_done callbacks, and the word that waiters block on. It is also the
 * task's queue entry (a task_node), so `submit` allocates once. The state machine follows
 * folly's future core: a single atomic word decides every transition, and whoever wins a
 * transition owns what it implies (running the callable, destroying it, publishing the outcome).
 *
 * Roles. Runner: the worker that pops the entry, or a helping worker in get() (try_start, run).
 * Canceller: any thread (cancel), the pool (cancel_and_release, fail). Waiter: any thread.
 * Registrar: any thread (add_callback).
 *
 * Shared state.
 *   word_      uint32: bits 0-2 future_state, or `completing` (5: a canceller or failer won the
 *              transition and is writing the outcome; observers see `pending`); bit 3 waiters (a
 * thread may block on the word); bit 4 moved (the value was moved out); bit 5 queued (the state has
 * a queue entry). refs_      uint32 reference count: future handles, the queue entry, callbacks.
 *   callbacks_ pointer: a lock-free stack of callback nodes, or `closed` once taken; the low bits
 *              of a node pointer carry F9's flags (compacting, handoff).
 *   compaction_ uint32: F9's schedule (removable registrations since the last compaction, and
 *              the nodes that compaction kept).
 *   error_, the value, the callable: plain data, owned per the transition rules below.
 *
 * Protocol.
 *   F1 start: CAS pending → running. The winner runs the callable (no one else touches it).
 *   F2 finish: the runner stores the value or error_, destroys the callable, then publishes
 *      the final state (seq_cst CAS), wakes blocked waiters if the waiters bit was set, then
 *      loads the callback stack; if it is not empty, takes it (exchange with `closed`) and runs
 *      it in registration order. An empty stack stays empty (no exchange on the common path).
 *   F3 cancel / fail: CAS pending → completing. The winner destroys the callable, stores the
 *      error (fail), then does F2's publication of cancelled / failed.
 *   F4 wait: load the word (acquire); if not done, set the waiters bit with a CAS and block on
 *      the word's value (futex); re-check on every wake-up.
 *   F5 add_callback: if the state is done, run the callback at once on the calling thread.
 *      Otherwise push it with a CAS (unless the stack is `closed`: run at once), then re-load
 *      the word: if it is now done, the completer may have loaded the stack before the push
 *      (Dekker: push then load here, publish then load there, all seq_cst, so at least one
 *      side sees the other), so take the stack as F2 does. The exchange gives a non-empty
 *      stack to exactly one taker; the other gets `closed`. The registrar holds its own
 *      reference from before the push to after the re-check: once pushed, the callback may
 *      run on the completer and drop the caller's last handle.
 *   F6 completion is trampolined per thread: a callback that completes another state (a then()
 *      chain) queues that state's callbacks on a thread-local list instead of recursing.
 *   F6' a wait (get, wait_for, the pool's wait and join) first runs the completions queued on
 *      the calling thread's trampoline: a callback that waits would otherwise wait for work
 *      that only its own frame would run after it returns. The trampoline is re-entrant: the
 *      nested run takes entries from the same list, so each callback still runs exactly once.
 *   F7 cancel from outside the pool counts the cancellation through a visit to the pool (see
 *      src/pool_link.hpp); the queue entry of a cancelled state is dropped at once by the
 *      worker that pops it, which never waits for the canceller.
 *   F8 removal: a removable callback (on_done_removable) is shared by the stack and its handle
 *      (two references) and carries a status word: armed → claimed (by whoever is about to run
 *      it: the trampoline, or add_callback's immediate path) or armed → removed (by the
 *      handle's remove(), which then destroys the callable at once). The node stays on the
 *      stack until the state completes; the trampoline skips it. Neither side waits for the
 *      other.
 *
 * Lifetimes. A state holds a pool_ref (the pool's type-stable link and generation), never a
 * plain pointer: a future may outlive its pool, and every use of the pool from a state checks
 * that the pool still exists (docs/design/futures.md, "Lifetimes"). User code (callbacks,
 * continuations, stop callbacks) never runs while the state or the pool holds a lock, or while
 * a thread waits for the running frame.
 *
 * Sole holder. A then() continuation that takes its value by value or by rvalue may move the
 * value only when its own handle is the state's only reference (sole_holder()): no other
 * holder can then observe the moved-from value. Otherwise it gets a copy.
 *
 * Invariants.
 *   I1 The word leaves `pending` exactly once; the callable is destroyed exactly once, by the
 *      thread that moved it out of pending (after running it, for F1).
 *   I2 The outcome is written before the final state is published and never changes after.
 *   I3 Each callback runs exactly once (or never, if its handle removed it first, F8): either
 *      the thread that took the stack ran it (the completer, a registrar whose re-check saw
 *      the state done, F5, or a compactor handed the stack, F9), or its registrar found the
 *      state done (or the stack closed) before pushing and ran it at once.
 *   I4 Only a compactor writes the links of nodes below the top, and only while its flag is
 *      set; only a taker that closed the stack writes them afterwards (F9).
 *
 * Memory orders.
 *   word_ transitions (CAS) — F1/F3 acq_rel: acquire, so the winner sees the state as
 *     constructed (the submitter's release is the queue push). The final-state CAS (F2) is
 *     seq_cst: its release publishes the outcome (I2) to the waiters' acquire loads, and
 *     seq_cst puts it in F5's Dekker pair.
 *   word_ loads in waits and getters — acquire — pair with the publication above.
 *   callbacks_ CAS (push) — seq_cst — release, so the taker's acquire exchange sees the node's
 *     contents; seq_cst with the re-load of word_ after it, against publish()'s seq_cst final
 *     CAS and its seq_cst load of the stack (F5's Dekker pair: without the single total order
 *     both loads could miss the other side's write, and a callback would never run).
 *   callbacks_ CAS to `closed` (take) — acq_rel — acquire pairs with pushes; release makes the
 *     outcome visible to a registrar that then sees `closed` (it loads with acquire) and runs
 *     at once.
 *   callbacks_ F9 CASes — acq_rel — the compactor's flag CAS acquires the nodes below the top
 *     (every push and compaction is an RMW of the word, so it continues their release
 *     sequences) and a previous compactor's links; its give-back releases its links to the next
 *     taker; a taker's handoff CAS releases the outcome to the compactor that will run the
 *     callbacks, whose give-back (or exchange) acquires it.
 *   compaction_ — relaxed — a schedule only: a lost or stale count delays a compaction or runs
 *     one early, never breaks the protocol.
 *   a removable node's status load by the compactor — acquire — pairs with remove()'s CAS
 *     (the stack's side then gives up its reference; the node's drop() orders the free).
 *   refs_ — add: relaxed (the caller already holds a reference); release: acq_rel, so the
 *     thread that deletes the state sees every other holder's writes. A release that loads 1
 *     (acquire, pairing with the other holders' decrements) is the only holder and deletes
 *     without the RMW.
 *   a removable node's status CAS (F8) — acq_rel — the one RMW decides who owns the callable
 *     (runner or remover); its refs_ decrement acq_rel, as a state's.
 *   word_ store in mark_queued_unshared — relaxed — the state is not shared yet; the push that
 *     shares it (a seq_cst deque store, or the injection slot's release store) carries it.
 *
 * Verification. tests/unit/future_test.cpp (states, values, sharing), future_wait_test.cpp
 * (timed waits, many waiters), continuation_test.cpp (F5 vs F2: registration racing completion
 * 10^5, a done future's callback at once; F6: 10,000-deep then() chains without recursion),
 * cancellation_test.cpp (F1 vs F3: cancel vs start 10^5), cooperative_wait_test.cpp (helping).
 * Model check: tests/model/shared_state_model.cpp runs Relacy over this header and
 * src/shared_state.cpp as they ship (F1 vs F3 vs F4, F2 vs F4, F5 vs F2, then() and F6, F8's
 * remove vs claim, F9's compaction vs completion vs remove() and pushes, the last release), each
 * property with a negative control (a planted bug
 * that Relacy must catch). Its seams, active only under WEFT_DETAIL_STATE_MODEL, which only the
 * model defines: the member atomics are state_atomic (std::atomic here, Relacy's in the model);
 * the F6 trampoline is reached through this_thread_completions() (the thread_local here, one
 * list per simulated thread there); the futex calls resolve to the model's park/unpark by
 * overload on its word type. The library's object code is unchanged by them.
 *
 * Length. Over 500 lines because the state machine is one protocol: steps F1-F8, the roles and
 * the memory orders refer to one another, and every member of the state takes part in them.
 */

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <new>
#include <stop_token>
#include <tuple>
#include <type_traits>
#include <utility>

#include <weft/detail/deadline.hpp>
#include <weft/detail/task.hpp>
#include <weft/future_state.hpp>

namespace weft {
inline namespace v1 {

namespace detail {

class pool_core;
class pool_link;
class state_base;

// The model seam (see Verification): every atomic of the state machine is a state_atomic. In
// the library that is std::atomic itself (an alias, so the types, layout and code are the same);
// tests/model/shared_state_model.cpp defines WEFT_DETAIL_STATE_MODEL and, before including this
// header, weft_model::state_atomic over Relacy's atomics. The model is its own program and never
// links the library, so the two layouts never meet in one binary.
#if defined(WEFT_DETAIL_STATE_MODEL)
template <class T>
using state_atomic = ::weft_model::state_atomic<T>;
#else
template <class T>
using state_atomic = std::atomic<T>;
#endif

/// How a state names its pool: the pool's type-stable link and the generation it had when the
/// pool was made (src/pool_link.hpp). A default pool_ref names no pool.
struct pool_ref {
  pool_link* link = nullptr;
  std::uint32_t generation = 0;
  friend bool operator==(const pool_ref&, const pool_ref&) = default;
};

/// A running stop-aware task, listed by its pool so that pool.request_stop() reaches it.
/// Guarded by the pool's stop lock (src/stop_epoch.cpp).
struct stop_registration {
  stop_registration* prev = nullptr;
  stop_registration* next = nullptr;
  state_base* state = nullptr;
  stop_registration* taken_next = nullptr;  // owned by the request_stop that took the entry
  bool linked = false;
};

// Hooks into the pool (src/pool_link.cpp, src/admission.cpp, src/stop_epoch.cpp). Each checks
// that the pool still exists before it uses it.

/// The pool named by `ref` if the calling thread is one of its workers, else null.
pool_core* own_worker_pool(const pool_ref& ref) noexcept;
/// Reports an error no future can carry (a throwing callback) to the pool's on_error, or to
/// standard error if the pool is gone.
void core_report_error(const pool_ref& ref, const std::exception_ptr& error) noexcept;
/// Counts a state that ended without a worker running it (user cancel, then() pass-through).
void core_count_unrun(const pool_ref& ref, future_state final, bool was_queued) noexcept;
/// On a worker of the pool: runs other work until `s` is done or the deadline passes.
bool core_help_until(pool_core* pool, state_base& s, steady_time deadline);
/// Queues a then() continuation. If the pool is gone it fails with pool_shutdown; if the pool
/// is stopping or broken it is drained (cancelled, or failed with broken_pool), never pending.
void core_submit_continuation(const pool_ref& ref, state_base* s);
/// Step F6': runs the completions queued on this thread's trampoline, if any.
void run_deferred_completions() noexcept;
/// Lists a starting stop-aware task with its pool, unless the stop epoch of `epoch` already
/// ended (then returns false: the task's stop is requested). Thread: a worker of the pool.
bool core_stop_register(const pool_ref& ref, const std::stop_token& epoch,
                        stop_registration& entry) noexcept;
/// Unlists a task that core_stop_register() listed (a no-op if request_stop took it).
void core_stop_unregister(const pool_ref& ref, stop_registration& entry) noexcept;

/// A registered callback (on_done, then). Owned by the state's stack until it is taken, then
/// by the thread that runs it; a removable one is shared with its callback_handle (F8).
class callback_node {
 public:
  callback_node(const callback_node&) = delete;
  callback_node& operator=(const callback_node&) = delete;
  virtual ~callback_node() = default;
  /// Runs the callback for the completed state `s`. Only after claim() returned true.
  virtual void invoke(state_base& s) = 0;
  /// Step F8, runner side: true if the callback is to run (it was not removed).
  bool claim() noexcept { return !removable_ || claim_removable(); }
  /// True for a node of on_done_removable (fixed at construction).
  [[nodiscard]] bool removable() const noexcept { return removable_; }
  /// Step F9: true if its handle removed the callback, so compaction may unlink the node.
  [[nodiscard]] bool removed() const noexcept { return removable_ && removed_removable(); }
  /// Gives the node up once its callback ran or was skipped.
  void dispose() noexcept {
    if (removable_) {
      dispose_removable();
    } else {
      delete this;
    }
  }
  callback_node* next = nullptr;

 protected:
  explicit callback_node(bool removable = false) noexcept : removable_(removable) {}
  virtual bool claim_removable() noexcept { return true; }
  virtual void dispose_removable() noexcept { delete this; }
  [[nodiscard]] virtual bool removed_removable() const noexcept { return false; }

 private:
  bool removable_;  // fixed before the push that shares the node
};

/// A callback that its handle may remove before it runs (F8).
class removable_node : public callback_node {
 public:
  /// Step F8, handle side: true if the callback had not been claimed; it then never runs, and
  /// its callable is destroyed now. Thread: any; never waits for a running callback.
  bool remove() noexcept {
    std::uint8_t expected = armed;
    // acq_rel: the RMW makes one side the callable's owner; acquire so that this side sees the
    // callable as its registrar built it, release for the thread that frees the node.
    if (!status_.compare_exchange_strong(expected, removed, std::memory_order_acq_rel,
                                         std::memory_order_relaxed)) {
      return false;
    }
    destroy_callable();
    return true;
  }
  /// The handle lets go of the node (it stays registered unless removed).
  void release_handle() noexcept { drop(); }

 protected:
  removable_node() noexcept : callback_node(true) {}
  /// Destroys the callable, once: by remove(), or by the state's side when it is done.
  virtual void destroy_callable() noexcept = 0;

 private:
  static constexpr std::uint8_t armed = 0;
  static constexpr std::uint8_t claimed = 1;
  static constexpr std::uint8_t removed = 2;

  [[nodiscard]] bool removed_removable() const noexcept final {
    // acquire: pairs with remove()'s CAS; the compactor then gives up the stack's reference.
    return status_.load(std::memory_order_acquire) == removed;
  }
  bool claim_removable() noexcept final {
    std::uint8_t expected = armed;
    // acq_rel: as in remove(); the winner owns the callable.
    return status_.compare_exchange_strong(expected, claimed, std::memory_order_acq_rel,
                                           std::memory_order_relaxed);
  }
  void dispose_removable() noexcept final {
    // The state's side is done with the node: it owns the callable if it claimed it (the
    // callback ran), or if it takes it now from an armed node that never ran (a state freed
    // with its stack open); a remover that won destroyed it already.
    std::uint8_t seen = armed;
    // acq_rel: as in remove().
    if (status_.compare_exchange_strong(seen, removed, std::memory_order_acq_rel,
                                        std::memory_order_relaxed) ||
        seen == claimed) {
      destroy_callable();  // captures go when the callback is done, as on_done's do
    }
    drop();
  }
  void drop() noexcept {
    // acq_rel: the last of the two owners (the state's side, the handle) sees the other's
    // writes before deleting.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      delete this;
    }
  }

  state_atomic<std::uint8_t> status_{armed};
  state_atomic<std::uint8_t> refs_{2};  // the state's side and the handle
};

/// The type-independent part of every shared state.
class state_base : public task_node {
 public:
  static constexpr std::uint32_t state_mask = 0x7;
  static constexpr std::uint32_t waiters_bit = 0x8;
  static constexpr std::uint32_t moved_bit = 0x10;
  static constexpr std::uint32_t queued_bit = 0x20;
  /// Internal state value: the outcome is being written by a canceller or failer.
  static constexpr auto completing = static_cast<future_state>(5);

  /// A state owned by `refs` holders, belonging to the pool `pool` names.
  state_base(pool_ref pool, std::uint32_t refs) noexcept
      : link_(pool.link), generation_(pool.generation), refs_(refs) {}

  /// Tag: the state starts as running. It has no callable and never gets a queue entry (a
  /// combinator's result, include/weft/detail/combinator_state.hpp): cancel() on it returns
  /// false, helping never tries to run it, and only its owner's publish() completes it.
  struct started_t {};
  state_base(pool_ref pool, std::uint32_t refs, started_t /*tag*/) noexcept
      : link_(pool.link),
        generation_(pool.generation),
        word_(static_cast<std::uint32_t>(future_state::running)),
        refs_(refs) {}

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }  // holder exists
  void release() noexcept {
    // A count of 1 means we are the only holder: nobody else can add or drop a reference, so
    // the decrement can be skipped (one RMW less per task on the fork-join path).
    // acquire load / acq_rel RMW: the last holder sees every other holder's writes (their
    // releasing decrements) before deleting.
    if (refs_.load(std::memory_order_acquire) == 1 ||
        refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      delete this;
    }
  }

  [[nodiscard]] future_state state() const noexcept {
    const auto s = static_cast<future_state>(word_.load(std::memory_order_acquire) & state_mask);
    return s == completing ? future_state::pending : s;
  }
  [[nodiscard]] static bool is_done(future_state s) noexcept {
    return s != future_state::pending && s != future_state::running && s != completing;
  }
  [[nodiscard]] bool done() const noexcept { return is_done(state()); }
  [[nodiscard]] bool queued() const noexcept {
    return (word_.load(std::memory_order_relaxed) & queued_bit) != 0;  // set before sharing
  }
  [[nodiscard]] pool_ref pool() const noexcept { return {link_, generation_}; }

  /// True if the caller's reference is the only one: no other handle, entry or callback can
  /// read the state. acquire: pairs with the other holders' releasing decrements.
  [[nodiscard]] bool sole_holder() const noexcept {
    return refs_.load(std::memory_order_acquire) == 1;
  }

  /// Marks the state as having a queue entry, if it is still pending. Thread: the submitter.
  bool mark_queued() noexcept;

  /// Marks a fresh state, which no other thread can reach yet, as having a queue entry.
  /// Thread: the submitter, before the push that shares the state.
  void mark_queued_unshared() noexcept {
    // relaxed: unshared; the queue push that shares the state publishes the bit with it.
    word_.store(word_.load(std::memory_order_relaxed) | queued_bit, std::memory_order_relaxed);
  }

  /// Step F1 + F2: runs the callable here if it has not started. Thread: any worker.
  run_outcome run_here() noexcept;

  /// Step F3: cancels if not started. Counts the cancellation. Thread: any.
  bool cancel() noexcept;

  /// Step F3 with an error (broken pool). Thread: the pool.
  bool fail_pending(std::exception_ptr reason) noexcept;

  /// Requests the task's stop token, if its callable takes one. Thread: any.
  virtual bool request_stop() noexcept { return false; }

  /// Step F4: blocks until done or `deadline`. Helps on a worker of the same pool.
  bool wait_until(steady_time deadline) const;
  /// Step F4 without helping. Thread: any.
  bool block_until(steady_time deadline) const noexcept;

  /// The stored exception (failed), or null. Valid once done.
  [[nodiscard]] const std::exception_ptr& error() const noexcept { return error_; }

  /// Sets the moved bit; returns false if it was already set.
  bool take_value() noexcept {
    return (word_.fetch_or(moved_bit, std::memory_order_acq_rel) & moved_bit) == 0;
  }
  [[nodiscard]] bool value_taken() const noexcept {
    return (word_.load(std::memory_order_acquire) & moved_bit) != 0;
  }

  /// Step F5. Takes ownership of `node`. Thread: any.
  void add_callback(callback_node* node);

  /// Completes a pending state with the outcome of `source` (then() pass-through).
  /// Thread: any; `source` is done.
  void complete_like(const state_base& source) noexcept;

  // task_node: the queue entry.
  run_outcome run_and_release(std::exception_ptr& error) noexcept final;
  bool cancel_and_release(const std::exception_ptr& reason) noexcept final;

 protected:
  virtual ~state_base();

  /// Runs the callable and stores its value; throws what the callable throws.
  virtual void invoke_callable() = 0;
  /// Destroys the callable (exactly once, I1).
  virtual void destroy_callable() noexcept = 0;
  /// CAS of the state bits from `from` to `to`, keeping the flag bits.
  bool try_transition(future_state from, future_state to) noexcept;
  /// Step F2's publication: final state, wake waiters, run callbacks.
  void publish(future_state final) noexcept;
  /// Takes the callback stack (closing it) and runs what it held, if anything (F2, F5); hands
  /// it to a compactor that holds it (F9).
  void take_callbacks() noexcept;
  /// Step F9: unlinks and frees the removed nodes below the top of the stack. Thread: a
  /// registrar of a removable callback, holding a reference.
  void compact_callbacks() noexcept;
  /// Reverses a taken stack into registration order and runs it on the trampoline (F6).
  void run_taken(callback_node* list) noexcept;

  std::exception_ptr error_;

 private:
  friend void run_completions(state_base* first) noexcept;
  friend void run_completion_list() noexcept;

  // The pool_ref, split so that compaction_ fills what would be its padding.
  pool_link* link_;
  std::uint32_t generation_;
  // F9's schedule: low 16 bits, removable registrations since the last compaction; high 16
  // bits, the nodes that compaction left (the next one waits for as many registrations).
  state_atomic<std::uint32_t> compaction_{0};
  mutable state_atomic<std::uint32_t> word_{0};
  state_atomic<std::uint32_t> refs_;
  state_atomic<callback_node*> callbacks_{nullptr};
  // F6: the thread-local trampoline's list (only touched by the thread that took the stack).
  state_base* next_completion_ = nullptr;
  callback_node* taken_callbacks_ = nullptr;
};

/// A state with a result slot of type T.
template <class T>
class result_state : public state_base {
 public:
  using state_base::state_base;
  /// The value. Precondition: state() == succeeded.
  T& value() noexcept { return *std::launder(reinterpret_cast<T*>(storage_)); }

 protected:
  ~result_state() override {
    if (state() == future_state::succeeded) {
      value().~T();  // moved-from or not, the object lives until here
    }
  }
  template <class... A>
  void emplace_value(A&&... a) {
    ::new (static_cast<void*>(storage_)) T(std::forward<A>(a)...);
  }

 private:
  alignas(T) unsigned char storage_[sizeof(T)];
};

/// The void specialisation: no value.
template <>
class result_state<void> : public state_base {
 public:
  using state_base::state_base;

 protected:
  ~result_state() override = default;
};

/// `f(args...)` with decay-copied f and args, invoked once as rvalues (as std::thread does).
template <class F, class... Args>
class bound_call {
 public:
  template <class G, class... A>
  explicit bound_call(G&& g, A&&... a) : f_(std::forward<G>(g)), args_(std::forward<A>(a)...) {}

  decltype(auto) operator()() {
    return std::apply(
        [this](auto&... a) -> decltype(auto) {
          return std::invoke(std::move(f_), std::move(a)...);
        },
        args_);
  }
  decltype(auto) operator()(std::stop_token token) {
    return std::apply(
        [this, &token](auto&... a) -> decltype(auto) {
          return std::invoke(std::move(f_), std::move(token), std::move(a)...);
        },
        args_);
  }

 private:
  F f_;
  std::tuple<Args...> args_;
};

/// True if the task receives a std::stop_token: invocable with (token, args...) and not with
/// (args...).
template <class F, class... Args>
inline constexpr bool takes_stop_token =
    std::is_invocable_v<F, std::stop_token, Args...> && !std::is_invocable_v<F, Args...>;

/// Result type of a submitted callable.
template <class F, class... Args>
using call_result_t = typename std::conditional_t<takes_stop_token<F, Args...>,
                                                  std::invoke_result<F, std::stop_token, Args...>,
                                                  std::invoke_result<F, Args...>>::type;

/// The state of a submitted task: the callable `Fn` producing T.
template <class T, class Fn, bool StopAware>
class task_state final : public result_state<T> {
 public:
  template <class... A>
  task_state(pool_ref pool, std::uint32_t refs, std::stop_token pool_token, A&&... a)
      : result_state<T>(pool, refs) {
    ::new (static_cast<void*>(fn_storage_)) Fn(std::forward<A>(a)...);
    if constexpr (StopAware) {
      pool_token_ = std::move(pool_token);
    }
  }

  bool request_stop() noexcept override {
    if constexpr (StopAware) {
      return own_.request_stop();
    } else {
      return false;
    }
  }

 private:
  ~task_state() override {
    if (this->state() == future_state::pending) {
      destroy_callable();  // never started, never cancelled (a refused submission)
    }
  }

  Fn& fn() noexcept { return *std::launder(reinterpret_cast<Fn*>(fn_storage_)); }

  void invoke_callable() override {
    if constexpr (StopAware) {
      // A pool-wide request_stop() made before or during the run reaches the task's own token.
      // The pool lists the running task (no std::stop_callback on the pool's token: its
      // destructor would block this worker while another thread runs the task's stop
      // callbacks, and those may wait for work queued behind this task).
      registration_.state = this;
      if (!core_stop_register(this->pool(), pool_token_, registration_)) {
        own_.request_stop();  // the epoch ended before the start; the callbacks run here
      }
      struct unlist {
        task_state* self;
        ~unlist() { core_stop_unregister(self->pool(), self->registration_); }
      } const guard{this};
      store(own_.get_token());
    } else {
      store();
    }
  }

  template <class... Tok>
  void store(Tok... tok) {
    if constexpr (std::is_void_v<T>) {
      fn()(std::move(tok)...);
    } else {
      this->emplace_value(fn()(std::move(tok)...));
    }
  }

  void destroy_callable() noexcept override { fn().~Fn(); }

  alignas(Fn) unsigned char fn_storage_[sizeof(Fn)];
  struct no_stop {};
  [[no_unique_address]] std::conditional_t<StopAware, std::stop_source, no_stop> own_{};
  [[no_unique_address]] std::conditional_t<StopAware, std::stop_token, no_stop> pool_token_{};
  [[no_unique_address]] std::conditional_t<StopAware, stop_registration, no_stop> registration_{};
};

}  // namespace detail
}  // namespace v1
}  // namespace weft
