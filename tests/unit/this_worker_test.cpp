// Tests of weft::this_worker (RELIABILITY.md A4): index() is unique among a pool's live
// workers and below its thread count, and empty outside every pool; pool() names the pool the
// calling worker belongs to, and is null outside.

#include <cstddef>
#include <latch>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include <gtest/gtest.h>

#include "support/pool_helpers.hpp"
#include "support/test_support.hpp"
#include <weft/pool_options.hpp>
#include <weft/this_worker.hpp>
#include <weft/thread_pool.hpp>

namespace {

using weft_test::pool_size;

class ThisWorker : public ::testing::TestWithParam<pool_size> {};

TEST_P(ThisWorker, IndexIsUniqueAndBelowThreadCount) {
  const std::size_t threads = GetParam().threads;
  weft::thread_pool pool{threads};
  const auto seen = weft_test::on_every_worker(pool, threads, [] {
    return std::pair{weft::this_worker::index(), weft::this_worker::pool()};
  });
  ASSERT_TRUE(seen.has_value()) << "the " << threads << " workers never all held a task at once";
  std::set<std::size_t> indices;
  for (const auto& [index, owner] : *seen) {
    ASSERT_TRUE(index.has_value()) << "index() is empty inside a task";
    EXPECT_LT(*index, threads) << "index() must be below the thread count";
    indices.insert(*index);
    EXPECT_EQ(owner, &pool) << "pool() must name the pool that runs the task";
  }
  EXPECT_EQ(indices.size(), threads) << "two live workers reported the same index";
}

TEST_P(ThisWorker, HooksSeeTheirWorkersIndexAndPool) {
  const std::size_t threads = GetParam().threads;
  std::mutex mu;
  std::multiset<std::size_t> start_indices;
  std::multiset<std::size_t> exit_indices;
  bool hook_saw_wrong_pool = false;
  weft::thread_pool* expected = nullptr;
  std::latch constructed{1};
  {
    weft::thread_pool pool{weft::pool_options{
        .threads = threads,
        .on_thread_start =
            [&] {
              constructed.wait();  // `expected` is written before the latch opens
              const std::lock_guard lock(mu);
              start_indices.insert(weft::this_worker::index().value_or(threads));
              hook_saw_wrong_pool = hook_saw_wrong_pool || weft::this_worker::pool() != expected;
            },
        .on_thread_exit =
            [&] {
              const std::lock_guard lock(mu);
              exit_indices.insert(weft::this_worker::index().value_or(threads));
              hook_saw_wrong_pool = hook_saw_wrong_pool || weft::this_worker::pool() != expected;
            },
    }};
    expected = &pool;
    constructed.count_down();
  }
  std::multiset<std::size_t> all;
  for (std::size_t i = 0; i < threads; ++i) {
    all.insert(i);
  }
  EXPECT_EQ(start_indices, all) << "on_thread_start must see each index 0..threads-1 once";
  EXPECT_EQ(exit_indices, all) << "on_thread_exit must see each index 0..threads-1 once";
  EXPECT_FALSE(hook_saw_wrong_pool) << "a hook saw this_worker::pool() != its pool";
}

INSTANTIATE_TEST_SUITE_P(PoolSizes, ThisWorker,
                         ::testing::ValuesIn(weft_test::standard_pool_sizes()),
                         weft_test::pool_size_name);

TEST(ThisWorkerOutsidePools, IsEmptyOnTheMainThreadAndOnPlainThreads) {
  EXPECT_FALSE(weft::this_worker::index().has_value());
  EXPECT_EQ(weft::this_worker::pool(), nullptr);
  weft::thread_pool pool{2};  // a live pool changes nothing for threads outside it
  EXPECT_FALSE(weft::this_worker::index().has_value());
  EXPECT_EQ(weft::this_worker::pool(), nullptr);
  std::optional<std::size_t> plain_index{42};
  weft::thread_pool* plain_pool = &pool;
  std::thread plain([&] {
    plain_index = weft::this_worker::index();
    plain_pool = weft::this_worker::pool();
  });
  plain.join();
  EXPECT_FALSE(plain_index.has_value()) << "a plain std::thread is not a worker";
  EXPECT_EQ(plain_pool, nullptr);
}

TEST(ThisWorkerOutsidePools, NamesTheRightPoolWhenSeveralExist) {
  weft::thread_pool first{2};
  weft::thread_pool second{3};
  EXPECT_EQ(first.submit([] { return weft::this_worker::pool(); }).get(), &first);
  EXPECT_EQ(second.submit([] { return weft::this_worker::pool(); }).get(), &second);
  // A task of one pool waiting on another pool's task: each side sees its own pool.
  auto nested = first.submit([&second] {
    auto inner = second.submit([] { return weft::this_worker::pool(); });
    return std::pair{weft::this_worker::pool(), inner.get()};
  });
  const auto& [outer_pool, inner_pool] = nested.get();
  EXPECT_EQ(outer_pool, &first);
  EXPECT_EQ(inner_pool, &second);
}

}  // namespace
