// Tests of contract details around statistics, continuations and refused submissions:
//
// - how then() dependents and a broken pool's tasks are counted (failed, never cancelled, for
//   futures that fail), and that at rest completed + failed + cancelled + rejected equals every
//   submission;
// - idle_threads on an idle pool and while a task runs;
// - a continuation never leaves another holder's future moved-from: it copies unless it holds
//   the only handle (then it moves: zero copies); a move-only value is moved out;
// - a refused submission leaves the caller's callable and arguments untouched, also when the
//   refusal races the call;
// - submit_each copies an lvalue callable at most once.

#include <atomic>
#include <barrier>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "support/task_gates.hpp"
#include "support/test_support.hpp"
#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/pool_options.hpp>
#include <weft/pool_stats.hpp>
#include <weft/thread_pool.hpp>

namespace {

using namespace std::chrono_literals;
using weft::future_state;
using weft_test::event_timeout;
using weft_test::test_error;

std::uint64_t settled_total(const weft::pool_stats& s) {
  return s.completed + s.failed + s.cancelled + s.rejected;
}

// Waits (bounded) until the pool is at rest with `total` submissions accounted for.
[[nodiscard]] bool wait_at_rest(const weft::thread_pool& pool, std::uint64_t total) {
  return weft_test::wait_until(
      [&] {
        const weft::pool_stats s = pool.stats();
        return s.queued == 0 && s.running == 0 && settled_total(s) == total;
      },
      event_timeout);
}

// ---- then() dependents ---------------------------------------------------------------------

TEST(StatsContract, DependentOfAFailedSourceCountsAsFailed) {
  weft::thread_pool pool{1};
  weft::future<int> source = pool.submit([]() -> int { throw test_error("source failed"); });
  weft::future<int> dependent = source.then([](int v) { return v; });
  ASSERT_TRUE(dependent.wait_for(weft_test::scaled(event_timeout)));
  EXPECT_EQ(dependent.state(), future_state::failed);
  pool.wait();
  ASSERT_TRUE(wait_at_rest(pool, 2)) << "submit + then() must both be accounted for";
  const weft::pool_stats s = pool.stats();
  EXPECT_EQ(s.failed, 2U) << "the source and its dependent both failed";
  EXPECT_EQ(s.cancelled, 0U) << "a dependent of a failed source is not cancelled";
  EXPECT_EQ(s.completed, 0U);
}

TEST(StatsContract, DependentOfACancelledSourceCountsAsCancelled) {
  weft::thread_pool pool{1};
  weft::future<int> dependent;
  {
    weft_test::worker_gate hold(pool, 1);
    ASSERT_TRUE(hold.all_running());
    weft::future<int> source = pool.submit([] { return 1; });
    dependent = source.then([](int v) { return v; });
    ASSERT_TRUE(source.cancel());
  }
  ASSERT_TRUE(dependent.wait_for(weft_test::scaled(event_timeout)));
  EXPECT_EQ(dependent.state(), future_state::cancelled);
  pool.wait();
  ASSERT_TRUE(wait_at_rest(pool, 3)) << "gate + submit + then() must all be accounted for";
  const weft::pool_stats s = pool.stats();
  EXPECT_EQ(s.cancelled, 2U) << "the source and its dependent were both cancelled";
  EXPECT_EQ(s.failed, 0U);
  EXPECT_EQ(s.completed, 1U) << "the gate's blocker";
}

// ---- A broken pool -------------------------------------------------------------------------

TEST(StatsContract, BrokenPoolCountsFailedFuturesAsFailedAndAccountsForEverySubmission) {
  constexpr std::size_t threads = 2;
  constexpr int submits = 10;
  constexpr int posts = 5;
  const weft_test::gate may_throw;
  std::atomic<int> errors{0};
  weft::thread_pool pool{weft::pool_options{
      .threads = threads,
      .on_thread_start =
          [w = may_throw.waiter()] {
            w.wait();  // so that the submissions below are queued before the pool breaks
            throw std::runtime_error("hook failed");
          },
      .on_error = [&errors](const std::exception_ptr&) { errors.fetch_add(1); },
  }};
  std::uint64_t total = 0;
  std::vector<weft::future<int>> futures;
  futures.reserve(static_cast<std::size_t>(submits) * 2);
  for (int i = 0; i < submits; ++i) {
    futures.push_back(pool.submit([i] { return i; }));
    ++total;
  }
  for (int i = 0; i < posts; ++i) {
    pool.post([] {});
    ++total;
  }
  const std::size_t accepted_thens = futures.size();
  for (std::size_t i = 0; i < accepted_thens; ++i) {
    futures.push_back(futures[i].then([](int v) { return v; }));
    ++total;
  }
  may_throw.open();
  for (const weft::future<int>& f : futures) {
    ASSERT_TRUE(f.wait_for(weft_test::scaled(event_timeout)));
    EXPECT_EQ(f.state(), future_state::failed);
    EXPECT_THROW(static_cast<void>(f.get()), weft::broken_pool);
  }
  std::uint64_t refused = 0;
  EXPECT_THROW(pool.submit([] { return 0; }), weft::broken_pool);
  ++refused;
  EXPECT_THROW(pool.post([] {}), weft::broken_pool);
  ++refused;
  EXPECT_THROW(static_cast<void>(futures.front().then([](int v) { return v; })), weft::error)
      << "then() on a done future of a broken pool";
  ++refused;
  total += refused;
  EXPECT_TRUE(pool.join_for(weft_test::scaled(event_timeout)));
  ASSERT_TRUE(wait_at_rest(pool, total))
      << "completed + failed + cancelled + rejected is " << settled_total(pool.stats())
      << ", submissions " << total;
  const weft::pool_stats s = pool.stats();
  const auto future_count = static_cast<std::uint64_t>(futures.size());
  EXPECT_EQ(s.completed, 0U);
  EXPECT_EQ(s.rejected, refused);
  EXPECT_GE(s.failed, future_count) << "futures that failed with broken_pool count as failed";
  EXPECT_LE(s.cancelled, static_cast<std::uint64_t>(posts))
      << "only the posts (which have no future) may count as cancelled";
  EXPECT_GE(errors.load(), 1);
}

// ---- idle_threads --------------------------------------------------------------------------

TEST(StatsContract, IdleThreadsCountsWorkersNotRunningATask) {
  weft::thread_pool pool{2};
  EXPECT_TRUE(weft_test::wait_until([&] { return pool.stats().idle_threads == 2; }, event_timeout))
      << "an idle 2-worker pool reports idle_threads " << pool.stats().idle_threads;
  const weft_test::gate release;
  const weft_test::event started;
  weft::future<void> f = pool.submit([started, go = release.waiter()] {
    started.set();
    go.wait();
  });
  ASSERT_TRUE(started.wait_for(event_timeout));
  EXPECT_LE(pool.stats().idle_threads, 1U) << "a worker running a task counts as idle";
  release.open();
  f.wait();
  EXPECT_TRUE(weft_test::wait_until([&] { return pool.stats().idle_threads == 2; }, event_timeout))
      << "after the task, idle_threads is " << pool.stats().idle_threads;
}

// ---- Continuations and other holders -------------------------------------------------------

const std::string hundred_x(100, 'x');

TEST(StatsContract, ByValueContinuationCopiesWhileAnotherHandleExists) {
  weft::thread_pool pool{1};
  weft::future<std::string> f = pool.submit([] { return std::string(100, 'x'); });
  // NOLINTNEXTLINE(performance-unnecessary-value-param): the by-value parameter is the test
  weft::future<std::size_t> g = f.then([](std::string s) { return s.size(); });
  EXPECT_EQ(g.get_for(weft_test::scaled(event_timeout)), 100U);
  std::string seen;
  EXPECT_NO_THROW(seen = f.get()) << "the continuation took f's value";
  EXPECT_EQ(seen, hundred_x) << "the continuation left f's value moved-from";
}

TEST(StatsContract, RvalueContinuationCopiesWhileAnotherHandleExists) {
  weft::thread_pool pool{1};
  weft::future<std::string> f = pool.submit([] { return std::string(100, 'x'); });
  weft::future<std::size_t> g = f.then([](std::string&& s) {
    const std::string taken = std::move(s);  // a continuation that takes what it is given
    return taken.size();
  });
  EXPECT_EQ(g.get_for(weft_test::scaled(event_timeout)), 100U);
  std::string seen;
  EXPECT_NO_THROW(seen = f.get()) << "the continuation took f's value";
  EXPECT_EQ(seen, hundred_x) << "the continuation left f's value moved-from";
}

// Counts its copies (moves are free).
class copy_counted {
 public:
  explicit copy_counted(std::shared_ptr<std::atomic<int>> copies) : copies_(std::move(copies)) {}
  copy_counted(const copy_counted& other) : copies_(other.copies_) {
    copies_->fetch_add(1, std::memory_order_relaxed);
  }
  copy_counted(copy_counted&&) noexcept = default;
  copy_counted& operator=(const copy_counted&) = delete;
  copy_counted& operator=(copy_counted&&) = delete;
  ~copy_counted() = default;

 private:
  std::shared_ptr<std::atomic<int>> copies_;
};

TEST(StatsContract, ContinuationHoldingTheOnlyHandleGetsTheValueMoved) {
  const auto copies = std::make_shared<std::atomic<int>>(0);
  weft::thread_pool pool{1};
  weft::future<int> g;
  {
    weft_test::worker_gate hold(pool, 1);
    ASSERT_TRUE(hold.all_running());
    weft::future<copy_counted> f = pool.submit([copies] { return copy_counted(copies); });
    // NOLINTNEXTLINE(performance-unnecessary-value-param): the by-value parameter is the test
    g = f.then([](copy_counted value) {
      static_cast<void>(value);
      return 1;
    });
    f = weft::future<copy_counted>();  // drop the only other handle before the source runs
  }
  EXPECT_EQ(g.get_for(weft_test::scaled(event_timeout)), 1);
  EXPECT_EQ(copies->load(), 0) << "the continuation copied a value nobody else could read";
}

TEST(StatsContract, MoveOnlyValueIsMovedOutAndTheOtherHandleSeesItTaken) {
  weft::thread_pool pool{1};
  weft::future<std::unique_ptr<int>> f = pool.submit([] { return std::make_unique<int>(5); });
  weft::future<int> g = f.then([](std::unique_ptr<int> p) { return *p; });
  EXPECT_EQ(g.get_for(weft_test::scaled(event_timeout)), 5);
  EXPECT_THROW(static_cast<void>(f.get()), weft::usage_error);
}

// ---- Refused submissions -------------------------------------------------------------------

const std::string payload_text(64, 'p');

TEST(StatsContract, RefusedSubmitLeavesTheCallableUntouched) {
  weft::thread_pool pool{1};
  pool.shutdown();
  auto fn = [payload = payload_text] { return payload; };
  EXPECT_THROW(static_cast<void>(pool.submit(std::move(fn))), weft::pool_shutdown);
  // NOLINTNEXTLINE(bugprone-use-after-move,clang-analyzer-cplusplus.Move): refused, so not moved
  EXPECT_EQ(fn(), payload_text) << "the refused submit moved the callable's capture";
}

TEST(StatsContract, RefusedPostLeavesTheCallableUntouched) {
  weft::thread_pool pool{1};
  pool.shutdown();
  std::string seen;
  auto fn = [payload = payload_text, &seen] { seen = payload; };
  EXPECT_THROW(pool.post(std::move(fn)), weft::pool_shutdown);
  // NOLINTNEXTLINE(bugprone-use-after-move,clang-analyzer-cplusplus.Move): refused, so not moved
  fn();
  EXPECT_EQ(seen, payload_text) << "the refused post moved the callable's capture";
}

TEST(StatsContract, RefusedSubmissionLeavesRvalueArgumentsUntouched) {
  weft::thread_pool pool{1};
  pool.shutdown();
  std::vector<int> for_submit{1, 2, 3};
  EXPECT_THROW(static_cast<void>(pool.submit([](const std::vector<int>& v) { return v.size(); },
                                             std::move(for_submit))),
               weft::pool_shutdown);
  // NOLINTNEXTLINE(bugprone-use-after-move,clang-analyzer-cplusplus.Move): refused, so not moved
  EXPECT_EQ(for_submit, (std::vector<int>{1, 2, 3}));
  std::vector<int> for_post{4, 5, 6};
  EXPECT_THROW(pool.post([](const std::vector<int>&) {}, std::move(for_post)), weft::pool_shutdown);
  // NOLINTNEXTLINE(bugprone-use-after-move,clang-analyzer-cplusplus.Move): refused, so not moved
  EXPECT_EQ(for_post, (std::vector<int>{4, 5, 6}));
}

TEST(StatsContract, RefusalRacingTheCallLeavesItsArgumentUntouched) {
  // A thread shuts the pool down while this one submits in a loop, each time moving in a fresh
  // string: every refused submission must leave its string as it was.
  const auto rounds = weft_test::iterations<std::size_t>(500, 100);
  const auto loop_bound = weft_test::scaled(event_timeout);
  std::size_t moved_refusals = 0;
  std::size_t refusals = 0;
  std::size_t accepted = 0;
  for (std::size_t round = 0; round < rounds; ++round) {
    weft::thread_pool pool{1};
    std::barrier<> start{2};
    std::thread closer([&] {
      start.arrive_and_wait();
      pool.shutdown();
    });
    start.arrive_and_wait();
    const auto deadline = std::chrono::steady_clock::now() + loop_bound;
    bool refused = false;
    for (std::size_t i = 0; !refused && std::chrono::steady_clock::now() < deadline; ++i) {
      std::string payload = payload_text;
      try {
        if (i % 2 == 0) {
          static_cast<void>(
              pool.submit([](const std::string& s) { return s.size(); }, std::move(payload)));
        } else {
          pool.post([](const std::string& s) { static_cast<void>(s.size()); }, std::move(payload));
        }
        ++accepted;
      } catch (const weft::pool_shutdown&) {
        refused = true;
        ++refusals;
        // NOLINTNEXTLINE(bugprone-use-after-move,clang-analyzer-cplusplus.Move): refused
        if (payload != payload_text) {
          ++moved_refusals;
        }
      }
    }
    closer.join();
    ASSERT_TRUE(refused) << "round " << round << ": no submission was refused after shutdown()";
    pool.join();
    EXPECT_EQ(pool.stats().rejected, 1U) << "round " << round;
  }
  EXPECT_EQ(moved_refusals, 0U) << moved_refusals << " of " << refusals
                                << " refused submissions moved their argument (" << accepted
                                << " were accepted)";
}

// ---- submit_each ---------------------------------------------------------------------------

// Doubles its argument and counts its copies.
class copy_counting_fn {
 public:
  explicit copy_counting_fn(std::shared_ptr<std::atomic<int>> copies)
      : copies_(std::move(copies)) {}
  copy_counting_fn(const copy_counting_fn& other) : copies_(other.copies_) {
    copies_->fetch_add(1, std::memory_order_relaxed);
  }
  copy_counting_fn(copy_counting_fn&&) noexcept = default;
  copy_counting_fn& operator=(const copy_counting_fn&) = delete;
  copy_counting_fn& operator=(copy_counting_fn&&) = delete;
  ~copy_counting_fn() = default;

  int operator()(int x) const { return 2 * x; }

 private:
  std::shared_ptr<std::atomic<int>> copies_;
};

TEST(StatsContract, SubmitEachCopiesAnLvalueCallableAtMostOnce) {
  const auto copies = std::make_shared<std::atomic<int>>(0);
  const copy_counting_fn fn(copies);
  std::vector<int> inputs(100);
  for (int i = 0; i < 100; ++i) {
    inputs[static_cast<std::size_t>(i)] = i;
  }
  weft::thread_pool pool{2};
  std::vector<weft::future<int>> futures = pool.submit_each(inputs, fn);
  ASSERT_EQ(futures.size(), inputs.size());
  for (std::size_t i = 0; i < futures.size(); ++i) {
    EXPECT_EQ(futures[i].get_for(weft_test::scaled(event_timeout)), 2 * inputs[i]);
  }
  EXPECT_LE(copies->load(), 1) << "submit_each copied the callable per input";
}

}  // namespace
