#pragma once
/*
 * pool_link — how a future's state reaches its pool, and learns that the pool is gone.
 * Essay: docs/design/futures.md (section "Lifetimes").
 *
 * Purpose. A future may outlive its pool (as Python's and Java's do), and a thread that is not
 * a worker (a canceller, a registrar that runs callbacks, a then() on a done future) may touch
 * the pool from a state while the pool's destructor runs. A state holds a pool_ref: a pointer
 * to the pool's link and the link's generation when the pool was made. Links are type-stable
 * memory: once made, a link is never freed, only reused by a later pool with the next
 * generation, so dereferencing a link is always safe, and the generation says whether the pool
 * it names still exists.
 *
 * Roles. Pool: acquire() in its constructor, retire() in its destructor after join. Visitor:
 * any thread that reaches the pool from a state without being one of its workers (pool_guard).
 *
 * Shared state.
 *   word_  uint64: bits 32-63 the generation; bits 0-31 the number of visitors inside.
 *   core_  the pool; written by acquire() before any state can name the link, read only by a
 *          visitor whose generation matched (so the pool's construction happens-before).
 *
 * Protocol.
 *   K1 enter: fetch_add one visitor; if the generation read is not the state's, fetch_sub and
 *      report the pool gone. Otherwise the pool lives until the matching leave.
 *   K2 leave: fetch_sub one visitor. A visitor whose decrement reads another generation than
 *      its own (a retire started after it entered, or its K1 failed) and leaves no visitor
 *      inside wakes the retirer: it increments retire_wake_ and wakes the futex on it.
 *   K3 retire (the destructor, after join: no worker runs): fetch_add one generation, then
 *      wait until no visitor is inside: load retire_wake_, load the count, and if a visitor is
 *      still inside, block on retire_wake_ for the value loaded (an eventcount: a K2 that
 *      empties the count after our load changes the value first, so the futex returns at
 *      once or is woken). Then the pool may be freed, and the link goes back to the free list.
 *      A visit may be long (it may cancel a continuation with its callbacks, user code), so
 *      the destructor parks instead of spinning.
 *
 * Invariants.
 *   I1 A visitor whose K1 saw the state's generation is counted in word_ until its K2, and the
 *      pool is not freed before it leaves.
 *   I2 After K3's increment no visitor of that generation enters.
 *
 * Memory orders. Every operation is an RMW or load of the one word, so they are totally
 * ordered: a K1 before K3's increment saw the old generation and is waited for; one after it
 * sees the new generation. K1 acquire: pairs with nothing a visitor needs beyond the state's
 * own publication (it only reads core_ when the generation matched, and the state was made
 * after the pool). K2 release: pairs with K3's acquire loads, so the visitor's use of the
 * pool happens-before the pool is freed. K3 increment acq_rel, wait loads acquire. A K2
 * decrement reads the generation from the RMW itself (the latest value of the word), so a
 * visitor that leaves after K3's increment sees it and wakes. retire_wake_ seq_cst (its
 * increment, the retirer's load): only the futex's own value check is needed for no lost
 * wake-up; seq_cst keeps the eventcount's order obvious at no cost off the hot path.
 *
 * What it costs. Nothing on the paths of a pool's own workers (they do not enter: a worker
 * knows its pool lives). A visit is two RMWs on the link's line, paid only by outside threads
 * that cancel, register racing callbacks or submit continuations.
 *
 * User code never runs inside a visit that the visitor started for its own call (counting a
 * cancellation, fetching the error handler). A continuation queued by a visitor while the
 * pool is stopping is cancelled inside the visit, with its callbacks: that is pool work the
 * destructor waits for, as join waits for a running task.
 */

#include <atomic>
#include <cstdint>

#include <weft/detail/shared_state.hpp>
#include <weft/detail/tuning.hpp>

namespace weft {
inline namespace v1 {
namespace detail {

class pool_core;

/// A pool's type-stable link. See the design note above.
class pool_link {
 public:
  /// Takes a free link (or makes one) for `core`; returns the pool's reference. Thread: the
  /// pool's constructor. Throws std::bad_alloc.
  static pool_ref acquire(pool_core& core);

  /// Step K3. Thread: the pool's destructor, once, after join.
  void retire() noexcept;

  /// Step K1: the pool if generation `gen` is alive (then the caller must leave()), else null.
  pool_core* enter(std::uint32_t gen) noexcept;

  /// Step K2, for a visitor whose K1 with generation `gen` succeeded.
  void leave(std::uint32_t gen) noexcept;

  pool_link(const pool_link&) = delete;
  pool_link& operator=(const pool_link&) = delete;

 private:
  pool_link() = default;
  ~pool_link() = default;

  static constexpr std::uint64_t generation_one = std::uint64_t{1} << 32;
  static constexpr std::uint64_t visitor_mask = generation_one - 1;

  /// K2's decrement: wakes the retirer if it emptied the count after a K3.
  void drop_visitor(std::uint32_t gen, std::memory_order order) noexcept;

  alignas(cache_line) std::atomic<std::uint64_t> word_{0};
  std::atomic<std::uint32_t> retire_wake_{0};  // K3's eventcount
  pool_core* core_ = nullptr;
  pool_link* next_free_ = nullptr;  // guarded by the free list's mutex
};

/// A visit to a state's pool from a thread that is not one of its workers (K1 to K2).
class pool_guard {
 public:
  explicit pool_guard(const pool_ref& ref) noexcept
      : link_(ref.link),
        generation_(ref.generation),
        core_(ref.link == nullptr ? nullptr : ref.link->enter(ref.generation)) {}
  ~pool_guard() {
    if (core_ != nullptr) {
      link_->leave(generation_);
    }
  }
  pool_guard(const pool_guard&) = delete;
  pool_guard& operator=(const pool_guard&) = delete;

  /// The pool, or null if it was destroyed.
  [[nodiscard]] pool_core* core() const noexcept { return core_; }

 private:
  pool_link* link_;
  std::uint32_t generation_;
  pool_core* core_;
};

}  // namespace detail
}  // namespace v1
}  // namespace weft
