// drain: taking queued work out of the pool without running it — cancel_pending(), the broken
// pool, and stragglers after the workers left.
//
// Roles. Any outside thread (cancel_pending), a worker whose on_thread_start threw (breaks the
// pool), every worker of a broken pool (each drains before it exits), the joiner and the
// destructor (stragglers), a visitor whose continuation arrived after the workers left.
//
// Protocol.
//   D1 drain(reason): pop every entry of the injection queue, then steal every entry of every
//      deque (a steal is safe from any thread); cancel each (reason null) or fail it with
//      `reason`. Stale entries count as dropped (I3); live ones are returned, for the caller
//      to count as cancelled or failed (I2). Cancelling runs the futures' callbacks here, with
//      no lock held (I4).
//   D2 break: record the broken_pool error once (under life_mutex_), raise the phase to
//      broken (seq_cst: the workers' S3 re-check), close the injection queue, drain with the
//      error, wake every worker. Each worker then drains once more and exits, and a task
//      taken as the pool broke fails instead of running (worker.cpp). All of these count in
//      failed: the futures fail with broken_pool. Every such drain notifies the idle waiters
//      (drain_broken), as cancel_pending and the stragglers' drain do.
//   D3 stragglers: a continuation that a visitor queued after the workers exited is drained
//      by the visitor itself (admission.cpp) or by the joiner or the destructor after it,
//      so it never stays pending.
//
// Invariants. D-I1 A drained entry is consumed exactly once (the queues' pops and steals are
// exclusive). D-I2 broken_error_ is written once, before the phase becomes broken, and never
// changes; readers load the phase with acquire first.

#include "message.hpp"
#include "pool_core.hpp"
#include <weft/error.hpp>

namespace weft {
inline namespace v1 {
namespace detail {

std::size_t pool_core::drain(const std::exception_ptr& reason) noexcept {
  std::size_t stopped = 0;
  std::uint64_t stale = 0;
  task t;
  while (injection_.pop(t) == injection_queue::pop_status::taken) {  // D1
    if (t.cancel(reason)) {
      ++stopped;
    } else {
      ++stale;
    }
  }
  for (auto& w : workers_) {
    task_node* node = nullptr;
    for (;;) {
      const steal_status status = w->deque.steal(node);
      if (status == steal_status::empty) {
        break;
      }
      if (status == steal_status::taken) {
        if (node->cancel_and_release(reason)) {
          ++stopped;
        } else {
          ++stale;
        }
      }
    }
  }
  stale_dropped_ext_.fetch_add(stale, std::memory_order_relaxed);  // a statistic
  return stopped;
}

void pool_core::fail_broken(std::size_t n) noexcept {
  unrun_failed_.fetch_add(n, std::memory_order_relaxed);  // a statistic (I2: failed)
}

std::size_t pool_core::cancel_pending() {
  const std::size_t n = drain(nullptr);  // D6: queued tasks only; running ones are untouched
  cancelled_.fetch_add(n, std::memory_order_relaxed);  // a statistic
  notify_idle_waiters();  // the queues may have been all that kept a waiter waiting
  return n;
}

void pool_core::transition_to_broken(const std::exception_ptr& cause) noexcept {
  // The message is built with no lock held: describe() calls the exception's what(), user
  // code (I4).
  std::exception_ptr error;
  try {
    throw broken_pool(
        cat({"weft::thread_pool: on_thread_start of pool '", name_, "' threw (", describe(cause),
             "); the pool runs no task: fix the hook and create a new pool"}));
  } catch (...) {
    error = std::current_exception();  // a std::bad_alloc if the message could not be built
  }
  {
    const unique_lock lock(life_mutex_);
    if (broken_error_) {
      return;  // D2 happens once
    }
    broken_error_ = std::move(error);  // D-I2
  }
  static_cast<void>(transition_to(pool_phase::broken));  // pairs with the S3 re-check
  close_entrance();                                      // A2: refuse from here on
  injection_.close();
  drain_broken();
  sleep_.wake_all();
}

void pool_core::drain_broken() noexcept {
  fail_broken(drain(broken_error_));
  // A waiter (join's idle wait) that saw the drained tasks queued learns that they are gone:
  // the workers that drain last may never go busy again to tell it.
  notify_idle_waiters();
}

std::exception_ptr pool_core::broken_reason() const noexcept {
  // Under the lock: a hook may break the pool while a visitor cancels stragglers (D-I2).
  const unique_lock lock(life_mutex_);
  return broken_error_;
}

void pool_core::cancel_stragglers() noexcept {
  // D3: a broken pool fails them like the rest of its work; otherwise they are cancelled.
  // A waiter that saw one queued learns that the pool is idle again.
  if (const std::exception_ptr reason = broken_reason()) {
    fail_broken(drain(reason));
  } else {
    cancelled_.fetch_add(drain(nullptr), std::memory_order_relaxed);  // a statistic
  }
  notify_idle_waiters();
}

}  // namespace detail
}  // namespace v1
}  // namespace weft
