// Tests of the pool's end of life: shutdown, join, join_for, request_stop and the destructor
// (RELIABILITY.md L1-L7, L9, L10, M3, N2).
//
// - L1: shutdown() returns at once; later submit/post/submit_each throw weft::pool_shutdown;
//   queued tasks still run.
// - L2: tasks submitted by running tasks while the pool drains are accepted and run.
// - L3/L10: join_for returns false no earlier than its timeout while work remains, true after.
// - L4/N2: the destructor runs every accepted task; the thread count returns to its baseline.
// - L5: threads blocked in get() on futures of a pool being destroyed receive their results.
// - L6: shutdown() and join() are idempotent, also from several threads at once.
// - L7: submit racing shutdown on 1,000 pools: each submission is refused, or its future ends
//   succeeded or cancelled (never pending, never lost).
// - L9: request_stop() then join() returns with tasks polling their stop token endlessly.
// - M3: submitting after join() throws pool_shutdown, also from an atexit handler.

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <latch>
#include <memory>
#include <random>
#include <stop_token>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "support/pool_helpers.hpp"
#include "support/test_support.hpp"
#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/thread_pool.hpp>

namespace {

using namespace std::chrono_literals;
using weft_test::pool_size;

// Bounds waits that end quickly when the pool works (scaled); only bounds a failing test.
constexpr auto generous_bound = 20s;
// L9: join() after request_stop() must return this soon (scaled).
constexpr auto stop_join_bound = 1s;
// L3: the short timeout given to join_for while a task is held.
constexpr auto short_timeout = 50ms;

// Occupies every worker of a pool with a task that waits for release(), so that tasks
// submitted meanwhile stay queued.
class worker_blocker {
 public:
  worker_blocker(weft::thread_pool& pool, std::size_t threads) : threads_(threads) {
    for (std::size_t i = 0; i < threads; ++i) {
      pool.post([this] {
        started_.fetch_add(1);
        gate_.wait();
      });
    }
  }
  worker_blocker(const worker_blocker&) = delete;
  worker_blocker& operator=(const worker_blocker&) = delete;
  worker_blocker(worker_blocker&&) = delete;
  worker_blocker& operator=(worker_blocker&&) = delete;
  ~worker_blocker() { release(); }
  /// True once every worker holds a blocked task.
  [[nodiscard]] bool all_blocked() const {
    return weft_test::wait_until([&] { return started_.load() == threads_; }, generous_bound);
  }
  void release() {
    if (!released_.exchange(true)) {
      gate_.count_down();
    }
  }

 private:
  std::size_t threads_;
  std::atomic<std::size_t> started_{0};
  std::atomic<bool> released_{false};
  std::latch gate_{1};
};

class Shutdown : public ::testing::TestWithParam<pool_size> {};

TEST_P(Shutdown, ReturnsAtOnceAndQueuedTasksStillRun) {
  const std::size_t threads = GetParam().threads;
  weft::thread_pool pool{threads};
  worker_blocker blocker(pool, threads);
  ASSERT_TRUE(blocker.all_blocked());
  constexpr std::size_t queued = 100;
  std::vector<weft::future<std::size_t>> futures;
  for (std::size_t i = 0; i < queued; ++i) {
    futures.push_back(pool.submit([i] { return i; }));
  }
  // shutdown() must not wait for the blocked tasks: run it where a hang cannot stop the test.
  std::atomic<bool> returned{false};
  std::thread closer([&] {
    pool.shutdown();
    returned.store(true);
  });
  const bool prompt = weft_test::wait_until([&] { return returned.load(); }, generous_bound);
  EXPECT_TRUE(prompt) << "shutdown() waited for running tasks";

  EXPECT_THROW(pool.submit([] {}), weft::pool_shutdown);
  EXPECT_THROW(pool.post([] {}), weft::pool_shutdown);
  const std::vector<int> inputs{1, 2};
  EXPECT_THROW(pool.submit_each(inputs, [](int) {}), weft::pool_shutdown);
  blocker.release();
  closer.join();
  for (std::size_t i = 0; i < queued; ++i) {
    EXPECT_EQ(futures[i].get(), i) << "a task queued before shutdown() did not run";
  }
  pool.join();
  EXPECT_EQ(pool.stats().rejected, 3U);
}

TEST_P(Shutdown, TasksSubmittedDuringTheDrainRun) {
  const std::size_t threads = GetParam().threads;
  constexpr int depth = 7;  // each tree has 2^(depth+1) - 1 nodes
  constexpr int trees = 6;
  std::atomic<int> nodes{0};
  std::atomic<int> refused{0};
  weft::thread_pool pool{threads};
  worker_blocker blocker(pool, threads);
  ASSERT_TRUE(blocker.all_blocked());
  // A node spawns two children from inside the pool, alternating post and submit.
  struct node {
    weft::thread_pool* pool;
    std::atomic<int>* nodes;
    std::atomic<int>* refused;
    int level;
    void operator()() const {
      nodes->fetch_add(1);
      if (level == 0) {
        return;
      }
      const node child{pool, nodes, refused, level - 1};
      try {
        pool->post(child);
        static_cast<void>(pool->submit(child));  // the future is dropped; the task still runs
      } catch (const weft::error&) {
        refused->fetch_add(1);
      }
    }
  };
  for (int t = 0; t < trees; ++t) {
    pool.post(node{&pool, &nodes, &refused, depth});
  }
  pool.shutdown();  // the trees start only now: all their children come during the drain
  blocker.release();
  pool.join();
  EXPECT_EQ(refused.load(), 0) << "a submission from a running task was refused while draining";
  EXPECT_EQ(nodes.load(), trees * ((1 << (depth + 1)) - 1))
      << "tasks spawned while draining were lost";
}

TEST_P(Shutdown, DestructorRunsAllAcceptedTasksAndLeavesNoThread) {
  const std::size_t threads = GetParam().threads;
  const std::size_t baseline = weft_test::thread_count();
  constexpr std::size_t tasks = 1000;
  std::vector<std::atomic<int>> ran(tasks);
  {
    weft::thread_pool pool{threads};
    EXPECT_EQ(weft_test::thread_count(), baseline + threads) << "the pool started other threads";
    worker_blocker blocker(pool, threads);
    ASSERT_TRUE(blocker.all_blocked());
    for (std::size_t i = 0; i < tasks; ++i) {
      if (i % 2 == 0) {
        pool.post([&ran, i] { ran[i].fetch_add(1); });
      } else {
        static_cast<void>(pool.submit([&ran, i] { ran[i].fetch_add(1); }));  // future dropped
      }
    }
    blocker.release();
  }  // ~thread_pool: joins
  for (std::size_t i = 0; i < tasks; ++i) {
    ASSERT_EQ(ran[i].load(), 1) << "task " << i << " after the destructor";
  }
  EXPECT_TRUE(weft_test::wait_until([&] { return weft_test::thread_count() == baseline; }, 10s))
      << "threads after the destructor: " << weft_test::thread_count() << ", baseline " << baseline;
}

TEST_P(Shutdown, RequestStopLetsJoinEndTasksPollingTheirToken) {
  const std::size_t threads = GetParam().threads;
  std::atomic<std::size_t> started{0};
  std::atomic<bool> escape{false};  // set only if the test fails, so that it can end
  const auto endless = [&](const std::stop_token& token) {
    started.fetch_add(1);
    while (!token.stop_requested() && !escape.load()) {
      std::this_thread::yield();
    }
  };
  weft::thread_pool pool{threads};
  std::vector<weft::future<void>> futures;
  for (std::size_t i = 0; i < 2 * threads; ++i) {  // half run, half wait in the queue
    if (i % 2 == 0) {
      futures.push_back(pool.submit(endless));
    } else {
      pool.post(endless);
    }
  }
  ASSERT_TRUE(weft_test::wait_until([&] { return started.load() >= threads; }, generous_bound));
  pool.request_stop();
  const auto before = std::chrono::steady_clock::now();
  const bool joined = pool.join_for(weft_test::scaled(stop_join_bound));
  const auto took = std::chrono::steady_clock::now() - before;
  if (!joined) {
    escape.store(true);
  }
  EXPECT_TRUE(joined) << "join() did not return within "
                      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                      << " ms after request_stop()";
  EXPECT_EQ(started.load(), 2 * threads) << "queued token-polling tasks must run, then stop";
  for (auto& f : futures) {
    EXPECT_EQ(f.state(), weft::future_state::succeeded);
  }
}

INSTANTIATE_TEST_SUITE_P(PoolSizes, Shutdown, ::testing::ValuesIn(weft_test::standard_pool_sizes()),
                         weft_test::pool_size_name);

TEST(ShutdownSingle, RefusedSubmitLeavesTheCallableIntact) {
  weft::thread_pool pool{1};
  pool.shutdown();
  auto owned = std::make_unique<int>(9);
  auto callable = [p = std::move(owned)] { return *p; };
  EXPECT_THROW(pool.submit(std::move(callable)), weft::pool_shutdown);
  // Using the callable after the refused move is the point of the test: it must be intact.
  // NOLINTNEXTLINE(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
  EXPECT_EQ(callable(), 9) << "a refused submit consumed the callable";
}

TEST(ShutdownSingle, JoinForReturnsFalseNoEarlierThanItsTimeoutThenTrue) {
  weft::thread_pool pool{2};
  std::latch release{1};
  std::atomic<bool> started{false};
  auto held = pool.submit([&] {
    started.store(true);
    release.wait();  // never ends until released
    return 1;
  });
  ASSERT_TRUE(weft_test::wait_until([&] { return started.load(); }, generous_bound));
  const auto before = std::chrono::steady_clock::now();
  EXPECT_FALSE(pool.join_for(short_timeout)) << "join_for returned true while a task runs";
  const auto waited = std::chrono::steady_clock::now() - before;
  EXPECT_GE(waited, short_timeout) << "join_for gave up before its timeout";
  EXPECT_FALSE(pool.join_for(0ms)) << "a zero timeout polls";
  EXPECT_FALSE(pool.join_for(-5ms)) << "a negative timeout polls";
  EXPECT_THROW(pool.submit([] {}), weft::pool_shutdown) << "join_for must shut the pool down";
  release.count_down();
  EXPECT_TRUE(pool.join_for(weft_test::scaled(generous_bound)));
  EXPECT_EQ(held.get(), 1);
  EXPECT_TRUE(pool.join_for(0ms)) << "join_for after a successful join must stay true";
  pool.join();
}

TEST(ShutdownSingle, WaitersBlockedInGetReceiveResultsWhileThePoolIsDestroyed) {
  constexpr int tasks = 8;
  auto pool = std::make_unique<weft::thread_pool>(2);
  std::latch gate{1};
  std::vector<weft::future<int>> futures;
  futures.reserve(tasks);
  for (int i = 0; i < tasks; ++i) {
    futures.push_back(pool->submit([&gate, i] {
      gate.wait();
      return i * 10;
    }));
  }
  std::latch waiting{tasks};
  std::vector<int> results(tasks, -1);
  std::vector<std::thread> waiters;
  waiters.reserve(tasks);
  for (int i = 0; i < tasks; ++i) {
    waiters.emplace_back([&, i] {
      const auto k = static_cast<std::size_t>(i);
      waiting.count_down();
      try {
        results[k] = futures[k].get();
      } catch (...) {
        results[k] = -2;
      }
    });
  }
  waiting.wait();
  std::thread destroyer([&] { pool.reset(); });
  // Lets a wrong outcome happen: gives the destructor time to begin joining while the waiters
  // are blocked and the tasks have not finished. The test's correctness does not depend on it.
  std::this_thread::sleep_for(20ms);
  gate.count_down();
  destroyer.join();
  for (auto& w : waiters) {
    w.join();
  }
  for (int i = 0; i < tasks; ++i) {
    EXPECT_EQ(results[static_cast<std::size_t>(i)], i * 10) << "waiter " << i;
  }
}

TEST(ShutdownSingle, ShutdownAndJoinAreIdempotentFromSeveralThreads) {
  constexpr std::size_t callers = 8;
  constexpr std::size_t tasks = 200;
  std::vector<std::atomic<int>> ran(tasks);
  weft::thread_pool pool{4};
  std::latch gate{1};
  for (std::size_t i = 0; i < tasks; ++i) {
    pool.post([&gate, &ran, i] {
      gate.wait();
      ran[i].fetch_add(1);
    });
  }
  std::barrier sync(static_cast<std::ptrdiff_t>(callers + 1));
  std::vector<std::thread> threads;
  std::atomic<int> join_for_false{0};
  for (std::size_t c = 0; c < callers; ++c) {
    threads.emplace_back([&, c] {
      sync.arrive_and_wait();
      if (c % 2 == 0) {
        pool.shutdown();
        pool.join();
      } else {
        pool.join();
        pool.shutdown();
      }
      pool.shutdown();
      join_for_false.fetch_add(pool.join_for(0ms) ? 0 : 1);
    });
  }
  sync.arrive_and_wait();
  // Lets a wrong outcome happen: the callers are inside join() before the tasks can finish.
  std::this_thread::sleep_for(10ms);
  gate.count_down();
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(join_for_false.load(), 0) << "join_for(0) after join() returned false";
  pool.shutdown();
  pool.join();
  for (std::size_t i = 0; i < tasks; ++i) {
    ASSERT_EQ(ran[i].load(), 1) << "task " << i;
  }
}

TEST(ShutdownSingle, SubmitRacingShutdownIsNeverLost) {
  constexpr int pools = 1000;
  constexpr int submits = 64;
  std::mt19937_64 rng(weft_test::seed());
  int accepted_total = 0;
  int refused_total = 0;
  for (int round = 0; round < pools; ++round) {
    std::vector<std::atomic<int>> ran(submits);
    std::vector<std::pair<int, weft::future<void>>> accepted;
    int refused = 0;
    bool accepted_after_refusal = false;
    const int shut_at = static_cast<int>(rng() % submits);
    {
      weft::thread_pool pool{2};
      std::atomic<int> progress{0};
      std::thread submitter([&] {
        for (int k = 0; k < submits; ++k) {
          try {
            accepted.emplace_back(k,
                                  pool.submit([&ran, k] { ran[static_cast<std::size_t>(k)]++; }));
            accepted_after_refusal = accepted_after_refusal || refused > 0;
          } catch (const weft::pool_shutdown&) {
            ++refused;
          }
          progress.store(k + 1);
        }
      });
      // Shut down around submission number shut_at (polling: this picks the moment, it orders
      // nothing the test relies on).
      static_cast<void>(weft_test::wait_until([&] { return progress.load() >= shut_at; }, 10s));
      pool.shutdown();
      submitter.join();
    }  // ~thread_pool joins
    ASSERT_FALSE(accepted_after_refusal) << "round " << round << ": accepted after a refusal";
    ASSERT_EQ(static_cast<int>(accepted.size()) + refused, submits) << "round " << round;
    for (auto& [k, f] : accepted) {
      const weft::future_state s = f.state();
      const int runs = ran[static_cast<std::size_t>(k)].load();
      ASSERT_TRUE(s == weft::future_state::succeeded || s == weft::future_state::cancelled)
          << "round " << round << ", task " << k << " ended in state " << static_cast<int>(s);
      ASSERT_EQ(runs, s == weft::future_state::succeeded ? 1 : 0)
          << "round " << round << ", task " << k;
    }
    accepted_total += static_cast<int>(accepted.size());
    refused_total += refused;
  }
  // Both sides of the race must have happened, or the test proved nothing.
  EXPECT_GT(accepted_total, 0);
  EXPECT_GT(refused_total, 0);
}

TEST(ShutdownSingle, SubmitAfterJoinThrowsPoolShutdown) {
  weft::thread_pool pool{2};
  EXPECT_EQ(pool.submit([] { return 1; }).get(), 1);
  pool.join();
  EXPECT_THROW(pool.submit([] { return 2; }), weft::pool_shutdown);
  EXPECT_THROW(pool.post([] {}), weft::pool_shutdown);
  const std::vector<int> inputs{1};
  EXPECT_THROW(pool.submit_each(inputs, [](int x) { return x; }), weft::pool_shutdown);
  EXPECT_EQ(pool.stats().threads, 0U) << "workers still alive after join()";
}

// M3, in a child process: a function-local static pool, joined, then used from an atexit
// handler (which runs before the static's destructor).
[[noreturn]] void submit_from_atexit(bool join_first) {
  static weft::thread_pool pool{2};
  static_cast<void>(pool.submit([] {}));
  if (join_first) {
    pool.join();
  }
  std::atexit(+[] {
    try {
      const int v = pool.submit([] { return 42; }).get();
      std::fprintf(stderr, "atexit: accepted, result %d\n", v);
    } catch (const weft::pool_shutdown&) {
      std::fputs("atexit: refused with pool_shutdown\n", stderr);
    }
  });
  std::exit(0);  // NOLINT(concurrency-mt-unsafe): exiting with live workers is the test
}

TEST(ShutdownDeathTest, SubmitFromAtexitAfterJoinThrowsPoolShutdown) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(submit_from_atexit(true), ::testing::ExitedWithCode(0),
              "atexit: refused with pool_shutdown");
}

TEST(ShutdownDeathTest, SubmitFromAtexitBeforeJoinWorks) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(submit_from_atexit(false), ::testing::ExitedWithCode(0),
              "atexit: accepted, result 42");
}

}  // namespace
