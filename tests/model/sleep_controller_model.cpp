// sleep_controller_model.cpp: Relacy model checks of detail::basic_sleep_controller.
//
// The controller is instantiated with weft_model::relacy_sync (relacy_policy.hpp): the same
// template the pool uses, with Relacy's atomics and mutex, and a model of the futex contract in
// which a parked thread that nobody unparks stays blocked. A lost wake-up therefore ends the
// execution with Relacy's "deadlock detected": every model below runs its workers until their
// work is done (or the stop flag is seen), so "no deadlock in any explored execution" is the
// statement "no worker stays parked while there is work for it".
//
// The worker side is model_pool::worker_loop, a transcription of pool_core::worker_loop and
// pool_core::search_then_park (src/worker.cpp) with the queues replaced by one counter of
// published units (`work`): publishing is a seq_cst RMW on it (step W1, as a deque push or an
// injection-queue CAS), the re-check (S3) a seq_cst load of it, taking a unit a seq_cst CAS. The
// bounded search of step S1 makes one round (its length changes timing, not the protocol).
//
// S3 in the pool includes a rule the first version lacked (see model (d)): a worker that
// withdraws its announcement because it saw work calls try_begin_search again, so that taking
// that work runs the chain wake.
//
// Negative controls. Each protocol rule the models rely on is also run with the rule removed
// (protocol_rules below), and Relacy must then report a deadlock; this proves that the models
// can see the bug they guard against. When the controller itself was mutated in a scratch copy
// of its header, these models (with the searches below) failed as follows:
//   - announce(): sleepers_ += 1 relaxed instead of seq_cst: (a) and (d) deadlock (the
//     publisher's load of sleepers_ misses the announcement while the re-check misses the work);
//   - notify_one(): its loads of searching_ and sleepers_ relaxed: (a), (c) and (d) deadlock;
//   - end_search(): relaxed instead of seq_cst: (a), (c) and (d) deadlock;
//   - cancel_announce() without its sleepers_ -= 1: every model's accounting check fails;
//   - wake_some() without searching_ += 1 on the woken worker's behalf: every model's
//     accounting check fails (searching_ underflows);
//   - wake_all() waking a single worker: "(b) stop vs park, 2 workers" deadlocks.
//
// Searches (about a minute in all at -O2): "(b) stop vs park, 1 worker" exhaustively (3.3 million
// executions); "(a) publish vs park" with the context-bound scheduler at bound 6 (every execution
// with at most 6 preemptions, 1.05 million; the exhaustive search, 106 million executions in
// 5 minutes, also passed); the 3-thread models at bound 3 ((b) with 2 workers, (d)) or 2 ((c)); the
// negative controls at bound 2 (they stop at the first deadlock). Each run prints its search,
// the executions explored and the time. WEFT_MODEL_SEARCH=full|bound:<n>|random:<n> replaces
// every search (soak runs); a first argument runs only the models whose name contains it.
//
// Exit status: 0 if every model gave its expected result, 1 otherwise.

#include <cstddef>
#include <cstdint>
#include <iostream>
#include <memory>

#include <weft/detail/sleep_controller.hpp>

// Last: Relacy's macros would rewrite system headers included after it.
#include "relacy_policy.hpp"

namespace {

using controller = weft::detail::basic_sleep_controller<weft_model::relacy_sync>;
template <class T>
using atomic = weft_model::model_atomic<T>;

// Which protocol rules the worker follows; a negative control turns one off.
struct protocol_rules {
  bool recheck = true;     // S3: re-check the work and the stop flag after announce()
  bool chain_wake = true;  // S1: the last searcher that found work wakes one more if more is seen
  bool rejoin_search = true;  // S3: a worker that withdrew because it saw work searches again
};

// A reusable barrier for the units of the chain-wake model: a unit that arrives blocks until
// `parties` units have arrived. Blocking (not spinning) so that a missing worker shows up as a
// deadlock.
class rendezvous {
 public:
  void arrive_and_wait(int parties) {
    m_.lock($);
    arrived_ += 1;  // guarded by m_
    if (arrived_ == parties) {
      cv_.notify_all($);
    }
    while (arrived_ < parties) {
      cv_.wait(m_, $);
    }
    m_.unlock($);
  }

 private:
  rl::mutex m_;
  rl::condition_variable cv_;
  int arrived_ = 0;
};

// The pool's side of the protocol around a controller for `Workers` workers.
template <std::size_t Workers>
struct model_pool {
  weft_model::model_parking_lot lot;
  weft_model::parking_scope scope{lot};
  // Heap-allocated: Relacy places the suite in malloc'ed memory, which is not aligned for the
  // controller's cache-line-aligned members.
  std::unique_ptr<controller> sleep = std::make_unique<controller>(Workers);
  atomic<int> work{0};       // published units not yet taken
  atomic<int> ran{0};        // units run so far
  atomic<bool> stop{false};  // the pool's phase at stopping or later
  protocol_rules rules;

  // Step W1 + W2: publish one unit, then notify.
  void publish() {
    work.fetch_add(1, std::memory_order_seq_cst);  // W1: the seq_cst publication
    sleep->notify_one();                           // W2
  }

  // Step X1: the pool's stop request.
  void request_stop() {
    stop.store(true, std::memory_order_seq_cst);  // paired with the re-check in S3
    sleep->wake_all();
  }

  bool work_visible() { return work.load(std::memory_order_seq_cst) > 0; }

  bool take() {
    int n = work.load(std::memory_order_seq_cst);
    while (n > 0) {
      if (work.compare_exchange_weak(n, n - 1, std::memory_order_seq_cst,
                                     std::memory_order_seq_cst)) {
        return true;
      }
    }
    return false;
  }

  // pool_core::worker_loop. `run_unit` runs a taken unit and returns true if the worker should
  // exit afterwards. Returns when the worker exits.
  template <class RunUnit>
  void worker_loop(std::size_t me, RunUnit run_unit) {
    bool searching = false;  // counted in sleep->searching() (S1, S4)
    for (;;) {
      while (take()) {
        if (searching) {
          searching = false;
          // S1 chain wake: the last searcher that found work wakes one more if more is visible.
          if (sleep->end_search() && rules.chain_wake && work_visible()) {
            sleep->notify_one();
          }
        }
        if (run_unit()) {
          return;
        }
      }
      if (!search_then_park(me, searching)) {
        return;  // stopping
      }
    }
  }

  // pool_core::search_then_park, with one search round.
  bool search_then_park(std::size_t me, bool& searching) {
    if (!searching) {
      searching = sleep->try_begin_search();
    }
    if (searching) {
      if (work_visible()) {
        return true;  // keep counting as a searcher; the caller takes the work
      }
      searching = false;
      sleep->end_search();
    }
    sleep->announce(me);  // S2
    // S3: seq_cst re-check of the work and of the stop flag.
    const bool stopping = rules.recheck && stop.load(std::memory_order_seq_cst);
    if (stopping || (rules.recheck && work_visible())) {
      if (!sleep->cancel_announce(me)) {
        searching = true;  // a waker took us: we count as a searcher (S4)
      } else if (!stopping && rules.rejoin_search) {
        // Work seen after this worker's end_search: a publisher may have skipped its wake-up
        // because this worker was searching, so it searches again and its taking the work runs
        // the chain wake (if the limit is reached, another searcher is responsible, as for a
        // publisher that sees searching_ > 0).
        searching = sleep->try_begin_search();
      }
      if (stopping) {
        if (searching) {
          searching = false;
          sleep->end_search();
        }
        return false;
      }
      return true;
    }
    sleep->park(me);  // S4: woken as a searcher
    searching = true;
    if (stop.load(std::memory_order_acquire)) {
      searching = false;
      sleep->end_search();
      return false;
    }
    return true;
  }

  // I1 and I2 at rest: nobody announced, nobody searching.
  void check_accounting() {
    RL_ASSERT(sleep->sleepers() == 0);
    RL_ASSERT(sleep->searching() == 0);
  }
};

// ---- (a) publish vs park ------------------------------------------------------------------

// Invariant: a worker running the park protocol (search, announce, re-check, park or cancel)
// while a publisher publishes one unit (seq_cst) and calls notify_one never stays parked while
// the unit is visible: it always runs the unit, and the accounting ends at zero.
template <bool Recheck>
struct publish_vs_park
    : rl::test_suite<publish_vs_park<Recheck>, 2,
                     Recheck ? rl::test_result_success : rl::test_result_deadlock>,
      model_pool<1> {
  publish_vs_park() { rules.recheck = Recheck; }

  void thread(unsigned index) {
    if (index == 0) {
      worker_loop(0, [this] {
        ran.fetch_add(1, std::memory_order_relaxed);
        return true;  // one unit, then exit
      });
    } else {
      publish();
    }
  }

  void after() {
    RL_ASSERT(ran.load(std::memory_order_relaxed) == 1);
    RL_ASSERT(work.load(std::memory_order_relaxed) == 0);
    check_accounting();
  }
};

// ---- (b) stop vs park ---------------------------------------------------------------------

// Invariant: every worker (1 or 2) running the park protocol exits when a stopper stores the
// stop flag (seq_cst) and calls wake_all, whatever the interleaving; the accounting ends at 0.
template <std::size_t Workers, bool Recheck>
struct stop_vs_park : rl::test_suite<stop_vs_park<Workers, Recheck>, Workers + 1,
                                     Recheck ? rl::test_result_success : rl::test_result_deadlock>,
                      model_pool<Workers> {
  stop_vs_park() { this->rules.recheck = Recheck; }

  void thread(unsigned index) {
    if (index < Workers) {
      this->worker_loop(index, [] { return false; });  // no work is ever published
    } else {
      this->request_stop();
    }
  }

  void after() { this->check_accounting(); }
};

// ---- (c) two workers, two publishes -------------------------------------------------------

// Invariant: when one publisher publishes two units (each followed by notify_one) to two workers
// running the park protocol, both units run exactly once: no unit is left with every worker
// parked (the workers exit only through the stop the last unit requests), and the accounting
// ends at zero.
struct two_workers_two_publishes : rl::test_suite<two_workers_two_publishes, 3>, model_pool<2> {
  void thread(unsigned index) {
    if (index < 2) {
      worker_loop(index, [this] {
        if (ran.fetch_add(1, std::memory_order_seq_cst) + 1 == 2) {
          request_stop();  // all work done: the pool shuts down
        }
        return false;
      });
    } else {
      publish();
      publish();
    }
  }

  void after() {
    RL_ASSERT(ran.load(std::memory_order_relaxed) == 2);
    RL_ASSERT(work.load(std::memory_order_relaxed) == 0);
    check_accounting();
  }
};

// ---- (d) the chain-wake rule --------------------------------------------------------------

// Invariant: when two units that can only finish together (each waits until both have started)
// are published to two workers, both workers end up running them: visible work never waits next
// to a parked worker while the other worker is busy. The second notify_one may be skipped
// because a worker counts as a searcher; the chain-wake rule (the last searcher that found work
// wakes one more if more work is visible) must then wake the second worker. Two negative
// controls must deadlock: without the chain wake, and without the re-join of the search after
// an S3 withdrawal. The second one is how the pool was written when this model was first run:
// worker 1 searched, both publishes saw searching_ == 1 and skipped their wake-ups, worker 1
// ended its search, announced, saw the work in S3, withdrew as a non-searcher and so took unit 1
// without a chain wake, leaving unit 2 next to parked worker 0 (Relacy found it at bound 2).
template <bool ChainWake, bool RejoinSearch>
struct chain_wake : rl::test_suite<chain_wake<ChainWake, RejoinSearch>, 3,
                                   ChainWake && RejoinSearch ? rl::test_result_success
                                                             : rl::test_result_deadlock>,
                    model_pool<2> {
  rendezvous both_started;

  chain_wake() {
    rules.chain_wake = ChainWake;
    rules.rejoin_search = RejoinSearch;
  }

  void thread(unsigned index) {
    if (index < 2) {
      worker_loop(index, [this] {
        ran.fetch_add(1, std::memory_order_relaxed);
        both_started.arrive_and_wait(2);
        return true;  // each worker runs one unit, then exits
      });
    } else {
      publish();
      publish();
    }
  }

  void after() {
    RL_ASSERT(ran.load(std::memory_order_relaxed) == 2);
    check_accounting();
  }
};

using weft_model::context_bound;
using weft_model::exhaustive;
using weft_model::negative;

}  // namespace

int main(int argc, char** argv) {
  using weft_model::run;
  weft_model::select_models(argc, argv);
  bool ok = true;
  ok &= run<publish_vs_park<true>>("(a) publish vs park",
                                   "the worker never stays parked while the unit is visible",
                                   context_bound(6));
  ok &= run<stop_vs_park<1, true>>("(b) stop vs park, 1 worker",
                                   "the worker exits after stop + wake_all", exhaustive());
  ok &= run<stop_vs_park<2, true>>("(b) stop vs park, 2 workers",
                                   "both workers exit after stop + wake_all", context_bound(3));
  ok &= run<two_workers_two_publishes>("(c) two workers, two publishes",
                                       "both units run exactly once; accounting ends at zero",
                                       context_bound(2));
  ok &= run<chain_wake<true, true>>(
      "(d) chain wake", "two units that need two workers both get one", context_bound(3));
  ok &= run<publish_vs_park<false>>("negative control: (a) without the S3 re-check",
                                    "must deadlock (lost wake-up)", negative(context_bound(2)));
  ok &= run<stop_vs_park<1, false>>("negative control: (b) without the S3 re-check",
                                    "must deadlock (lost stop)", negative(context_bound(2)));
  ok &= run<chain_wake<false, true>>("negative control: (d) without the chain wake",
                                     "must deadlock (second unit without a worker)",
                                     negative(context_bound(2)));
  ok &= run<chain_wake<true, false>>(
      "negative control: (d) without re-joining the search after an S3 withdrawal",
      "must deadlock (the second unit's wake-up was absorbed)", negative(context_bound(2)));
  return weft_model::finish(ok, "sleep-controller");
}
