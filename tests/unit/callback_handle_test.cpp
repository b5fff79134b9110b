// Tests of removable callbacks: future::on_done_removable and weft::callback_handle (step F8
// of the shared state). A removed callback never runs and its captures go at once; removal
// races the completion and exactly one side wins; removal never waits for a running callback.
// Removed nodes are unlinked by later removable registrations (step F9), which keeps the live
// callbacks in registration order and hands the stack over when the future completes meanwhile
// (tests/alloc/callback_memory_test.cpp shows the memory staying flat).
//
// Tasks are held at known points with gates (support/task_gates.hpp), never with sleeps.

#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "support/task_gates.hpp"
#include "support/test_support.hpp"
#include <weft/callback_handle.hpp>
#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/thread_pool.hpp>

namespace {

using weft_test::event_timeout;

TEST(CallbackHandle, RemovedBeforeCompletionNeverRunsAndItsCapturesGoAtOnce) {
  weft::thread_pool pool{1};
  weft_test::worker_gate hold(pool, 1);
  ASSERT_TRUE(hold.all_running());
  weft::future<int> f = pool.submit([] { return 7; });
  auto capture = std::make_shared<int>(0);
  std::atomic<int> runs{0};
  weft::callback_handle h = f.on_done_removable([capture, &runs] { runs.fetch_add(1); });
  ASSERT_TRUE(h.valid());
  EXPECT_EQ(capture.use_count(), 2) << "the registration holds the capture";
  EXPECT_TRUE(h.remove());
  EXPECT_EQ(capture.use_count(), 1) << "remove() destroyed the callable before it returned";
  EXPECT_FALSE(h.remove()) << "a second remove() must say it removed nothing";
  hold.open();
  EXPECT_EQ(f.get_for(weft_test::scaled(event_timeout)), 7);
  pool.wait();
  EXPECT_EQ(runs.load(), 0);
}

TEST(CallbackHandle, DroppingTheHandleKeepsTheCallbackRegistered) {
  weft::thread_pool pool{1};
  weft_test::worker_gate hold(pool, 1);
  ASSERT_TRUE(hold.all_running());
  weft::future<int> f = pool.submit([] { return 1; });
  const weft_test::event ran;
  {
    const weft::callback_handle h = f.on_done_removable([ran] { ran.set(); });
  }
  hold.open();
  EXPECT_TRUE(ran.wait_for(event_timeout));
}

TEST(CallbackHandle, OnADoneFutureItRunsAtOnceAndCannotBeRemoved) {
  weft::thread_pool pool{1};
  weft::future<int> f = pool.submit([] { return 3; });
  ASSERT_EQ(f.get_for(weft_test::scaled(event_timeout)), 3);
  int seen = 0;
  weft::callback_handle h =
      f.on_done_removable([&seen](const weft::future<int>& g) { seen = g.get(); });
  EXPECT_EQ(seen, 3);
  EXPECT_FALSE(h.remove());
}

TEST(CallbackHandle, AnImmediateCallbacksExceptionReachesTheCaller) {
  weft::thread_pool pool{1};
  weft::future<int> f = pool.submit([] { return 3; });
  f.wait();
  EXPECT_THROW(static_cast<void>(f.on_done_removable([] { throw std::runtime_error("boom"); })),
               std::runtime_error);
}

TEST(CallbackHandle, RemovingOneKeepsTheOthersInRegistrationOrder) {
  weft::thread_pool pool{1};
  weft_test::worker_gate hold(pool, 1);
  ASSERT_TRUE(hold.all_running());
  weft::future<void> f = pool.submit([] {});
  std::vector<int> order;  // written by the completing worker only
  const weft_test::event last_ran;
  f.on_done([&order] { order.push_back(1); });
  weft::callback_handle middle = f.on_done_removable([&order] { order.push_back(2); });
  weft::callback_handle kept = f.on_done_removable([&order] { order.push_back(3); });
  f.on_done([&order, last_ran] {
    order.push_back(4);
    last_ran.set();
  });
  EXPECT_TRUE(middle.remove());
  hold.open();
  ASSERT_TRUE(last_ran.wait_for(event_timeout));
  pool.wait();
  EXPECT_EQ(order, (std::vector<int>{1, 3, 4}));
  EXPECT_FALSE(kept.remove()) << "it ran";
}

TEST(CallbackHandle, CompactionKeepsTheLiveCallbacksInRegistrationOrder) {
  weft::thread_pool pool{1};
  weft_test::worker_gate hold(pool, 1);
  ASSERT_TRUE(hold.all_running());
  weft::future<void> f = pool.submit([] {});
  std::vector<int> order;  // written by the completing worker only
  std::vector<int> expected;
  std::vector<weft::callback_handle> kept;
  f.on_done([&order] { order.push_back(-1); });
  expected.push_back(-1);
  // 500 removable registrations, every seventh kept: about 60 compactions pass over the stack.
  for (int i = 0; i < 500; ++i) {
    weft::callback_handle h = f.on_done_removable([&order, i] { order.push_back(i); });
    if (i % 7 == 0) {
      kept.push_back(std::move(h));
      expected.push_back(i);
    } else {
      ASSERT_TRUE(h.remove()) << "registration " << i;
    }
    if (i % 100 == 50) {
      f.on_done([&order, i] { order.push_back(1000 + i); });  // plain callbacks in between
      expected.push_back(1000 + i);
    }
  }
  const weft_test::event last_ran;
  f.on_done([&order, last_ran] {
    order.push_back(-2);
    last_ran.set();
  });
  expected.push_back(-2);
  hold.open();
  ASSERT_TRUE(last_ran.wait_for(event_timeout));
  pool.wait();
  EXPECT_EQ(order, expected);
  for (weft::callback_handle& h : kept) {
    EXPECT_FALSE(h.remove()) << "a kept callback ran";
  }
}

TEST(CallbackHandle, MovingTransfersTheRegistration) {
  weft::thread_pool pool{1};
  weft_test::worker_gate hold(pool, 1);
  ASSERT_TRUE(hold.all_running());
  weft::future<void> f = pool.submit([] {});
  std::atomic<int> runs{0};
  weft::callback_handle a = f.on_done_removable([&runs] { runs.fetch_add(1); });
  weft::callback_handle b = std::move(a);
  EXPECT_FALSE(a.valid());   // NOLINT(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
  EXPECT_FALSE(a.remove());  // NOLINT(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
  ASSERT_TRUE(b.valid());
  EXPECT_TRUE(b.remove());
  b.reset();
  EXPECT_FALSE(b.valid());
  hold.open();
  f.wait();
  pool.wait();
  EXPECT_EQ(runs.load(), 0);
}

TEST(CallbackHandle, TheHandleOutlivesTheFutureAndThePool) {
  std::atomic<int> runs{0};
  weft::callback_handle h;
  {
    weft::thread_pool pool{1};
    weft::future<int> f = pool.submit([] { return 1; });
    h = f.on_done_removable([&runs] { runs.fetch_add(1); });
  }
  EXPECT_EQ(runs.load(), 1) << "the destructor ran the task, so the callback ran";
  EXPECT_FALSE(h.remove());
  h.reset();
}

TEST(CallbackHandle, RemovalFromInsideAnotherCallbackOfTheSameFuture) {
  weft::thread_pool pool{1};
  weft_test::worker_gate hold(pool, 1);
  ASSERT_TRUE(hold.all_running());
  weft::future<void> f = pool.submit([] {});
  std::atomic<int> second_runs{0};
  std::atomic<bool> removed{false};
  weft::callback_handle second;
  f.on_done([&second, &removed] { removed.store(second.remove()); });
  second = f.on_done_removable([&second_runs] { second_runs.fetch_add(1); });
  hold.open();
  f.wait();
  pool.wait();
  EXPECT_TRUE(removed.load()) << "the earlier callback ran first and took the later one back";
  EXPECT_EQ(second_runs.load(), 0);
}

// remove() racing the completion: exactly one side wins, every round.
TEST(CallbackHandleStress, RemoveRacingCompletionRunsOrRemovesExactlyOnce) {
  const std::size_t rounds = weft_test::iterations<std::size_t>(20'000, 2'000);
  weft::thread_pool pool{2};
  // Delays remove() after the task's release, so that it lands on either side of the
  // callback's claim.
  weft_test::race_balancer balancer(weft_test::seed());
  std::size_t removed_rounds = 0;
  for (std::size_t round = 0; round < rounds; ++round) {
    // The task spins on a flag rather than blocking on a gate: a wake-up would put its
    // completion far beyond the balancer's reach. (A spin, not a yield: each yield is a
    // system call, as long as the whole window.)
    auto go = std::make_shared<std::atomic<bool>>(false);
    auto started = std::make_shared<std::atomic<bool>>(false);
    weft::future<void> f = pool.submit([go, started] {
      started->store(true, std::memory_order_release);
      while (!go->load(std::memory_order_acquire)) {
      }
    });
    ASSERT_TRUE(weft_test::wait_until([&] { return started->load(std::memory_order_acquire); },
                                      event_timeout));
    auto runs = std::make_shared<std::atomic<int>>(0);
    weft::callback_handle h =
        f.on_done_removable([runs] { runs->fetch_add(1, std::memory_order_relaxed); });
    go->store(true, std::memory_order_release);
    balancer.pause();
    const bool removed = h.remove();
    f.wait();
    pool.wait();  // the callback, if it runs, has run
    ASSERT_EQ(runs->load(std::memory_order_relaxed), removed ? 0 : 1) << "round " << round;
    ASSERT_EQ(runs.use_count(), 1) << "round " << round << ": the callable outlived its end";
    removed_rounds += removed ? 1 : 0;
    balancer.record(removed);  // remove() is the delayed side: early means it won
  }
  RecordProperty("removed_rounds", static_cast<int>(removed_rounds));
}

// Two registrars add and remove callbacks on one future, compacting its stack (F9), while the
// task completes: a completion that meets a compaction hands the stack to the compactor. Every
// callback whose remove() failed runs exactly once, on whichever thread, and no removed one runs.
TEST(CallbackHandleStress, CompactionRacingCompletionLosesNoCallback) {
  const std::size_t rounds = weft_test::iterations<std::size_t>(2'000, 200);
  constexpr std::size_t registrars = 2;
  constexpr std::size_t per_registrar = 40;
  weft::thread_pool pool{1};
  for (std::size_t round = 0; round < rounds; ++round) {
    auto go = std::make_shared<std::atomic<bool>>(false);
    weft::future<void> f = pool.submit([go] {
      while (!go->load(std::memory_order_acquire)) {
      }
    });
    std::vector<std::atomic<int>> runs(registrars * per_registrar);
    std::vector<char> removed(runs.size(), 0);
    std::atomic<std::size_t> registered{0};
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < registrars; ++t) {
      threads.emplace_back([&, t] {
        for (std::size_t i = 0; i < per_registrar; ++i) {
          const std::size_t k = t * per_registrar + i;
          weft::callback_handle h =
              f.on_done_removable([&runs, k] { runs[k].fetch_add(1, std::memory_order_relaxed); });
          if (i % 3 != 0) {
            removed[k] = h.remove() ? 1 : 0;
          }
          registered.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    // Complete the task somewhere in the middle of the registrations.
    const std::size_t release_at = round % (registrars * per_registrar);
    ASSERT_TRUE(weft_test::wait_until(
        [&] { return registered.load(std::memory_order_relaxed) >= release_at; }, event_timeout));
    go->store(true, std::memory_order_release);
    for (std::thread& thread : threads) {
      thread.join();  // callbacks handed to a registrar ran inside its call
    }
    f.wait();
    pool.wait();  // and those on the worker have run
    for (std::size_t k = 0; k < runs.size(); ++k) {
      ASSERT_EQ(runs[k].load(std::memory_order_relaxed), removed[k] != 0 ? 0 : 1)
          << "round " << round << ", callback " << k;
    }
  }
}

}  // namespace
