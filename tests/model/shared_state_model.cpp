// shared_state_model.cpp: Relacy model checks of the future's shared state (steps F1-F9 of the
// design note in include/weft/detail/shared_state.hpp) and of the combinators built on it
// (when_all.hpp, when_any.hpp).
//
// The code checked is the code that ships: this program compiles src/shared_state.cpp itself
// (the #include below), with include/weft/detail/shared_state.hpp and the real future<T>,
// on_done, on_done_removable, then() and callback_handle of include/weft/. Three seams, all
// selected by WEFT_DETAIL_STATE_MODEL and none of them present in the library:
// - state_atomic (shared_state.hpp), the type of every atomic of the state machine: std::atomic
//   in the library; here weft_model::state_atomic below, Relacy's atomic with the call site of
//   each operation recorded (and, in a negative control, one operation rewritten);
// - this_thread_completions() (shared_state.cpp), the F6 trampoline: a thread_local in the
//   library; here one list per simulated thread (Relacy runs them all on one OS thread);
// - the futex calls: the library's take a std::atomic, so src/shared_state.cpp's calls on a
//   model word find the overloads below by argument-dependent lookup: the parking lot of
//   relacy_policy.hpp, in which a waiter that nobody wakes stays blocked (a lost wake-up ends
//   the execution with "deadlock detected").
// The pool is a set of stubs (the hooks declared in shared_state.hpp): no model thread is a
// worker, so waits block (F4) instead of helping; a then() continuation that the pool would
// queue runs at once on the thread that submits it, inside the trampoline of F6; the node cache
// is replaced by Relacy's allocator, so a state freed twice is a reported double free, a state
// used after its last release an access to freed memory, and a state never freed a leak.
//
// What every model checks, besides Relacy's own data-race and memory checks: the task's value
// is a Relacy variable (model_value), written by the runner, read by every waiter and callback,
// and written again by the destructor of the last holder, so each read is checked against the
// runner's write (I2: the outcome is published before done is seen) and against the delete (the
// last release sees every other holder's use). The callable counts its runs and destructions
// (I1), each callback its runs (I3), the allocator the states it frees (each exactly once).
//
// Negative controls. Each property is also run with one planted bug: a rewrite of one atomic
// operation of the shipped code, named by its call site and its shipped order (enum bug, applied
// by state_atomic; nothing in the library changes), or a wake-up that the futex model drops.
// Relacy must then report the failure the rule prevents, and does (in parentheses, the
// executions it took to find it; WEFT_MODEL_TRACE=1 prints the failing one):
//   - publish()'s load of the callback stack acquire instead of seq_cst: model (c) loses a
//     callback (after() finds it never ran; about 16,500 executions);
//   - publish()'s final-state CAS acq_rel instead of seq_cst: (c) loses a callback (17): the
//     registrar's seq_cst re-check reads the old `running` after the completer is gone;
//   - add_callback()'s push CAS acq_rel instead of seq_cst: (c) loses a callback (16,500);
//   - add_callback() without its re-check (the re-load reads `pending`): (c) loses one (9);
//   - publish()'s final-state CAS relaxed: (b) a data race on the value, which a waiter reads
//     after seeing done (I2; the first execution);
//   - publish() waking nobody: (b) deadlocks (the waiter stays parked, F4; 653);
//   - try_transition()'s CAS as a load and a separate store: (a) both run and cancel win, and the
//     callable is destroyed twice (I1; 81,000);
//   - release()'s load and decrement relaxed: (a) the last holder's delete races with another
//     holder's read of the value (51);
//   - release()'s decrement as a load and a separate store: (a) the state is not freed exactly
//     once (a lost decrement; 5);
//   - add_callback() without its re-check, in model (d): the then() registration is lost, so
//     the continuation never runs (71,000);
//   - removable_node::remove()'s CAS as a load and a separate store: (e) both remove() and the
//     trampoline's claim win, and the callable is destroyed twice (F8; 9);
//   - compact_callbacks()'s flag CAS, or its give-back CAS, as a load and a separate store: (f)
//     a push that lands between the two is overwritten, and its callback never runs (F9; 9 and
//     4 random executions);
//   - take_callbacks()'s CASes as loads and stores: (f) a callback runs twice or never (11).
//   - when_all_state::arrive()'s decrement, or when_any_state::arrive()'s, as a load and a
//     separate store: (g) or (h) settles the combinator never or twice (130 and 1,500
//     random executions).
// A control passes only if that failure is found and the planted bug's call site was reached
// (so renaming the function, or changing the shipped order, fails the control loudly).
//
// Searches (about 30 s in all at -O2, the models' build flags): the two-thread models with the
// context-bound scheduler (every execution with at most N preemptions): (b) N = 5 (0.9 and 1.2
// million executions), (c) N = 3 (1.5 million), (e) N = 5 and N = 4 (0.26 and 1 million); the
// three-thread models at a small bound plus 5 * 10^5 random executions each: (a) N = 2 (0.4
// million; N = 3, 4.9 million in 17 s, also passed), (c) with a canceller N = 1 (0.1 million;
// N = 2, 4 million in 20 s, also passed), (d) N = 1 (1.2 million); (f), the compaction models,
// with 5 * 10^5 random executions each only (their node walks and frees make even the two-thread
// one at N = 2 a search of 21 million executions, 95 s, which passed once). The exhaustive search
// does not end in minutes even for two threads: every free (the allocator's reuse) and every
// weak CAS (a spurious failure) doubles it. Each run prints its search, the executions explored
// and the time. WEFT_MODEL_SEARCH=full|bound:<n>|random:<n> replaces every search (soak runs);
// a first argument runs only the models whose name contains it.
//
// Models (g) and (h) run the shipped when_all.hpp and when_any.hpp (their atomics are
// state_atomic too) over two inputs completed by two workers, with 5 * 10^5 random executions each.
//
// Not modelled: a wait inside a callback (F6', run_deferred_completions with queued entries),
// helping (core_help_until), stop tokens, a throwing callable or callback, and the pool's
// fail_pending; a then() continuation runs inline instead of from a worker's queue.
//
// Exit status: 0 if every model gave its expected result, 1 otherwise.

#define WEFT_DETAIL_STATE_MODEL 1
#define WEFT_DETAIL_NODE_CACHE 0

// Every standard and weft header that the state code includes, before Relacy's (whose macros
// would rewrite system headers included after it); the headers below relacy_policy.hpp then
// include nothing new.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <iostream>
#include <memory>
#include <new>
#include <optional>
#include <ostream>
#include <ranges>
#include <source_location>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <weft/detail/backoff.hpp>
#include <weft/detail/deadline.hpp>
#include <weft/detail/futex.hpp>
#include <weft/detail/task.hpp>
#include <weft/error.hpp>
#include <weft/future_state.hpp>

// Relacy, after the standard headers.
#include "relacy_policy.hpp"

namespace weft_model {

// ---- Planted bugs ----------------------------------------------------------------------------

/// The planted bug of a negative control: which operation of the shipped code is rewritten.
enum class bug : unsigned char {
  none,
  publish_cas_acq_rel,   // publish(): the final-state CAS acq_rel instead of seq_cst (F5)
  publish_load_acquire,  // publish(): the load of the callback stack acquire, not seq_cst (F5)
  push_acq_rel,          // add_callback(): the push CAS acq_rel instead of seq_cst (F5)
  recheck_skipped,       // add_callback(): the re-load of word_ after the push reads `pending`
  publish_relaxed,       // publish(): the final-state CAS relaxed: it publishes nothing (I2)
  transition_split,      // try_transition(): the CAS as a load and a separate store (I1)
  remove_split,          // removable_node::remove(): the CAS as a load and a store (F8)
  flag_split,            // compact_callbacks(): taking the stack's flag as a load and a store (F9)
  giveback_split,        // compact_callbacks(): giving the stack back as a load and a store (F9)
  take_split,            // take_callbacks(): its CASes as loads and stores (F9's handoff)
  release_relaxed,       // state_base::release(): its load and decrement relaxed
  release_split,         // state_base::release(): the decrement as a load and a store
  no_wake,               // publish(): futex_wake_all wakes nobody (F4)
  all_count_split,       // when_all_state::arrive(): the decrement as a load and a store
  any_parts_split,       // when_any_state::arrive(): the decrement as a load and a store
};

/// The bug planted in the running model (set by its fixture, one per iteration).
inline bug planted = bug::none;
/// How many operations the planted bug rewrote during one model's run (all its executions).
inline unsigned long planted_hits = 0;

enum class op : unsigned char { load, cas, cas_strong, fetch_sub };

/// What the planted bug does to one operation.
struct rewrite {
  std::memory_order order;     // the order the operation uses
  bool split = false;          // a CAS done as a load and a separate store
  bool reads_pending = false;  // a load of word_ whose state bits read `pending`
};

inline bool called_from(const std::source_location& where, std::string_view function) {
  return std::string_view(where.function_name()).find(function) != std::string_view::npos;
}

/// True if the operation `o` with order `mo` at `where` is the planted bug's site: the function
/// that performs it, and for a weakened order the shipped order, so that a change of either
/// makes the control fail (its site is never reached) instead of silently testing nothing.
inline bool at_planted_site(op o, std::memory_order mo, const std::source_location& where) {
  using std::memory_order;
  switch (planted) {
    case bug::none:
      return false;
    case bug::publish_cas_acq_rel:
    case bug::publish_relaxed:
      return o == op::cas && mo == memory_order::seq_cst &&
             called_from(where, "state_base::publish(");
    case bug::publish_load_acquire:
      return o == op::load && mo == memory_order::seq_cst &&
             called_from(where, "state_base::publish(");
    case bug::push_acq_rel:
      return o == op::cas && mo == memory_order::seq_cst &&
             called_from(where, "state_base::add_callback(");
    case bug::recheck_skipped:
      return o == op::load && mo == memory_order::seq_cst &&
             called_from(where, "state_base::add_callback(");
    case bug::transition_split:
      return o == op::cas && called_from(where, "state_base::try_transition(");
    case bug::remove_split:
      return o == op::cas_strong && called_from(where, "removable_node::remove(");
    case bug::flag_split:
      return o == op::cas_strong && called_from(where, "state_base::compact_callbacks(");
    case bug::giveback_split:
      return o == op::cas && called_from(where, "state_base::compact_callbacks(");
    case bug::take_split:
      return o == op::cas && called_from(where, "state_base::take_callbacks(");
    case bug::release_relaxed:
      return o != op::cas && called_from(where, "state_base::release(");
    case bug::release_split:
      return o == op::fetch_sub && called_from(where, "state_base::release(");
    case bug::no_wake:
      return false;  // not an atomic operation: see futex_wake_all below
    case bug::all_count_split:
      return o == op::fetch_sub && called_from(where, "when_all_state") &&
             called_from(where, "::arrive(");
    case bug::any_parts_split:
      return o == op::fetch_sub && called_from(where, "when_any_state") &&
             called_from(where, "::arrive(");
  }
  return false;
}

/// The operation `o` with order `mo` at `where`, as the planted bug has it.
inline rewrite planted_rewrite(op o, std::memory_order mo, const std::source_location& where) {
  if (!at_planted_site(o, mo, where)) {
    return {mo};
  }
  ++planted_hits;
  switch (planted) {
    case bug::publish_cas_acq_rel:
    case bug::push_acq_rel:
      return {std::memory_order_acq_rel};
    case bug::publish_load_acquire:
      return {std::memory_order_acquire};
    case bug::recheck_skipped:
      return {mo, false, true};
    case bug::publish_relaxed:
    case bug::release_relaxed:
      return {std::memory_order_relaxed};
    case bug::transition_split:
    case bug::remove_split:
    case bug::flag_split:
    case bug::giveback_split:
    case bug::take_split:
    case bug::release_split:
    case bug::all_count_split:
    case bug::any_parts_split:
      return {mo, true};
    default:
      return {mo};
  }
}

/// The atomic type of the state machine in the model (shared_state.hpp's state_atomic):
/// model_atomic, whose operations Relacy checks and whose trace names the call site in the
/// shipped code, with the planted bug's rewrite applied to the operations it names.
template <class T>
class state_atomic : public model_atomic<T> {
  using base = model_atomic<T>;
  using loc = std::source_location;

 public:
  state_atomic(loc l = loc::current()) : base(l) {}
  state_atomic(T value, loc l = loc::current()) : base(value, l) {}

  T load(std::memory_order mo, loc l = loc::current()) const {
    const rewrite r = planted_rewrite(op::load, mo, l);
    T value = base::load(r.order, l);
    if constexpr (std::is_integral_v<T>) {
      if (r.reads_pending) {
        value &= ~T{7};  // state_base::state_mask: the state bits read `pending`
      }
    }
    return value;
  }
  bool compare_exchange_weak(T& expected, T desired, std::memory_order success,
                             std::memory_order failure, loc l = loc::current()) {
    const rewrite r = planted_rewrite(op::cas, success, l);
    if (r.split) {
      return split_exchange(expected, desired, l);
    }
    return base::compare_exchange_weak(expected, desired, r.order, failure, l);
  }
  bool compare_exchange_strong(T& expected, T desired, std::memory_order success,
                               std::memory_order failure, loc l = loc::current()) {
    const rewrite r = planted_rewrite(op::cas_strong, success, l);
    if (r.split) {
      return split_exchange(expected, desired, l);
    }
    return base::compare_exchange_strong(expected, desired, r.order, failure, l);
  }
  T fetch_sub(T value, std::memory_order mo, loc l = loc::current()) {
    const rewrite r = planted_rewrite(op::fetch_sub, mo, l);
    if (r.split) {
      const T seen = base::load(std::memory_order_acquire, l);
      base::store(static_cast<T>(seen - value), std::memory_order_release, l);
      return seen;
    }
    return base::fetch_sub(value, r.order, l);
  }

 private:
  // The planted non-atomic compare-and-swap: another thread may act between the two steps.
  bool split_exchange(T& expected, T desired, const loc& l) {
    const T seen = base::load(std::memory_order_acquire, l);
    if (seen != expected) {
      expected = seen;
      return false;
    }
    base::store(desired, std::memory_order_release, l);
    return true;
  }
};

// ---- The futex contract (detail/futex.hpp) on a model word -----------------------------------
// src/shared_state.cpp calls futex_wait(word_, w) and so on unqualified, inside weft::detail;
// on a model word, argument-dependent lookup finds these (the library's take a std::atomic).

inline void futex_wait(state_atomic<std::uint32_t>& word, std::uint32_t expected) {
  relacy_sync::park(word, expected);
}

// Either the deadline passes first (false), or the wait behaves as futex_wait.
inline bool futex_wait_until(state_atomic<std::uint32_t>& word, std::uint32_t expected,
                             std::chrono::steady_clock::time_point /*deadline*/) {
  if (rl::rand(2) == 0) {
    return false;
  }
  relacy_sync::park(word, expected);
  return true;
}

inline void futex_wake_all(state_atomic<std::uint32_t>& word) {
  if (planted == bug::no_wake) {
    ++planted_hits;
    return;
  }
  RL_ASSERT(current_lot != nullptr);
  current_lot->unpark_all(word);
}

}  // namespace weft_model

// The shipped state code, compiled against the seams above: its headers, and then the source
// text of src/shared_state.cpp itself (not a copy).
#include <weft/callback_handle.hpp>
#include <weft/detail/shared_state.hpp>
#include <weft/future.hpp>
#include <weft/when_all.hpp>
#include <weft/when_any.hpp>
// (A separate block, so that the source comes after the headers it completes.)
#include "../../src/shared_state.cpp"

static_assert(weft::detail::state_base::state_mask == 7,
              "weft_model::state_atomic::load clears the state bits as state_mask has them");

namespace {

using weft_model::bug;

// ---- Bookkeeping -----------------------------------------------------------------------------
// Plain counters: Relacy runs one simulated thread at a time.

struct books {
  int runs = 0;                 // calls of the task's callable
  int callables_destroyed = 0;  // destructions of the task's callable (I1: exactly one)
  int unrun_counted = 0;        // core_count_unrun calls (a cancel, a then() pass-through)
  int states_freed = 0;         // task_node blocks returned to the allocator
  int callback_runs[4] = {};    // runs of callback k (I3)
  int probe_runs[8] = {};       // runs of removable callback k (F8, F9)
  int probe_destroyed[8] = {};  // destructions of removable callback k's callable
};

books* current_books = nullptr;

// ---- The task: its value and its callable ----------------------------------------------------

constexpr int task_result = 42;
constexpr int dead_value = -1;

// The task's result. Its payload is a Relacy variable: every read is checked against the
// runner's write and against the last holder's destruction.
class model_value {
 public:
  explicit model_value(int v) { payload_($) = v; }
  model_value(model_value&& other) noexcept { payload_($) = other.payload_($); }
  model_value(const model_value& other) { payload_($) = other.payload_($); }
  model_value& operator=(const model_value&) = delete;
  ~model_value() { payload_($) = dead_value; }
  [[nodiscard]] int get() const { return payload_($); }

 private:
  rl::var<int> payload_;
};

// The submitted callable: counts its runs and its destruction (I1).
class model_task {
 public:
  explicit model_task(books* b) : b_(b) {}
  model_task(const model_task&) = delete;
  model_task& operator=(const model_task&) = delete;
  ~model_task() {
    RL_ASSERT(b_->callables_destroyed == 0);  // I1: destroyed exactly once
    ++b_->callables_destroyed;
  }
  model_value operator()() {
    RL_ASSERT(b_->callables_destroyed == 0);
    ++b_->runs;
    return model_value(task_result);
  }

 private:
  books* b_;
};

using value_future = weft::future<model_value>;
using model_state = weft::detail::task_state<model_value, model_task, false>;

}  // namespace

// ---- Model stubs of the pool hooks (shared_state.hpp, future.hpp) and the node cache --------

namespace weft {
inline namespace v1 {
namespace detail {
namespace {

// The F6 trampoline, one per simulated thread (the seam in src/shared_state.cpp).
constexpr std::size_t max_model_threads = 4;
completion_list model_completions[max_model_threads];

completion_list& this_thread_completions() noexcept {
  RL_ASSERT(rl::thread_index() < max_model_threads);
  return model_completions[rl::thread_index()];
}

}  // namespace

// No model thread is a worker of a pool: waits block (F4) instead of helping.
pool_core* own_worker_pool(const pool_ref& /*ref*/) noexcept {
  return nullptr;
}
void core_report_error(const pool_ref& /*ref*/, const std::exception_ptr& /*error*/) noexcept {
  RL_ASSERT(!"a model callback threw");
}
void core_count_unrun(const pool_ref& /*ref*/, future_state /*final*/,
                      bool /*was_queued*/) noexcept {
  ++current_books->unrun_counted;
}
bool core_help_until(pool_core* /*pool*/, state_base& /*s*/, steady_time /*deadline*/) {
  RL_ASSERT(!"no model thread helps");
  return false;
}
// The pool would queue the continuation; the model runs it at once, in the source's then()
// callback. That runs inside the F6 trampoline (unless then() found the source done), so the
// dependent's own callbacks are queued behind it rather than run recursively.
void core_submit_continuation(const pool_ref& /*ref*/, state_base* s) {
  std::exception_ptr error;
  static_cast<void>(s->run_and_release(error));
}
bool core_stop_register(const pool_ref& /*ref*/, const std::stop_token& /*epoch*/,
                        stop_registration& /*entry*/) noexcept {
  return true;
}
void core_stop_unregister(const pool_ref& /*ref*/, stop_registration& /*entry*/) noexcept {}
void check_continuation_accepted(const pool_ref& /*ref*/) {}

[[noreturn]] void model_misuse(const char* function) {
  std::cerr << function << ": misuse in a model\n";
  RL_ASSERT(false);
  std::abort();
}
void throw_invalid_future(const char* function) {
  model_misuse(function);
}
void throw_value_taken(const char* function) {
  model_misuse(function);
}
void throw_cancelled(const char* function) {
  model_misuse(function);
}
void throw_invalid_input(const char* function, std::size_t /*index*/) {
  model_misuse(function);
}

// The node cache is off: every state comes from Relacy's allocator, which checks its frees.
void* node_allocate(std::size_t bytes) {
  return ::operator new(bytes);
}
void node_deallocate(void* block, std::size_t /*bytes*/) noexcept {
  ++current_books->states_freed;
  ::operator delete(block);
}

}  // namespace detail
}  // namespace v1
}  // namespace weft

namespace {

using weft::future_state;
using weft::detail::pool_ref;

/// The failure Relacy must report for a planted bug.
constexpr rl::test_result_e expected_for(bug b) {
  switch (b) {
    case bug::none:
      return rl::test_result_success;
    case bug::publish_relaxed:
    case bug::release_relaxed:
      return rl::test_result_data_race;
    case bug::no_wake:
      return rl::test_result_deadlock;
    default:
      return rl::test_result_user_assert_failed;
  }
}

// What every model shares: the parking lot, the books, the planted bug, one state with a queue
// entry (a reference the runner gives up in run_and_release) and up to three future handles.
template <bug Planted>
struct state_fixture {
  weft_model::model_parking_lot lot;
  weft_model::parking_scope scope{lot};
  books b;
  model_state* entry = nullptr;
  value_future handle[3];

  state_fixture() {
    current_books = &b;
    weft_model::planted = Planted;
    for (auto& list : weft::detail::model_completions) {
      list = {};
    }
  }
  state_fixture(const state_fixture&) = delete;
  state_fixture& operator=(const state_fixture&) = delete;
  ~state_fixture() {
    for (auto& h : handle) {
      h = value_future();
    }
    weft_model::planted = bug::none;
  }

  // As submit does: a state with one reference per handle plus the queue entry's, marked
  // queued before it is shared.
  void submit(std::uint32_t handles) {
    entry = new model_state(pool_ref{}, handles + 1, std::stop_token{}, &b);
    entry->mark_queued_unshared();
    for (std::uint32_t i = 0; i < handles; ++i) {
      handle[i] = weft::detail::adopt_future<model_value>(entry);
    }
  }

  // The worker that pops the entry: F1 + F2, then the entry's release.
  bool run_entry() {
    std::exception_ptr error;
    return std::exchange(entry, nullptr)->run_and_release(error) ==
           weft::detail::run_outcome::succeeded;
  }

  // A callback that checks what it sees: the state is done, and the value if it succeeded.
  auto checking_callback(int k) {
    return [this, k](const value_future& f) {
      ++b.callback_runs[k];
      RL_ASSERT(f.done());
      if (f.state() == future_state::succeeded) {
        RL_ASSERT(f.get().get() == task_result);  // I2: a read checked against the runner's write
      }
    };
  }

  // A waiter's check after its wait returned: done, and the value if it succeeded.
  static void check_done(const value_future& f) {
    RL_ASSERT(f.done());
    if (f.state() == future_state::succeeded) {
      RL_ASSERT(f.get().get() == task_result);
    }
  }
};

// ---- (a) run vs cancel vs waiter -------------------------------------------------------------

// Invariant: when a worker runs the entry (F1) while a holder cancels (F3) and a third thread
// waits (F4) and each drops its reference, exactly one of run and cancel wins (I1), the callable
// is destroyed once, the waiter returns only once the state is done and then sees the value
// (I2), the cancel is counted if it won, and the state is freed exactly once.
template <bug Planted = bug::none>
struct run_cancel_wait : rl::test_suite<run_cancel_wait<Planted>, 3, expected_for(Planted)>,
                         state_fixture<Planted> {
  bool ran = false;
  bool cancelled = false;

  void before() { this->submit(2); }

  void thread(unsigned index) {
    if (index == 0) {
      ran = this->run_entry();
    } else if (index == 1) {
      cancelled = this->handle[0].cancel();
      this->handle[0] = value_future();
    } else {
      this->handle[1].wait();
      this->check_done(this->handle[1]);
      this->handle[1] = value_future();
    }
  }

  void after() {
    RL_ASSERT(ran != cancelled);  // I1: exactly one wins
    RL_ASSERT(this->b.runs == (ran ? 1 : 0));
    RL_ASSERT(this->b.callables_destroyed == 1);
    RL_ASSERT(this->b.unrun_counted == (cancelled ? 1 : 0));
    RL_ASSERT(this->b.states_freed == 1);
  }
};

// ---- (b) run vs waiter -----------------------------------------------------------------------

// Invariant: a waiter (an untimed wait, or a timed one whose deadline may pass first) returns
// true only once the state is done, and then sees the value (I2); an untimed waiter is always
// woken (no lost wake-up between F4's waiters bit and F2's wake); the state is freed once.
template <bool Timed, bug Planted = bug::none>
struct run_vs_waiter : rl::test_suite<run_vs_waiter<Timed, Planted>, 2, expected_for(Planted)>,
                       state_fixture<Planted> {
  void before() { this->submit(1); }

  void thread(unsigned index) {
    if (index == 0) {
      RL_ASSERT(this->run_entry());
    } else {
      if constexpr (Timed) {
        if (this->handle[0].wait_for(std::chrono::hours(1))) {
          this->check_done(this->handle[0]);
        }
      } else {
        this->handle[0].wait();
        this->check_done(this->handle[0]);
      }
      this->handle[0] = value_future();
    }
  }

  void after() {
    RL_ASSERT(this->b.runs == 1);
    RL_ASSERT(this->b.states_freed == 1);
  }
};

// ---- (c) registration vs completion ----------------------------------------------------------

// Invariant: callbacks registered with on_done while a worker completes the state (F5 against
// F2: the Dekker pair of the push and re-check with the final-state CAS and the stack load) each
// run exactly once (I3), see the state done and its value, and the state is freed once. With
// a canceller too (Cancel), the completion is whichever of run and cancel wins.
template <bool Cancel, bug Planted = bug::none>
struct register_vs_complete
    : rl::test_suite<register_vs_complete<Cancel, Planted>, Cancel ? 3 : 2, expected_for(Planted)>,
      state_fixture<Planted> {
  void before() { this->submit(Cancel ? 2 : 1); }

  void thread(unsigned index) {
    if (index == 0) {
      this->run_entry();
    } else if (index == 1) {
      this->handle[0].on_done(this->checking_callback(0));
      this->handle[0].on_done(this->checking_callback(1));
      this->handle[0] = value_future();
    } else {
      this->handle[1].cancel();
      this->handle[1] = value_future();
    }
  }

  void after() {
    RL_ASSERT(this->b.callback_runs[0] == 1);  // I3
    RL_ASSERT(this->b.callback_runs[1] == 1);
    RL_ASSERT(this->b.callables_destroyed == 1);
    RL_ASSERT(this->b.states_freed == 1);
  }
};

// ---- (d) then() dependents -------------------------------------------------------------------

// Invariant: a then() continuation registered while a worker runs its source and another holder
// cancels it runs exactly when the source succeeded, with the source's value (moved only if it
// holds the last reference); a dependent that the source cancelled passes the outcome on
// (complete_like, counted once); a callback on the dependent, completed inside the source's
// callback (the F6 trampoline), runs exactly once and sees the dependent's outcome; both states
// are freed exactly once.
template <bug Planted = bug::none>
struct then_dependent : rl::test_suite<then_dependent<Planted>, 3, expected_for(Planted)>,
                        state_fixture<Planted> {
  int continuation_runs = 0;
  bool cancelled = false;
  bool ran = false;

  void before() { this->submit(2); }

  void thread(unsigned index) {
    if (index == 0) {
      ran = this->run_entry();
    } else if (index == 1) {
      weft::future<model_value> dependent = this->handle[0].then([this](const model_value& v) {
        ++continuation_runs;
        return model_value(v.get() + 1);
      });
      this->handle[0] = value_future();
      dependent.on_done([this](const value_future& d) {
        ++this->b.callback_runs[0];
        RL_ASSERT(d.done());
        if (d.state() == future_state::succeeded) {
          RL_ASSERT(d.get().get() == task_result + 1);
        } else {
          RL_ASSERT(d.state() == future_state::cancelled);
        }
      });
    } else {
      cancelled = this->handle[1].cancel();
      this->handle[1] = value_future();
    }
  }

  void after() {
    RL_ASSERT(ran != cancelled);
    RL_ASSERT(continuation_runs == (ran ? 1 : 0));
    RL_ASSERT(this->b.callback_runs[0] == 1);
    // The source's cancel, and the dependent's pass-through of it.
    RL_ASSERT(this->b.unrun_counted == (cancelled ? 2 : 0));
    RL_ASSERT(this->b.states_freed == 2);
  }
};

// ---- (e) removable callback: remove() vs the trampoline's claim ------------------------------

// The callable of removable callback k (models (e) and (f)): counts its runs and its
// destruction (F8: exactly once, by the remover or by the state's side) and checks that it
// never runs after it.
class probe {
 public:
  explicit probe(books* b, int k = 0) : b_(b), k_(k) {}
  probe(probe&& other) noexcept : b_(std::exchange(other.b_, nullptr)), k_(other.k_) {}
  probe(const probe&) = delete;
  probe& operator=(const probe&) = delete;
  ~probe() {
    if (b_ != nullptr) {  // not a moved-from shell: the one callable of the registration
      RL_ASSERT(b_->probe_destroyed[k_] == 0);
      ++b_->probe_destroyed[k_];
    }
  }
  void operator()() const {
    RL_ASSERT(b_->probe_destroyed[k_] == 0);  // never run after its destruction
    ++b_->probe_runs[k_];
  }

 private:
  books* b_;
  int k_;
};

// Invariant: when the handle of a removable callback calls remove() while a worker completes
// the state (the trampoline claims the node, F8), exactly one of them wins: the callback runs
// if and only if remove() returned false, its callable is destroyed exactly once and never used
// after, and the node and the state are freed (Relacy's leak check); with Register, the
// registration itself races the completion too (on_done_removable, then remove()).
template <bool Register, bug Planted = bug::none>
struct remove_vs_claim
    : rl::test_suite<remove_vs_claim<Register, Planted>, 2, expected_for(Planted)>,
      state_fixture<Planted> {
  weft::callback_handle h;
  bool removed = false;

  void before() {
    this->submit(1);
    if (!Register) {
      h = this->handle[0].on_done_removable(probe(&this->b));
    }
  }

  void thread(unsigned index) {
    if (index == 0) {
      this->run_entry();
    } else {
      if (Register) {
        h = this->handle[0].on_done_removable(probe(&this->b));
      }
      removed = h.remove();
      h.reset();
      this->handle[0] = value_future();
    }
  }

  void after() {
    RL_ASSERT(this->b.probe_runs[0] == (removed ? 0 : 1));
    RL_ASSERT(this->b.probe_destroyed[0] == 1);
    RL_ASSERT(this->b.states_freed == 1);
  }
};

// ---- (f) compaction vs completion vs remove() -------------------------------------------------

/// What the third thread of model (f) does, if there is one.
enum class third : unsigned char { none, remover, registrar };

// Invariant: a removable registration whose schedule calls for a compaction (F9) unlinks the
// removed nodes while a worker completes the state and a third thread removes a live callback
// (remover) or pushes another one (registrar, on_done):
// the completer hands the stack over if it meets the compaction, and every callback runs
// exactly once unless its remove() returned true (then never), each callable is destroyed
// exactly once, and the nodes and the state are freed (Relacy's leak check). Before the threads
// start, callbacks 0-2 are registered and 1-2 removed, so the registration of callback 3 is the
// fourth removable one and compacts (min_compaction in src/shared_state.cpp): the top (2) stays,
// 1 is unlinked and freed, 0 is kept unless its remove() won. (The handoff is not needed for
// this: a compaction is always followed by its registrar's push and re-check, which would find
// the state done; it keeps take_callbacks() correct on its own.)
template <third Third, bug Planted = bug::none>
struct compact_vs_complete : rl::test_suite<compact_vs_complete<Third, Planted>,
                                            Third == third::none ? 2 : 3, expected_for(Planted)>,
                             state_fixture<Planted> {
  static constexpr int callbacks = 4;
  weft::callback_handle h[callbacks];
  bool removed0 = false;

  void before() {
    this->submit(Third == third::registrar ? 2 : 1);
    for (int k = 0; k < callbacks - 1; ++k) {
      h[k] = this->handle[0].on_done_removable(probe(&this->b, k));
    }
    for (int k = 1; k < callbacks - 1; ++k) {
      RL_ASSERT(h[k].remove());
      h[k].reset();
    }
  }

  void thread(unsigned index) {
    if (index == 0) {
      this->run_entry();
    } else if (index == 1) {
      h[callbacks - 1] = this->handle[0].on_done_removable(probe(&this->b, callbacks - 1));
      h[callbacks - 1].reset();
      this->handle[0] = value_future();
    } else if (Third == third::remover) {
      removed0 = h[0].remove();
      h[0].reset();
    } else {
      this->handle[1].on_done(probe(&this->b, callbacks));
      this->handle[1] = value_future();
    }
  }

  void after() {
    RL_ASSERT(this->b.probe_runs[0] == (removed0 ? 0 : 1));
    if (Third == third::registrar) {
      RL_ASSERT(this->b.probe_runs[callbacks] == 1);
      RL_ASSERT(this->b.probe_destroyed[callbacks] == 1);
    }
    for (int k = 1; k < callbacks - 1; ++k) {
      RL_ASSERT(this->b.probe_runs[k] == 0);
    }
    RL_ASSERT(this->b.probe_runs[callbacks - 1] == 1);
    for (int k = 0; k < callbacks; ++k) {
      RL_ASSERT(this->b.probe_destroyed[k] == 1);
    }
    RL_ASSERT(this->b.states_freed == 1);
  }

  ~compact_vs_complete() {
    for (auto& handle : h) {
      handle.reset();
    }
  }
};

// ---- (g) when_all and (h) when_any vs their inputs' completions ----------------------------

// Both combinators over two inputs, each completed by its own worker while a third thread makes
// the combinator (the shipped when_all.hpp and when_any.hpp, whose atomics are state_atomic)
// and, if it is already done, reads it. Invariant: once every input is done the combinator is
// done (it was settled: not zero times), every input it hands back is done with its value
// (read against the runner's write), when_any names a done input, and once the last handles go
// every state (two inputs and the combinator) is freed exactly once: a second settlement would
// overwrite the first value's handles, which would then never be released. when_any's
// registrations on the losing input are removed (Relacy's leak check frees their nodes and
// callables only if they were).
template <bool Any, bug Planted = bug::none>
struct combinator_vs_inputs
    : rl::test_suite<combinator_vs_inputs<Any, Planted>, 3, expected_for(Planted)>,
      state_fixture<Planted> {
  using all_future = weft::future<std::tuple<value_future, value_future>>;
  using any_future = weft::future<weft::when_any_result<std::tuple<value_future, value_future>>>;
  books second;  // the second input's callable (the fixture's books count the frees)
  model_state* entries[2] = {};
  value_future inputs[2];
  std::conditional_t<Any, any_future, all_future> combined;

  void before() {
    for (int i = 0; i < 2; ++i) {
      entries[i] = new model_state(pool_ref{}, 2, std::stop_token{}, i == 0 ? &this->b : &second);
      entries[i]->mark_queued_unshared();
      inputs[i] = weft::detail::adopt_future<model_value>(entries[i]);
    }
  }

  static void check_done_with_value(const value_future& f) {
    RL_ASSERT(f.done());
    RL_ASSERT(f.get().get() == task_result);
  }

  void check_combined() {
    if constexpr (Any) {
      const auto& r = combined.get();
      RL_ASSERT(r.index < 2);
      check_done_with_value(r.index == 0 ? std::get<0>(r.futures) : std::get<1>(r.futures));
    } else {
      const auto& r = combined.get();
      check_done_with_value(std::get<0>(r));
      check_done_with_value(std::get<1>(r));
    }
  }

  void thread(unsigned index) {
    if (index < 2) {
      std::exception_ptr error;
      RL_ASSERT(std::exchange(entries[index], nullptr)->run_and_release(error) ==
                weft::detail::run_outcome::succeeded);
      return;
    }
    if constexpr (Any) {
      combined = weft::when_any(inputs[0], inputs[1]);
    } else {
      combined = weft::when_all(inputs[0], inputs[1]);
    }
    inputs[0] = value_future();
    inputs[1] = value_future();
    if (combined.done()) {
      check_combined();
    }
  }

  void after() {
    RL_ASSERT(combined.done());  // settled, not zero times
    check_combined();
    combined = {};
    RL_ASSERT(this->b.runs == 1 && second.runs == 1);
    RL_ASSERT(this->b.states_freed == 3);  // the inputs and the combinator, each once
  }
};

// A negative control: the search stops at the first failure; its trace is printed only if
// WEFT_MODEL_TRACE is set. The control also fails if its planted bug never rewrote an operation
// (its site was not reached).
template <class Suite>
bool control(const char* name, const char* failure, rl::test_params p) {
  if (std::getenv("WEFT_MODEL_TRACE") == nullptr) {
    p.output_stream = &weft_model::null_stream();
  }
  weft_model::planted_hits = 0;
  const bool ok = weft_model::run<Suite>(name, failure, p);
  if (weft_model::filter != nullptr &&
      std::string_view(name).find(weft_model::filter) == std::string_view::npos) {
    return true;
  }
  if (weft_model::planted_hits == 0) {
    std::cout << "    the planted bug's call site was never reached -> FAIL\n" << std::endl;
    return false;
  }
  return ok;
}

using weft_model::context_bound;
using weft_model::random_runs;

}  // namespace

int main(int argc, char** argv) {
  using weft_model::run;
  weft_model::select_models(argc, argv);
  bool ok = true;
  ok &= run<run_cancel_wait<>>("(a) run vs cancel vs waiter",
                               "one of run and cancel wins (I1); the waiter sees the outcome",
                               context_bound(2));
  ok &= run<run_cancel_wait<>>("(a) run vs cancel vs waiter, random",
                               "one of run and cancel wins (I1); the waiter sees the outcome",
                               random_runs(500000));
  ok &= run<run_vs_waiter<false>>(
      "(b) run vs waiter", "the waiter is woken and sees the value (F4, I2)", context_bound(5));
  ok &= run<run_vs_waiter<true>>("(b) run vs timed waiter",
                                 "a wait that returns true sees the value (F4, I2)",
                                 context_bound(5));
  ok &= run<register_vs_complete<false>>("(c) on_done registration vs completion",
                                         "each callback runs exactly once (F5, I3)",
                                         context_bound(3));
  ok &=
      run<register_vs_complete<true>>("(c) on_done registration vs run vs cancel",
                                      "each callback runs exactly once (F5, I3)", context_bound(1));
  ok &= run<register_vs_complete<true>>("(c) on_done registration vs run vs cancel, random",
                                        "each callback runs exactly once (F5, I3)",
                                        random_runs(500000));
  ok &= run<then_dependent<>>("(d) then() dependent vs run vs cancel",
                              "the continuation runs iff the source succeeded (F6)",
                              context_bound(1));
  ok &= run<then_dependent<>>("(d) then() dependent vs run vs cancel, random",
                              "the continuation runs iff the source succeeded (F6)",
                              random_runs(500000));
  ok &= run<remove_vs_claim<false>>("(e) remove() vs claim",
                                    "exactly one of remove and claim wins (F8)", context_bound(5));
  ok &= run<remove_vs_claim<true>>("(e) registration and remove() vs completion",
                                   "exactly one of remove and claim wins (F8)", context_bound(4));
  // (f) with random searches only: every free and node walk multiplies the bounded search
  // (two threads at context bound 2: 21 million executions, 95 s).
  ok &= run<compact_vs_complete<third::none>>(
      "(f) compaction vs completion", "every live callback runs once (F9)", random_runs(500000));
  ok &= run<compact_vs_complete<third::remover>>("(f) compaction vs completion vs remove()",
                                                 "every live callback runs once (F9)",
                                                 random_runs(500000));
  ok &= run<compact_vs_complete<third::registrar>>("(f) compaction vs completion vs on_done",
                                                   "every callback runs once (F9)",
                                                   random_runs(500000));

  // (g) and (h) with random searches only: the three threads, the frees and when_any's
  // removals make even a context bound of 1 a search of more than 6 minutes.
  ok &= run<combinator_vs_inputs<false>>("(g) when_all vs its inputs' completions, random",
                                         "settled once, after both inputs (when_all.hpp)",
                                         random_runs(500000));
  ok &= run<combinator_vs_inputs<true>>("(h) when_any vs its inputs' completions, random",
                                        "one winner, settled once, losers removed (when_any.hpp)",
                                        random_runs(500000));

  ok &= control<register_vs_complete<false, bug::publish_load_acquire>>(
      "negative control: (c) publish() loads the stack acquire",
      "must lose a callback (F5's Dekker pair)", context_bound(3));
  ok &= control<register_vs_complete<false, bug::publish_cas_acq_rel>>(
      "negative control: (c) publish()'s final CAS acq_rel",
      "must lose a callback (F5's Dekker pair)", context_bound(3));
  ok &= control<register_vs_complete<false, bug::push_acq_rel>>(
      "negative control: (c) add_callback()'s push acq_rel",
      "must lose a callback (F5's Dekker pair)", context_bound(3));
  ok &= control<register_vs_complete<false, bug::recheck_skipped>>(
      "negative control: (c) add_callback() without the re-check", "must lose a callback (F5)",
      context_bound(3));
  ok &= control<run_vs_waiter<false, bug::publish_relaxed>>(
      "negative control: (b) publish()'s final CAS relaxed",
      "must report a data race on the value (I2)", context_bound(3));
  ok &= control<run_vs_waiter<false, bug::no_wake>>("negative control: (b) publish() wakes nobody",
                                                    "must deadlock (lost wake-up, F4)",
                                                    context_bound(3));
  ok &= control<run_cancel_wait<bug::transition_split>>(
      "negative control: (a) try_transition() as a load and a store",
      "must run and cancel both (I1)", context_bound(3));
  ok &= control<run_cancel_wait<bug::release_relaxed>>("negative control: (a) release() relaxed",
                                                       "must report a data race with the delete",
                                                       context_bound(3));
  ok &= control<run_cancel_wait<bug::release_split>>(
      "negative control: (a) release()'s decrement as a load and a store",
      "must free the state other than once", context_bound(3));
  ok &= control<then_dependent<bug::recheck_skipped>>(
      "negative control: (d) add_callback() without the re-check",
      "must lose the continuation or the dependent's callback (F5)", context_bound(2));
  ok &= control<remove_vs_claim<false, bug::remove_split>>(
      "negative control: (e) remove() as a load and a store", "must remove and run both (F8)",
      context_bound(3));
  ok &= control<compact_vs_complete<third::registrar, bug::flag_split>>(
      "negative control: (f) compaction takes the flag with a load and a store",
      "must lose the concurrent push (F9)", random_runs(2000000));
  ok &= control<compact_vs_complete<third::registrar, bug::giveback_split>>(
      "negative control: (f) compaction gives the stack back with a load and a store",
      "must lose the concurrent push (F9)", random_runs(2000000));
  ok &= control<compact_vs_complete<third::none, bug::take_split>>(
      "negative control: (f) take_callbacks() with loads and stores",
      "must lose a callback or the handoff (F9)", random_runs(2000000));
  ok &= control<combinator_vs_inputs<false, bug::all_count_split>>(
      "negative control: (g) when_all's decrement as a load and a store",
      "must settle twice or never", random_runs(100000));
  ok &= control<combinator_vs_inputs<true, bug::any_parts_split>>(
      "negative control: (h) when_any's arrival as a load and a store",
      "must settle twice or never", random_runs(100000));
  return weft_model::finish(ok, "shared-state");
}
