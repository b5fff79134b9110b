// injection_queue_model.cpp: Relacy model checks of detail::basic_injection_queue.
//
// The queue is instantiated with weft_model::relacy_sync (relacy_policy.hpp): the template that
// ships, with Relacy's atomics, a backoff whose pause() yields to Relacy's scheduler (the waits
// of steps Q1 and Q2), and blocks of the smallest size the queue allows (lap 4: 3 slots and the
// end mark), so that claiming a block's last slot, linking the next block, moving tail and head
// past the mark, the release walk (Q3) and the reuse of a spare block all happen inside a
// handful of pushes. The item is model_item, whose identity is an rl::var: Relacy checks every
// access to a slot's payload (fill's move in, pop's move out, the next fill after the block is
// reused) against happens-before and reports a data race where the queue's orderings do not
// order two of them. Every block is a set of Relacy objects, so a block that the queue loses
// (neither reused nor freed by the destructor) is a reported leak.
//
// What every model checks (after all threads finished, and then after draining what is left):
// each accepted item is popped exactly once (no loss, no duplicate, I1), nothing that was not
// accepted is popped (no invention; a tombstone is never returned), each consumer sees each
// producer's items in push order (I4), and the queue ends empty (looks_empty, size). Models
// with close() also check I3: the closer's drain, after close(), finds every accepted item, so
// nothing is left behind it.
//
// Negative controls instantiate the same template with a policy that weakens one memory order
// (a wrapper of model_atomic that rewrites it); Relacy must then report the data race that
// order prevents:
//   - slot.written's store release -> relaxed (the only release store of a 32-bit atomic in the
//     queue): a consumer moves the item out of a slot whose fill it does not see;
//   - slot.done's exchanges acq_rel -> acquire (no release half): a consumer's move-out is not
//     ordered before the release walk that retires the block, so the fill of a reused block
//     races with it.
//
// Searches (about 40 s in all at -O2, the models' build flags; the file's report lists each):
// see main(). WEFT_MODEL_SEARCH=full|bound:<n>|random:<n> replaces every search (soak runs); a
// first argument runs only the models whose name contains it.
//
// Exit status: 0 if every model gave its expected result, 1 otherwise.

#include <cstddef>
#include <cstdint>
#include <iostream>
#include <memory>
#include <source_location>
#include <type_traits>

#include <weft/detail/injection_queue.hpp>

// Last: Relacy's macros would rewrite system headers included after it.
#include "relacy_policy.hpp"

namespace {

constexpr std::size_t model_lap = 4;  // 3 slots per block: the smallest lap the queue accepts
constexpr int no_item = -1;

// The model's task: an identity in a Relacy-tracked variable. Moving reads the source and
// writes both sides, as a task's move does; an empty item (no_item) is a tombstone.
class model_item {
 public:
  model_item() : id_(no_item) {}
  explicit model_item(int id) : id_(id) {}
  model_item(const model_item&) = delete;
  model_item& operator=(const model_item&) = delete;
  model_item& operator=(model_item&& other) noexcept {
    const int id = other.id_($);
    other.id_($) = no_item;
    id_($) = id;
    return *this;
  }
  ~model_item() = default;

  explicit operator bool() const { return id() != no_item; }
  int id() const { return id_($); }

 private:
  rl::var<int> id_;
};

template <class Policy>
using queue_with = weft::detail::basic_injection_queue<model_item, Policy>;

// ---- Weakening policies for the negative controls -------------------------------------------

// model_atomic<T> with one operation's order rewritten: store `From` -> `To` if IsStore, else
// exchange `From` -> `To`. Every other operation forwards unchanged.
template <class T, bool IsStore, std::memory_order From, std::memory_order To>
class weakened_atomic : public weft_model::model_atomic<T> {
  using base = weft_model::model_atomic<T>;
  using loc = std::source_location;

 public:
  using base::base;

  void store(T value, std::memory_order mo = std::memory_order_seq_cst, loc l = loc::current()) {
    base::store(value, IsStore && mo == From ? To : mo, l);
  }
  T exchange(T value, std::memory_order mo = std::memory_order_seq_cst, loc l = loc::current()) {
    return base::exchange(value, !IsStore && mo == From ? To : mo, l);
  }
};

// The queue's only 32-bit atomics are slot.written and slot.done, so a policy that weakens the
// operations of atomic<std::uint32_t> weakens exactly the slot protocol.
template <bool IsStore, std::memory_order From, std::memory_order To>
struct weakened_slot_policy : weft_model::relacy_sync {
  template <class T>
  using atomic =
      std::conditional_t<std::is_same_v<T, std::uint32_t>, weakened_atomic<T, IsStore, From, To>,
                         weft_model::model_atomic<T>>;
};

// slot.written.store(1, release) in fill() becomes relaxed.
using relaxed_written =
    weakened_slot_policy<true, std::memory_order_release, std::memory_order_relaxed>;
// slot.done.exchange(..., acq_rel) in pop() and the release walk loses its release half.
using acquire_only_done =
    weakened_slot_policy<false, std::memory_order_acq_rel, std::memory_order_acquire>;

// ---- Shared part of the suites --------------------------------------------------------------

// `Producers` producers push items with ids producer * per_producer + sequence; `Consumers`
// consumers (and, in after(), the drain) pop. Relacy runs one fiber at a time, so the
// bookkeeping is plain data.
template <class Policy, int Producers, int PerProducer, int Consumers>
struct queue_fixture {
  static constexpr int items = Producers * PerProducer;
  static constexpr int drain = Consumers;  // the consumer index of after()'s drain

  // Heap-allocated: Relacy places the suite in malloc'ed memory, which is not aligned for the
  // queue's cache-line-aligned members.
  std::unique_ptr<queue_with<Policy>> q = std::make_unique<queue_with<Policy>>(model_lap);
  bool offered[items] = {};   // its push started
  bool accepted[items] = {};  // its push returned true
  int popped[items] = {};
  int popped_by[items] = {};
  int last_seen[Consumers + 1][Producers] = {};  // per consumer: the last sequence per producer

  queue_fixture() {
    for (auto& row : last_seen) {
      for (int& seq : row) {
        seq = -1;
      }
    }
  }

  // One block reserve per producer (Q0), for the models whose producers reserve first.
  typename queue_with<Policy>::block_reserve reserves[Producers];

  // Pushes item `seq` of `producer`; returns whether the queue accepted it. With `reserved`,
  // the producer first reserves a block (Q0, as the pool's admission does before it builds a
  // task), and the push must then not need one of its own.
  bool push(int producer, int seq, bool bypass_close = false, bool reserved = false) {
    const int id = producer * PerProducer + seq;
    model_item it(id);
    offered[id] = true;
    typename queue_with<Policy>::block_reserve* r = nullptr;
    if (reserved) {
      r = &reserves[producer];
      q->reserve(*r);
      RL_ASSERT(r->holds());
    }
    const bool ok = q->push(it, bypass_close, r);
    RL_ASSERT(ok == !it);  // accepted: moved in; refused: left untouched
    accepted[id] = ok;
    return ok;
  }

  // Claims a position, then fills it with a tombstone (a task that could not be built).
  void push_tombstone() {
    const auto claimed = q->claim();
    RL_ASSERT(claimed);
    model_item empty;
    q->fill(claimed, empty);
  }

  // Pops once for `consumer`; records and checks what it got. Returns whether it got an item.
  bool pop(int consumer) {
    model_item out;
    if (q->pop(out) != queue_with<Policy>::pop_status::taken) {
      RL_ASSERT(!out);
      return false;
    }
    const int id = out.id();
    RL_ASSERT(id >= 0 && id < items);  // no invention, and never a tombstone
    RL_ASSERT(offered[id]);            // (whether accepted is known once its push returns)
    RL_ASSERT(popped[id] == 0);        // no duplicate (I1)
    popped[id] += 1;
    popped_by[id] = consumer;
    const int producer = id / PerProducer;
    const int seq = id % PerProducer;
    RL_ASSERT(seq > last_seen[consumer][producer]);  // FIFO per producer (I4)
    last_seen[consumer][producer] = seq;
    return true;
  }

  // Drains what the threads left, then checks exactly-once and emptiness.
  void drain_and_check() {
    for (int p = 0; p < Producers; ++p) {
      int latest = -1;  // every consumer popped before the drain: it comes after them (I4)
      for (int c = 0; c < Consumers; ++c) {
        latest = last_seen[c][p] > latest ? last_seen[c][p] : latest;
      }
      last_seen[drain][p] = latest;
    }
    while (pop(drain)) {
    }
    for (int id = 0; id < items; ++id) {
      RL_ASSERT(popped[id] == (accepted[id] ? 1 : 0));  // no loss, no duplicate (I1)
    }
    RL_ASSERT(q->looks_empty());
    RL_ASSERT(q->size() == 0);
  }
};

// ---- The models -----------------------------------------------------------------------------

// Invariant: with 2 producers pushing 2 items each (4 items: the third position is a block's
// last slot, so the queue links a second block and moves tail and head past the end mark) and
// `Consumers` consumers popping `Attempts` times each, every item is popped exactly once, in
// push order per producer, and each consumer sees the payload its producer wrote.
// With Reserved, each producer reserves a block before each push (Q0): the block that the
// claim of the last slot links comes from a reserve, the reserves draw on the spares, and
// the same checks hold (a reserved block that the queue loses is a reported leak).
template <int Consumers, int Attempts, class Policy = weft_model::relacy_sync,
          bool Reserved = false>
struct producers_consumers
    : rl::test_suite<producers_consumers<Consumers, Attempts, Policy, Reserved>, 2 + Consumers,
                     std::is_same_v<Policy, weft_model::relacy_sync> ? rl::test_result_success
                                                                     : rl::test_result_data_race>,
      queue_fixture<Policy, 2, 2, Consumers> {
  void thread(unsigned index) {
    if (index < 2) {
      const int producer = static_cast<int>(index);
      RL_ASSERT(this->push(producer, 0, false, Reserved));
      RL_ASSERT(this->push(producer, 1, false, Reserved));
    } else {
      for (int attempt = 0; attempt < Attempts; ++attempt) {
        this->pop(static_cast<int>(index) - 2);
      }
    }
  }

  void after() { this->drain_and_check(); }
};

// Invariant: a tombstone (a claimed position filled with an empty item, what a claimer whose
// item could not be built does; the pool makes none, since it builds before it pushes) is
// skipped by pop and never returned, also when it is a block's last slot or a consumer waits
// for its fill; the items around it are each popped exactly once.
struct tombstone : rl::test_suite<tombstone, 3>, queue_fixture<weft_model::relacy_sync, 2, 2, 1> {
  void thread(unsigned index) {
    if (index == 0) {
      RL_ASSERT(push(0, 0));
      push_tombstone();
      RL_ASSERT(push(0, 1));
    } else if (index == 1) {
      RL_ASSERT(push(1, 0));
      RL_ASSERT(push(1, 1));
    } else {
      for (int attempt = 0; attempt < 3; ++attempt) {
        pop(0);
      }
    }
  }

  void after() { drain_and_check(); }
};

// Invariant (I3): while 2 producers push (3 items: the third takes a block's last slot) and a
// closer closes the queue and then drains it, every push either fails, leaving its item
// untouched, or is popped by the closer's drain: nothing accepted is left behind a drain that
// found the queue closed and empty. A push with bypass_close (the pool's continuation path) is
// always accepted.
struct close_vs_push : rl::test_suite<close_vs_push, 3>,
                       queue_fixture<weft_model::relacy_sync, 2, 2, 1> {
  static constexpr int closer = 0;     // the consumer index of the closer's drain
  static constexpr int bypass_id = 3;  // producer 1's second item

  void thread(unsigned index) {
    if (index == 0) {
      push(0, 0);
      push(0, 1);
    } else if (index == 1) {
      push(1, 0);
      RL_ASSERT(push(1, 1, /*bypass_close=*/true));
    } else {
      q->close();
      RL_ASSERT(q->is_closed());
      while (pop(closer)) {
      }
    }
  }

  void after() {
    RL_ASSERT(q->is_closed());
    drain_and_check();
    for (int id = 0; id < items; ++id) {
      // A push that did not bypass the close and was accepted took its position before the
      // close, so the closer's drain popped it. (Its push may return after that drain.)
      if (accepted[id] && id != bypass_id) {
        RL_ASSERT(popped_by[id] == closer);
      }
    }
  }
};

// Invariant (I2): when a block is retired by one consumer's release walk while another consumer
// still moves its item out, and then reused as the producer's next block, the fill of a reused
// slot comes after the previous consumer's move-out (no data race), and every item is popped
// exactly once. Setup: items 0-2 fill block 0 before the threads start; the producer then
// pushes items 3-6: item 5 takes block 1's last slot and with it the spare (block 0, if both
// consumers are done with it), and item 6 lands in block 0's first slot again.
template <class Policy = weft_model::relacy_sync>
struct block_reuse
    : rl::test_suite<block_reuse<Policy>, 3,
                     std::is_same_v<Policy, weft_model::relacy_sync> ? rl::test_result_success
                                                                     : rl::test_result_data_race>,
      queue_fixture<Policy, 1, 7, 2> {
  void before() {
    for (int seq = 0; seq < 3; ++seq) {
      RL_ASSERT(this->push(0, seq));
    }
  }

  void thread(unsigned index) {
    if (index == 0) {
      for (int seq = 3; seq < 7; ++seq) {
        RL_ASSERT(this->push(0, seq));
      }
    } else {
      // Consumer 0 takes one item, consumer 1 two: the walk of whoever takes slot 2 meets a
      // slot that the other consumer may still be reading.
      const int attempts = index == 1 ? 1 : 2;
      for (int attempt = 0; attempt < attempts; ++attempt) {
        this->pop(static_cast<int>(index) - 1);
      }
    }
  }

  void after() { this->drain_and_check(); }
};

// Invariant (Q3, I2): when the walk of the consumer of a block's last slot stops at a slot that
// another consumer is still reading, that consumer, seeing the `release` bit, continues the
// walk and retires the block, and a fill of the reused block by a third thread comes after
// every move-out from it, the walker's own included. Setup: items 0-4 fill block 0 and two
// slots of block 1. Consumer 0 pops once and then pushes (it may fill the reused block's first
// slot); consumer 1 pops twice (slots 0 and 2, say, walking past slot 1); the producer takes
// block 1's last slot, and with it the spare. Unlike block_reuse, the fill of the reused slot
// is not always by the thread that took the spare, whose size() check in fill() (it opened a
// block) reads head_ and so would order it after the walker anyway.
struct walk_handoff : rl::test_suite<walk_handoff, 3>,
                      queue_fixture<weft_model::relacy_sync, 2, 6, 2> {
  void before() {
    for (int seq = 0; seq < 5; ++seq) {
      RL_ASSERT(push(0, seq));
    }
  }

  void thread(unsigned index) {
    if (index == 0) {
      RL_ASSERT(push(0, 5));
    } else if (index == 1) {
      pop(0);
      RL_ASSERT(push(1, 0));
    } else {
      pop(1);
      pop(1);
    }
  }

  void after() { drain_and_check(); }
};

using weft_model::context_bound;
using weft_model::negative;
using weft_model::random_runs;

}  // namespace

int main(int argc, char** argv) {
  using weft_model::run;
  weft_model::select_models(argc, argv);
  bool ok = true;
  ok &= run<producers_consumers<1, 4>>("2 producers x 2 items vs 1 consumer",
                                       "every item popped exactly once, FIFO per producer",
                                       context_bound(2));
  ok &= run<producers_consumers<2, 2>>("2 producers x 2 items vs 2 consumers",
                                       "every item popped exactly once, FIFO per producer",
                                       context_bound(1));
  ok &= run<producers_consumers<2, 2>>("2 producers x 2 items vs 2 consumers, random",
                                       "every item popped exactly once, FIFO per producer",
                                       random_runs(500000));
  ok &= run<producers_consumers<2, 2, weft_model::relacy_sync, true>>(
      "2 reserving producers x 2 items vs 2 consumers, random",
      "every item popped exactly once, FIFO per producer; no block lost", random_runs(500000));
  ok &= run<tombstone>("tombstone between items", "a tombstone is skipped, never returned",
                       context_bound(1));
  ok &= run<tombstone>("tombstone between items, random", "a tombstone is skipped, never returned",
                       random_runs(500000));
  ok &= run<close_vs_push>("close and drain vs 2 producers",
                           "every push fails or is drained after close (I3)", context_bound(2));
  ok &= run<block_reuse<>>("block reuse vs 2 consumers",
                           "a reused slot's fill comes after the last move-out (I2)",
                           context_bound(1));
  ok &= run<block_reuse<>>("block reuse vs 2 consumers, random",
                           "a reused slot's fill comes after the last move-out (I2)",
                           random_runs(1000000));
  ok &= run<walk_handoff>("release walk hand-off and reuse, random",
                          "the fill of a reused slot comes after every move-out (Q3, I2)",
                          random_runs(500000));
  ok &= run<producers_consumers<1, 4, relaxed_written>>(
      "negative control: slot.written stored relaxed",
      "must report a data race on a slot's payload", negative(context_bound(1)));
  ok &= run<block_reuse<acquire_only_done>>("negative control: slot.done exchanged without release",
                                            "must report a data race on a reused slot's payload",
                                            negative(context_bound(1)));
  return weft_model::finish(ok, "injection-queue");
}
