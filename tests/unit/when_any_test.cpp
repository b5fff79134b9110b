// Tests of weft::when_any (C5, C7): ready at the first completion of any input (success,
// failure or cancel) with `index` naming it; the lowest index among inputs already done at the
// call; every input handed back in input order; an empty range; the variadic form; invalid
// inputs; waiting for it on a worker helps. tests/alloc/combinator_memory_test.cpp shows that
// it leaves no callback behind on the inputs that did not win.
//
// Inputs are held at known points with gates (support/task_gates.hpp), never with sleeps.

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "support/task_gates.hpp"
#include "support/test_support.hpp"
#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/thread_pool.hpp>
#include <weft/when_any.hpp>

namespace {

using weft_test::event_timeout;
using weft_test::held;
using weft_test::scaled;

constexpr std::size_t none = static_cast<std::size_t>(-1);

TEST(WhenAny, IndexNamesTheFirstInputToComplete) {
  weft::thread_pool pool{3};
  weft_test::gate g0;
  weft_test::gate g1;
  weft_test::gate g2;
  std::vector<weft::future<int>> in{held(pool, g0.waiter(), 10), held(pool, g1.waiter(), 11),
                                    held(pool, g2.waiter(), 12)};
  auto any = weft::when_any(in);
  EXPECT_FALSE(any.done());
  g2.open();
  ASSERT_TRUE(any.wait_for(scaled(event_timeout)));
  const weft::when_any_result<std::vector<weft::future<int>>>& r = any.get();
  EXPECT_EQ(r.index, 2U);
  ASSERT_EQ(r.futures.size(), 3U);
  EXPECT_EQ(r.futures[2].get(), 12);
  EXPECT_FALSE(r.futures[0].done()) << "the others are handed back as they are";
  g0.open();
  g1.open();
  EXPECT_EQ(r.futures[0].get(), 10);
}

TEST(WhenAny, AmongInputsAlreadyDoneTheLowestIndexWins) {
  weft::thread_pool pool{2};
  weft_test::gate g;
  weft::future<int> pending = held(pool, g.waiter(), 0);
  weft::future<int> a = pool.submit([] { return 1; });
  weft::future<int> b = pool.submit([] { return 2; });
  ASSERT_TRUE(a.wait_for(scaled(event_timeout)));
  ASSERT_TRUE(b.wait_for(scaled(event_timeout)));
  for (int round = 0; round < 100; ++round) {
    EXPECT_EQ(weft::when_any(std::vector{pending, b, a}).get().index, 1U);
    EXPECT_EQ(weft::when_any(pending, a, b).get().index, 1U);
  }
  g.open();
}

TEST(WhenAny, AFailureOrACancelIsACompletionToo) {
  weft::thread_pool pool{1};
  weft_test::worker_gate hold(pool, 1);
  ASSERT_TRUE(hold.all_running());
  weft::future<int> a = pool.submit([] { return 1; });
  weft::future<int> b = pool.submit([] { return 2; });
  auto any = weft::when_any(a, b);
  ASSERT_TRUE(b.cancel());
  ASSERT_TRUE(any.done()) << "the cancel completed b: when_any is ready at once";
  EXPECT_EQ(any.get().index, 1U);
  weft::future<int> bad = pool.submit([]() -> int { throw std::runtime_error("first"); });
  weft::future<int> later = pool.submit([] { return 3; });
  auto first_failure = weft::when_any(std::vector{bad, later});
  hold.open();
  EXPECT_EQ(first_failure.get().index, 0U) << "a single worker runs them in order";
  EXPECT_EQ(first_failure.state(), weft::future_state::succeeded) << "when_any never fails";
}

TEST(WhenAny, AnEmptyRangeIsReadyAtOnceWithNoIndex) {
  auto any = weft::when_any(std::vector<weft::future<int>>{});
  ASSERT_TRUE(any.done());
  EXPECT_EQ(any.get().index, none);
  EXPECT_TRUE(any.get().futures.empty());
  EXPECT_THROW(static_cast<void>(any.then([](const auto&) {})), weft::usage_error);
  EXPECT_EQ(weft::when_any().get().index, none);
}

TEST(WhenAny, TheVariadicFormGivesATupleOfEachInput) {
  weft::thread_pool pool{2};
  weft_test::gate g;
  weft::future<int> slow = held(pool, g.waiter(), 1);
  weft::future<std::string> fast = pool.submit([] { return std::string("fast"); });
  auto any = weft::when_any(slow, fast);
  static_assert(std::is_same_v<decltype(any), weft::future<weft::when_any_result<std::tuple<
                                                  weft::future<int>, weft::future<std::string>>>>>);
  const auto& r = any.get();
  EXPECT_EQ(r.index, 1U);
  EXPECT_EQ(std::get<1>(r.futures).get(), "fast");
  g.open();
}

TEST(WhenAny, AnInvalidInputThrowsUsageError) {
  weft::thread_pool pool{1};
  std::vector<weft::future<int>> in{weft::future<int>{}, pool.submit([] { return 1; })};
  try {
    static_cast<void>(weft::when_any(in));
    FAIL() << "an invalid input must be refused";
  } catch (const weft::usage_error& e) {
    EXPECT_NE(std::string(e.what()).find("input 0"), std::string::npos) << e.what();
  }
}

TEST(WhenAny, ATaskWaitingForAWhenAnyOfItsChildrenHelpsOnAOneWorkerPool) {
  weft::thread_pool pool{1};
  weft::future<std::size_t> parent = pool.submit([&pool] {
    std::vector<weft::future<int>> children;
    for (int i = 0; i < 3; ++i) {
      children.push_back(pool.submit([i] { return i; }));
    }
    return weft::when_any(children).get().index;  // the only worker must run a child
  });
  EXPECT_LT(parent.get_for(scaled(event_timeout)), 3U);
}

TEST(WhenAny, TheCallbacksOnInputsThatLostAreRemovedWithTheirCaptures) {
  // A loser's registration holds when_any's state, which holds every input. Once the result is
  // ready the registration is removed, so the state (and the winner's value it reaches) goes
  // with the last handle, although the loser is still running.
  weft::thread_pool pool{1};
  weft::thread_pool winner_pool{1};
  weft_test::gate g;
  weft::future<std::shared_ptr<int>> loser = pool.submit([go = g.waiter()] {
    go.wait();
    return std::make_shared<int>(0);
  });
  std::weak_ptr<int> value_seen;
  {
    weft_test::gate gw;
    weft::future<std::shared_ptr<int>> winner = winner_pool.submit([go = gw.waiter()] {
      go.wait();
      return std::make_shared<int>(1);
    });
    auto any = weft::when_any(loser, std::move(winner));  // both pending: both get a callback
    gw.open();
    ASSERT_EQ(any.get().index, 1U);
    value_seen = std::get<1>(any.get().futures).get();
  }
  winner_pool.wait();  // the winner's worker has run its callbacks and let go of them
  EXPECT_TRUE(value_seen.expired()) << "a loser's callback still holds when_any's state";
  EXPECT_FALSE(loser.done());
  g.open();
  EXPECT_EQ(*loser.get(), 0);
}

TEST(WhenAny, InputsCompletingDuringTheCallElectExactlyOneWinner) {
  weft::thread_pool pool{2};
  const std::size_t rounds = weft_test::iterations<std::size_t>(5'000, 500);
  for (std::size_t r = 0; r < rounds; ++r) {
    std::vector<weft::future<std::size_t>> in;
    for (std::size_t i = 0; i < 4; ++i) {
      in.push_back(pool.submit([i] { return i; }));
    }
    auto any = weft::when_any(in);
    const auto& res = any.get();
    ASSERT_LT(res.index, 4U);
    ASSERT_TRUE(res.futures[res.index].done());
    ASSERT_EQ(res.futures[res.index].get(), res.index);
  }
}

}  // namespace
