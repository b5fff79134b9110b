#pragma once
/*
 * injection_queue — where submissions from outside the pool wait for a worker.
 *
 * Purpose. Threads that are not workers of the pool (the main thread, producers, timers) hand
 * tasks to the workers through this unbounded multi-producer, multi-consumer FIFO. It is a
 * linked list of blocks, each an array of one-cache-line slots that store tasks by value: a
 * post of a small lambda allocates nothing, and a block (one allocation) is needed only every
 * `slots per block` pushes, and not even then while an emptied block is at hand. No lock anywhere:
 * a producer pays one CAS, a consumer one CAS and one RMW on its slot.
 *
 * Code. The algorithm is basic_injection_queue<T, Policy>, a template over the item type and the
 * atomics policy (atomics.hpp: Policy::atomic, and Policy::backoff for the waits of Q1 and Q2),
 * so that the Relacy model in tests/model/ checks this code, not a copy. The pool uses
 * injection_queue = basic_injection_queue<task>, instantiated once, in src/injection_queue.cpp.
 *
 * Roles. Producer: any thread (push). Consumer: workers, and cancel_pending's and drain's
 * callers (pop). Closer: shutdown (close).
 *
 * Positions. A position p counts slots, plus one spare number per block: with `lap` numbers
 * per block (a power of two), p lies in block p / lap at offset p % lap, and the offset
 * lap - 1 is not a slot but the "end of block" mark: a position there means the thread that
 * took the block's last slot is moving everyone on to the next block. Positions only grow.
 *
 * Shared state.
 *   tail_        uint64: bits 1-63 the position of the next push; bit 0 `closed`.
 *                Producers CAS it; the producer of a block's last slot moves it past the mark
 *                with fetch_add; close() sets bit 0.
 *   tail_block_  the block that tail_ points into.
 *   head_        uint64: bits 1-63 the position of the next pop; bit 0 `has_next` (the tail
 *                is in a later block, so the head's block is known to have a successor and
 *                consumers need not read tail_). Consumers CAS it; the consumer of a block's
 *                last slot moves it past the mark with a store (nobody else writes it then).
 *   head_block_  the block that head_ points into.
 *   block.next   set once, by the producer of the block's last slot.
 *   slot.written 1 once the producer filled the slot.
 *   slot.done    bits: read (the consumer emptied the slot), release (the block's releaser
 *                passed this slot while it was still in use). A word apart from `written`, so
 *                the producer publishes with a plain store and each side needs one RMW at most.
 *   slot.item    the task; written once by the slot's producer, then moved out once by its
 *                consumer (the position CASes make each of them unique).
 *   spares_      up to four emptied blocks kept for pushes that need a block (each entry taken
 *                by exchange, so no ABA).
 *
 * Protocol.
 *   Q0 reserve (optional, before a push): make a block_reserve, an object its producer owns,
 *      hold one block (a spare or new: may throw, and then nothing changed). A push given a
 *      holding reserve takes that block if it claims a block's last slot, so it allocates
 *      nothing and cannot throw. The pool reserves before it builds a task, so that the push
 *      after the build (user code) cannot fail (admission.cpp, A2).
 *   Q1 push: if tail_ is at an end mark, wait for it to move on. If the position is a block's
 *      last slot, get the next block first (a spare, else the reserve's, else new: may throw,
 *      and then nothing was accepted; spares first, so a reserve is rarely used up). CAS tail_ to
 * the next position; that CAS fails if `closed` is set, and then push returns false (unless
 * `bypass_close`: the pool's admitted submissions and continuations). For a block's last slot, link
 * the next block, publish tail_block_, then fetch_add tail_ past the mark. That is claim(): the
 * position is the producer's. fill() then moves the item into the slot and stores `written`
 * (release). Between the two the producer runs no user code of its own (the pool's task is built
 *      before the push; the move of a task built inline is the only user code, a noexcept move
 *      constructor). A claimer that has nothing to fill fills an empty item, a tombstone that
 *      pop skips (the pool makes none). A producer that opened a block while the queue holds
 *      more than injection_backlog_yield tasks yields its processor once, after filling.
 *   Q2 pop: if head_ is at an end mark, wait for it to move on. Unless `has_next` is set, read
 *      tail_: equal positions mean empty. CAS head_ to the next position, with `has_next` if
 *      the tail is in a later block. For a block's last slot, wait for block.next, publish
 *      head_block_, then store head_ past the mark. Wait for the slot's `written` (the
 *      producer holds the position already and is between its CAS and its store, a few
 *      instructions of the queue's own, unless it was preempted), move the task out, and
 *      exchange `read` into `done`. A tombstone is not returned: pop goes on with the next
 *      position.
 *   Q3 release a block: the consumer of the block's last slot walks the other slots; a slot
 *      not yet `read` gets the `release` bit (by exchange), and its consumer, whose exchange
 *      of `read` returns that bit, continues the walk from the next slot. Of the two
 *      exchanges on a slot, the second sees the first: exactly one side goes on. Whoever
 *      finishes the walk owns the block: it is reset into spares_ or deleted.
 *   Q4 close: fetch_or `closed` into tail_. After it, every outside push fails; every push
 *      whose CAS came first is in the queue (it may still be writing its slot; Q2 waits).
 *
 * Invariants.
 *   I1 Every task that push accepted is returned exactly once by pop.
 *   I2 A block is released only after every slot of it was read, and nobody reads a block
 *      pointer's memory before holding a position in it (a position keeps its block alive).
 *   I3 After close(), no outside push succeeds; pushes that linearized before it are in the
 *      queue, so "closed and empty" stays empty (the pool's drain relies on this).
 *   I4 FIFO: tasks pop in the order of their tail_ CASes, so one producer's tasks pop in the
 *      order it pushed them.
 *   I5 count(p) = (p / lap) * (lap - 1) + p % lap is the number of slots before p; an end
 *      mark and the first position of the next block have the same count, so moving past a
 *      mark never changes size() or looks_empty().
 *
 * Memory orders (location — order — pairs with — why weaker fails).
 *   tail_ CAS in push — seq_cst — the sleep controller's announce(): a producer publishes work
 *     with this RMW and then loads the sleepers count; a worker about to park bumps that count
 *     and then loads tail_ (looks_empty). Only seq_cst orders both store-load pairs.
 *   head_ CAS in pop — seq_cst — the pool's idle detection reads both positions in one seq_cst
 *     order (B2 in src/idle_and_join.cpp).
 *   tail_ / head_ loads that start a push or pop — acquire — the release that moved the
 *     position past an end mark — the block pointer published before it must be seen.
 *   tail_ load in pop, head_/tail_ loads in looks_empty and size — seq_cst — the Dekker pairs.
 *   tail_block_ / head_block_ stores — release; loads — acquire — the block's construction
 *     (or reset, for a spare) must be visible to a thread that then uses it.
 *   tail_ fetch_add past a mark — release — the acquire loads above.
 *   head_ store past a mark — release — same.
 *   block.next store — release; load — acquire — the next block's construction.
 *   slot.written store — release — the consumer's acquire load: the task is fully written.
 *   slot.done exchange(read) — acq_rel — release: our move-out happens before the releaser
 *     frees the memory; acquire: if `release` was set, we now continue the walk and must see
 *     the slots the releaser saw as read.
 *   slot.done exchange(release) and the load before it in the walk — acq_rel / acquire — the
 *     reader's exchange above, both ways.
 *   spares_ exchange / compare_exchange — acq_rel — the reset of the block by its releaser.
 *   close() fetch_or — seq_cst — after it, a producer's CAS either came first (its task is in
 *     the queue) or fails and sees the bit.
 *
 * Verification. tests/unit/injection_queue_test.cpp (FIFO, exactly-once with 4 producers and
 * 2 consumers across hundreds of small blocks, close semantics, destruction),
 * tests/alloc/admission_reserve_test.cpp (Q0: a reserved claim allocates nothing), the pool
 * tests under ThreadSanitizer, and tests/model/injection_queue_model.cpp: Relacy runs this
 * template with 3-slot blocks and a payload whose every access it checks for data races, over
 * 2 producers and 1 or 2 consumers (I1, I4, block hand-over and reuse (I2), producers that
 * reserve (Q0), tombstones, close (I3)); negative controls weaken slot.written's release and
 * slot.done's acq_rel, and Relacy must report the race each one opens.
 *
 * Length. Over 500 lines because it is one algorithm: the design note, the block layout and
 * the push, pop, close and release walk share invariants I1-I5, and splitting them would
 * separate each step from the invariant it keeps.
 */

#include <bit>
#include <cstddef>
#include <cstdint>
#include <new>
#include <thread>
#include <type_traits>
#include <utility>

#include <weft/detail/assert.hpp>
#include <weft/detail/atomics.hpp>
#include <weft/detail/task.hpp>
#include <weft/detail/tuning.hpp>

namespace weft {
inline namespace v1 {
namespace detail {

/// Unbounded multi-producer, multi-consumer FIFO of items with a closable entrance.
///
/// `T` is the item: default-constructible, nothrow move-assignable, and testable with an explicit
/// bool (an empty item is a tombstone). `Policy` supplies `atomic<U>` and `backoff` (atomics.hpp).
/// The pool's queue is injection_queue (T = task); the model tests use other arguments.
template <class T, class Policy = std_atomics>
class basic_injection_queue {
  template <class U>
  using atomic = typename Policy::template atomic<U>;
  struct slot;
  struct block;

 public:
  /// Outcome of pop().
  enum class pop_status : unsigned char { taken, empty };

  /// Creates an empty queue whose blocks hold `block_lap - 1` items each (`block_lap` is a
  /// power of two, at least 4). Allocates the first block. Thread: any.
  explicit basic_injection_queue(std::size_t block_lap = injection_block_lap);
  basic_injection_queue(const basic_injection_queue&) = delete;
  basic_injection_queue& operator=(const basic_injection_queue&) = delete;
  /// Destroys the items still queued (a task destroyed unrun cancels itself: task.hpp). No push
  /// or pop may be in flight. Thread: any.
  ~basic_injection_queue();

  /// One block that a producer holds in reserve, so that a later claim() needs no allocation
  /// (step Q0). Owned by one thread at a time; frees its block when destroyed. A block fits
  /// every queue of the same lap. The pool keeps one per submitting thread (admission.cpp).
  class block_reserve {
   public:
    block_reserve() = default;
    block_reserve(const block_reserve&) = delete;
    block_reserve& operator=(const block_reserve&) = delete;
    ~block_reserve() {
      if (held_ != nullptr) {
        block::destroy(held_, lap_ - 1);
      }
    }
    /// True if a block is held.
    [[nodiscard]] bool holds() const noexcept { return held_ != nullptr; }

   private:
    friend class basic_injection_queue;
    block* held_ = nullptr;
    std::size_t lap_ = 0;  // the lap the held block was made for
  };

  /// Step Q0: makes `r` hold a block for this queue, from the spares or the heap. Throws
  /// std::bad_alloc, changing nothing, if none can be had. Thread: the owner of `r`.
  void reserve(block_reserve& r);

  /// A position taken by claim() and not yet filled.
  struct claimed_slot {
    slot* place = nullptr;      ///< null: nothing was claimed (the queue is closed)
    bool opened_block = false;  ///< the claim took a block's last slot (see fill())
    explicit operator bool() const noexcept { return place != nullptr; }
  };

  /// Takes the next position (step Q1 up to its CAS) without writing it. Returns an empty
  /// claim, taking nothing, if the queue is closed and `bypass_close` is false. Throws
  /// std::bad_alloc, taking nothing, if a new block is needed and cannot be allocated; with
  /// `r` holding a block (reserve()), a claim of a block's last slot takes that block instead,
  /// so it never allocates and cannot throw. The caller must fill() the claim exactly once, and
  /// at once (no user code in between): a consumer that reaches the position waits for it.
  /// Thread: any.
  claimed_slot claim(bool bypass_close = false, block_reserve* r = nullptr);

  /// Moves `t` into a claimed position (the end of step Q1). An empty `t` is a tombstone: pop()
  /// skips it (a claimer whose task could not be built). Thread: the claimer.
  void fill(claimed_slot claimed, T& t) noexcept;

  /// Appends `t` (step Q1): claim() then fill(). Returns false, leaving `t` untouched, if the
  /// queue is closed and `bypass_close` is false. Throws std::bad_alloc, leaving `t` untouched,
  /// if a new block is needed and cannot be allocated (never with a held reserve `r`).
  /// Thread: any.
  bool push(T& t, bool bypass_close = false, block_reserve* r = nullptr) {
    const claimed_slot claimed = claim(bypass_close, r);
    if (!claimed) {
      return false;
    }
    fill(claimed, t);
    return true;
  }

  /// Takes the oldest item into `out` (step Q2), skipping tombstones. May wait, briefly, for a
  /// producer that has claimed the oldest position to finish writing its item. Thread: any.
  pop_status pop(T& out) noexcept;

  /// True if no item is queued or being queued. seq_cst loads: usable as the re-check of a
  /// worker about to park. Thread: any.
  [[nodiscard]] bool looks_empty() const noexcept;

  /// Number of queued items (approximate while pushes and pops are in flight). Thread: any.
  [[nodiscard]] std::size_t size() const noexcept;

  /// Refuses further outside pushes (step Q4). Idempotent. Thread: any.
  void close() noexcept;

  /// True once close() was called. Thread: any.
  [[nodiscard]] bool is_closed() const noexcept;

 private:
  struct alignas(cache_line) slot {
    atomic<std::uint32_t> written{0};  // 1 once the producer filled the slot
    atomic<std::uint32_t> done{0};     // bits read, release (the consumer and releaser)
    T item;
  };
  // The layout claims hold for the pool's queue; a model's atomics and items are larger.
  static constexpr bool ships = std::is_same_v<T, task> && std::is_same_v<Policy, std_atomics>;
  static_assert(!ships || sizeof(slot) == cache_line, "one slot per cache line");

  static constexpr std::uint64_t closed_bit = 1;    // in tail_
  static constexpr std::uint64_t has_next_bit = 1;  // in head_
  static constexpr std::uint64_t one = 2;           // one position (bit 0 is a flag)
  static constexpr std::uint32_t read = 1;          // in slot.done
  static constexpr std::uint32_t release = 2;       // in slot.done
  static constexpr std::size_t spare_blocks = 4;

  template <class Ready>
  static void wait_for(Ready ready) noexcept;
  [[nodiscard]] block* take_spare() noexcept;
  [[nodiscard]] block* new_block();
  void retire(block* b) noexcept;
  void release_from(block* b, std::size_t first) noexcept;
  [[nodiscard]] std::uint64_t count(std::uint64_t position_word) const noexcept;

  std::size_t lap_;    // positions per block, a power of two
  unsigned lap_bits_;  // log2(lap_)
  // Producers hammer tail_, consumers head_: one line each.
  alignas(cache_line) atomic<std::uint64_t> tail_{0};
  atomic<block*> tail_block_{nullptr};
  alignas(cache_line) atomic<std::uint64_t> head_{0};
  atomic<block*> head_block_{nullptr};
  alignas(cache_line) atomic<block*> spares_[spare_blocks] = {};
};

// ---- Implementation. The comments cite the design note's steps (Q0-Q4) and invariants (I1-I5).

/// A header line, then lap - 1 slots, in one allocation.
template <class T, class Policy>
struct basic_injection_queue<T, Policy>::block {
  alignas(cache_line) atomic<block*> next{nullptr};

  slot* slots() noexcept { return reinterpret_cast<slot*>(this + 1); }

  static block* create(std::size_t slot_count) {
    static_assert(!ships || sizeof(block) == cache_line, "the header is one line");
    static_assert(sizeof(block) % alignof(slot) == 0, "the slots after the header stay aligned");
    void* raw = ::operator new (sizeof(block) + slot_count * sizeof(slot),
                                std::align_val_t{alignof(block)});
    auto* b = new (raw) block;
    slot* first = b->slots();
    for (std::size_t i = 0; i < slot_count; ++i) {
      new (first + i) slot;
    }
    return b;
  }

  static void destroy(block* b, std::size_t slot_count) noexcept {
    slot* first = b->slots();
    for (std::size_t i = 0; i < slot_count; ++i) {
      first[i].~slot();  // empty items after their moves; a leftover task cancels itself
    }
    b->~block();
    ::operator delete (static_cast<void*>(b), std::align_val_t{alignof(block)});
  }
};

/// Waits until `ready()` holds: the other side of a position that is taken but not yet done (a
/// producer between claim() and fill(), a thread moving a position past an end mark) is about
/// to finish, unless it was preempted or is still building its task; meanwhile yield to it.
template <class T, class Policy>
template <class Ready>
void basic_injection_queue<T, Policy>::wait_for(Ready ready) noexcept {
  typename Policy::backoff bo;
  while (!ready()) {
    bo.pause();
  }
}

template <class T, class Policy>
basic_injection_queue<T, Policy>::basic_injection_queue(std::size_t block_lap)
    : lap_(block_lap), lap_bits_(static_cast<unsigned>(std::countr_zero(block_lap))) {
  WEFT_ASSERT(block_lap >= 4 && std::has_single_bit(block_lap),
              "the block lap is a power of two, at least 4");
  block* first = block::create(lap_ - 1);
  // relaxed: nothing is shared before construction ends.
  tail_block_.store(first, std::memory_order_relaxed);
  head_block_.store(first, std::memory_order_relaxed);
}

template <class T, class Policy>
basic_injection_queue<T, Policy>::~basic_injection_queue() {
  T leftover;
  while (pop(leftover) == pop_status::taken) {
    leftover = T{};  // destroyed unrun: a task cancels itself (task.hpp)
  }
  // relaxed: the destructor runs alone.
  block::destroy(head_block_.load(std::memory_order_relaxed), lap_ - 1);
  for (atomic<block*>& spare : spares_) {
    if (block* b = spare.load(std::memory_order_relaxed)) {
      block::destroy(b, lap_ - 1);
    }
  }
}

template <class T, class Policy>
auto basic_injection_queue<T, Policy>::take_spare() noexcept -> block* {
  for (atomic<block*>& spare : spares_) {
    // relaxed peek, then acq_rel: acquire the releaser's reset of the block (Q3).
    if (spare.load(std::memory_order_relaxed) != nullptr) {
      if (block* b = spare.exchange(nullptr, std::memory_order_acq_rel)) {
        return b;
      }
    }
  }
  return nullptr;
}

template <class T, class Policy>
auto basic_injection_queue<T, Policy>::new_block() -> block* {
  if (block* b = take_spare()) {
    return b;
  }
  return block::create(lap_ - 1);
}

template <class T, class Policy>
void basic_injection_queue<T, Policy>::retire(block* b) noexcept {
  // Every slot was read (I2): reset the block for reuse. relaxed: the exchange publishes it.
  slot* first = b->slots();
  for (std::size_t i = 0; i + 1 < lap_; ++i) {
    first[i].written.store(0, std::memory_order_relaxed);
    first[i].done.store(0, std::memory_order_relaxed);
  }
  b->next.store(nullptr, std::memory_order_relaxed);
  for (atomic<block*>& spare : spares_) {
    block* expected = nullptr;
    // acq_rel: release the reset above to the next new_block().
    if (spare.compare_exchange_strong(expected, b, std::memory_order_acq_rel,
                                      std::memory_order_relaxed)) {
      return;
    }
  }
  block::destroy(b, lap_ - 1);
}

template <class T, class Policy>
void basic_injection_queue<T, Policy>::release_from(block* b, std::size_t first) noexcept {
  // Q3: the last slot's consumer calls this with first = 0 (it already read the last slot).
  slot* slots = b->slots();
  for (std::size_t i = first; i + 2 < lap_; ++i) {
    slot& s = slots[i];
    // acquire: the reader's move-out happened before its `read` bit.
    if ((s.done.load(std::memory_order_acquire) & read) == 0 &&
        (s.done.exchange(release, std::memory_order_acq_rel) & read) == 0) {
      return;  // still in use: its consumer continues the walk from i + 1
    }
  }
  retire(b);
}

template <class T, class Policy>
void basic_injection_queue<T, Policy>::reserve(block_reserve& r) {
  if (r.held_ != nullptr && r.lap_ == lap_) {
    return;  // the common case: the reserve was not used since the last call
  }
  block* fresh = new_block();  // may throw: `r` is unchanged
  if (r.held_ != nullptr) {
    block::destroy(r.held_, r.lap_ - 1);  // made for a queue of another lap
  }
  r.held_ = fresh;
  r.lap_ = lap_;
}

template <class T, class Policy>
auto basic_injection_queue<T, Policy>::claim(bool bypass_close, block_reserve* r) -> claimed_slot {
  // acquire: pairs with the release that moved tail_ past an end mark (the block pointer).
  std::uint64_t tail = tail_.load(std::memory_order_acquire);
  block* b = tail_block_.load(std::memory_order_acquire);
  block* next = nullptr;       // the next block, got before taking a block's last slot
  bool next_reserved = false;  // `next` came from `r` and goes back there if unused
  const auto drop_next = [&]() noexcept {
    if (next_reserved) {
      r->held_ = next;  // the reserve keeps it for the next claim
    } else {
      retire(next);
    }
    next = nullptr;
    next_reserved = false;
  };
  typename Policy::backoff bo;
  for (;;) {
    if ((tail & closed_bit) != 0 && !bypass_close) {
      if (next != nullptr) {
        drop_next();
      }
      return {};  // keeps I3
    }
    const std::uint64_t position = tail >> 1;
    const std::size_t offset = position & (lap_ - 1);
    if (offset == lap_ - 1) {
      // Q1: at an end mark; the producer of the last slot is installing the next block.
      bo.pause();
      tail = tail_.load(std::memory_order_acquire);
      b = tail_block_.load(std::memory_order_acquire);
      continue;
    }
    const bool last_slot = offset + 2 == lap_;
    if (last_slot && next == nullptr) {
      // A spare first, so that a reserve is rarely used up and reserve() rarely allocates.
      next = take_spare();
      if (next == nullptr && r != nullptr && r->held_ != nullptr && r->lap_ == lap_) {
        next = std::exchange(r->held_, nullptr);  // Q0: no allocation after the caller's build
        next_reserved = true;
      } else if (next == nullptr) {
        next = block::create(lap_ - 1);  // may throw: nothing claimed
      }
    }
    // seq_cst: the publishing RMW of the parking Dekker pair (design note). On failure,
    // acquire: the new value may be past an end mark.
    if (tail_.compare_exchange_weak(tail, tail + one, std::memory_order_seq_cst,
                                    std::memory_order_acquire)) {
      if (last_slot) {
        b->next.store(next, std::memory_order_release);
        tail_block_.store(next, std::memory_order_release);
        // release: a producer that sees the new position sees tail_block_. fetch_add keeps a
        // `closed` bit that close() may have set meanwhile.
        tail_.fetch_add(one, std::memory_order_release);
        next = nullptr;
      } else if (next != nullptr) {
        drop_next();  // another producer took the last slot after all
      }
      return {&b->slots()[offset], last_slot};  // we own the slot (I2)
    }
    b = tail_block_.load(std::memory_order_acquire);
  }
}

template <class T, class Policy>
void basic_injection_queue<T, Policy>::fill(claimed_slot claimed, T& t) noexcept {
  slot& s = *claimed.place;
  s.item = std::move(t);
  s.written.store(1, std::memory_order_release);  // pairs with pop()'s acquire
  if (claimed.opened_block && size() > injection_backlog_yield) {
    std::this_thread::yield();  // far ahead of the workers: let them run (tuning.hpp)
  }
}

template <class T, class Policy>
auto basic_injection_queue<T, Policy>::pop(T& out) noexcept -> pop_status {
  // acquire: pairs with the release that moved head_ past an end mark (the block pointer).
  std::uint64_t head = head_.load(std::memory_order_acquire);
  block* b = head_block_.load(std::memory_order_acquire);
  typename Policy::backoff bo;
  for (;;) {
    const std::uint64_t position = head >> 1;
    const std::size_t offset = position & (lap_ - 1);
    if (offset == lap_ - 1) {
      // Q2: at an end mark; the consumer of the last slot is moving the head on.
      bo.pause();
      head = head_.load(std::memory_order_acquire);
      b = head_block_.load(std::memory_order_acquire);
      continue;
    }
    std::uint64_t new_head = head + one;  // keeps has_next
    if ((head & has_next_bit) == 0) {
      // seq_cst: the re-check side of the Dekker pairs (a worker's last look before parking).
      const std::uint64_t tail = tail_.load(std::memory_order_seq_cst);
      // Counts, not positions (I5): a tail still at an end mark while the head has moved into
      // the next block is an empty queue, not a queue with a slot to claim.
      if (count(tail) <= count(head)) {
        return pop_status::empty;
      }
      if (((tail >> 1) >> lap_bits_) > (position >> lap_bits_)) {
        new_head |= has_next_bit;  // the tail is in a later block: this one is complete
      }
    }
    // seq_cst: one total order with tail_ for the pool's idle detection. On failure, acquire:
    // the new value may be past an end mark.
    if (head_.compare_exchange_weak(head, new_head, std::memory_order_seq_cst,
                                    std::memory_order_acquire)) {
      const bool last_slot = offset + 2 == lap_;
      if (last_slot) {
        // Q2: the producer of this slot links the next block right after its CAS.
        block* next = nullptr;
        wait_for([&] { return (next = b->next.load(std::memory_order_acquire)) != nullptr; });
        std::uint64_t moved = (new_head & ~has_next_bit) + one;
        if (next->next.load(std::memory_order_acquire) != nullptr) {
          moved |= has_next_bit;
        }
        head_block_.store(next, std::memory_order_release);
        head_.store(moved, std::memory_order_release);  // nobody else writes head_ at a mark
      }
      slot& s = b->slots()[offset];
      // acquire: pairs with the producer's release; the item is fully written.
      wait_for([&] { return s.written.load(std::memory_order_acquire) != 0; });
      out = std::move(s.item);  // we own the slot (I2)
      if (last_slot) {
        release_from(b, 0);  // Q3
      } else if ((s.done.exchange(read, std::memory_order_acq_rel) & release) != 0) {
        release_from(b, offset + 1);  // Q3: the walk stopped at our slot
      }
      if (out) {
        return pop_status::taken;
      }
      // A tombstone (a claimer with nothing to fill): take the next position.
      head = head_.load(std::memory_order_acquire);
      b = head_block_.load(std::memory_order_acquire);
      continue;
    }
    b = head_block_.load(std::memory_order_acquire);
  }
}

template <class T, class Policy>
std::uint64_t basic_injection_queue<T, Policy>::count(std::uint64_t position_word) const noexcept {
  const std::uint64_t position = position_word >> 1;
  return (position >> lap_bits_) * (lap_ - 1) + (position & (lap_ - 1));  // I5
}

template <class T, class Policy>
bool basic_injection_queue<T, Policy>::looks_empty() const noexcept {
  // seq_cst loads: the re-check side of the parking Dekker pair (design note).
  const std::uint64_t head = head_.load(std::memory_order_seq_cst);
  const std::uint64_t tail = tail_.load(std::memory_order_seq_cst);
  return count(tail) <= count(head);
}

template <class T, class Policy>
std::size_t basic_injection_queue<T, Policy>::size() const noexcept {
  const std::uint64_t head = head_.load(std::memory_order_seq_cst);
  const std::uint64_t tail = tail_.load(std::memory_order_seq_cst);
  const std::uint64_t queued_from = count(head);
  const std::uint64_t queued_to = count(tail);
  return queued_to > queued_from ? static_cast<std::size_t>(queued_to - queued_from) : 0;
}

template <class T, class Policy>
void basic_injection_queue<T, Policy>::close() noexcept {
  // seq_cst: after this RMW, a producer's CAS either linearized before it (its task is in the
  // queue) or fails and sees the bit (Q4, I3).
  tail_.fetch_or(closed_bit, std::memory_order_seq_cst);
}

template <class T, class Policy>
bool basic_injection_queue<T, Policy>::is_closed() const noexcept {
  // acquire: a caller that sees the bit also sees what the closer did before closing.
  return (tail_.load(std::memory_order_acquire) & closed_bit) != 0;
}

/// The pool's queue of outside submissions.
using injection_queue = basic_injection_queue<task>;

// Compiled once, in src/injection_queue.cpp: callers call the out-of-line members there, as
// they did before the queue became a template.
extern template class basic_injection_queue<task>;

}  // namespace detail
}  // namespace v1
}  // namespace weft
