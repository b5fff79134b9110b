// The injection queue: see the design note in include/weft/detail/injection_queue.hpp, whose
// step numbers (Q1-Q4) and invariants (I1-I5) the comments below cite.

#include <bit>
#include <new>
#include <thread>

#include <weft/detail/assert.hpp>
#include <weft/detail/backoff.hpp>
#include <weft/detail/injection_queue.hpp>

namespace weft {
inline namespace v1 {
namespace detail {

/// A header line, then lap - 1 slots, in one allocation.
struct injection_queue::block {
  alignas(cache_line) std::atomic<block*> next{nullptr};

  slot* slots() noexcept { return reinterpret_cast<slot*>(this + 1); }

  static block* create(std::size_t slot_count) {
    static_assert(sizeof(block) == cache_line, "the header is one line; slots stay aligned");
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
      first[i].~slot();  // empty tasks after their moves; a leftover cancels itself
    }
    b->~block();
    ::operator delete (static_cast<void*>(b), std::align_val_t{alignof(block)});
  }
};

namespace {

/// Waits until `ready()` holds: the other side of a position that is taken but not yet done
/// (a producer writing its slot, a thread moving a position past an end mark) is a few
/// instructions from finishing, unless the scheduler preempted it; then yield to it.
template <class Ready>
void wait_for(Ready ready) noexcept {
  backoff bo;
  while (!ready()) {
    bo.pause();
  }
}

}  // namespace

injection_queue::injection_queue(std::size_t block_lap)
    : lap_(block_lap), lap_bits_(static_cast<unsigned>(std::countr_zero(block_lap))) {
  WEFT_ASSERT(block_lap >= 4 && std::has_single_bit(block_lap),
              "the block lap is a power of two, at least 4");
  block* first = block::create(lap_ - 1);
  // relaxed: nothing is shared before construction ends.
  tail_block_.store(first, std::memory_order_relaxed);
  head_block_.store(first, std::memory_order_relaxed);
}

injection_queue::~injection_queue() {
  task leftover;
  while (pop(leftover) == pop_status::taken) {
    leftover = task{};  // destroyed unrun: it cancels itself (task.hpp)
  }
  // relaxed: the destructor runs alone.
  block::destroy(head_block_.load(std::memory_order_relaxed), lap_ - 1);
  for (std::atomic<block*>& spare : spares_) {
    if (block* b = spare.load(std::memory_order_relaxed)) {
      block::destroy(b, lap_ - 1);
    }
  }
}

injection_queue::block* injection_queue::new_block() {
  for (std::atomic<block*>& spare : spares_) {
    // relaxed peek, then acq_rel: acquire the releaser's reset of the block (Q3).
    if (spare.load(std::memory_order_relaxed) != nullptr) {
      if (block* b = spare.exchange(nullptr, std::memory_order_acq_rel)) {
        return b;
      }
    }
  }
  return block::create(lap_ - 1);
}

void injection_queue::retire(block* b) noexcept {
  // Every slot was read (I2): reset the block for reuse. relaxed: the exchange publishes it.
  slot* first = b->slots();
  for (std::size_t i = 0; i + 1 < lap_; ++i) {
    first[i].written.store(0, std::memory_order_relaxed);
    first[i].done.store(0, std::memory_order_relaxed);
  }
  b->next.store(nullptr, std::memory_order_relaxed);
  for (std::atomic<block*>& spare : spares_) {
    block* expected = nullptr;
    // acq_rel: release the reset above to the next new_block().
    if (spare.compare_exchange_strong(expected, b, std::memory_order_acq_rel,
                                      std::memory_order_relaxed)) {
      return;
    }
  }
  block::destroy(b, lap_ - 1);
}

void injection_queue::release_from(block* b, std::size_t first) noexcept {
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

injection_queue::claimed_slot injection_queue::claim(bool bypass_close) {
  // acquire: pairs with the release that moved tail_ past an end mark (the block pointer).
  std::uint64_t tail = tail_.load(std::memory_order_acquire);
  block* b = tail_block_.load(std::memory_order_acquire);
  block* next = nullptr;  // the next block, got before taking a block's last slot
  backoff bo;
  for (;;) {
    if ((tail & closed_bit) != 0 && !bypass_close) {
      if (next != nullptr) {
        retire(next);
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
      next = new_block();  // may throw: nothing claimed
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
        retire(next);  // another producer took the last slot after all
      }
      return {&b->slots()[offset], last_slot};  // we own the slot (I2)
    }
    b = tail_block_.load(std::memory_order_acquire);
  }
}

void injection_queue::fill(claimed_slot claimed, task& t) noexcept {
  slot& s = *claimed.place;
  s.item = std::move(t);
  s.written.store(1, std::memory_order_release);  // pairs with pop()'s acquire
  if (claimed.opened_block && size() > injection_backlog_yield) {
    std::this_thread::yield();  // far ahead of the workers: let them run (tuning.hpp)
  }
}

injection_queue::pop_status injection_queue::pop(task& out) noexcept {
  // acquire: pairs with the release that moved head_ past an end mark (the block pointer).
  std::uint64_t head = head_.load(std::memory_order_acquire);
  block* b = head_block_.load(std::memory_order_acquire);
  backoff bo;
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
      // acquire: pairs with the producer's release; the task is fully written.
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
      // A tombstone (a claimer whose task could not be built): take the next position.
      head = head_.load(std::memory_order_acquire);
      b = head_block_.load(std::memory_order_acquire);
      continue;
    }
    b = head_block_.load(std::memory_order_acquire);
  }
}

std::uint64_t injection_queue::count(std::uint64_t position_word) const noexcept {
  const std::uint64_t position = position_word >> 1;
  return (position >> lap_bits_) * (lap_ - 1) + (position & (lap_ - 1));  // I5
}

bool injection_queue::looks_empty() const noexcept {
  // seq_cst loads: the re-check side of the parking Dekker pair (design note).
  const std::uint64_t head = head_.load(std::memory_order_seq_cst);
  const std::uint64_t tail = tail_.load(std::memory_order_seq_cst);
  return count(tail) <= count(head);
}

std::size_t injection_queue::size() const noexcept {
  const std::uint64_t head = head_.load(std::memory_order_seq_cst);
  const std::uint64_t tail = tail_.load(std::memory_order_seq_cst);
  const std::uint64_t queued_from = count(head);
  const std::uint64_t queued_to = count(tail);
  return queued_to > queued_from ? static_cast<std::size_t>(queued_to - queued_from) : 0;
}

void injection_queue::close() noexcept {
  // seq_cst: after this RMW, a producer's CAS either linearized before it (its task is in the
  // queue) or fails and sees the bit (Q4, I3).
  tail_.fetch_or(closed_bit, std::memory_order_seq_cst);
}

bool injection_queue::is_closed() const noexcept {
  // acquire: a caller that sees the bit also sees what the closer did before closing.
  return (tail_.load(std::memory_order_acquire) & closed_bit) != 0;
}

}  // namespace detail
}  // namespace v1
}  // namespace weft
