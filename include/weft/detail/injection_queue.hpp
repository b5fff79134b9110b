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
 *   Q1 push: if tail_ is at an end mark, wait for it to move on. If the position is a block's
 *      last slot, get the next block first (a spare or new: may throw, and then nothing was
 *      accepted). CAS tail_ to the next position; that CAS fails if `closed` is set, and then
 *      push returns false (unless the pool's internal bypass). For a block's last slot, link
 *      the next block, publish tail_block_, then fetch_add tail_ past the mark. That is
 *      claim(): the position is the producer's, and admission is decided. fill() then moves
 *      the task into the slot and stores `written` (release); the pool builds the task between
 *      the two, so a refused submission never consumed the caller's callable, and a task that
 *      could not be built (std::bad_alloc) is filled as an empty task, a tombstone that pop
 *      skips. A producer that opened a block while the queue holds more than
 *      injection_backlog_yield tasks yields its processor once, after filling.
 *   Q2 pop: if head_ is at an end mark, wait for it to move on. Unless `has_next` is set, read
 *      tail_: equal positions mean empty. CAS head_ to the next position, with `has_next` if
 *      the tail is in a later block. For a block's last slot, wait for block.next, publish
 *      head_block_, then store head_ past the mark. Wait for the slot's `written` (the
 *      producer holds the position already; its write is a few instructions away), move the
 *      task out, and exchange `read` into `done`.
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
 *     order (B2 in pool_core.hpp).
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
 * 2 consumers across hundreds of small blocks, close semantics, destruction), and the pool
 * tests under ThreadSanitizer.
 */

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <weft/detail/task.hpp>
#include <weft/detail/tuning.hpp>

namespace weft {
inline namespace v1 {
namespace detail {

/// Unbounded multi-producer, multi-consumer FIFO of tasks with a closable entrance.
class injection_queue {
  struct slot;

 public:
  /// Outcome of pop().
  enum class pop_status : unsigned char { taken, empty };

  /// Creates an empty queue whose blocks hold `block_lap - 1` tasks each (`block_lap` is a
  /// power of two, at least 4). Allocates the first block. Thread: any.
  explicit injection_queue(std::size_t block_lap = injection_block_lap);
  injection_queue(const injection_queue&) = delete;
  injection_queue& operator=(const injection_queue&) = delete;
  /// Destroys the tasks still queued (a task destroyed unrun cancels itself: task.hpp). No push
  /// or pop may be in flight. Thread: any.
  ~injection_queue();

  /// A position taken by claim() and not yet filled.
  struct claimed_slot {
    slot* place = nullptr;      ///< null: nothing was claimed (the queue is closed)
    bool opened_block = false;  ///< the claim took a block's last slot (see fill())
    explicit operator bool() const noexcept { return place != nullptr; }
  };

  /// Takes the next position (step Q1 up to its CAS) without writing it: admission happens
  /// here, before the caller builds the task. Returns an empty claim, taking nothing, if the
  /// queue is closed and `bypass_close` is false. Throws std::bad_alloc, taking nothing, if a new
  /// block is needed and cannot be allocated. The caller must fill() the claim exactly once, and
  /// soon: a consumer that reaches the position waits for it. Thread: any.
  claimed_slot claim(bool bypass_close = false);

  /// Moves `t` into a claimed position (the end of step Q1). An empty `t` is a tombstone: pop()
  /// skips it (a claimer whose task could not be built). Thread: the claimer.
  void fill(claimed_slot claimed, task& t) noexcept;

  /// Appends `t` (step Q1): claim() then fill(). Returns false, leaving `t` untouched, if the
  /// queue is closed and `bypass_close` is false. Throws std::bad_alloc, leaving `t` untouched,
  /// if a new block is needed and cannot be allocated. Thread: any.
  bool push(task& t, bool bypass_close = false) {
    const claimed_slot claimed = claim(bypass_close);
    if (!claimed) {
      return false;
    }
    fill(claimed, t);
    return true;
  }

  /// Takes the oldest task into `out` (step Q2), skipping tombstones. May wait, briefly, for a
  /// producer that has claimed the oldest position to finish writing its task. Thread: any.
  pop_status pop(task& out) noexcept;

  /// True if no task is queued or being queued. seq_cst loads: usable as the re-check of a
  /// worker about to park. Thread: any.
  [[nodiscard]] bool looks_empty() const noexcept;

  /// Number of queued tasks (approximate while pushes and pops are in flight). Thread: any.
  [[nodiscard]] std::size_t size() const noexcept;

  /// Refuses further outside pushes (step Q4). Idempotent. Thread: any.
  void close() noexcept;

  /// True once close() was called. Thread: any.
  [[nodiscard]] bool is_closed() const noexcept;

 private:
  struct alignas(cache_line) slot {
    std::atomic<std::uint32_t> written{0};  // 1 once the producer filled the slot
    std::atomic<std::uint32_t> done{0};     // bits read, release (the consumer and releaser)
    task item;
  };
  static_assert(sizeof(slot) == cache_line, "one slot per cache line");

  struct block;

  static constexpr std::uint64_t closed_bit = 1;    // in tail_
  static constexpr std::uint64_t has_next_bit = 1;  // in head_
  static constexpr std::uint64_t one = 2;           // one position (bit 0 is a flag)
  static constexpr std::uint32_t read = 1;          // in slot.done
  static constexpr std::uint32_t release = 2;       // in slot.done
  static constexpr std::size_t spare_blocks = 4;

  [[nodiscard]] block* new_block();
  void retire(block* b) noexcept;
  void release_from(block* b, std::size_t first) noexcept;
  [[nodiscard]] std::uint64_t count(std::uint64_t position_word) const noexcept;

  std::size_t lap_;    // positions per block, a power of two
  unsigned lap_bits_;  // log2(lap_)
  // Producers hammer tail_, consumers head_: one line each.
  alignas(cache_line) std::atomic<std::uint64_t> tail_{0};
  std::atomic<block*> tail_block_{nullptr};
  alignas(cache_line) std::atomic<std::uint64_t> head_{0};
  std::atomic<block*> head_block_{nullptr};
  alignas(cache_line) std::atomic<block*> spares_[spare_blocks] = {};
};

}  // namespace detail
}  // namespace v1
}  // namespace weft
