#pragma once
/*
 * injection_queue — where submissions from outside the pool wait for a worker.
 *
 * Purpose. Threads that are not workers of the pool (the main thread, producers, timers) hand
 * tasks to the workers through this multi-producer, multi-consumer FIFO. Tasks are stored by
 * value in the slots of a bounded ring (Vyukov's bounded MPMC queue, 2010): a post of a small
 * lambda allocates nothing. When the ring is full, tasks go to an overflow list under a mutex;
 * while the overflow holds anything, producers append there too, so each producer's tasks stay
 * in FIFO order.
 *
 * Roles. Producer: any thread (push). Consumer: workers, and cancel_pending's caller (pop).
 * Closer: shutdown (close).
 *
 * Shared state.
 *   enqueue_pos_  uint64: bits 0-62 the next ring index to fill; bit 63 `closed`.
 *                 Producers CAS it; close() sets the bit.
 *   dequeue_pos_  uint64: the next ring index to take. Consumers CAS it.
 *   slot.seq      uint64 per slot: == index when free for the producer of `index`,
 *                 == index + 1 when filled for the consumer of `index`.
 *   slot.item     the task; owned by whoever the seq value designates (never accessed by two).
 *   overflow_     std::deque of tasks, guarded by overflow_mutex_; overflow_size_ mirrors its
 *                 size for lock-free checks.
 *
 * Protocol.
 *   Q1 push: claim index i by CAS on enqueue_pos_ (fails if closed), move the task into slot i,
 *      publish by storing seq = i + 1. If the ring is full, or the overflow is non-empty, push
 *      to the overflow under its mutex (fails if closed).
 *   Q2 pop: claim index j by CAS on dequeue_pos_ once slot j's seq says filled, move the task
 *      out, free the slot by storing seq = j + capacity. A slot that is claimed by a producer
 *      but not yet filled makes pop report `busy` (work is coming, do not sleep on it).
 *      When the ring is empty, pop from the overflow, under its mutex and only if the ring is
 *      still empty there; otherwise go back to the ring. Without that re-check a consumer
 *      delayed between its look at the ring and the overflow could take a producer's task from
 *      the overflow while that producer's older tasks sit in the ring.
 *   Q3 close: set the closed bit, then mark the overflow closed under its mutex. After close
 *      returns, every push fails (except the pool's internal ones, which bypass the bit);
 *      every push that succeeded is visible to consumers.
 *
 * Invariants.
 *   I1 Every task that push accepted is returned exactly once by pop.
 *   I2 A slot's item is touched only by the thread that the slot's seq designates.
 *   I3 After close(), no outside push succeeds; pushes that linearized before it are in the
 *      queue, so "closed and empty" stays empty (the pool's drain relies on this).
 *   I4 Tasks of one producer are popped in the order it pushed them: a producer writes to the
 *      ring only while the overflow is empty, and a consumer takes from the overflow only
 *      while the ring is empty (checked under the overflow mutex).
 *
 * Memory orders (location — order — pairs with — why weaker fails).
 *   slot.seq load in push/pop — acquire — the release store of the other side — the item
 *     written (or taken) before that store must be seen complete.
 *   slot.seq store — release — the acquire load above.
 *   enqueue_pos_ CAS — seq_cst — the sleep controller's announce(): a producer publishes work
 *     with this RMW and then loads the sleepers count; a worker about to park bumps that count
 *     and then loads enqueue_pos_ (looks_empty). Only seq_cst orders both store-load pairs.
 *   dequeue_pos_ CAS — seq_cst — the pool's idle detection reads both positions in one seq_cst
 *     order; relaxed would be enough for the queue itself (the slot's seq carries the data).
 *   overflow_size_ RMWs — seq_cst — same Dekker pair as enqueue_pos_ for overflow pushes.
 *   overflow_size_ plain loads — relaxed in push (a hint; the mutex decides), seq_cst in
 *     looks_empty (the Dekker pair).
 *
 * Verification. tests/unit/injection_queue_test.cpp (FIFO, exactly-once with 4 producers and
 * 2 consumers across overflow, close semantics).
 */

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <utility>

#include <weft/detail/task.hpp>
#include <weft/detail/thread_annotations.hpp>
#include <weft/detail/tuning.hpp>

namespace weft {
inline namespace v1 {
namespace detail {

/// Multi-producer, multi-consumer FIFO of tasks with a closable entrance.
class injection_queue {
 public:
  /// Outcome of pop().
  enum class pop_status : unsigned char { taken, empty, busy };

  /// Creates an empty queue whose ring has `ring_slots` slots (a power of two).
  explicit injection_queue(std::size_t ring_slots = injection_ring_slots);
  injection_queue(const injection_queue&) = delete;
  injection_queue& operator=(const injection_queue&) = delete;
  ~injection_queue();

  /// Appends `t` (step Q1). Returns false, leaving `t` untouched, if the queue is closed and
  /// `bypass_close` is false. Thread: any.
  bool push(task& t, bool bypass_close = false);

  /// Takes the oldest task into `out` (step Q2). Thread: any.
  pop_status pop(task& out);

  /// True if no task is queued or being queued. seq_cst loads: usable as the re-check of a
  /// worker about to park. Thread: any.
  [[nodiscard]] bool looks_empty() const noexcept;

  /// Number of queued tasks (approximate while pushes and pops are in flight). Thread: any.
  [[nodiscard]] std::size_t size() const noexcept;

  /// Refuses further outside pushes (step Q3). Idempotent. Thread: any.
  void close() noexcept;

  /// True once close() was called. Thread: any.
  [[nodiscard]] bool is_closed() const noexcept;

 private:
  struct alignas(cache_line) slot {
    std::atomic<std::uint64_t> seq{0};
    task item;
  };
  static_assert(sizeof(slot) == cache_line, "one slot per cache line");

  static constexpr std::uint64_t closed_bit = std::uint64_t{1} << 63;

  bool push_overflow(task& t, bool bypass_close);
  /// Outcome of pop_overflow().
  enum class overflow_pop : unsigned char { taken, empty, ring_refilled };
  overflow_pop pop_overflow(task& out);

  std::size_t mask_;
  std::unique_ptr<slot[]> slots_;
  // Producers hammer enqueue_pos_, consumers dequeue_pos_: one line each.
  alignas(cache_line) std::atomic<std::uint64_t> enqueue_pos_{0};
  alignas(cache_line) std::atomic<std::uint64_t> dequeue_pos_{0};
  alignas(cache_line) std::atomic<std::size_t> overflow_size_{0};
  mutex overflow_mutex_;
  std::deque<task> overflow_ WEFT_GUARDED_BY(overflow_mutex_);
  bool overflow_closed_ WEFT_GUARDED_BY(overflow_mutex_) = false;
};

}  // namespace detail
}  // namespace v1
}  // namespace weft
