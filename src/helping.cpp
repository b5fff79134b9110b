// helping: a wait on a worker (future::get, wait_for, ...) that runs other tasks meanwhile.
//
// Roles. A worker of this pool in its task loop, or in one of its hooks.
//
// Protocol.
//   H1 help_until: while the awaited state is not done: run the completions this thread
//      deferred (F6': one may queue what we wait for); if the deadline has passed, stop (a
//      zero or negative timeout polls and runs nothing, and a timed wait starts no task after
//      its deadline); if the state is pending with a queue entry, run it here (from the bottom
//      of our deque if it is there, else by claiming it); else run any task we can take; else
//      block on the state for a short, growing interval and look again.
//   H2 A hook is not busy (B1) when it waits: it becomes busy for the wait, so that the tasks
//      it runs are taken by a busy worker (I1), and idle again after.
//
// Invariants. H-I1 The overshoot of a timed wait is at most the one task that was running
// when the deadline passed.

#include <algorithm>
#include <chrono>

#include "pool_core.hpp"
#include <weft/detail/backoff.hpp>

namespace weft {
inline namespace v1 {
namespace detail {

bool pool_core::help_until(state_base& s, steady_time deadline) {
  worker& me = *current_worker().self;
  const bool was_busy = me.busy;
  go_busy(me);  // H2 (no-op in the task loop)
  struct idle_again {
    pool_core& pool;
    worker& me;
    bool was_busy;
    ~idle_again() {
      if (!was_busy) {
        pool.go_idle(me);
      }
    }
  } restore{*this, me, was_busy};
  const bool timed = deadline != steady_time::max();
  backoff bo;
  auto poll = std::chrono::microseconds(help_poll_min_us);
  while (!s.done()) {
    run_deferred_completions();  // F6'
    if (s.done()) {
      break;
    }
    if (timed && std::chrono::steady_clock::now() >= deadline) {
      return false;  // H-I1: no task starts after the deadline
    }
    // A pending state without a queue entry is a then() continuation waiting for its source:
    // it is not ours to run yet.
    if (s.state() == future_state::pending && s.queued()) {
      task_node* bottom = me.deque.pop();
      if (bottom == &s) {  // fork-join: the child we wait for is our newest task
        task t(bottom);
        run_task(me, t);
        continue;
      }
      if (bottom != nullptr) {
        me.deque.push(bottom);  // put it back (its slot is free: no growth); claim directly
      }
      me.running.add();
      const run_outcome outcome = s.run_here();
      me.running.sub();
      if (outcome != run_outcome::skipped) {
        count_outcome(me, outcome, s.queued());
      }
      continue;
    }
    task t;
    if (take_work(me, t)) {
      run_task(me, t);
      poll = std::chrono::microseconds(help_poll_min_us);
      continue;
    }
    if (!bo.is_completed()) {
      bo.pause();
      continue;
    }
    const steady_time until = std::min(deadline, std::chrono::steady_clock::now() + poll);
    static_cast<void>(s.block_until(until));
    poll = std::min(poll * 2, std::chrono::microseconds(help_poll_max_us));
  }
  return true;
}

}  // namespace detail
}  // namespace v1
}  // namespace weft
