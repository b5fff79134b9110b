// Tests of cancellation and stop requests (RELIABILITY.md group D): cancel() on queued (D1),
// running (D2) and finished (D3) tasks, the cancel-versus-start race (D4), cancel_pending (D6),
// the pool's request_stop (D7), shutdown with cancel_pending (D8), cancel then join (D9), and
// the release of a cancelled task's captures at cancel time.
//
// A task is known to be queued when every worker is held by a worker_gate
// (support/task_gates.hpp); every count is checked per task, never by timing.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stop_token>
#include <vector>

#include <gtest/gtest.h>

#include "support/pool_helpers.hpp"
#include "support/task_gates.hpp"
#include "support/test_support.hpp"
#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/thread_pool.hpp>

namespace {

using namespace std::chrono_literals;
using weft::future_state;
using weft_test::event_timeout;

// A join that has not returned after this long is hung, not slow (scaled).
constexpr auto join_bound = 10s;

class CancelOnPool : public ::testing::TestWithParam<weft_test::pool_size> {};

// ---- D1, D2, D3 ----------------------------------------------------------------------------

TEST_P(CancelOnPool, QueuedTaskNeverRuns) {
  const std::size_t threads = GetParam().threads;
  std::atomic<int> ran{0};
  std::atomic<int> callbacks{0};
  weft::thread_pool pool{threads};
  weft_test::worker_gate hold(pool, threads);
  ASSERT_TRUE(hold.all_running());
  const weft::pool_stats before = pool.stats();
  weft::future<int> f = pool.submit([&ran] {
    ran.fetch_add(1, std::memory_order_relaxed);
    return 1;
  });
  f.on_done([&callbacks] { callbacks.fetch_add(1, std::memory_order_relaxed); });
  EXPECT_TRUE(f.cancel());
  EXPECT_EQ(callbacks.load(), 1) << "callbacks run when the cancel completes the future";
  EXPECT_THROW(static_cast<void>(f.get()), weft::cancelled_error);
  EXPECT_EQ(pool.stats().cancelled - before.cancelled, 1U);
  hold.open();
  pool.join();
  EXPECT_EQ(ran.load(), 0) << "a cancelled task ran";
  EXPECT_EQ(callbacks.load(), 1);
  EXPECT_EQ(f.state(), future_state::cancelled);
  const weft::pool_stats after = pool.stats();
  EXPECT_EQ(after.cancelled - before.cancelled, 1U);
  EXPECT_EQ(after.completed - before.completed, static_cast<std::uint64_t>(threads));  // gates
}

TEST_P(CancelOnPool, RunningTaskIsNotStopped) {
  weft::thread_pool pool{GetParam().threads};
  const weft_test::event started;
  const weft_test::gate finish;
  weft::future<int> f = pool.submit([started, go = finish.waiter()] {
    started.set();
    go.wait();
    return 2;
  });
  ASSERT_TRUE(started.wait_for(event_timeout));
  EXPECT_FALSE(f.cancel());
  EXPECT_FALSE(f.cancel());
  EXPECT_TRUE(f.running());
  finish.open();
  EXPECT_EQ(f.get(), 2);
  pool.wait();
  EXPECT_EQ(pool.stats().cancelled, 0U);
}

TEST_P(CancelOnPool, RequestStopEndsARunningTaskThatPollsItsToken) {
  std::atomic<bool> stop_seen{false};
  weft::thread_pool pool{GetParam().threads};
  const weft_test::event started;
  weft::future<int> f = pool.submit([started, &stop_seen](std::stop_token token) {
    started.set();
    int rounds = 0;
    // Polls its token like a long computation; bounded so a failure cannot hang the test.
    const bool stopped = weft_test::wait_until(
        [&] {
          ++rounds;
          return token.stop_requested();
        },
        event_timeout);
    stop_seen.store(stopped, std::memory_order_relaxed);
    return rounds;
  });
  ASSERT_TRUE(started.wait_for(event_timeout));
  EXPECT_FALSE(f.cancel()) << "cancel() must not stop a running task";
  EXPECT_TRUE(f.request_stop());
  EXPECT_GT(f.get(), 0);
  EXPECT_TRUE(stop_seen.load()) << "the task returned without seeing its stop request";
  EXPECT_EQ(f.state(), future_state::succeeded) << "a stopped task returned normally";
  EXPECT_FALSE(f.request_stop()) << "the second request changes nothing";
}

TEST(Cancel, FinishedTaskKeepsItsOutcome) {
  weft::thread_pool pool{1};
  weft::future<int> succeeded = pool.submit([] { return 4; });
  weft::future<int> failed = pool.submit([]() -> int { throw 5; });
  ASSERT_TRUE(succeeded.wait_for(event_timeout));
  ASSERT_TRUE(failed.wait_for(event_timeout));
  pool.wait();
  const weft::pool_stats before = pool.stats();
  EXPECT_FALSE(succeeded.cancel());
  EXPECT_FALSE(failed.cancel());
  EXPECT_EQ(succeeded.state(), future_state::succeeded);
  EXPECT_EQ(succeeded.get(), 4);
  EXPECT_EQ(failed.state(), future_state::failed);
  EXPECT_THROW(static_cast<void>(failed.get()), int);
  EXPECT_EQ(pool.stats().cancelled, before.cancelled);
}

TEST(Cancel, SecondCancelReturnsFalseAndCountsOnce) {
  weft::thread_pool pool{1};
  weft_test::worker_gate hold(pool, 1);
  ASSERT_TRUE(hold.all_running());
  weft::future<int> f = pool.submit([] { return 1; });
  const weft::future<int> copy = f;
  EXPECT_TRUE(f.cancel());
  EXPECT_FALSE(f.cancel());
  EXPECT_FALSE(weft::future<int>(copy).cancel());
  hold.open();
  pool.wait();
  EXPECT_EQ(f.state(), future_state::cancelled);
  EXPECT_EQ(pool.stats().cancelled, 1U);
}

// ---- D4 ------------------------------------------------------------------------------------

TEST_P(CancelOnPool, CancelRacingStartExactlyOneSideWins) {
  const std::size_t rounds = weft_test::stress_count(100'000, 20'000);
  std::vector<std::atomic<int>> ran(rounds);
  std::vector<char> cancel_won(rounds, 0);
  std::vector<weft::future<void>> futures;
  futures.reserve(rounds);
  // A random pause between submit and cancel, balanced so that each side wins about half the
  // rounds: the cancel keeps landing close to the task's start.
  weft_test::race_balancer balance(weft_test::seed());
  weft::thread_pool pool{GetParam().threads};
  const weft::pool_stats before = pool.stats();
  for (std::size_t i = 0; i < rounds; ++i) {
    futures.push_back(pool.submit([&ran, i] { ran[i].fetch_add(1, std::memory_order_relaxed); }));
    balance.pause();
    cancel_won[i] = futures.back().cancel() ? 1 : 0;
    balance.record(cancel_won[i] != 0);
  }
  pool.wait();
  std::uint64_t cancels = 0;
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < rounds && wrong < 10; ++i) {
    const int runs = ran[i].load();
    const future_state s = futures[i].state();
    const bool ok = cancel_won[i] != 0 ? runs == 0 && s == future_state::cancelled
                                       : runs == 1 && s == future_state::succeeded;
    if (!ok) {
      ++wrong;
      ADD_FAILURE() << "task " << i << ": cancel() returned " << (cancel_won[i] != 0) << ", ran "
                    << runs << " times, state " << ::testing::PrintToString(s);
    }
    cancels += cancel_won[i] != 0 ? 1U : 0U;
  }
  const weft::pool_stats after = pool.stats();
  EXPECT_EQ(after.cancelled - before.cancelled, cancels);
  EXPECT_EQ(after.completed - before.completed, rounds - cancels);
  RecordProperty("cancel_won", static_cast<int>(cancels));
  RecordProperty("start_won", static_cast<int>(rounds - cancels));
}

// ---- D6 ------------------------------------------------------------------------------------

TEST_P(CancelOnPool, CancelPendingCancelsExactlyTheQueuedTasks) {
  const std::size_t threads = GetParam().threads;
  constexpr std::size_t queued_tasks = 20;
  constexpr std::size_t cancelled_first = 5;
  std::vector<std::atomic<int>> ran(queued_tasks);
  weft::thread_pool pool{threads};
  weft_test::worker_gate hold(pool, threads);
  ASSERT_TRUE(hold.all_running());
  const weft::pool_stats before = pool.stats();
  std::vector<weft::future<void>> queued;
  for (std::size_t i = 0; i < queued_tasks; ++i) {
    queued.push_back(pool.submit([&ran, i] { ran[i].fetch_add(1, std::memory_order_relaxed); }));
  }
  for (std::size_t i = 0; i < cancelled_first; ++i) {
    ASSERT_TRUE(queued[i].cancel());
  }
  EXPECT_EQ(pool.cancel_pending(), queued_tasks - cancelled_first)
      << "cancel_pending must count only the tasks it cancelled";
  for (const auto& blocker : hold.blockers()) {
    EXPECT_EQ(blocker.state(), future_state::running) << "a running task was touched";
  }
  for (const auto& f : queued) {
    EXPECT_EQ(f.state(), future_state::cancelled);
  }
  EXPECT_EQ(pool.cancel_pending(), 0U);
  hold.open();
  pool.wait();
  for (const auto& blocker : hold.blockers()) {
    EXPECT_EQ(blocker.state(), future_state::succeeded);
  }
  for (std::size_t i = 0; i < queued_tasks; ++i) {
    EXPECT_EQ(ran[i].load(), 0) << "cancelled task " << i << " ran";
  }
  const weft::pool_stats after = pool.stats();
  EXPECT_EQ(after.cancelled - before.cancelled, queued_tasks);
  EXPECT_EQ(after.queued, 0U);
}

TEST(CancelPending, CountsPostedTasks) {
  std::atomic<int> ran{0};
  weft::thread_pool pool{1};
  weft_test::worker_gate hold(pool, 1);
  ASSERT_TRUE(hold.all_running());
  const weft::pool_stats before = pool.stats();
  for (int i = 0; i < 10; ++i) {
    pool.post([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
  }
  std::vector<weft::future<void>> submitted;
  for (int i = 0; i < 5; ++i) {
    submitted.push_back(pool.submit([&ran] { ran.fetch_add(1, std::memory_order_relaxed); }));
  }
  EXPECT_EQ(pool.cancel_pending(), 15U);
  EXPECT_EQ(pool.stats().cancelled - before.cancelled, 15U);
  hold.open();
  pool.join();
  EXPECT_EQ(ran.load(), 0);
  for (const auto& f : submitted) {
    EXPECT_TRUE(f.cancelled());
  }
}

TEST(CancelPending, CancelsTasksQueuedInAWorkersOwnDeque) {
  constexpr std::size_t children = 10;
  std::atomic<int> ran{0};
  std::vector<weft::future<int>> nested;  // written by the parent before `spawned` is set
  weft::thread_pool pool{1};
  const weft_test::event spawned;
  const weft_test::gate finish;
  weft::future<void> parent = pool.submit([&, spawned, go = finish.waiter()] {
    for (std::size_t i = 0; i < children; ++i) {
      nested.push_back(pool.submit([&ran] { return ran.fetch_add(1) + 1; }));
    }
    spawned.set();
    go.wait();  // the only worker stays here: the children stay in its deque
  });
  ASSERT_TRUE(spawned.wait_for(event_timeout));
  EXPECT_EQ(pool.cancel_pending(), children);
  for (const auto& f : nested) {
    EXPECT_TRUE(f.cancelled());
  }
  EXPECT_EQ(parent.state(), future_state::running);
  finish.open();
  parent.get();
  pool.join();
  EXPECT_EQ(ran.load(), 0);
}

// ---- Captures ------------------------------------------------------------------------------

TEST(Cancel, ReleasesTheCapturesAtCancelTime) {
  weft::thread_pool pool{1};
  weft_test::worker_gate hold(pool, 1);
  ASSERT_TRUE(hold.all_running());
  auto by_cancel = std::make_shared<int>(1);
  auto by_cancel_pending = std::make_shared<int>(2);
  auto posted = std::make_shared<int>(3);
  const std::weak_ptr<int> watch_cancel = by_cancel;
  const std::weak_ptr<int> watch_pending = by_cancel_pending;
  const std::weak_ptr<int> watch_posted = posted;
  weft::future<int> f = pool.submit([p = std::move(by_cancel)] { return *p; });
  weft::future<int> g = pool.submit([p = std::move(by_cancel_pending)] { return *p; });
  pool.post([p = std::move(posted)] { static_cast<void>(*p); });
  EXPECT_FALSE(watch_cancel.expired());
  ASSERT_TRUE(f.cancel());
  EXPECT_TRUE(watch_cancel.expired()) << "captures outlived cancel() (kept until dequeued)";
  EXPECT_FALSE(watch_pending.expired());
  EXPECT_EQ(pool.cancel_pending(), 2U);
  EXPECT_TRUE(watch_pending.expired());
  EXPECT_TRUE(watch_posted.expired());
  EXPECT_TRUE(g.cancelled());
}

// ---- D7 ------------------------------------------------------------------------------------

TEST_P(CancelOnPool, PoolRequestStopReachesSubmittedTasksButNotLaterOnes) {
  const std::size_t threads = GetParam().threads;
  std::atomic<std::size_t> running{0};
  std::atomic<int> posted_saw_stop{-1};
  weft::thread_pool pool{threads};
  // Every worker runs a task that polls its token (bounded) and reports whether it saw a stop.
  std::vector<weft::future<bool>> pollers;
  for (std::size_t i = 0; i < threads; ++i) {
    pollers.push_back(pool.submit([&running](std::stop_token token) {
      running.fetch_add(1, std::memory_order_acq_rel);
      return weft_test::wait_until([&] { return token.stop_requested(); }, event_timeout);
    }));
  }
  ASSERT_TRUE(weft_test::wait_until([&] { return running.load() == threads; }, event_timeout));
  // Queued behind the pollers: they report what their token says when they start.
  weft::future<bool> queued =
      pool.submit([](std::stop_token token) { return token.stop_requested(); });
  pool.post([&posted_saw_stop](std::stop_token token) {
    posted_saw_stop.store(token.stop_requested() ? 1 : 0, std::memory_order_relaxed);
  });
  weft::future<int> without_token = pool.submit([] { return 8; });
  pool.request_stop();
  weft::future<bool> later =
      pool.submit([](std::stop_token token) { return token.stop_requested(); });
  for (auto& f : pollers) {
    EXPECT_TRUE(f.get()) << "a running task did not see the pool's stop request";
  }
  EXPECT_TRUE(queued.get()) << "a queued task did not see the stop request made before it ran";
  EXPECT_FALSE(later.get()) << "a task submitted after request_stop() got a requested token";
  EXPECT_EQ(without_token.get(), 8);
  pool.wait();
  EXPECT_EQ(posted_saw_stop.load(), 1) << "a posted task did not see the stop request";
}

// ---- D8, D9 --------------------------------------------------------------------------------

TEST(CancelPending, AfterShutdownEveryFutureIsDoneOrCancelled) {
  constexpr std::size_t tasks = 50;
  const std::size_t rounds = weft_test::stress_count(200, 40);
  for (std::size_t round = 0; round < rounds; ++round) {
    std::vector<std::atomic<int>> ran(tasks);
    std::vector<weft::future<std::size_t>> futures;
    std::size_t cancelled_by_call = 0;
    {
      weft::thread_pool pool{2};
      for (std::size_t i = 0; i < tasks; ++i) {
        futures.push_back(pool.submit([&ran, i] {
          ran[i].fetch_add(1, std::memory_order_relaxed);
          return i;
        }));
      }
      pool.shutdown();
      cancelled_by_call = pool.cancel_pending();
      ASSERT_TRUE(pool.join_for(weft_test::scaled(join_bound))) << "round " << round;
    }
    std::size_t cancelled = 0;
    for (std::size_t i = 0; i < tasks; ++i) {
      const future_state s = futures[i].state();
      if (s == future_state::cancelled) {
        ++cancelled;
        EXPECT_EQ(ran[i].load(), 0) << "round " << round << ", task " << i;
      } else {
        EXPECT_EQ(s, future_state::succeeded) << "round " << round << ", task " << i;
        EXPECT_EQ(ran[i].load(), 1) << "round " << round << ", task " << i;
        EXPECT_EQ(futures[i].get(), i);
      }
    }
    EXPECT_EQ(cancelled, cancelled_by_call) << "round " << round;
    if (::testing::Test::HasFailure()) {
      break;
    }
  }
}

TEST(Cancel, CancelRightAfterSubmitThenJoinReturnsPromptly) {
  const std::size_t rounds = weft_test::stress_count(1'000, 200);
  for (std::size_t round = 0; round < rounds; ++round) {
    weft::thread_pool pool{2};
    weft::future<int> f = pool.submit([] { return 1; });
    const bool cancelled = f.cancel();
    ASSERT_TRUE(pool.join_for(weft_test::scaled(join_bound))) << "round " << round;
    EXPECT_EQ(f.state(), cancelled ? future_state::cancelled : future_state::succeeded);
  }
}

INSTANTIATE_TEST_SUITE_P(PoolSizes, CancelOnPool,
                         ::testing::ValuesIn(weft_test::standard_pool_sizes()),
                         weft_test::pool_size_name);

}  // namespace
