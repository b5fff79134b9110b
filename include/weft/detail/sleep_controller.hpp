#pragma once
/*
 * sleep_controller — how idle workers park and how new work wakes exactly as many as needed.
 * Full essay with the proof: docs/design/sleep-and-wake.md.
 *
 * Purpose. An idle worker first searches (spins over the queues for a bounded time), then
 * parks on its own futex word. A thread that publishes work wakes one parked worker, unless a
 * worker is already searching: that one will find the work. A searcher that finds work while it
 * was the last searcher wakes one more worker if more work is visible, so parallelism ramps up
 * one worker per task (no thundering herd) and no work is left without a worker (no lost
 * wake-up). This is the "spinning thread" rule of Go's scheduler and tokio's idle/searching
 * accounting, with Eigen's EventCount idea of announcing before the final re-check.
 *
 * Roles. Publisher: any thread that made work visible (notify_one). Worker: each worker, for its
 * own index (try_begin_search, end_search, announce, cancel_announce, park). Stopper: the pool
 * at shutdown (wake_all).
 *
 * Shared state.
 *   searching_  uint32: workers in the search phase. Written by workers and wakers (RMW).
 *   sleepers_   uint32: workers that announced they will park and were not woken yet.
 *   m_          mutex guarding idle_ (the stack of announced workers) and in_stack_.
 *   slot.word   uint32 per worker: awake (0), parked (1), notified (2).
 *
 * Protocol.
 *   W1 publish: make work visible with a seq_cst store or RMW (deque push, queue CAS).
 *   W2 notify_one: if searching_ > 0, return. If sleepers_ == 0, return. Else, under m_, pop an
 *      announced worker, sleepers_ -= 1, searching_ += 1 (on its behalf), set its word to
 *      notified (still under m_, so it cannot overwrite a later announcement), then, after
 *      releasing m_, wake it.
 *   S1 search: try_begin_search (searching_ += 1 unless at the limit), look for work for a
 *      bounded number of rounds. On success: end_search; if it was the last searcher and more
 *      work is visible, notify_one (chain wake). On failure: end_search, then S2.
 *   S2 announce: under m_, push self on idle_, word = parked, sleepers_ += 1 (seq_cst RMW).
 *   S3 re-check: every queue, with seq_cst loads, and the stop flag.
 *      Work or stop seen: cancel_announce: if still on idle_, remove self and sleepers_ -= 1
 *      (not searching; on work, try_begin_search again, so that taking the work runs S1's
 *      chain wake); else a waker took us (we count as searching).
 *      Nothing seen: park: block on the word until it is no longer `parked`.
 *   S4 woken: the worker counts as a searcher (the waker counted it) and goes to S1's loop.
 *   X1 wake_all: under m_, pop every announced worker as in W2, then wake them all.
 *
 * Invariants.
 *   I1 sleepers_ equals the number of workers on idle_ (both change under m_).
 *   I2 searching_ equals the number of workers in S1 or S4 plus those notified but not yet
 *      running; it never exceeds the worker count.
 *   I3 A worker blocks in park only after S2 and a failed S3.
 *
 * Races considered — the lost wake-up, as a proof sketch. The publisher executes
 * (A) its publishing seq_cst RMW/store, then (B) a seq_cst load of searching_ and sleepers_.
 * A worker about to park executes (C) the seq_cst RMW on sleepers_ (S2), then (D) seq_cst loads
 * of every queue (S3). All four are in the single total order S of seq_cst operations.
 * If B precedes C, then A precedes D, so D sees the work and the worker does not park. If C
 * precedes B, B sees sleepers_ > 0 (or a searcher, below) and wakes a worker. Either way the
 * work has a worker. If B saw searching_ > 0, that searcher's end_search RMW (E) follows B in S;
 * it re-checks (S3 after its own C) later still, so it sees the work; and if it finds work
 * while it was the last searcher, its chain wake re-checks visibility after E.
 * The stop flag follows the same argument with X1 in place of W2 (the stop flag is stored
 * seq_cst before X1 takes m_; a worker that announced after X1 released m_ sees the flag in S3).
 *
 * Memory orders. Every operation on searching_ and sleepers_ is seq_cst: each takes part in one
 * of the store-load pairs above, which acquire/release cannot order. The park word: the waker's
 * store of `notified` is release and the parked worker's load acquire, so what the waker did
 * under m_ is visible to the woken worker (the mutex gives the same edge; the word's order is
 * what makes the futex wake-up itself safe).
 *
 * Tuning. search rounds and the searcher limit: detail/tuning.hpp (search_rounds_before_park,
 * searching_divisor), measured with W6 (wake-up latency) and W8 (idle cost).
 *
 * Verification. tests/model/sleep_controller_model.cpp (Relacy: publish vs park, stop vs park,
 * notify-n, chain wake), tests/unit/sleep_controller_test.cpp, tests/unit/thread_pool_test.cpp
 * (ThreadPool.NoMissedWakeUp, H9: 10^5 idle-submit-wait rounds).
 */

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <weft/detail/atomics.hpp>
#include <weft/detail/futex.hpp>
#include <weft/detail/thread_annotations.hpp>
#include <weft/detail/tuning.hpp>

namespace weft {
inline namespace v1 {
namespace detail {

/// The production synchronisation policy: std::atomic, detail::mutex, and futex parking.
struct std_sync : std_atomics {
  using mutex_type = mutex;
  /// Blocks while `word` holds `expected` (may return spuriously).
  static void park(std::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept {
    futex_wait(word, expected);
  }
  /// Wakes the thread parked on `word`, if any.
  static void unpark(std::atomic<std::uint32_t>& word) noexcept { futex_wake(word, 1); }
};

/// Parking and waking of a fixed set of workers (indices 0..workers-1).
template <class Policy = std_sync>
class basic_sleep_controller {
  template <class U>
  using atomic = typename Policy::template atomic<U>;
  using mutex_type = typename Policy::mutex_type;

 public:
  /// Word values of a worker's park slot.
  static constexpr std::uint32_t awake = 0;
  static constexpr std::uint32_t parked = 1;
  static constexpr std::uint32_t notified = 2;

  /// Prepares slots for `workers` workers.
  explicit basic_sleep_controller(std::size_t workers)
      : slots_(std::make_unique<slot[]>(workers)),
        max_searching_(
            static_cast<std::uint32_t>((workers + searching_divisor - 1) / searching_divisor)) {
    if (max_searching_ == 0) {
      max_searching_ = 1;
    }
    idle_.reserve(workers);
    in_stack_.assign(workers, false);
  }

  /// Step W2: wakes one parked worker unless a searcher will find the work. Thread: any, after
  /// publishing work with a seq_cst operation (W1).
  void notify_one() {
    // seq_cst: the B side of the Dekker pair (design note).
    if (searching_.load(std::memory_order_seq_cst) != 0) {
      return;
    }
    if (sleepers_.load(std::memory_order_seq_cst) == 0) {
      return;
    }
    wake_some(1);
  }

  /// Step X1: wakes every announced worker. Thread: any (the stopper), after storing its stop
  /// flag with a seq_cst store.
  void wake_all() { wake_some(static_cast<std::size_t>(-1)); }

  /// Step S1 entry: becomes a searcher unless enough workers already search. Thread: worker.
  bool try_begin_search() {
    // seq_cst: a publisher's load of searching_ must order against this increment (see proof).
    std::uint32_t n = searching_.load(std::memory_order_seq_cst);
    while (n < max_searching_) {
      if (searching_.compare_exchange_weak(n, n + 1, std::memory_order_seq_cst,
                                           std::memory_order_seq_cst)) {
        return true;
      }
    }
    return false;
  }

  /// Step S1 exit: stops searching. Returns true if this was the last searcher (the caller then
  /// chain-wakes if it found work and more is visible). Thread: worker that was searching.
  bool end_search() {
    // seq_cst: E in the proof; the re-check that follows must come after it in S.
    return searching_.fetch_sub(1, std::memory_order_seq_cst) == 1;
  }

  /// Step S2: announces that worker `w` will park. Thread: worker w.
  void announce(std::size_t w) {
    m_.lock();
    idle_.push_back(w);
    in_stack_[w] = true;
    slots_[w].word.store(parked, std::memory_order_relaxed);  // read by w itself, or under m_
    sleepers_.fetch_add(1, std::memory_order_seq_cst);        // C in the proof
    m_.unlock();
  }

  /// Step S3, work or stop seen: withdraws the announcement. Returns true if withdrawn; false if
  /// a waker already took worker `w` (it then counts as a searcher, as after S4). Thread: w.
  bool cancel_announce(std::size_t w) {
    m_.lock();
    const bool withdrawn = in_stack_[w];
    if (withdrawn) {
      in_stack_[w] = false;
      for (std::size_t i = 0; i < idle_.size(); ++i) {
        if (idle_[i] == w) {
          idle_[i] = idle_.back();
          idle_.pop_back();
          break;
        }
      }
      sleepers_.fetch_sub(1, std::memory_order_seq_cst);  // keeps I1
    }
    m_.unlock();
    slots_[w].word.store(awake, std::memory_order_relaxed);  // w's own slot from now on
    return withdrawn;
  }

  /// Step S3 → S4: blocks until a waker notifies worker `w`. Thread: w, after announce().
  void park(std::size_t w) {
    atomic<std::uint32_t>& word = slots_[w].word;
    // acquire: pairs with the waker's release store of `notified`.
    while (word.load(std::memory_order_acquire) == parked) {
      Policy::park(word, parked);
    }
    word.store(awake, std::memory_order_relaxed);  // w's own slot again
  }

  /// Number of workers searching (for statistics and tests). Thread: any.
  [[nodiscard]] std::uint32_t searching() const {
    return searching_.load(std::memory_order_relaxed);  // a statistic
  }

  /// Number of workers announced or parked (for statistics and tests). Thread: any.
  [[nodiscard]] std::uint32_t sleepers() const {
    return sleepers_.load(std::memory_order_relaxed);  // a statistic
  }

 private:
  struct alignas(cache_line) slot {
    atomic<std::uint32_t> word{awake};
  };

  void wake_some(std::size_t count) {
    std::size_t woken[64];
    std::size_t n = 0;
    for (;;) {
      m_.lock();
      while (n < 64 && count > 0 && !idle_.empty()) {
        const std::size_t w = idle_.back();
        idle_.pop_back();
        in_stack_[w] = false;
        sleepers_.fetch_sub(1, std::memory_order_seq_cst);   // keeps I1
        searching_.fetch_add(1, std::memory_order_seq_cst);  // on w's behalf (S4, keeps I2)
        // Under m_, so that it cannot land after w's next announce() (which takes m_).
        // release: pairs with park()'s acquire.
        slots_[w].word.store(notified, std::memory_order_release);
        woken[n++] = w;
        --count;
      }
      const bool more = count > 0 && !idle_.empty();
      m_.unlock();
      for (std::size_t i = 0; i < n; ++i) {
        // Outside m_: a late wake-up only makes a later park() re-check its word (spurious).
        Policy::unpark(slots_[woken[i]].word);
      }
      n = 0;
      if (!more) {
        return;
      }
    }
  }

  std::unique_ptr<slot[]> slots_;
  std::uint32_t max_searching_;
  alignas(cache_line) atomic<std::uint32_t> searching_{0};
  alignas(cache_line) atomic<std::uint32_t> sleepers_{0};
  mutex_type m_;
  std::vector<std::size_t> idle_;  // guarded by m_
  std::vector<bool> in_stack_;     // guarded by m_
};

/// The controller the pool uses.
using sleep_controller = basic_sleep_controller<std_sync>;

}  // namespace detail
}  // namespace v1
}  // namespace weft
