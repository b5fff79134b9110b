// Tests of weft::as_completed (C4, C5): each distinct input once, done, those done at the call
// first in input order and then in completion order; the range drops a yielded future's
// handle when the consumer advances; the total timeout and its message; empty inputs; invalid
// inputs; a consumer on a worker of a one-worker pool helps. tests/alloc/
// combinator_memory_test.cpp shows that a range dropped early leaves no callback behind.
//
// Inputs are held at known points with gates (support/task_gates.hpp), never with sleeps.

#include <chrono>
#include <cstddef>
#include <memory>
#include <ranges>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "support/task_gates.hpp"
#include "support/test_support.hpp"
#include <weft/as_completed.hpp>
#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/thread_pool.hpp>

namespace {

using namespace std::chrono_literals;
using weft_test::event_timeout;
using weft_test::held;
using weft_test::scaled;

static_assert(std::ranges::input_range<weft::as_completed_range<int>>);
static_assert(!std::is_copy_constructible_v<weft::as_completed_range<int>>);

TEST(AsCompleted, YieldsTheDoneInputsFirstThenTheOthersInCompletionOrder) {
  weft::thread_pool pool{4};
  weft_test::gate g0;
  weft_test::gate g2;
  weft::future<int> f1 = pool.submit([] { return 1; });
  weft::future<int> f3 = pool.submit([] { return 3; });
  ASSERT_TRUE(f1.wait_for(scaled(event_timeout)));
  ASSERT_TRUE(f3.wait_for(scaled(event_timeout)));
  std::vector<weft::future<int>> in{held(pool, g0.waiter(), 0), f1, held(pool, g2.waiter(), 2), f3};
  auto range = weft::as_completed(in);
  EXPECT_EQ(range.size(), 4U);
  std::vector<int> order;
  for (weft::future<int>& f : range) {
    ASSERT_TRUE(f.done());
    order.push_back(f.get());
    if (order.size() == 2) {
      g2.open();  // the next one the range waits for is input 2
    } else if (order.size() == 3) {
      g0.open();
    }
  }
  EXPECT_EQ(order, (std::vector{1, 3, 2, 0}));
}

TEST(AsCompleted, YieldsEachSharedStateOnce) {
  weft::thread_pool pool{2};
  weft::future<int> a = pool.submit([] { return 1; });
  weft::future<int> b = pool.submit([] { return 2; });
  int sum = 0;
  std::size_t yielded = 0;
  for (auto& f : weft::as_completed(std::vector{a, b, a, a, b})) {
    sum += f.get();
    ++yielded;
  }
  EXPECT_EQ(yielded, 2U);
  EXPECT_EQ(sum, 3);
}

TEST(AsCompleted, AdvancingDropsTheRangesHandleToTheYieldedFuture) {
  weft::thread_pool pool{1};
  std::vector<weft::future<std::shared_ptr<int>>> in;
  in.push_back(pool.submit([] { return std::make_shared<int>(5); }));
  pool.wait();  // the worker is done with the task: only our handles hold its state
  std::weak_ptr<int> seen;
  auto range = weft::as_completed(std::move(in));  // the range holds the only handle
  auto it = range.begin();
  seen = (*it).get();
  EXPECT_FALSE(seen.expired());
  ++it;
  EXPECT_TRUE(seen.expired()) << "the range kept the yielded future after the consumer moved on";
  EXPECT_TRUE(it == range.end());
}

TEST(AsCompleted, ATimeoutThrowsTimeoutErrorCountingTheUnfinished) {
  weft::thread_pool pool{2};
  weft_test::gate g;
  weft::future<int> done = pool.submit([] { return 1; });
  ASSERT_TRUE(done.wait_for(scaled(event_timeout)));
  std::vector<weft::future<int>> in{held(pool, g.waiter(), 2), done};
  const auto start = std::chrono::steady_clock::now();
  auto range = weft::as_completed(in, 30ms);
  auto it = range.begin();
  EXPECT_EQ((*it).get(), 1);
  ++it;
  try {
    static_cast<void>(*it);
    FAIL() << "the dereference past the timeout must throw";
  } catch (const weft::timeout_error& e) {
    EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
    EXPECT_NE(std::string(e.what()).find("1 (of 2) futures unfinished"), std::string::npos)
        << e.what();
  }
  g.open();
  ASSERT_TRUE(in[0].wait_for(scaled(event_timeout)));
  EXPECT_EQ((*it).get(), 2) << "after its timeout the range still yields what is done";
}

TEST(AsCompleted, AnEmptyInputYieldsNothing) {
  std::size_t n = 0;
  for (auto& f : weft::as_completed(std::vector<weft::future<int>>{})) {
    static_cast<void>(f);
    ++n;
  }
  for (auto& f : weft::as_completed(std::vector<weft::future<int>>{}, 0ms)) {
    static_cast<void>(f);
    ++n;
  }
  EXPECT_EQ(n, 0U);
}

TEST(AsCompleted, AnInvalidInputThrowsUsageError) {
  std::vector<weft::future<int>> in{weft::future<int>{}};
  EXPECT_THROW(static_cast<void>(weft::as_completed(in)), weft::usage_error);
}

TEST(AsCompleted, AConsumerOnTheOnlyWorkerHelps) {
  weft::thread_pool pool{1};
  weft::future<int> parent = pool.submit([&pool] {
    std::vector<weft::future<int>> children;
    for (int i = 1; i <= 4; ++i) {
      children.push_back(pool.submit([i] { return i; }));
    }
    int sum = 0;
    for (auto& c : weft::as_completed(children)) {
      sum += c.get();
    }
    return sum;
  });
  EXPECT_EQ(parent.get_for(scaled(event_timeout)), 10);
}

TEST(AsCompleted, InputsCompletingDuringTheCallAreYieldedExactlyOnce) {
  weft::thread_pool pool{2};
  const std::size_t rounds = weft_test::iterations<std::size_t>(5'000, 500);
  for (std::size_t r = 0; r < rounds; ++r) {
    std::vector<weft::future<int>> in;
    for (int i = 0; i < 4; ++i) {
      in.push_back(pool.submit([i] { return 1 << i; }));
    }
    int mask = 0;
    for (auto& f : weft::as_completed(in)) {
      ASSERT_TRUE(f.done());
      ASSERT_EQ(mask & f.get(), 0) << "yielded twice";
      mask |= f.get();
    }
    ASSERT_EQ(mask, 0xf);
  }
}

}  // namespace
