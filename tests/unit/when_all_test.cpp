// Tests of weft::when_all (C5, C7): ready once every input is done, whatever the outcome, with
// the inputs in input order; never fails; an empty range is ready at once; the variadic form;
// invalid inputs; waiting for it on a worker helps; then() runs on the first input's pool.
//
// Inputs are held at known points with gates (support/task_gates.hpp), never with sleeps.

#include <atomic>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "support/task_gates.hpp"
#include "support/test_support.hpp"
#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/this_worker.hpp>
#include <weft/thread_pool.hpp>
#include <weft/when_all.hpp>

namespace {

using weft_test::event_timeout;
using weft_test::held;
using weft_test::scaled;

TEST(WhenAll, IsReadyOnlyOnceEveryInputIsDoneAndKeepsInputOrder) {
  weft::thread_pool pool{3};
  weft_test::gate g0;
  weft_test::gate g1;
  weft_test::gate g2;
  std::vector<weft::future<int>> in{held(pool, g0.waiter(), 10), held(pool, g1.waiter(), 11),
                                    held(pool, g2.waiter(), 12)};
  weft::future<std::vector<weft::future<int>>> all = weft::when_all(in);
  g2.open();
  g0.open();
  ASSERT_TRUE(in[2].wait_for(scaled(event_timeout)));
  ASSERT_TRUE(in[0].wait_for(scaled(event_timeout)));
  EXPECT_FALSE(all.done()) << "ready although input 1 is still running";
  EXPECT_FALSE(all.cancel()) << "a combinator's future is not a task: nothing to cancel";
  g1.open();
  ASSERT_TRUE(all.wait_for(scaled(event_timeout)));
  EXPECT_EQ(all.state(), weft::future_state::succeeded);
  const std::vector<weft::future<int>>& out = all.get();
  ASSERT_EQ(out.size(), 3U);
  for (std::size_t i = 0; i < out.size(); ++i) {
    ASSERT_TRUE(out[i].done());
    EXPECT_EQ(out[i].get(), 10 + static_cast<int>(i));
  }
}

TEST(WhenAll, NeverFailsAndHandsBackEveryOutcome) {
  weft::thread_pool pool{1};
  weft_test::worker_gate hold(pool, 1);
  ASSERT_TRUE(hold.all_running());
  weft::future<int> ok = pool.submit([] { return 1; });
  weft::future<int> bad = pool.submit([]() -> int { throw std::runtime_error("input failed"); });
  weft::future<int> dropped = pool.submit([] { return 3; });
  ASSERT_TRUE(dropped.cancel());
  auto all = weft::when_all(std::vector{ok, bad, dropped});
  EXPECT_FALSE(all.done());
  hold.open();
  const auto& out = all.get();  // does not throw: the failure stays in its own future
  ASSERT_EQ(out.size(), 3U);
  EXPECT_EQ(out[0].state(), weft::future_state::succeeded);
  EXPECT_EQ(out[1].state(), weft::future_state::failed);
  EXPECT_EQ(out[2].state(), weft::future_state::cancelled);
  EXPECT_THROW(static_cast<void>(out[1].get()), std::runtime_error);
}

TEST(WhenAll, AnEmptyRangeIsReadyAtOnceAndHasNoPoolForThen) {
  const std::vector<weft::future<int>> none;
  auto all = weft::when_all(none);
  ASSERT_TRUE(all.done());
  EXPECT_TRUE(all.get().empty());
  try {
    static_cast<void>(all.then([](const std::vector<weft::future<int>>&) { return 0; }));
    FAIL() << "then() on a combinator of no futures must throw";
  } catch (const weft::usage_error& e) {
    EXPECT_NE(std::string(e.what()).find("no pool"), std::string::npos) << e.what();
  }
  bool ran = false;
  all.on_done([&ran] { ran = true; });
  EXPECT_TRUE(ran) << "on_done on a done future runs at once";
  EXPECT_TRUE(weft::when_all().get() == std::tuple<>{});
}

TEST(WhenAll, TheVariadicFormGivesATupleOfEachInput) {
  weft::thread_pool pool{2};
  weft::future<int> a = pool.submit([] { return 4; });
  weft::future<std::string> b = pool.submit([] { return std::string("four"); });
  weft::future<void> c = pool.submit([] {});
  auto all = weft::when_all(a, b, c);
  static_assert(std::is_same_v<decltype(all),
                               weft::future<std::tuple<weft::future<int>, weft::future<std::string>,
                                                       weft::future<void>>>>);
  auto [x, y, z] = std::move(all).get();
  EXPECT_EQ(x.get(), 4);
  EXPECT_EQ(y.get(), "four");
  EXPECT_TRUE(z.done());
}

TEST(WhenAll, AnInvalidInputThrowsUsageErrorNamingItsPosition) {
  weft::thread_pool pool{1};
  std::vector<weft::future<int>> in{pool.submit([] { return 1; }), weft::future<int>{}};
  try {
    static_cast<void>(weft::when_all(in));
    FAIL() << "an invalid input must be refused";
  } catch (const weft::usage_error& e) {
    EXPECT_NE(std::string(e.what()).find("input 1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(static_cast<void>(weft::when_all(in[0], weft::future<int>{})), weft::usage_error);
}

TEST(WhenAll, AnRvalueVectorIsMovedInAndDuplicatesAreFine) {
  weft::thread_pool pool{2};
  weft::future<int> f = pool.submit([] { return 5; });
  std::vector<weft::future<int>> in{f, f, f};
  auto all = weft::when_all(std::move(in));
  EXPECT_TRUE(in.empty())
      << "the rvalue vector was copied, not moved";  // NOLINT(bugprone-use-after-move)
  const auto& out = all.get();
  ASSERT_EQ(out.size(), 3U);
  EXPECT_EQ(out[2].get(), 5);
}

TEST(WhenAll, ATaskWaitingForAWhenAllOfItsChildrenHelpsOnAOneWorkerPool) {
  weft::thread_pool pool{1};
  weft::future<int> parent = pool.submit([&pool] {
    std::vector<weft::future<int>> children;
    for (int i = 1; i <= 4; ++i) {
      children.push_back(pool.submit([i] { return i; }));
    }
    int sum = 0;
    for (const auto& c : weft::when_all(children).get()) {  // the only worker must run them
      sum += c.get();
    }
    return sum;
  });
  EXPECT_EQ(parent.get_for(scaled(event_timeout)), 10);
}

TEST(WhenAll, ThenRunsOnThePoolOfTheFirstInput) {
  weft::thread_pool first{1};
  weft::thread_pool second{1};
  weft::future<int> a = first.submit([] { return 1; });
  weft::future<int> b = second.submit([] { return 2; });
  auto on = weft::when_all(a, b).then([](const auto&) { return weft::this_worker::pool(); });
  EXPECT_EQ(on.get_for(scaled(event_timeout)), &first);
  auto reversed = weft::when_all(b, a).then([](const auto&) { return weft::this_worker::pool(); });
  EXPECT_EQ(reversed.get_for(scaled(event_timeout)), &second);
}

TEST(WhenAll, InputsCompletingDuringTheCallAreCountedExactlyOnce) {
  weft::thread_pool pool{2};
  const std::size_t rounds = weft_test::iterations<std::size_t>(5'000, 500);
  for (std::size_t r = 0; r < rounds; ++r) {
    std::vector<weft::future<std::size_t>> in;
    for (std::size_t i = 0; i < 4; ++i) {
      in.push_back(pool.submit([i] { return i; }));
    }
    auto all = weft::when_all(in);
    const auto& out = all.get();
    ASSERT_EQ(out.size(), 4U);
    for (std::size_t i = 0; i < 4; ++i) {
      ASSERT_TRUE(out[i].done());
      ASSERT_EQ(out[i].get(), i);
    }
  }
}

}  // namespace
