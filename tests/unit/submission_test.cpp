// Tests of task submission: submit, post, submit_each (RELIABILITY.md B1-B6, B10, and the
// empty-callable and task-exception rows of the bad-input table, section 2).
//
// - B1/B2: every callable kind runs once with its arguments, decay-copied or moved; results,
//   move-only results and void work.
// - B3: an rvalue callable is never copied (a copy-counting type sees 0 copies).
// - B4: a task's captures are destroyed by the time get() returns.
// - B5: post runs exactly once; a throw, of any type, reaches on_error exactly once.
// - B6: 8 producers x 125,000 submissions (8 x 12,500 in slow builds), each run exactly once.
// - B10: submit_each returns one future per input, in input order.
// - An empty callable throws weft::usage_error at the call, and nothing is queued.

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cstddef>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "support/pool_helpers.hpp"
#include "support/test_support.hpp"
#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/pool_options.hpp>
#include <weft/thread_pool.hpp>

namespace {

using weft_test::pool_size;

int triple(int x) {
  return 3 * x;
}

struct widget {
  int base = 0;
  [[nodiscard]] int plus(int x) const { return base + x; }
  void bump() { ++base; }
};

struct adder {
  int offset;
  int operator()(int x) const { return x + offset; }
};

// Counts copies and moves of a callable or an argument, through a shared record.
struct copy_record {
  std::atomic<int> copies{0};
  std::atomic<int> moves{0};
};

class counted {
 public:
  explicit counted(copy_record& r) : record_(&r) {}
  counted(const counted& other) : record_(other.record_) { record_->copies.fetch_add(1); }
  counted(counted&& other) noexcept : record_(other.record_) { record_->moves.fetch_add(1); }
  counted& operator=(const counted&) = delete;
  counted& operator=(counted&&) = delete;
  ~counted() = default;
  int operator()() const { return 1; }
  int operator()(int x) const { return x; }

 private:
  copy_record* record_;
};

// ---- B1, B2: callable kinds and arguments -----------------------------------------------------

TEST(Submission, RunsEveryCallableKindWithItsArguments) {
  weft::thread_pool pool{2};
  widget w{10};
  int (*pointer)(int) = &triple;
  const std::function<int(int)> wrapped = [](int x) { return x - 1; };
  int calls = 0;

  auto from_function = pool.submit(triple, 2);
  auto from_pointer = pool.submit(pointer, 3);
  auto from_lambda = pool.submit([](int a, int b) { return a * b; }, 6, 7);
  auto from_mutable = pool.submit([n = 0]() mutable { return ++n; });
  auto from_functor = pool.submit(adder{100}, 1);
  auto from_member_pointer = pool.submit(&widget::plus, &w, 5);
  auto from_member_value = pool.submit(&widget::plus, w, 6);
  auto from_std_function = pool.submit(wrapped, 50);
  auto from_reference = pool.submit([](int& c) { c += 2; }, std::ref(calls));

  EXPECT_EQ(from_function.get(), 6);
  EXPECT_EQ(from_pointer.get(), 9);
  EXPECT_EQ(from_lambda.get(), 42);
  EXPECT_EQ(from_mutable.get(), 1);
  EXPECT_EQ(from_functor.get(), 101);
  EXPECT_EQ(from_member_pointer.get(), 15);
  EXPECT_EQ(from_member_value.get(), 16);
  EXPECT_EQ(from_std_function.get(), 49);
  from_reference.get();
  EXPECT_EQ(calls, 2) << "std::ref must pass the caller's object itself";
}

TEST(Submission, MemberFunctionPointerActsOnTheGivenObject) {
  weft::thread_pool pool{1};
  widget w{0};
  pool.submit(&widget::bump, &w).get();           // through a pointer: the caller's object
  pool.submit(&widget::bump, std::ref(w)).get();  // through std::ref: the caller's object
  pool.submit(&widget::bump, w).get();            // by value: a copy
  EXPECT_EQ(w.base, 2);
}

TEST(Submission, ArgumentsAreDecayCopiedNotReferenced) {
  weft::thread_pool pool{1};
  const std::string original = "payload";
  auto same_object = pool.submit(
      [&original](const std::string& s) {
        return std::pair{&s == &original, s};
      },
      original);
  const auto& [aliased, value] = same_object.get();
  EXPECT_FALSE(aliased) << "an lvalue argument must be copied into the task";
  EXPECT_EQ(value, "payload");
}

TEST(Submission, MoveOnlyCallablesArgumentsAndResults) {
  weft::thread_pool pool{2};
  auto owned = std::make_unique<int>(4);
  auto callable = pool.submit([p = std::move(owned)] { return *p * 10; });
  auto argument =
      pool.submit([](std::unique_ptr<int> p) { return *p + 1; }, std::make_unique<int>(8));
  auto result = pool.submit([] { return std::make_unique<std::string>("moved out"); });
  EXPECT_EQ(callable.get(), 40);
  EXPECT_EQ(argument.get(), 9);
  std::unique_ptr<std::string> out = std::move(result).get();
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(*out, "moved out");

  std::atomic<int> posted{0};
  pool.post([p = std::make_unique<int>(3), &posted] { posted.fetch_add(*p); });
  pool.post([&posted](std::unique_ptr<int> p) { posted.fetch_add(*p); }, std::make_unique<int>(4));
  pool.wait();
  EXPECT_EQ(posted.load(), 7);
}

TEST(Submission, VoidTasksCompleteAndRethrow) {
  weft::thread_pool pool{2};
  std::atomic<bool> ran{false};
  weft::future<void> ok = pool.submit([&] { ran.store(true); });
  ok.get();
  EXPECT_TRUE(ran.load()) << "get() returned before the void task ran";
  EXPECT_EQ(ok.state(), weft::future_state::succeeded);
  weft::future<void> bad = pool.submit([] { throw std::domain_error("void failure"); });
  EXPECT_THROW(bad.get(), std::domain_error);
  EXPECT_EQ(bad.state(), weft::future_state::failed);
}

// ---- B3: no copies -----------------------------------------------------------------------------

TEST(Submission, NeverCopiesAnRvalueCallableOrArgument) {
  weft::thread_pool pool{2};
  copy_record for_submit;
  copy_record for_submit_arg;
  copy_record for_post;
  copy_record for_post_args;
  copy_record for_each;
  EXPECT_EQ(pool.submit(counted{for_submit}).get(), 1);
  EXPECT_EQ(pool.submit([](const counted& c) { return c(); }, counted{for_submit_arg}).get(), 1);
  pool.post(counted{for_post});
  pool.post([](const counted&) {}, counted{for_post_args});
  const std::vector<int> inputs{1, 2, 3, 4};
  auto each = pool.submit_each(inputs, counted{for_each});
  for (std::size_t i = 0; i < each.size(); ++i) {
    EXPECT_EQ(each[i].get(), inputs[i]);
  }
  pool.wait();
  EXPECT_EQ(for_submit.copies.load(), 0) << "submit copied its callable";
  EXPECT_EQ(for_submit_arg.copies.load(), 0) << "submit copied an rvalue argument";
  EXPECT_EQ(for_post.copies.load(), 0) << "post copied its callable";
  EXPECT_EQ(for_post_args.copies.load(), 0) << "post copied an rvalue argument";
  EXPECT_EQ(for_each.copies.load(), 0) << "submit_each copied its callable";
  EXPECT_GE(for_submit.moves.load(), 1) << "the copy counter is not counting";
}

// ---- B4: captures released by completion -------------------------------------------------------

TEST(Submission, CapturesAreDestroyedBeforeGetReturns) {
  weft::thread_pool pool{2};
  for (int round = 0; round < 200; ++round) {
    auto shared = std::make_shared<int>(round);
    const std::weak_ptr<int> watch = shared;
    auto ok = pool.submit([s = std::move(shared)] { return *s; });
    EXPECT_EQ(ok.get(), round);
    ASSERT_TRUE(watch.expired()) << "round " << round << ": capture alive after get() returned";

    auto shared_failing = std::make_shared<int>(round);
    const std::weak_ptr<int> watch_failing = shared_failing;
    auto bad =
        pool.submit([s = std::move(shared_failing)]() -> int { throw std::runtime_error("x"); });
    EXPECT_THROW(static_cast<void>(bad.get()), std::runtime_error);
    ASSERT_TRUE(watch_failing.expired()) << "round " << round << ": capture of a failed task alive";
  }
}

// ---- B5: post exactly once; errors to on_error exactly once
// --------------------------------------

TEST(Submission, PostRunsOnceAndEachThrowReachesOnErrorOnce) {
  constexpr int plain = 2000;
  constexpr int throwing = 200;
  std::mutex mu;
  std::multiset<std::string> reported;
  std::vector<std::atomic<int>> ran(plain);
  {
    weft::thread_pool pool{weft::pool_options{
        .threads = 4,
        .on_error =
            [&](const std::exception_ptr& e) {
              try {
                std::rethrow_exception(e);
              } catch (const std::exception& ex) {
                const std::lock_guard lock(mu);
                reported.insert(ex.what());
              }
            },
    }};
    for (int i = 0; i < plain; ++i) {
      pool.post([&ran, i] { ran[static_cast<std::size_t>(i)].fetch_add(1); });
      if (i < throwing) {
        pool.post([i] { throw std::runtime_error("failure " + std::to_string(i)); });
      }
    }
    pool.join();
    const weft::pool_stats s = pool.stats();
    EXPECT_EQ(s.completed, static_cast<std::uint64_t>(plain));
    EXPECT_EQ(s.failed, static_cast<std::uint64_t>(throwing));
  }
  for (int i = 0; i < plain; ++i) {
    ASSERT_EQ(ran[static_cast<std::size_t>(i)].load(), 1) << "posted task " << i;
  }
  std::multiset<std::string> expected;
  for (int i = 0; i < throwing; ++i) {
    expected.insert("failure " + std::to_string(i));
  }
  EXPECT_EQ(reported, expected) << "each throw must reach on_error exactly once";
}

TEST(Submission, PostedNonStdExceptionReachesOnError) {
  std::atomic<int> calls{0};
  std::atomic<int> value{0};
  {
    weft::thread_pool pool{weft::pool_options{
        .threads = 1,
        .on_error =
            [&](const std::exception_ptr& e) {
              calls.fetch_add(1);
              try {
                std::rethrow_exception(e);
              } catch (int v) {
                value.store(v);
              } catch (...) {
                value.store(-1);
              }
            },
    }};
    pool.post([] { throw 42; });
    pool.join();
    EXPECT_EQ(pool.stats().failed, 1U);
  }
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(value.load(), 42) << "on_error must receive the thrown int itself";
}

// ---- Empty callables ---------------------------------------------------------------------------

TEST(Submission, EmptyCallableThrowsUsageErrorAndQueuesNothing) {
  weft::thread_pool pool{2};
  int (*null_function)(int) = nullptr;
  int (widget::*null_member)(int) const = nullptr;
  const std::function<void()> empty;
  widget w;
  const std::vector<int> inputs{1, 2};
  EXPECT_THROW(pool.submit(null_function, 1), weft::usage_error);
  EXPECT_THROW(pool.submit(null_member, &w, 1), weft::usage_error);
  EXPECT_THROW(pool.submit(empty), weft::usage_error);
  EXPECT_THROW(pool.post(null_function, 1), weft::usage_error);
  EXPECT_THROW(pool.post(empty), weft::usage_error);
  EXPECT_THROW(pool.submit_each(inputs, null_function), weft::usage_error);
  pool.join();
  const weft::pool_stats s = pool.stats();
  EXPECT_EQ(s.completed + s.failed + s.cancelled, 0U) << "an empty callable reached a queue";
  EXPECT_EQ(s.queued, 0U);
}

// ---- B10: submit_each --------------------------------------------------------------------------

TEST(Submission, SubmitEachReturnsFuturesInInputOrder) {
  weft::thread_pool pool{4};
  std::vector<int> inputs(1000);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    inputs[i] = static_cast<int>(i);
  }
  auto futures = pool.submit_each(inputs, [](int x) { return x * x; });
  ASSERT_EQ(futures.size(), inputs.size());
  for (std::size_t i = 0; i < futures.size(); ++i) {
    ASSERT_EQ(futures[i].get(), inputs[i] * inputs[i]) << "future " << i << " is out of order";
  }

  const std::list<std::string> words{"a", "bb", "ccc"};  // not a random-access range
  auto lengths = pool.submit_each(words, [](const std::string& s) { return s.size(); });
  ASSERT_EQ(lengths.size(), 3U);
  EXPECT_EQ(lengths[0].get(), 1U);
  EXPECT_EQ(lengths[1].get(), 2U);
  EXPECT_EQ(lengths[2].get(), 3U);
}

TEST(Submission, SubmitEachMovesElementsOfAnRvalueRange) {
  weft::thread_pool pool{2};
  std::vector<std::unique_ptr<int>> boxes;
  boxes.reserve(10);
  for (int i = 0; i < 10; ++i) {
    boxes.push_back(std::make_unique<int>(i));
  }
  auto futures = pool.submit_each(std::move(boxes), [](std::unique_ptr<int> p) { return *p; });
  ASSERT_EQ(futures.size(), 10U);
  for (std::size_t i = 0; i < futures.size(); ++i) {
    EXPECT_EQ(futures[i].get(), static_cast<int>(i));
  }
}

TEST(Submission, SubmitEachOfAnEmptyRangeSubmitsNothing) {
  weft::thread_pool pool{2};
  const std::vector<int> none;
  std::atomic<int> calls{0};
  auto futures = pool.submit_each(none, [&](int) { calls.fetch_add(1); });
  EXPECT_TRUE(futures.empty());
  pool.join();
  EXPECT_EQ(calls.load(), 0);
  EXPECT_EQ(pool.stats().completed, 0U);
}

// ---- B6: many producers, exactly once ----------------------------------------------------------

class SubmissionBySize : public ::testing::TestWithParam<pool_size> {};

TEST_P(SubmissionBySize, EveryTaskFromManyProducersRunsExactlyOnce) {
  constexpr std::size_t producers = 8;
  const auto per_producer = weft_test::iterations<std::size_t>(125'000, 12'500);
  const std::size_t total = producers * per_producer;
  // Every 64th future is kept and checked; the rest are dropped at once (the task still runs).
  constexpr std::size_t keep_every = 64;
  std::vector<std::atomic<std::uint8_t>> ran(total);
  std::vector<std::vector<std::pair<std::size_t, weft::future<std::size_t>>>> kept(producers);
  weft::thread_pool pool{GetParam().threads};
  std::barrier start(static_cast<std::ptrdiff_t>(producers));
  std::vector<std::thread> threads;
  for (std::size_t p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      start.arrive_and_wait();
      for (std::size_t k = 0; k < per_producer; ++k) {
        const std::size_t id = p * per_producer + k;
        auto f = pool.submit([&ran, id] {
          ran[id].fetch_add(1, std::memory_order_relaxed);
          return id;
        });
        if (k % keep_every == 0) {
          kept[p].emplace_back(id, std::move(f));
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  pool.wait();
  std::size_t missing = 0;
  std::size_t duplicated = 0;
  for (std::size_t id = 0; id < total; ++id) {
    const int n = ran[id].load(std::memory_order_relaxed);
    missing += n == 0 ? 1 : 0;
    duplicated += n > 1 ? 1 : 0;
  }
  EXPECT_EQ(missing, 0U) << "tasks that never ran, of " << total;
  EXPECT_EQ(duplicated, 0U) << "tasks that ran more than once, of " << total;
  for (auto& list : kept) {
    for (auto& [id, f] : list) {
      ASSERT_EQ(f.get(), id);
    }
  }
  const weft::pool_stats s = pool.stats();
  EXPECT_EQ(s.completed, total);
  EXPECT_EQ(s.failed + s.cancelled + s.rejected, 0U);
}

INSTANTIATE_TEST_SUITE_P(PoolSizes, SubmissionBySize,
                         ::testing::ValuesIn(weft_test::standard_pool_sizes()),
                         weft_test::pool_size_name);

}  // namespace
