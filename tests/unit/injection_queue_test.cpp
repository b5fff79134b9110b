// Tests of detail::injection_queue: FIFO order, exactly-once delivery across block boundaries,
// block release and reuse, close() semantics, and the size()/looks_empty() observers.
//
// Every test uses small blocks (7 slots) so that moving between blocks, releasing them and
// reusing the spare take part all the time. A task records its
// identity by running: each test pops a task and runs it, and the callable appends its id (or
// bumps its counter).

#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <latch>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/test_support.hpp"
#include <weft/detail/injection_queue.hpp>

namespace {

using weft::detail::injection_queue;
using weft::detail::run_outcome;
using weft::detail::task;
using pop_status = injection_queue::pop_status;

constexpr std::size_t small_lap = 8;  // 7 slots per block

// A task that appends `id` to `*out` when it runs.
task recording(std::vector<int>* out, int id) {
  return task([out, id] { out->push_back(id); });
}

// Pops one task (which must be there) and runs it.
void pop_and_run(injection_queue& q) {
  task t;
  ASSERT_EQ(q.pop(t), pop_status::taken);
  ASSERT_TRUE(t);
  std::exception_ptr error;
  EXPECT_EQ(t.run(error), run_outcome::succeeded);
}

TEST(InjectionQueue, EmptyQueuePopsNothing) {
  injection_queue q(small_lap);
  task t;
  EXPECT_EQ(q.pop(t), pop_status::empty);
  EXPECT_FALSE(t);
  EXPECT_TRUE(q.looks_empty());
  EXPECT_EQ(q.size(), 0U);
  EXPECT_FALSE(q.is_closed());
}

TEST(InjectionQueue, OneProducerGetsFifoOrderAcrossBlocks) {
  injection_queue q(small_lap);
  std::vector<int> ran;
  constexpr int n = 100;  // 15 blocks
  for (int i = 0; i < n; ++i) {
    task t = recording(&ran, i);
    ASSERT_TRUE(q.push(t));
    EXPECT_FALSE(t);  // moved into the queue
  }
  EXPECT_EQ(q.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    pop_and_run(q);
  }
  std::vector<int> expected(n);
  for (int i = 0; i < n; ++i) {
    expected[static_cast<std::size_t>(i)] = i;
  }
  EXPECT_EQ(ran, expected);
  EXPECT_TRUE(q.looks_empty());
}

TEST(InjectionQueue, InterleavedPushesAndPopsKeepFifoOrder) {
  // Pops release blocks (and make them the spare) while later pushes need new ones.
  injection_queue q(small_lap);
  std::vector<int> ran;
  int next = 0;
  for (int round = 0; round < 20; ++round) {
    for (int k = 0; k < 7; ++k) {
      task t = recording(&ran, next++);
      ASSERT_TRUE(q.push(t));
    }
    for (int k = 0; k < 5; ++k) {
      pop_and_run(q);
    }
  }
  while (!q.looks_empty()) {
    pop_and_run(q);
  }
  ASSERT_EQ(ran.size(), static_cast<std::size_t>(next));
  for (int i = 0; i < next; ++i) {
    EXPECT_EQ(ran[static_cast<std::size_t>(i)], i);
  }
}

TEST(InjectionQueue, SizeAndLooksEmptyCountAcrossBlocks) {
  injection_queue q(small_lap);
  std::vector<int> ran;
  EXPECT_TRUE(q.looks_empty());
  for (int i = 0; i < 12; ++i) {
    task t = recording(&ran, i);
    ASSERT_TRUE(q.push(t));
    EXPECT_EQ(q.size(), static_cast<std::size_t>(i + 1));
    EXPECT_FALSE(q.looks_empty());
  }
  for (int i = 12; i-- > 0;) {
    pop_and_run(q);
    EXPECT_EQ(q.size(), static_cast<std::size_t>(i));
    EXPECT_EQ(q.looks_empty(), i == 0);
  }
  task t;
  EXPECT_EQ(q.pop(t), pop_status::empty);
}

// A callable whose state shows whether it was run, destroyed, or is still alive.
struct probe_state {
  std::atomic<int> runs{0};
};

TEST(InjectionQueue, CloseRefusesLaterPushesAndLeavesTheTaskUntouched) {
  injection_queue q(small_lap);
  std::vector<int> ran;
  for (int i = 0; i < 3; ++i) {
    task t = recording(&ran, i);
    ASSERT_TRUE(q.push(t));
  }
  q.close();
  EXPECT_TRUE(q.is_closed());

  auto state = std::make_shared<probe_state>();
  task refused([state] { state->runs.fetch_add(1, std::memory_order_relaxed); });
  EXPECT_EQ(state.use_count(), 2);
  EXPECT_FALSE(q.push(refused));
  EXPECT_TRUE(refused);             // still holds its callable
  EXPECT_EQ(state.use_count(), 2);  // not copied, not destroyed
  EXPECT_EQ(q.size(), 3U);          // not queued
  std::exception_ptr error;
  EXPECT_EQ(refused.run(error), run_outcome::succeeded);  // and it still works
  EXPECT_EQ(state->runs.load(), 1);
  EXPECT_EQ(state.use_count(), 1);  // running consumed it

  task bypass = recording(&ran, 3);
  EXPECT_TRUE(q.push(bypass, /*bypass_close=*/true));
  EXPECT_FALSE(bypass);

  for (int i = 0; i < 4; ++i) {
    pop_and_run(q);  // queued tasks (and the bypass) still pop, in order
  }
  EXPECT_EQ(ran, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_TRUE(q.looks_empty());

  q.close();  // idempotent
  EXPECT_TRUE(q.is_closed());
  task late = recording(&ran, 4);
  EXPECT_FALSE(q.push(late));
  EXPECT_TRUE(late);
}

TEST(InjectionQueue, CloseRefusesPushesWhileTasksSpanBlocks) {
  injection_queue q(small_lap);
  std::vector<int> ran;
  constexpr int queued = 12;  // two blocks
  for (int i = 0; i < queued; ++i) {
    task t = recording(&ran, i);
    ASSERT_TRUE(q.push(t));
  }
  q.close();

  auto state = std::make_shared<probe_state>();
  task refused([state] { state->runs.fetch_add(1, std::memory_order_relaxed); });
  EXPECT_FALSE(q.push(refused));
  EXPECT_TRUE(refused);
  EXPECT_EQ(state.use_count(), 2);
  EXPECT_EQ(q.size(), static_cast<std::size_t>(queued));

  // Pop the first block empty: a push is still refused.
  for (int i = 0; i < 7; ++i) {
    pop_and_run(q);
  }
  EXPECT_FALSE(q.push(refused));
  EXPECT_TRUE(refused);

  task bypass = recording(&ran, queued);
  EXPECT_TRUE(q.push(bypass, /*bypass_close=*/true));
  while (!q.looks_empty()) {
    pop_and_run(q);
  }
  ASSERT_EQ(ran.size(), static_cast<std::size_t>(queued + 1));
  for (int i = 0; i <= queued; ++i) {
    EXPECT_EQ(ran[static_cast<std::size_t>(i)], i);
  }
  EXPECT_EQ(state->runs.load(), 0);  // the refused task never ran
}

TEST(InjectionQueue, LeftoverTasksAreCancelledNotRunWhenTheQueueIsDestroyed) {
  auto state = std::make_shared<probe_state>();
  {
    injection_queue q(small_lap);
    for (int i = 0; i < 20; ++i) {  // three blocks
      task t([state] { state->runs.fetch_add(1, std::memory_order_relaxed); });
      ASSERT_TRUE(q.push(t));
    }
    EXPECT_EQ(state.use_count(), 21);
  }
  EXPECT_EQ(state.use_count(), 1);   // every callable destroyed
  EXPECT_EQ(state->runs.load(), 0);  // none ran
}

// P producers x M tasks, C consumers: every task is delivered exactly once, and each consumer
// sees each producer's tasks in the order they were pushed (FIFO per producer, I4). Consumers
// that find the queue empty yield (the queue is lock-free; nothing to block on).
void check_exactly_once_and_fifo(int producers, int consumers, std::size_t lap, int per_producer) {
  const int total = producers * per_producer;
  injection_queue q(lap);

  std::vector<std::atomic<int>> runs(static_cast<std::size_t>(total));
  // Each consumer's last seen sequence number per producer, written by the tasks it runs.
  struct consumer_view {
    std::vector<int> last;
    int order_violations = 0;
    std::string first_violation;
  };
  std::vector<consumer_view> views(static_cast<std::size_t>(consumers));
  for (consumer_view& v : views) {
    v.last.assign(static_cast<std::size_t>(producers), -1);
  }
  thread_local consumer_view* current_view = nullptr;

  std::atomic<int> consumed{0};
  std::atomic<int> push_failures{0};
  std::latch start(producers + consumers);
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      start.arrive_and_wait();
      for (int i = 0; i < per_producer; ++i) {
        const int id = p * per_producer + i;
        task t([&runs, id, p, i] {
          runs[static_cast<std::size_t>(id)].fetch_add(1, std::memory_order_relaxed);
          consumer_view& v = *current_view;
          int& last = v.last[static_cast<std::size_t>(p)];
          if (i <= last && v.order_violations++ == 0) {
            v.first_violation = "producer " + std::to_string(p) + ": task " + std::to_string(i) +
                                " after task " + std::to_string(last);
          }
          last = i;
        });
        if (!q.push(t)) {
          push_failures.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  for (int c = 0; c < consumers; ++c) {
    threads.emplace_back([&, c] {
      current_view = &views[static_cast<std::size_t>(c)];
      start.arrive_and_wait();
      const auto deadline =
          std::chrono::steady_clock::now() + weft_test::scaled(std::chrono::seconds(60));
      while (consumed.load(std::memory_order_relaxed) < total) {
        task t;
        if (q.pop(t) == pop_status::taken) {
          std::exception_ptr error;
          t.run(error);
          consumed.fetch_add(1, std::memory_order_relaxed);
        } else if (std::chrono::steady_clock::now() > deadline) {
          return;  // reported below as missing tasks
        } else {
          std::this_thread::yield();
        }
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }

  EXPECT_EQ(push_failures.load(), 0);
  int wrong = 0;
  std::ostringstream bad;
  for (int id = 0; id < total; ++id) {
    const int r = runs[static_cast<std::size_t>(id)].load();
    if (r != 1 && ++wrong <= 10) {
      bad << " task " << id << " ran " << r << " times;";
    }
  }
  EXPECT_EQ(wrong, 0) << bad.str();
  EXPECT_EQ(consumed.load(), total);
  for (std::size_t c = 0; c < views.size(); ++c) {
    EXPECT_EQ(views[c].order_violations, 0)
        << "consumer " << c << ", first: " << views[c].first_violation;
  }
  EXPECT_TRUE(q.looks_empty());
  EXPECT_EQ(q.size(), 0U);
  task t;
  EXPECT_EQ(q.pop(t), pop_status::empty);
}

TEST(InjectionQueue, FourProducersTwoConsumersDeliverEachTaskExactlyOnce) {
  check_exactly_once_and_fifo(4, 2, small_lap, weft_test::iterations(50'000, 5'000));
}

// Three-slot blocks: nearly every pop crosses a block end or releases a block, with more
// consumers than producers (consumers often wait on a slot whose producer has not written yet).
TEST(InjectionQueue, TwoProducersFourConsumersOnTinyBlocks) {
  check_exactly_once_and_fifo(2, 4, 4, weft_test::iterations(50'000, 5'000));
}

// Default-sized blocks, one producer and one consumer: strict FIFO end to end.
TEST(InjectionQueue, OneProducerOneConsumerKeepStrictFifo) {
  check_exactly_once_and_fifo(1, 1, weft::detail::injection_block_lap,
                              weft_test::iterations(200'000, 20'000));
}

}  // namespace
