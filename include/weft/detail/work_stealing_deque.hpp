#pragma once
/*
 * work_stealing_deque — a worker's own queue of task nodes.
 *
 * Purpose. Each worker pushes and pops work at the bottom of its own deque (LIFO: the newest,
 * cache-hot task first, and the natural order for fork-join), while idle workers steal from the
 * top (FIFO: the oldest task, usually the biggest piece of a recursive split). This is the
 * dynamic circular deque of Chase and Lev (SPAA 2005) with the C11 memory orders of Lê, Pop,
 * Cohen and Zappa Nardelli (PPoPP 2013). Essay: docs/design/work-stealing-deque.md.
 *
 * Roles. Owner: the worker that owns the deque (push, pop). Thief: any thread (steal, size).
 *
 * Shared state.
 *   top_    int64, written by thieves (CAS) and by the owner (CAS when taking the last item).
 *   bottom_ int64, written by the owner only; read by thieves.
 *   ring_   pointer to the current circular array; written by the owner when it grows.
 *   slots   atomic T (pointers), written by the owner, read by owner and thieves.
 * Retired rings stay allocated until the deque is destroyed (thieves may still read them).
 *
 * Protocol.
 *   P1 push: write the slot at bottom, then publish bottom+1 (store, seq_cst).
 *   P2 pop: if bottom <= top (relaxed loads) it is empty: return. Else reserve by storing
 *      bottom-1 (seq_cst), then read top (seq_cst). If items remain
 *      beyond the last one, take it; for the last one, race thieves with a CAS on top.
 *   S1 steal: read top, then bottom (both seq_cst); if non-empty, read the slot at top, then
 *      claim it with a CAS on top. A failed CAS discards the slot value (another taker won).
 *   G1 grow (owner, inside push): copy live items into a ring twice as large and publish it.
 *
 * Invariants.
 *   I1 Every pushed item is returned exactly once, by one pop or one steal.
 *   I2 top_ never decreases; bottom_ - top_ is the number of items, give or take one in-flight
 *      pop or steal.
 *   I3 A slot is overwritten only when its index lies at least one capacity below bottom, i.e.
 *      after top_ moved past it, so a thief that read it loses its CAS.
 *
 * Races considered.
 *   - Owner pop vs thief steal of the last item: both read the same index; both then CAS top_
 *     from t to t+1; exactly one wins (I1). The owner's seq_cst store of bottom and load of top
 *     against the thief's seq_cst loads of top then bottom form a store-load pair: either the
 *     thief sees the reduced bottom (and backs off), or the owner sees the advanced top.
 *   - Thief reads a slot while the owner grows: the old ring is still allocated and still holds
 *     the item; if the item was taken meanwhile, the thief's CAS fails.
 *
 * Memory orders (location — order — pairs with — why weaker fails).
 *   push slot store — relaxed — published by the bottom_ store below — the store orders it.
 *   push bottom_ store — seq_cst — thief's bottom_ load (acquire part: the slot and the task it
 *     points to become visible) and the sleep controller's Dekker pair (a publisher must load
 *     the sleepers count after publishing; release alone would let that load pass the store).
 *   pop bottom_ store / top_ load — seq_cst — thief's top_/bottom_ loads; a store-load pair,
 *     which acquire/release cannot order (this replaces Lê et al.'s seq_cst fence: thread
 *     sanitizers do not model standalone fences).
 *   top_ CAS — seq_cst — the other taker's CAS and loads; it decides who owns an item.
 *   steal top_/bottom_ loads — seq_cst — the pop pair above; acquire on bottom_ pairs with push.
 *   ring_ store — release / ring_ load in steal — acquire — a thief that sees the new ring sees
 *     its copied slots.
 *
 * Deviations. seq_cst operations instead of standalone fences (see above); retired rings are
 * kept until destruction instead of being reclaimed (bounded by twice the peak size).
 *
 * Verification. tests/unit/work_stealing_deque_test.cpp (exactly-once with 1-4 thieves across
 * growth); tests/model/work_stealing_deque_model.cpp (Relacy).
 */

#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include <weft/detail/atomics.hpp>
#include <weft/detail/tuning.hpp>

namespace weft {
inline namespace v1 {
namespace detail {

/// Result of a steal attempt.
enum class steal_status : unsigned char {
  taken,      ///< an item was taken
  empty,      ///< the deque looked empty
  contended,  ///< another taker won the race; the deque may still hold items
};

/// Single-owner, multi-thief deque of pointers. Thread roles per member below.
template <class T, class Policy = std_atomics>
class work_stealing_deque {
  static_assert(std::is_pointer_v<T>, "the deque holds pointers (slots must be atomic)");
  template <class U>
  using atomic = typename Policy::template atomic<U>;

 public:
  /// Creates an empty deque. `capacity` is rounded up to a power of two.
  explicit work_stealing_deque(std::size_t capacity = deque_initial_capacity) {
    std::size_t c = 2;
    while (c < capacity) {
      c *= 2;
    }
    rings_.push_back(std::make_unique<ring>(c));
    ring_.store(rings_.back().get(), std::memory_order_relaxed);  // not shared yet
  }

  work_stealing_deque(const work_stealing_deque&) = delete;
  work_stealing_deque& operator=(const work_stealing_deque&) = delete;
  ~work_stealing_deque() = default;

  /// Adds an item at the bottom. Thread: owner. Step P1 (and G1 when full).
  void push(T item) {
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);  // only the owner writes it
    // acquire: pairs with the thieves' CAS, so a slot they took is known free. A stale value
    // only overestimates the size, which at worst grows the ring early.
    const std::int64_t t = top_.load(std::memory_order_acquire);
    ring* r = ring_.load(std::memory_order_relaxed);  // only the owner writes it
    if (b - t > static_cast<std::int64_t>(r->mask)) {
      r = grow(r, t, b);
    }
    r->at(b).store(item, std::memory_order_relaxed);  // published by the store below
    bottom_.store(b + 1, std::memory_order_seq_cst);  // P1; see the memory-order table
  }

  /// Takes the newest item, or returns nullptr if empty. Thread: owner. Step P2.
  T pop() {
    // Fast empty check without the seq_cst store below: bottom_ is the owner's own value and a
    // stale top_ is never larger than the real one, so b <= t proves emptiness (a worker that
    // takes its work from the injection queue pays no fenced store per task).
    if (bottom_.load(std::memory_order_relaxed) <= top_.load(std::memory_order_relaxed)) {
      return nullptr;
    }
    const std::int64_t b = bottom_.load(std::memory_order_relaxed) - 1;  // owner's own value
    ring* r = ring_.load(std::memory_order_relaxed);                     // owner's own value
    bottom_.store(b, std::memory_order_seq_cst);  // store-load pair with steal()
    std::int64_t t = top_.load(std::memory_order_seq_cst);
    if (t > b) {
      bottom_.store(b + 1, std::memory_order_relaxed);  // empty: undo; thieves saw t > b
      return nullptr;
    }
    T item = r->at(b).load(std::memory_order_relaxed);  // the owner wrote it
    if (t == b) {
      // The last item: race the thieves for it. Losing means a thief took it (keeps I1).
      if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst,
                                        std::memory_order_relaxed)) {
        item = nullptr;
      }
      bottom_.store(b + 1, std::memory_order_relaxed);  // top is now b+1 either way
    }
    return item;
  }

  /// Takes the oldest item into `out`. Thread: any. Step S1.
  steal_status steal(T& out) {
    std::int64_t t = top_.load(std::memory_order_seq_cst);           // pairs with pop()
    const std::int64_t b = bottom_.load(std::memory_order_seq_cst);  // pairs with push()
    if (t >= b) {
      return steal_status::empty;
    }
    ring* r = ring_.load(std::memory_order_acquire);    // pairs with the release in grow()
    T item = r->at(t).load(std::memory_order_relaxed);  // valid only if the CAS below wins (I3)
    if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst,
                                      std::memory_order_relaxed)) {
      return steal_status::contended;
    }
    out = item;
    return steal_status::taken;
  }

  /// Number of items, possibly off by in-flight operations. Thread: any. The seq_cst loads let
  /// a worker about to park use this as its re-check (see sleep_controller.hpp).
  [[nodiscard]] std::size_t size() const {
    const std::int64_t t = top_.load(std::memory_order_seq_cst);
    const std::int64_t b = bottom_.load(std::memory_order_seq_cst);
    return b > t ? static_cast<std::size_t>(b - t) : 0;
  }

  /// True if size() is 0. Thread: any.
  [[nodiscard]] bool empty() const { return size() == 0; }

 private:
  struct ring {
    explicit ring(std::size_t capacity)
        : mask(capacity - 1), slots(std::make_unique<atomic<T>[]>(capacity)) {}
    atomic<T>& at(std::int64_t index) { return slots[static_cast<std::size_t>(index) & mask]; }
    std::size_t mask;
    std::unique_ptr<atomic<T>[]> slots;
  };

  /// Step G1. Thread: owner.
  ring* grow(ring* old, std::int64_t t, std::int64_t b) {
    auto bigger = std::make_unique<ring>((old->mask + 1) * 2);
    for (std::int64_t i = t; i < b; ++i) {
      // relaxed: the owner wrote these slots; thieves reach the copies through ring_'s release.
      bigger->at(i).store(old->at(i).load(std::memory_order_relaxed), std::memory_order_relaxed);
    }
    ring* r = bigger.get();
    rings_.push_back(std::move(bigger));        // old rings stay alive (thieves may read them)
    ring_.store(r, std::memory_order_release);  // pairs with the acquire in steal()
    return r;
  }

  // Each index on its own cache line: thieves hammer top_, the owner bottom_.
  alignas(cache_line) atomic<std::int64_t> top_{0};
  alignas(cache_line) atomic<std::int64_t> bottom_{0};
  alignas(cache_line) atomic<ring*> ring_{nullptr};
  std::vector<std::unique_ptr<ring>> rings_;  // owner only
};

}  // namespace detail
}  // namespace v1
}  // namespace weft
