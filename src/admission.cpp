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
//   A2 Outside admission takes one of two routes, chosen at compile time (build_first in
//      thread_pool.hpp). Claim route, when every constructor of the stored callable and
//      arguments is noexcept: claim the injection queue's next position (Q1 up to its CAS;
//      refused once the queue is closed, exactly, by the RMW order on tail_), build the task
//      (only noexcept constructors and the pool's allocation run, so a consumer that reaches
//      the position waits a short while), then fill it; if the allocation throws, fill a
//      tombstone. Entrance route, when a constructor may throw (a copy, user code that may
//      take long or wait for the pool): admit, then build, then push. The submitter enters: it adds
//      itself to its thread's shard of the entrance (a seq_cst fetch_add), then loads the closed
//      flag (seq_cst). If the entrance is closed (shutdown's L1, a break's D2), it takes itself
//      back out and is refused, with the caller's callable untouched. The closer stores the flag
//      (seq_cst) and idle detection then reads the shards (B0): a Dekker pair, so either the
//      submitter sees the flag, or the closer's reads see the submitter counted until it has
//      pushed; join therefore waits for every submission it did not refuse. Still before
//      touching the callable, the submitter reserves a block of the injection queue (Q0; the
//      thread's own reserve, or one of its own for a submission nested in another's
//      constructors), so the push cannot need memory. Then the caller builds the task: the
//      allocation, and the copy or move of the callable and its arguments, user code that may
//      take as long as it likes and may even use the pool, because nothing is queued yet and
//      nobody waits for it (I4). The push bypasses the queue's closed bit (the submission was
//      admitted), cannot fail, and publishes the task; then the submitter leaves (fetch_sub on
//      its shard) and, if the entrance is closed, wakes the idle waiters. If the build throws,
//      the submitter leaves without pushing: nothing was queued, nothing is lost.
//      After the push it loads the phase (seq_cst): a pool that broke meanwhile may have
//      drained past the position, so the submitter drains the stragglers itself (as A4).
//   A3 Local push: the deque may grow (std::bad_alloc). Then nothing was queued: the caller
//      gets the exception, and the state's queue reference is released.
//   A4 Continuations (then()) bypass the closed entrance: they belong to work that was already
//      accepted. If the pool is broken the continuation fails at once; if it is stopping (its
//      workers are leaving) the submitter cancels the stragglers itself (D3).
//
// Memory orders: the queues' own. The entrance's operations are seq_cst: the submitter's
// fetch_add then load of the flag against the closer's store of the flag then B0's loads of
// the shards is a store-load pair on two locations (Dekker), which acquire/release cannot
// order; so is the leaver's fetch_sub, then its loads of the flag and of idle_waiters_,
// against the idle waiter's increment of idle_waiters_, then its B0 loads. The phase loads
// are acquire (broken_error_ is visible after them); the broken check after an outside push
// and the stopping check after a continuation's push are seq_cst, Dekker pairs of the seq_cst
// push against the breaker's or the joiner's seq_cst transition and the drain after it (D2,
// L3).

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

// Q0's reserve for this thread's outside submissions, and whether an admission holds it (a
// submission made from inside another's constructors takes a reserve of its own).
thread_local injection_queue::block_reserve thread_reserve;
thread_local bool thread_reserve_taken = false;

// This thread's shard of every pool's entrance: threads take shards in turn, so up to
// entrance_shards producers count on lines of their own.
std::atomic<std::size_t> next_entrance_shard{0};
thread_local const std::size_t thread_entrance_shard =
    next_entrance_shard.fetch_add(1, std::memory_order_relaxed);  // a ticket: no order needed

injection_queue::block_reserve* take_reserve() {
  if (!thread_reserve_taken) {
    thread_reserve_taken = true;
    return &thread_reserve;
  }
  return new injection_queue::block_reserve;  // nested: may throw, nothing taken
}

void give_back(injection_queue::block_reserve* r) noexcept {
  if (r == &thread_reserve) {
    thread_reserve_taken = false;
  } else {
    delete r;  // frees its block if the push did not take it
  }
}

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

injection_queue::block_reserve* pool_core::enter_outside(const char* function) {
  if (is_broken()) [[unlikely]] {
    refuse(function);
  }
  // A2: seq_cst, see the memory orders above.
  entrance_[thread_entrance_shard % entrance_shards].inside.fetch_add(1, std::memory_order_seq_cst);
  if (entrance_closed_.load(std::memory_order_seq_cst)) {
    leave_outside(nullptr);
    refuse(function);
  }
  injection_queue::block_reserve* r = nullptr;
  try {
    r = take_reserve();
    injection_.reserve(*r);  // Q0: usually a no-op; may throw bad_alloc
  } catch (...) {
    leave_outside(r);
    throw;
  }
  return r;
}

void pool_core::push_outside(task& t, injection_queue::block_reserve* reserve) noexcept {
  // Cannot fail: admitted (bypass the queue's closed bit), and `reserve` holds a block (Q0).
  static_cast<void>(injection_.push(t, true, reserve));
  sleep_.notify_one();  // W2 after the seq_cst publication (W1) of the push
  leave_outside(reserve);
  // A2: a pool that broke since the admission may have drained past the position already.
  // seq_cst: the load after our push against the break's seq_cst raise before its drain.
  if (phase(std::memory_order_seq_cst) == pool_phase::broken) [[unlikely]] {
    cancel_stragglers();
  }
}

void pool_core::close_entrance() noexcept {
  entrance_closed_.store(true, std::memory_order_seq_cst);  // A2: refuse from here on
}

bool pool_core::submitters_inside() const noexcept {
  // B0, after the closed flag was seen: seq_cst loads, the closer's side of the Dekker pair.
  for (const entrance_shard& shard : entrance_) {
    if (shard.inside.load(std::memory_order_seq_cst) != 0) {
      return true;
    }
  }
  return false;
}

void pool_core::leave_outside(injection_queue::block_reserve* reserve) noexcept {
  if (reserve != nullptr) {
    give_back(reserve);
  }
  // seq_cst: the notifier's side of the idle waiter's Dekker pair (see the memory orders).
  entrance_[thread_entrance_shard % entrance_shards].inside.fetch_sub(1, std::memory_order_seq_cst);
  if (entrance_closed_.load(std::memory_order_seq_cst)) {
    notify_idle_waiters();  // a joiner may be waiting for the submitters inside (B0)
  }
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

admission::admission(pool_core* core, const char* function, bool build_first) : core_(core) {
  local_ = core->admit_local(function);
  if (local_ == nullptr) {
    if (build_first) {
      reserve_ = core->enter_outside(function);  // A2, entrance route
    } else {
      slot_ = core->admit_outside(function);  // A2, claim route
    }
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
  if (slot_) {
    core_->fill(std::exchange(slot_, {}), t);
  } else {
    core_->push_outside(t, std::exchange(reserve_, nullptr));
  }
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
  if (slot_) {
    core_->fill(std::exchange(slot_, {}), t);
  } else {
    core_->push_outside(t, std::exchange(reserve_, nullptr));
  }
}

void admission::abandon() noexcept {
  // A2: the task could not be built.
  if (slot_) {
    task tombstone;  // the claimed position is filled with nothing, and pop skips it
    core_->fill(std::exchange(slot_, {}), tombstone);
  } else {
    core_->leave_outside(std::exchange(reserve_, nullptr));
  }
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
