// Tests of thread_pool construction, naming, waiting and life cycles (RELIABILITY.md A1, A6,
// A7, L8, N2). Submission, hooks, statistics, scheduling and shutdown have their own files
// (submission_test, pool_hooks_test, pool_stats_test, scheduling_test, shutdown_test).
//
// - A1: thread_pool{} has hardware_concurrency() workers, thread_pool{n} has n; 0 means the
//   hardware count; the process gains exactly that many threads, and loses them at the end.
// - A6: with a name set, OS thread names are `name-i`, cut to Linux's 15-byte limit.
// - A7/L8: 10,000 create/submit/destroy cycles (1,000 in slow builds) never hang and leave no
//   thread behind.
// - wait()/wait_for() block until the pool is idle and leave it usable.

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <latch>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <pthread.h>

#include "support/pool_helpers.hpp"
#include "support/test_support.hpp"
#include <weft/pool_options.hpp>
#include <weft/this_worker.hpp>
#include <weft/thread_pool.hpp>

namespace {

using namespace std::chrono_literals;
using weft_test::pool_size;

// Bounds a wait for exited threads to leave /proc/self/task (scaled); only bounds a failure.
constexpr auto thread_exit_bound = 10s;
// Bounds waits that end quickly when the pool works (scaled); only bounds a failing test.
constexpr auto generous_bound = 20s;
// Linux keeps at most 15 bytes of a thread's name (TASK_COMM_LEN - 1).
constexpr std::size_t os_name_limit = 15;

[[nodiscard]] bool thread_count_returns_to(std::size_t baseline) {
  return weft_test::wait_until([&] { return weft_test::thread_count() == baseline; },
                               thread_exit_bound);
}

// The OS name of the calling thread.
std::string current_thread_name() {
  std::array<char, 64> buffer{};
  if (pthread_getname_np(pthread_self(), buffer.data(), buffer.size()) != 0) {
    return "<pthread_getname_np failed>";
  }
  return buffer.data();
}

// The OS name of every worker, by index, read by tasks running on each of them; empty if the
// tasks could not reach every worker.
std::vector<std::string> worker_names(weft::thread_pool& pool, std::size_t threads) {
  const auto seen = weft_test::on_every_worker(pool, threads, [] {
    return std::pair{weft::this_worker::index(), current_thread_name()};
  });
  if (!seen) {
    ADD_FAILURE() << "tasks never ran on all " << threads << " workers at once";
    return {};
  }
  std::vector<std::string> names(threads);
  for (const auto& [index, name] : *seen) {
    if (!index || *index >= threads) {
      ADD_FAILURE() << "a task saw a bad worker index";
      return {};
    }
    names[*index] = name;
  }
  return names;
}

// "name-i" cut so that the whole fits the OS limit: computed here independently of weft.
std::string expected_name(const std::string& pool_name, std::size_t index) {
  const std::string suffix = "-" + std::to_string(index);
  return pool_name.substr(0, os_name_limit - suffix.size()) + suffix;
}

// ---- A1: worker counts --------------------------------------------------------------------------

class ThreadPool : public ::testing::TestWithParam<pool_size> {};

TEST_P(ThreadPool, StartsTheRequestedNumberOfWorkers) {
  const std::size_t threads = GetParam().threads;
  const std::size_t baseline = weft_test::thread_count();
  {
    weft::thread_pool pool{threads};
    EXPECT_EQ(weft_test::thread_count(), baseline + threads)
        << "the process must gain exactly one thread per worker";
    EXPECT_EQ(pool.stats().threads, threads);
    EXPECT_EQ(worker_names(pool, threads).size(), threads);
  }
  EXPECT_TRUE(thread_count_returns_to(baseline))
      << "threads left: " << weft_test::thread_count() << ", baseline " << baseline;
}

TEST_P(ThreadPool, WaitBlocksUntilIdleAndLeavesThePoolUsable) {
  const std::size_t threads = GetParam().threads;
  weft::thread_pool pool{threads};
  constexpr int rounds = 3;
  constexpr int tasks = 500;
  std::atomic<int> done{0};
  for (int round = 1; round <= rounds; ++round) {
    for (int i = 0; i < tasks; ++i) {
      pool.post([&done] { done.fetch_add(1); });
    }
    pool.wait();
    ASSERT_EQ(done.load(), round * tasks) << "wait() returned before every task ran";
    EXPECT_TRUE(pool.wait_for(0ms)) << "an idle pool must report idle at once";
  }
  std::latch release{1};
  pool.post([&release] { release.wait(); });
  const auto before = std::chrono::steady_clock::now();
  EXPECT_FALSE(pool.wait_for(20ms)) << "wait_for returned true while a task runs";
  EXPECT_GE(std::chrono::steady_clock::now() - before, 20ms) << "wait_for gave up early";
  release.count_down();
  EXPECT_TRUE(pool.wait_for(weft_test::scaled(generous_bound)));
  EXPECT_EQ(pool.submit([] { return 5; }).get(), 5) << "the pool must stay usable after wait()";
}

INSTANTIATE_TEST_SUITE_P(PoolSizes, ThreadPool,
                         ::testing::ValuesIn(weft_test::standard_pool_sizes()),
                         weft_test::pool_size_name);

TEST(ThreadPoolDefaults, DefaultConstructorUsesHardwareConcurrency) {
  const std::size_t hw = weft_test::hardware_threads();
  const std::size_t baseline = weft_test::thread_count();
  weft::thread_pool pool;
  EXPECT_EQ(pool.stats().threads, hw);
  EXPECT_EQ(weft_test::thread_count(), baseline + hw);
  EXPECT_EQ(worker_names(pool, hw).size(), hw);
}

TEST(ThreadPoolDefaults, ZeroThreadsMeansHardwareConcurrency) {
  const std::size_t hw = weft_test::hardware_threads();
  weft::thread_pool from_count{0};
  weft::thread_pool from_options{weft::pool_options{.threads = 0}};
  EXPECT_EQ(from_count.stats().threads, hw);
  EXPECT_EQ(from_options.stats().threads, hw);
}

// ---- A6: thread names ---------------------------------------------------------------------------

TEST(ThreadPoolNames, WorkersAreNamedAfterThePool) {
  constexpr std::size_t threads = 3;
  weft::thread_pool pool{weft::pool_options{.threads = threads, .name = "crawler"}};
  EXPECT_EQ(pool.name(), "crawler");
  const std::vector<std::string> names = worker_names(pool, threads);
  ASSERT_EQ(names.size(), threads);
  for (std::size_t i = 0; i < threads; ++i) {
    EXPECT_EQ(names[i], "crawler-" + std::to_string(i));
  }
}

TEST(ThreadPoolNames, UnnamedPoolIsCalledWeft) {
  constexpr std::size_t threads = 2;
  weft::thread_pool pool{threads};
  EXPECT_EQ(pool.name(), "weft");
  const std::vector<std::string> names = worker_names(pool, threads);
  ASSERT_EQ(names.size(), threads);
  EXPECT_EQ(names[0], "weft-0");
  EXPECT_EQ(names[1], "weft-1");
}

TEST(ThreadPoolNames, LongNamesAreCutToTheOsLimit) {
  // 12 workers: one- and two-digit suffixes both need room.
  constexpr std::size_t threads = 12;
  const std::string long_name = "image-thumbnailer-service";
  weft::thread_pool pool{weft::pool_options{.threads = threads, .name = long_name}};
  EXPECT_EQ(pool.name(), long_name) << "name() keeps the full name; only OS names are cut";
  const std::vector<std::string> names = worker_names(pool, threads);
  ASSERT_EQ(names.size(), threads);
  for (std::size_t i = 0; i < threads; ++i) {
    EXPECT_EQ(names[i], expected_name(long_name, i)) << "worker " << i;
    EXPECT_LE(names[i].size(), os_name_limit);
  }
  EXPECT_EQ(names[11], "image-thumbn-11");
}

TEST(ThreadPoolNames, NameOfExactlyTheLimitIsCutForTheSuffix) {
  const std::string name(os_name_limit, 'x');
  weft::thread_pool pool{weft::pool_options{.threads = 1, .name = name}};
  const std::vector<std::string> names = worker_names(pool, 1);
  ASSERT_EQ(names.size(), 1U);
  EXPECT_EQ(names[0], std::string(os_name_limit - 2, 'x') + "-0");
}

// ---- A7, L8: life cycles ------------------------------------------------------------------------

TEST(ThreadPoolLifeCycle, CreateSubmitDestroyCyclesNeverHangOrLeakThreads) {
  const int cycles = weft_test::iterations(10'000, 1'000);
  const std::size_t baseline = weft_test::thread_count();
  std::atomic<int> posted_ran{0};
  int posted = 0;
  for (int i = 0; i < cycles; ++i) {
    switch (i % 4) {
      case 0: {  // idle, destroyed at once
        const weft::thread_pool pool{1};
        break;
      }
      case 1: {  // one task, waited for
        weft::thread_pool pool{2};
        ASSERT_EQ(pool.submit([i] { return i; }).get(), i) << "cycle " << i;
        break;
      }
      case 2: {  // one task, left to the destructor
        weft::thread_pool pool{1};
        pool.post([&posted_ran] { posted_ran.fetch_add(1); });
        ++posted;
        break;
      }
      default: {  // explicit join, then the destructor
        weft::thread_pool pool{2};
        pool.post([&posted_ran] { posted_ran.fetch_add(1); });
        ++posted;
        pool.join();
        break;
      }
    }
  }
  EXPECT_EQ(posted_ran.load(), posted) << "the destructor dropped posted tasks";
  EXPECT_TRUE(thread_count_returns_to(baseline))
      << "threads left after " << cycles << " cycles: " << weft_test::thread_count()
      << ", baseline " << baseline;
}

}  // namespace
