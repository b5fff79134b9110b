// stop_epoch: pool.request_stop(), the tokens of later submissions, and the running tasks that
// a request reaches.
//
// Protocol.
//   E1 A stop-aware submission takes the token of the current epoch's source (under
//      stop_mutex_).
//   E2 A submitted stop-aware task, when it starts on a worker, lists itself under the lock
//      if its token is still the current epoch's; otherwise the epoch ended before the start,
//      and the task requests its own stop before its callable runs. It unlists itself (under
//      the lock) when the callable returns.
//   E3 request_stop, under the lock: swaps in a fresh source, and takes every listed task
//      (unlinking it and adding a reference, so the state outlives the request). With no lock
//      held: requests the old source (the std::stop_callbacks of post()ed tasks, on that
//      token, run here), then each taken task's own stop (its stop callbacks run here), and
//      drops the references. Stop callbacks are user code: they may submit (their
//      submissions take the new epoch's token), request a stop again, or wait for other work
//      of the pool (I4).
//
// Invariants.
//   I1 Every task submitted before request_stop() returned holds a token of an epoch that was
//      requested; every task submitted after holds the fresh one.
//   I2 A stop-aware task that runs gets its stop requested iff its epoch ended: the lock
//      orders its E2 listing against E3's swap, so it is either listed (and E3 takes it) or
//      sees that its epoch ended.
//   I3 No worker waits for a stop callback: a task's end only unlists it, and the thread
//      that runs the callbacks holds a reference, not the worker.
//
// Memory orders: none of their own; the mutex orders everything here.

#include "pool_core.hpp"
#include "pool_link.hpp"

namespace weft {
inline namespace v1 {
namespace detail {

std::stop_token pool_core::stop_token() {
  const unique_lock lock(stop_mutex_);  // E1
  return stop_source_.get_token();
}

bool pool_core::stop_register(const std::stop_token& epoch, stop_registration& entry) noexcept {
  const unique_lock lock(stop_mutex_);  // E2
  if (epoch != stop_source_.get_token()) {
    return false;  // the epoch ended before the start
  }
  entry.prev = nullptr;
  entry.next = running_stoppable_;
  if (running_stoppable_ != nullptr) {
    running_stoppable_->prev = &entry;
  }
  running_stoppable_ = &entry;
  entry.linked = true;
  return true;
}

void pool_core::stop_unregister(stop_registration& entry) noexcept {
  const unique_lock lock(stop_mutex_);  // E2
  if (!entry.linked) {
    return;  // taken by a request_stop (E3)
  }
  unlink_stoppable(entry);
}

void pool_core::unlink_stoppable(stop_registration& entry) noexcept {
  if (entry.prev != nullptr) {
    entry.prev->next = entry.next;
  } else {
    running_stoppable_ = entry.next;
  }
  if (entry.next != nullptr) {
    entry.next->prev = entry.prev;
  }
  entry.prev = nullptr;
  entry.next = nullptr;
  entry.linked = false;
}

void pool_core::request_stop() {
  std::stop_source requested;          // may throw std::bad_alloc before anything changed
  stop_registration* taken = nullptr;  // chained through taken_next, owned by this call
  {
    const unique_lock lock(stop_mutex_);
    std::swap(requested, stop_source_);  // E3
    while (running_stoppable_ != nullptr) {
      stop_registration& e = *running_stoppable_;
      e.state->add_ref();  // the runner holds its entry's reference while listed
      unlink_stoppable(e);
      e.taken_next = taken;
      taken = &e;
    }
  }
  // With no lock held: the stop callbacks are user code.
  requested.request_stop();
  while (taken != nullptr) {
    state_base* s = taken->state;
    taken = taken->taken_next;  // read before the release: the entry lives in the state
    s->request_stop();
    s->release();
  }
}

std::stop_token core_stop_token(pool_core* pool) {
  return pool->stop_token();
}

bool core_stop_register(const pool_ref& ref, const std::stop_token& epoch,
                        stop_registration& entry) noexcept {
  if (pool_core* own = own_worker_pool(ref)) {
    return own->stop_register(epoch, entry);
  }
  // Not on a worker of the pool (never the case for a submitted task): only the epoch's own
  // request can reach the task.
  return !epoch.stop_requested();
}

void core_stop_unregister(const pool_ref& ref, stop_registration& entry) noexcept {
  if (pool_core* own = own_worker_pool(ref)) {
    own->stop_unregister(entry);  // a no-op if never listed or taken by request_stop
  }
}

}  // namespace detail
}  // namespace v1
}  // namespace weft
