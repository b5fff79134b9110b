// worker: the task loop of one worker — take, run, steal, search, park.
// The parking protocol (S1-S4, W1-W2) is in include/weft/detail/sleep_controller.hpp and its
// essay docs/design/sleep-and-wake.md; busy/idle (B1) in idle_and_join.cpp.
//
// Roles. Worker i only (its own deque's owner side, thieves' side on the others).
//
// Protocol.
//   T1 go busy (B1), then take: every injection_check_interval tasks the injection queue
//      first (outside submissions never starve), else the own deque (LIFO), else the injection
//      queue, else steal from a random victim (two sweeps while a steal was contended).
//   T2 run the task, count its outcome in this worker's own counters (I2, I3); a
//      fire-and-forget failure goes to on_error. A stale entry (claimed, cancelled or failed
//      elsewhere) is dropped at once: no worker waits for another thread's cancel (I4).
//   T3 nothing found anywhere: go idle (B1), search (S1) and park (S2-S4). A broken pool
//      drains and exits; a stopping pool exits.
//
// Memory orders: the deque's and the injection queue's own (their design notes); the phase is
// loaded acquire per task (it pairs with the transitions' release: broken_error_ is visible)
// and seq_cst in the S3 re-check (the Dekker pair with the stopper's wake_all).

#include <algorithm>

#include "pool_core.hpp"
#include <weft/detail/backoff.hpp>

namespace weft {
inline namespace v1 {
namespace detail {
namespace {

std::uint64_t next_random(std::uint64_t& state) noexcept {
  // xorshift64: victim selection needs speed and spread, not quality.
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

}  // namespace

void pool_core::worker_loop(worker& me) {
  bool searching = false;  // counted in sleep_.searching() (S1, S4)
  for (;;) {
    go_busy(me);  // B1: busy before taking
    task t;
    while (take_work(me, t)) {
      if (searching) {
        searching = false;
        // S1 chain wake: the last searcher that found work wakes one more if more is visible.
        if (sleep_.end_search() && work_visible()) {
          sleep_.notify_one();
        }
      }
      run_task(me, t);
      if (is_broken()) [[unlikely]] {
        break;
      }
    }
    go_idle(me);  // B1: found nothing anywhere
    if (is_broken()) [[unlikely]] {
      if (searching) {
        sleep_.end_search();
      }
      drain_broken();  // D2
      return;
    }
    if (!search_then_park(me, searching)) {
      return;  // stopping
    }
  }
}

bool pool_core::search_then_park(worker& me, bool& searching) {
  if (!searching) {
    searching = sleep_.try_begin_search();
  }
  if (searching) {
    // S1: bounded search with backoff (peeks only; taking happens after go_busy).
    backoff bo;
    for (unsigned round = 0; round < search_rounds_before_park; ++round) {
      if (work_visible()) {
        return true;  // keep counting as a searcher; the caller goes busy and takes it
      }
      if (phase(std::memory_order_acquire) >= pool_phase::stopping) {
        break;
      }
      bo.pause();
    }
    searching = false;
    sleep_.end_search();
  }
  sleep_.announce(me.index);  // S2
  // S3: seq_cst re-check of every queue and of the phase (broken or stopping).
  const pool_phase now = phase(std::memory_order_seq_cst);
  const bool stop = now >= pool_phase::broken;
  if (stop || work_visible()) {
    if (!sleep_.cancel_announce(me.index)) {
      searching = true;  // a waker took us: we count as a searcher (S4)
    } else if (!stop) {
      // S3: work seen after our end_search. A publisher may have skipped its wake-up because
      // we were searching, so search again: taking the work then runs the chain wake (S1).
      // If the searcher limit is reached, another searcher answers for the work, as for a
      // publisher that saw searching_ > 0.
      searching = sleep_.try_begin_search();
    }
    if (now >= pool_phase::stopping) {
      if (searching) {
        searching = false;
        sleep_.end_search();
      }
      return false;
    }
    return true;  // work, or broken: the loop drains and exits
  }
  sleep_.park(me.index);  // S4: woken as a searcher
  searching = true;
  if (phase(std::memory_order_acquire) >= pool_phase::stopping) {
    searching = false;
    sleep_.end_search();
    return false;
  }
  return true;
}

bool pool_core::take_work(worker& me, task& out) {
  // T1. Every injection_check_interval tasks, outside submissions first (no starvation, B12).
  const bool outside_first = ++me.tick >= injection_check_interval;
  if (outside_first) {
    me.tick = 0;
    if (injection_.pop(out) == injection_queue::pop_status::taken) {
      return true;
    }
  }
  if (task_node* node = me.deque.pop()) {
    out = task(node);
    return true;
  }
  if (injection_.pop(out) == injection_queue::pop_status::taken) {
    return true;
  }
  return steal_work(me, out);
}

bool pool_core::steal_work(worker& me, task& out) {
  const std::size_t n = workers_.size();
  if (n <= 1) {
    return false;
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool contended = false;
    const std::size_t start = static_cast<std::size_t>(next_random(me.rng) % n);
    for (std::size_t k = 0; k < n; ++k) {
      worker& victim = *workers_[(start + k) % n];
      if (&victim == &me) {
        continue;
      }
      task_node* node = nullptr;
      const steal_status status = victim.deque.steal(node);
      if (status == steal_status::taken) {
        out = task(node);
        return true;
      }
      contended = contended || status == steal_status::contended;
    }
    if (!contended) {
      return false;
    }
  }
  return false;
}

void pool_core::run_task(worker& me, task& t) noexcept {
  if (is_broken()) [[unlikely]] {
    // Taken as the pool broke: it fails with broken_pool instead of running (A5, I2).
    if (t.cancel(broken_error_)) {
      fail_broken(1);
    } else {
      me.stale_dropped.add();
    }
    return;
  }
  me.running.add();
  std::exception_ptr error;
  const run_outcome outcome = t.run(error);  // T2
  me.running.sub();
  count_outcome(me, outcome, false);
  if (error) {
    report_error(error);  // a fire-and-forget task threw: on_error, exactly once
  }
}

void pool_core::count_outcome(worker& me, run_outcome outcome, bool stale_claim) noexcept {
  switch (outcome) {
    case run_outcome::succeeded:
      me.completed.add();
      break;
    case run_outcome::failed:
      me.failed.add();
      break;
    case run_outcome::skipped:
      me.stale_dropped.add();  // a stale entry left its queue (I3)
      return;
  }
  if (stale_claim) {
    me.stale_created.add();  // its queue entry stays behind, stale (I3)
  }
}

bool pool_core::work_visible() const noexcept {
  // seq_cst loads throughout (the S3 re-check side of the Dekker pairs).
  if (!injection_.looks_empty()) {
    return true;
  }
  return std::any_of(workers_.begin(), workers_.end(),
                     [](const std::unique_ptr<worker>& w) { return !w->deque.empty(); });
}

}  // namespace detail
}  // namespace v1
}  // namespace weft
