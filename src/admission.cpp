// admission: whether a submission is accepted, decided before its task is built, and where
// the task then goes.
//
// Roles. Submitter: any thread (submit, post, submit_each through detail::admission). A worker
// in its task loop (local route). Completer or visitor (continuations).
//
// Protocol.
//   A1 Route: a worker of this pool in its task loop goes local (its own deque); it is
//      refused only by a broken pool, so tasks that running tasks submit are never refused,
//      not even while the pool drains. Every other thread (hooks included) goes outside.
//   A2 Outside admission is a claim of the injection queue's next position (Q1 up to its CAS).
//      The claim fails once the queue is closed (L1), atomically with shutdown: a submission
//      is either refused (counted in rejected_) with the caller's callable untouched, or
//      admitted, and then join waits for it, because a claimed position counts as queued (B2
//      sees it: the queue does not look empty). The caller then builds the task and fills the
//      position; if building throws (std::bad_alloc, a throwing copy), the admission fills a
//      tombstone instead and the queue skips it.
//   A3 Local push: the deque may grow (std::bad_alloc). Then nothing was queued: the caller
//      gets the exception, and the state's queue reference is released.
//   A4 Continuations (then()) bypass the closed entrance: they belong to work that was already
//      accepted. If the pool is broken the continuation fails at once; if it is stopping (its
//      workers are leaving) the submitter cancels the stragglers itself (D3).
//
// Memory orders: the queues' own. The phase loads are acquire (broken_error_ is visible
// after them); the stopping check after a continuation's push is seq_cst, the Dekker pair of
// its seq_cst push against the joiner's seq_cst transition and later drain (L3).

#include "message.hpp"
#include "pool_core.hpp"
#include <weft/error.hpp>
#include <weft/thread_pool.hpp>

namespace weft {
inline namespace v1 {
namespace detail {
namespace {

/// A fire-and-forget task moved into a node, so a worker can keep it in its deque.
class boxed_task final : public task_node {
 public:
  explicit boxed_task(task&& t) noexcept : task_(std::move(t)) {}
  run_outcome run_and_release(std::exception_ptr& error) noexcept override {
    const run_outcome outcome = task_.run(error);
    delete this;
    return outcome;
  }
  bool cancel_and_release(const std::exception_ptr& reason) noexcept override {
    const bool stopped = task_.cancel(reason);
    delete this;
    return stopped;
  }
  /// Gives the task back (its push failed). Consumes the node.
  task release_task() noexcept {
    task t = std::move(task_);
    delete this;
    return t;
  }

 private:
  ~boxed_task() = default;
  task task_;
};

}  // namespace

void pool_core::refuse(const char* function) const {
  // The error is built before the refusal is counted: if building it throws std::bad_alloc,
  // the caller gets that, and the call counts as no submission at all.
  if (const std::exception_ptr reason = broken_reason()) {
    broken_pool error(cat({function, ": ", describe(reason)}));
    rejected_.fetch_add(1, std::memory_order_relaxed);  // a statistic
    throw error;
  }
  pool_shutdown error(cat({function, ": pool '", name_,
                           "' is shut down and accepts no new tasks; submit before shutdown() "
                           "or join(), or create a new pool"}));
  rejected_.fetch_add(1, std::memory_order_relaxed);  // a statistic
  throw error;
}

void pool_core::check_open(const char* function) const {
  const bool local = own_loop_worker() != nullptr;
  if (is_broken() || (!local && injection_.is_closed())) {
    refuse(function);
  }
}

worker* pool_core::admit_local(const char* function) const {
  worker* me = own_loop_worker();  // A1
  if (me != nullptr && is_broken()) [[unlikely]] {
    refuse(function);
  }
  return me;
}

injection_queue::claimed_slot pool_core::admit_outside(const char* function) {
  if (is_broken()) [[unlikely]] {
    refuse(function);
  }
  const injection_queue::claimed_slot slot = injection_.claim();  // A2; may throw bad_alloc
  if (!slot) {
    refuse(function);
  }
  return slot;
}

void pool_core::fill(injection_queue::claimed_slot slot, task& t) noexcept {
  injection_.fill(slot, t);
  sleep_.notify_one();  // W2 after the seq_cst publication (W1) of the claim
}

void pool_core::push_local(worker& me, task_node* node) {
  me.deque.push(node);  // W1: a seq_cst store; may throw bad_alloc, pushing nothing (A3)
  sleep_.notify_one();  // W2
}

void pool_core::submit_continuation(state_base* s) {
  if (!s->mark_queued()) {
    s->release();  // cancelled through its own future meanwhile
    return;
  }
  if (is_broken()) [[unlikely]] {
    // A4: a broken pool runs nothing, and a draining worker may already have passed the deque
    // this would go to: fail it here (counted like the drains' failures).
    task t(s);
    if (t.cancel(broken_error_)) {
      fail_broken(1);
    }
    return;
  }
  if (worker* me = own_loop_worker()) {
    try {
      push_local(*me, s);
      return;
    } catch (...) {
      // The deque cannot grow: the outside queue (which needs no allocation most of the time)
      // takes it instead; if that fails too, the continuation fails with the bad_alloc.
    }
  }
  task t(s);
  try {
    static_cast<void>(injection_.push(t, true));  // A4: bypass the closed entrance
  } catch (...) {
    static_cast<void>(t.cancel(std::current_exception()));
    unrun_failed_.fetch_add(1, std::memory_order_relaxed);  // a statistic (I2)
    return;
  }
  sleep_.notify_one();
  // D3: if join already let the workers go, or the pool broke meanwhile (its workers' last
  // drains may have passed), nobody will run it: drain it here (never pending). seq_cst: the
  // load after our push against the phase's seq_cst raise before the drains.
  if (phase(std::memory_order_seq_cst) >= pool_phase::broken) {
    cancel_stragglers();
  }
}

void pool_core::check_continuation_accepted() const {
  if (injection_.is_closed() && own_loop_worker() == nullptr) {
    refuse("weft::future::then");
  }
}

// ---- the header's entry points (thread_pool.hpp) ---------------------------------------------

admission::admission(pool_core* core, const char* function) : core_(core) {
  local_ = core->admit_local(function);
  if (local_ == nullptr) {
    slot_ = core->admit_outside(function);
  }
}

void admission::submit(state_base* s) {
  s->mark_queued_unshared();  // fresh: no other thread holds the future yet
  if (local_ != nullptr) {
    try {
      core_->push_local(*local_, s);
    } catch (...) {
      s->release();  // A3: the queue's reference; the caller's future drops the other
      throw;
    }
    return;
  }
  task t(s);
  core_->fill(std::exchange(slot_, {}), t);
}

void admission::post(task& t) {
  if (local_ != nullptr) {
    auto* node = new boxed_task(std::move(t));  // may throw: `t` is untouched
    try {
      core_->push_local(*local_, node);
    } catch (...) {
      t = node->release_task();  // A3: give the task back; the caller's scope drops it
      throw;
    }
    return;
  }
  core_->fill(std::exchange(slot_, {}), t);
}

void admission::abandon() noexcept {
  task tombstone;  // A2: the task could not be built
  core_->fill(std::exchange(slot_, {}), tombstone);
}

void core_check_open(const pool_core* pool, const char* function) {
  pool->check_open(function);
}

pool_ref core_ref(const pool_core* pool) noexcept {
  return pool->ref();
}

bool core_help_until(pool_core* pool, state_base& s, steady_time deadline) {
  return pool->help_until(s, deadline);
}

}  // namespace detail
}  // namespace v1
}  // namespace weft
