// idle_and_join: busy/idle accounting, wait(), and the lifecycle (shutdown, join, destruction).
// The lifecycle's transitions are drawn in docs/design/shutdown.md.
//
// Roles. Workers (go_busy, go_idle). Waiters: any outside thread (wait_until, join_until).
// Closer: any thread (shutdown). The destructor (retire).
//
// Shared state. busy_ (pool_core.hpp); idle_waiters_: the number of threads in wait_until,
// so that a worker going idle pays for a notification only when someone listens; phase_.
//
// Protocol.
//   B1 A worker becomes busy (busy_ += 1 + epoch) before it takes a task from any queue, and
//      idle (busy_ -= 1) only after it found no task anywhere. A worker that goes idle with
//      busy_ reaching 0 wakes the idle waiters if there are any.
//   B2 is_idle: read busy_ (count 0), check every queue is empty, read busy_ again
//      (unchanged). Then no worker was busy in between, so no task left a queue (I1), so at
//      the moment of the queue check nothing was queued or running.
//   L1 shutdown: phase open → draining, then close the injection queue (outside submissions
//      are refused from then on; worker submissions still go to their deques).
//   L2 join: shutdown, wait until idle (B2); closed and idle stays idle (nothing outside can
//      submit, and no task runs to submit more). Then phase → stopping, wake every parked
//      worker, wait for all workers to exit.
//   L3 The first joiner joins the threads, holding no lock (cancelling runs callbacks), then
//      cancels stragglers (a continuation a visitor queued as the workers left: never left
//      pending) and sets phase → joined; later joiners wait for that.
//   L4 The destructor: join, then retire the link (K3: wait for visitors), then cancel what
//      a visitor may still have queued. From then on every state of this pool is done.
//
// Memory orders. busy_ and idle_waiters_ RMWs and loads are seq_cst: B1's "busy, then take"
// against B2's "read busy_, read queues, read busy_" is a store-load pattern on two locations,
// and the idle notification is a Dekker pair (worker: busy_ -= 1, then load idle_waiters_;
// waiter: idle_waiters_ += 1, then B2). The phase transitions are seq_cst RMWs: stopping and
// broken pair with the workers' S3 re-check (a seq_cst load after announcing).

#include <string>
#include <thread>

#include "message.hpp"
#include "pool_core.hpp"
#include "pool_link.hpp"
#include <weft/error.hpp>

namespace weft {
inline namespace v1 {
namespace detail {
namespace {

constexpr std::uint64_t epoch_one = std::uint64_t{1} << 32;
constexpr std::uint64_t count_mask = epoch_one - 1;

}  // namespace

pool_phase pool_core::transition_to(pool_phase to) noexcept {
  pool_phase now = phase_.load(std::memory_order_relaxed);  // re-validated by the CAS
  // seq_cst: see the memory orders above. A failed CAS reloads and re-checks the order.
  // A broken pool stays broken until joined: its workers exit through D2 without the stopping
  // phase, and is_broken() must stay true for the tasks and continuations that still arrive.
  while (now < to && !(now == pool_phase::broken && to == pool_phase::stopping) &&
         !phase_.compare_exchange_weak(now, to, std::memory_order_seq_cst,
                                       std::memory_order_relaxed)) {
  }
  return now;
}

void pool_core::go_busy(worker& me) noexcept {
  if (!me.busy) {
    me.busy = true;
    busy_.fetch_add(1 + epoch_one, std::memory_order_seq_cst);  // B1 (see memory orders)
  }
}

void pool_core::go_idle(worker& me) noexcept {
  if (me.busy) {
    me.busy = false;
    const std::uint64_t before = busy_.fetch_sub(1, std::memory_order_seq_cst);  // B1
    if ((before & count_mask) == 1) {
      notify_idle_waiters();
    }
  }
}

bool pool_core::is_idle() const noexcept {
  // B0: a closed entrance with submitters in flight (A2) is not idle: their tasks are
  // accepted. Read first, so that their pushes come before read₁.
  // seq_cst: the closed flag, then the shards (admission.cpp's memory orders).
  if (entrance_closed_.load(std::memory_order_seq_cst) && submitters_inside()) {
    return false;
  }
  // B2.
  const std::uint64_t before = busy_.load(std::memory_order_seq_cst);
  if ((before & count_mask) != 0 || work_visible()) {
    return false;
  }
  return busy_.load(std::memory_order_seq_cst) == before;
}

void pool_core::notify_idle_waiters() noexcept {
  if (idle_waiters_.load(std::memory_order_seq_cst) != 0) {  // Dekker pair with wait_until()
    const unique_lock lock(idle_mutex_);
    idle_cv_.notify_all();
  }
}

std::size_t pool_core::busy_workers() const noexcept {
  return static_cast<std::size_t>(busy_.load(std::memory_order_relaxed) & count_mask);
}

bool pool_core::wait_until(steady_time deadline, const char* function) {
  if (on_own_worker()) {
    throw usage_error(cat({function, ": called from worker ",
                           std::to_string(current_worker().self->index), " of pool '", name_,
                           "', it could never return (the calling task itself keeps the pool "
                           "busy); wait on the futures of the tasks instead"}));
  }
  run_deferred_completions();  // a callback that waits may hold back continuations (F6')
  unique_lock lock(idle_mutex_);
  idle_waiters_.fetch_add(1, std::memory_order_seq_cst);  // Dekker pair with go_idle()
  bool idle = is_idle();
  while (!idle) {
    if (deadline == steady_time::max()) {
      idle_cv_.wait(lock.native());
    } else if (idle_cv_.wait_until(lock.native(), deadline) == std::cv_status::timeout) {
      idle = is_idle();
      break;
    }
    idle = is_idle();
  }
  idle_waiters_.fetch_sub(1, std::memory_order_seq_cst);
  return idle;
}

void pool_core::shutdown() noexcept {
  static_cast<void>(transition_to(pool_phase::draining));  // L1
  close_entrance();                                        // A2: refuse from here on
  injection_.close();
}

bool pool_core::wait_for_exits(steady_time deadline) {
  unique_lock lock(life_mutex_);
  while (exited_ < started_threads_) {
    if (deadline == steady_time::max()) {
      life_cv_.wait(lock.native());
    } else if (life_cv_.wait_until(lock.native(), deadline) == std::cv_status::timeout &&
               exited_ < started_threads_) {
      return false;
    }
  }
  if (!joining_) {
    // L3: the first joiner joins the threads and cancels stragglers, holding no lock of ours.
    joining_ = true;
    final_joiner_ = std::this_thread::get_id();
    lock.native().unlock();
    for (auto& w : workers_) {
      if (w->thread.joinable()) {
        w->thread.join();
      }
    }
    cancel_stragglers();
    static_cast<void>(transition_to(pool_phase::joined));
    lock.native().lock();
    joined_ = true;
    life_cv_.notify_all();
    return true;
  }
  if (final_joiner_ == std::this_thread::get_id()) {
    // A straggler's callback, run by the first joiner inside L3, joins again: every worker
    // has exited and been joined, and its own outer call finishes the rest (waiting for
    // joined_ here would wait for itself).
    return true;
  }
  while (!joined_) {
    if (deadline == steady_time::max()) {
      life_cv_.wait(lock.native());
    } else if (life_cv_.wait_until(lock.native(), deadline) == std::cv_status::timeout &&
               !joined_) {
      return false;
    }
  }
  return true;
}

bool pool_core::join_until(steady_time deadline, const char* function) {
  if (on_own_worker()) {
    throw usage_error(cat({function, ": called from worker ",
                           std::to_string(current_worker().self->index), " of pool '", name_,
                           "', a pool cannot join itself; call it from a thread outside the "
                           "pool"}));
  }
  shutdown();
  if (!wait_until(deadline, function)) {  // L2: closed and idle stays idle
    return false;
  }
  if (transition_to(pool_phase::stopping) < pool_phase::stopping) {
    sleep_.wake_all();  // X1
  }
  return wait_for_exits(deadline);
}

void pool_core::retire() noexcept {
  ref_.link->retire();  // L4, K3: no visitor is inside from here on
  cancel_stragglers();
}

}  // namespace detail
}  // namespace v1
}  // namespace weft
