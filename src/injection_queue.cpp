// The injection queue: see the design note in include/weft/detail/injection_queue.hpp, whose
// step numbers (Q1-Q3) and invariants (I1-I3) the comments below cite.

#include <weft/detail/assert.hpp>
#include <weft/detail/injection_queue.hpp>

namespace weft {
inline namespace v1 {
namespace detail {

injection_queue::injection_queue(std::size_t ring_slots)
    : mask_(ring_slots - 1), slots_(std::make_unique<slot[]>(ring_slots)) {
  WEFT_ASSERT(ring_slots >= 2 && (ring_slots & (ring_slots - 1)) == 0,
              "the ring size is a power of two");
  for (std::size_t i = 0; i < ring_slots; ++i) {
    slots_[i].seq.store(i, std::memory_order_relaxed);  // not shared before construction ends
  }
}

injection_queue::~injection_queue() = default;  // leftover tasks cancel themselves (task.hpp)

bool injection_queue::push(task& t, bool bypass_close) {
  // relaxed: a hint; the CAS below re-validates the position.
  std::uint64_t pos = enqueue_pos_.load(std::memory_order_relaxed);
  for (;;) {
    if ((pos & closed_bit) != 0 && !bypass_close) {
      return false;  // keeps I3
    }
    // relaxed: a hint for FIFO order; a stale zero only lets this task into the ring early.
    if (overflow_size_.load(std::memory_order_relaxed) != 0) {
      return push_overflow(t, bypass_close);
    }
    const std::uint64_t index = pos & ~closed_bit;
    slot& s = slots_[index & mask_];
    // acquire: pairs with the consumer's release in pop(); the slot's old task is gone.
    const std::uint64_t seq = s.seq.load(std::memory_order_acquire);
    const auto diff = static_cast<std::int64_t>(seq - index);
    if (diff == 0) {
      // seq_cst: the publishing RMW of the parking Dekker pair (design note).
      if (enqueue_pos_.compare_exchange_weak(pos, pos + 1, std::memory_order_seq_cst,
                                             std::memory_order_relaxed)) {
        s.item = std::move(t);                              // Q1; we own the slot (I2)
        s.seq.store(index + 1, std::memory_order_release);  // pairs with pop()'s acquire
        return true;
      }
    } else if (diff < 0) {
      return push_overflow(t, bypass_close);  // the ring is full
    } else {
      pos = enqueue_pos_.load(std::memory_order_relaxed);  // another producer won; retry
    }
  }
}

bool injection_queue::push_overflow(task& t, bool bypass_close) {
  const unique_lock lock(overflow_mutex_);
  if (overflow_closed_ && !bypass_close) {
    return false;  // keeps I3
  }
  overflow_.push_back(std::move(t));
  // seq_cst: the publishing RMW of the parking Dekker pair for overflow pushes.
  overflow_size_.fetch_add(1, std::memory_order_seq_cst);
  return true;
}

injection_queue::pop_status injection_queue::pop(task& out) {
  for (;;) {
    // relaxed: a hint; the CAS re-validates it and the slot's seq carries the data.
    std::uint64_t pos = dequeue_pos_.load(std::memory_order_relaxed);
    for (;;) {
      slot& s = slots_[pos & mask_];
      // acquire: pairs with the producer's release in push(); the task is fully written.
      const std::uint64_t seq = s.seq.load(std::memory_order_acquire);
      const auto diff = static_cast<std::int64_t>(seq - (pos + 1));
      if (diff == 0) {
        // seq_cst: one total order with enqueue_pos_ for the pool's idle detection.
        if (dequeue_pos_.compare_exchange_weak(pos, pos + 1, std::memory_order_seq_cst,
                                               std::memory_order_relaxed)) {
          out = std::move(s.item);                                  // Q2; we own the slot (I2)
          s.seq.store(pos + mask_ + 1, std::memory_order_release);  // free it for the next lap
          return pop_status::taken;
        }
      } else if (diff < 0) {
        // Not filled. If a producer has claimed this index, its task is coming: say busy.
        const std::uint64_t tail = enqueue_pos_.load(std::memory_order_seq_cst) & ~closed_bit;
        if (tail > pos) {
          return pop_status::busy;
        }
        break;
      } else {
        pos = dequeue_pos_.load(std::memory_order_relaxed);  // another consumer won; retry
      }
    }
    switch (pop_overflow(out)) {
      case overflow_pop::taken:
        return pop_status::taken;
      case overflow_pop::empty:
        return pop_status::empty;
      case overflow_pop::ring_refilled:
        break;  // producers filled the ring meanwhile; its tasks are older (Q2): take them first
    }
  }
}

injection_queue::overflow_pop injection_queue::pop_overflow(task& out) {
  // seq_cst: the re-check side of the overflow Dekker pair.
  if (overflow_size_.load(std::memory_order_seq_cst) == 0) {
    return overflow_pop::empty;
  }
  const unique_lock lock(overflow_mutex_);
  if (overflow_.empty()) {
    return overflow_pop::empty;
  }
  // The ring looked empty before the lock, but a producer may since have filled it and then
  // spilled its next task into the overflow (Q2). Whatever a producer put in the ring before
  // pushing the overflow's tasks is visible here (the mutex orders it), so an empty ring now
  // means no task in the overflow has an older sibling from its producer left in the ring.
  // seq_cst loads: the same order as the positions' RMWs.
  const std::uint64_t head = dequeue_pos_.load(std::memory_order_seq_cst);
  const std::uint64_t tail = enqueue_pos_.load(std::memory_order_seq_cst) & ~closed_bit;
  if (tail != head) {
    return overflow_pop::ring_refilled;
  }
  out = std::move(overflow_.front());
  overflow_.pop_front();
  overflow_size_.fetch_sub(1, std::memory_order_seq_cst);  // same order as the increment
  return overflow_pop::taken;
}

bool injection_queue::looks_empty() const noexcept {
  // seq_cst loads: the re-check side of the parking Dekker pair (design note).
  const std::uint64_t head = dequeue_pos_.load(std::memory_order_seq_cst);
  const std::uint64_t tail = enqueue_pos_.load(std::memory_order_seq_cst) & ~closed_bit;
  return tail == head && overflow_size_.load(std::memory_order_seq_cst) == 0;
}

std::size_t injection_queue::size() const noexcept {
  const std::uint64_t head = dequeue_pos_.load(std::memory_order_seq_cst);
  const std::uint64_t tail = enqueue_pos_.load(std::memory_order_seq_cst) & ~closed_bit;
  const std::size_t ring = tail > head ? static_cast<std::size_t>(tail - head) : 0;
  return ring + overflow_size_.load(std::memory_order_seq_cst);
}

void injection_queue::close() noexcept {
  // seq_cst: after this RMW, a producer's CAS either linearized before it (its task is in the
  // ring) or sees the bit (Q3, I3).
  enqueue_pos_.fetch_or(closed_bit, std::memory_order_seq_cst);
  const unique_lock lock(overflow_mutex_);
  overflow_closed_ = true;
}

bool injection_queue::is_closed() const noexcept {
  // acquire: a caller that sees the bit also sees what the closer did before closing.
  return (enqueue_pos_.load(std::memory_order_acquire) & closed_bit) != 0;
}

}  // namespace detail
}  // namespace v1
}  // namespace weft
