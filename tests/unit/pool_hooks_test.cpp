// Tests of the pool's hooks and error handler (pool_options::on_thread_start, on_thread_exit,
// on_error): RELIABILITY.md A3 and A5, and the hook rows of the bad-input table (section 2):
//
// - on_thread_start runs once on each worker before its first task; on_thread_exit once after
//   its last, on the same thread.
// - on_thread_start that throws breaks the pool: queued futures fail with weft::broken_pool,
//   later submissions throw it, the hook's exception reaches on_error, join() returns.
// - on_thread_exit that throws goes to on_error; the other workers still exit.
// - on_error that throws is swallowed and reported on stderr once; never std::terminate.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <latch>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/pool_helpers.hpp"
#include "support/test_support.hpp"
#include <weft/error.hpp>
#include <weft/pool_options.hpp>
#include <weft/this_worker.hpp>
#include <weft/thread_pool.hpp>

namespace {

using namespace std::chrono_literals;
using weft_test::pool_size;

// Upper bound for join() of a broken pool; only bounds a failing test (scaled).
constexpr auto join_bound = 20s;

// Collects the exceptions a pool reports to on_error (called from several workers at once).
class error_sink {
 public:
  std::function<void(std::exception_ptr)> handler() {
    return [this](std::exception_ptr e) {
      const std::lock_guard lock(mu_);
      errors_.push_back(std::move(e));
    };
  }
  std::vector<std::string> messages() {
    const std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& e : errors_) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        out.emplace_back(ex.what());
      } catch (...) {
        out.emplace_back("<not a std::exception>");
      }
    }
    return out;
  }
  std::size_t count() {
    const std::lock_guard lock(mu_);
    return errors_.size();
  }

 private:
  std::mutex mu_;
  std::vector<std::exception_ptr> errors_;
};

// Per-thread record of the hooks, to check ordering on that very thread.
thread_local bool started_here = false;
thread_local bool exited_here = false;

class PoolHooks : public ::testing::TestWithParam<pool_size> {};

TEST_P(PoolHooks, StartAndExitRunOncePerWorkerOnThatWorker) {
  const std::size_t threads = GetParam().threads;
  std::mutex mu;
  std::vector<int> starts(threads, 0);
  std::vector<int> exits(threads, 0);
  std::vector<std::thread::id> start_thread(threads);
  std::vector<std::thread::id> exit_thread(threads);
  std::atomic<int> tasks_before_start{0};
  std::atomic<int> tasks_after_exit{0};
  std::atomic<int> tasks_run{0};
  {
    weft::thread_pool pool{weft::pool_options{
        .threads = threads,
        .on_thread_start =
            [&] {
              started_here = true;
              const std::size_t i = weft::this_worker::index().value_or(0);
              const std::lock_guard lock(mu);
              ++starts.at(i);
              start_thread.at(i) = std::this_thread::get_id();
            },
        .on_thread_exit =
            [&] {
              exited_here = true;
              const std::size_t i = weft::this_worker::index().value_or(0);
              const std::lock_guard lock(mu);
              ++exits.at(i);
              exit_thread.at(i) = std::this_thread::get_id();
            },
    }};
    const auto task = [&] {
      tasks_before_start.fetch_add(started_here ? 0 : 1, std::memory_order_relaxed);
      tasks_after_exit.fetch_add(exited_here ? 1 : 0, std::memory_order_relaxed);
      tasks_run.fetch_add(1, std::memory_order_relaxed);
    };
    // Every worker runs at least one task, then many more go wherever the pool puts them.
    ASSERT_TRUE(weft_test::on_every_worker(pool, threads, [&] {
                  task();
                  return 0;
                }).has_value());
    for (int i = 0; i < 1000; ++i) {
      pool.post(task);
    }
  }  // the destructor joins: every exit hook has run
  EXPECT_EQ(tasks_run.load(), static_cast<int>(threads) + 1000);
  EXPECT_EQ(tasks_before_start.load(), 0) << "a task ran on a worker before its on_thread_start";
  EXPECT_EQ(tasks_after_exit.load(), 0) << "a task ran on a worker after its on_thread_exit";
  for (std::size_t i = 0; i < threads; ++i) {
    EXPECT_EQ(starts[i], 1) << "on_thread_start count of worker " << i;
    EXPECT_EQ(exits[i], 1) << "on_thread_exit count of worker " << i;
    EXPECT_EQ(start_thread[i], exit_thread[i]) << "worker " << i << "'s hooks ran on two threads";
  }
}

TEST_P(PoolHooks, ThrowingThreadStartBreaksThePool) {
  const std::size_t threads = GetParam().threads;
  constexpr int queued_tasks = 20;
  std::latch hooks_may_throw{1};
  error_sink errors;
  std::vector<std::atomic<int>> ran(queued_tasks);
  weft::thread_pool pool{weft::pool_options{
      .threads = threads,
      .on_thread_start =
          [&] {
            hooks_may_throw.wait();  // so that the tasks below are queued before the pool breaks
            throw std::runtime_error("hook failed: no GPU");
          },
      .on_error = errors.handler(),
  }};
  std::vector<weft::future<int>> futures;
  futures.reserve(queued_tasks);
  for (int i = 0; i < queued_tasks; ++i) {
    futures.push_back(pool.submit([&ran, i] {
      ran[static_cast<std::size_t>(i)].fetch_add(1, std::memory_order_relaxed);
      return i;
    }));
  }
  hooks_may_throw.count_down();

  for (int i = 0; i < queued_tasks; ++i) {
    auto& f = futures[static_cast<std::size_t>(i)];
    EXPECT_THROW(static_cast<void>(f.get()), weft::broken_pool) << "queued task " << i;
    EXPECT_EQ(f.state(), weft::future_state::failed) << "queued task " << i;
  }
  // The futures failed, so the pool is broken: every later submission is refused.
  EXPECT_THROW(pool.submit([] {}), weft::broken_pool);
  EXPECT_THROW(pool.post([] {}), weft::broken_pool);
  EXPECT_TRUE(pool.join_for(weft_test::scaled(join_bound))) << "join() of a broken pool hung";
  for (int i = 0; i < queued_tasks; ++i) {
    EXPECT_EQ(ran[static_cast<std::size_t>(i)].load(), 0) << "task " << i << " ran";
  }
  const std::vector<std::string> reported = errors.messages();
  EXPECT_GE(reported.size(), 1U) << "the hook's exception never reached on_error";
  EXPECT_LE(reported.size(), threads) << "more reports than hooks that threw";
  for (const std::string& m : reported) {
    EXPECT_EQ(m, "hook failed: no GPU") << "on_error must receive the hook's own exception";
  }
  const weft::pool_stats s = pool.stats();
  EXPECT_EQ(s.completed, 0U);
  EXPECT_EQ(s.completed + s.failed + s.cancelled + s.rejected, queued_tasks + 2U)
      << "completed " << s.completed << ", failed " << s.failed << ", cancelled " << s.cancelled
      << ", rejected " << s.rejected;
  EXPECT_EQ(s.queued, 0U);
  EXPECT_EQ(s.running, 0U);
}

TEST_P(PoolHooks, ThrowingThreadExitGoesToOnErrorAndOtherWorkersExit) {
  const std::size_t threads = GetParam().threads;
  const std::size_t baseline = weft_test::thread_count();
  error_sink errors;
  std::atomic<std::size_t> exit_hooks{0};
  {
    weft::thread_pool pool{weft::pool_options{
        .threads = threads,
        .on_thread_exit =
            [&] {
              exit_hooks.fetch_add(1, std::memory_order_relaxed);
              if (weft::this_worker::index().value_or(1) % 2 == 0) {
                throw std::runtime_error("exit hook failed");
              }
            },
        .on_error = errors.handler(),
    }};
    EXPECT_EQ(pool.submit([] { return 3; }).get(), 3);
    EXPECT_TRUE(pool.join_for(weft_test::scaled(join_bound))) << "join() hung";
  }
  EXPECT_EQ(exit_hooks.load(), threads) << "every worker's exit hook must run";
  const std::vector<std::string> reported = errors.messages();
  EXPECT_EQ(reported.size(), (threads + 1) / 2) << "one report per throwing exit hook";
  for (const std::string& m : reported) {
    EXPECT_EQ(m, "exit hook failed");
  }
  EXPECT_TRUE(weft_test::wait_until([&] { return weft_test::thread_count() == baseline; }, 10s))
      << "threads left behind: " << weft_test::thread_count() << " vs " << baseline;
}

INSTANTIATE_TEST_SUITE_P(PoolSizes, PoolHooks,
                         ::testing::ValuesIn(weft_test::standard_pool_sizes()),
                         weft_test::pool_size_name);

TEST(PoolHooksSingle, OneFailingStartHookBreaksTheWholePool) {
  constexpr std::size_t threads = 4;
  error_sink errors;
  std::atomic<int> ran{0};
  std::latch submitted{1};
  weft::future<void> f;
  weft::thread_pool pool{weft::pool_options{
      .threads = threads,
      .on_thread_start =
          [&] {
            submitted.wait();  // `f` is assigned before the latch opens
            if (weft::this_worker::index() == 0U) {
              throw std::runtime_error("worker 0 cannot start");
            }
            // The healthy workers go on only once the failure has reached the queued task, so
            // that none of them can take it first: the pool, not a race, decides its outcome.
            static_cast<void>(weft_test::wait_until([&] { return f.done(); }, join_bound));
          },
      .on_error = errors.handler(),
  }};
  f = pool.submit([&] { ran.fetch_add(1); });
  submitted.count_down();
  EXPECT_THROW(f.get(), weft::broken_pool) << "one throwing hook must break the whole pool";
  EXPECT_THROW(pool.submit([] {}), weft::broken_pool);
  EXPECT_TRUE(pool.join_for(weft_test::scaled(join_bound))) << "join() of a broken pool hung";
  EXPECT_EQ(ran.load(), 0);
  EXPECT_EQ(errors.messages(), std::vector<std::string>{"worker 0 cannot start"});
}

// A join that is already in its idle wait when the pool breaks: the drain that fails the queued
// tasks is the last change it can see, so the drain must wake it (D2's drain_broken).
TEST(PoolHooksSingle, JoinWaitingWhenThePoolBreaksReturns) {
  constexpr int rounds = 20;
  for (int round = 0; round < rounds; ++round) {
    std::latch hook_may_throw{1};
    std::latch about_to_join{1};
    weft::thread_pool pool{weft::pool_options{
        .threads = 1,
        .on_thread_start =
            [&] {
              hook_may_throw.wait();
              throw std::runtime_error("hook failed");
            },
        .on_error = [](std::exception_ptr) {},
    }};
    weft::future<int> queued = pool.submit([] { return 1; });
    std::atomic<bool> joined{false};
    std::thread joiner([&] {
      about_to_join.count_down();
      joined.store(pool.join_for(weft_test::scaled(join_bound)), std::memory_order_release);
    });
    about_to_join.wait();  // the joiner usually reaches its idle wait before the hook throws
    hook_may_throw.count_down();
    joiner.join();
    ASSERT_TRUE(joined.load(std::memory_order_acquire))
        << "round " << round << ": join() was not woken by the broken pool's drain";
    EXPECT_THROW(static_cast<void>(queued.get()), weft::broken_pool) << "round " << round;
  }
}

TEST(PoolHooksSingle, ThrowingOnErrorIsSwallowedAndReportedOnce) {
  constexpr int throwing_posts = 10;
  std::atomic<int> handler_calls{0};
  ::testing::internal::CaptureStderr();
  {
    weft::thread_pool pool{weft::pool_options{
        .threads = 2,
        .name = "grumpy",
        .on_error =
            [&](const std::exception_ptr&) {
              handler_calls.fetch_add(1);
              throw std::logic_error("the handler itself failed");
            },
    }};
    for (int i = 0; i < throwing_posts; ++i) {
      pool.post([] { throw std::runtime_error("task failed"); });
    }
    pool.wait();
    // The workers survived the handler's exceptions.
    EXPECT_EQ(pool.submit([] { return 11; }).get(), 11);
    EXPECT_EQ(pool.stats().threads, 2U);
  }
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(handler_calls.load(), throwing_posts) << "on_error must still be called every time";
  std::size_t reports = 0;
  for (std::size_t at = err.find("on_error handler"); at != std::string::npos;
       at = err.find("on_error handler", at + 1)) {
    ++reports;
  }
  EXPECT_EQ(reports, 1U) << "the handler's failure must be written to stderr exactly once:\n"
                         << err;
  EXPECT_NE(err.find("grumpy"), std::string::npos) << "the report must name the pool:\n" << err;
  EXPECT_NE(err.find("the handler itself failed"), std::string::npos)
      << "the report must carry the handler's exception:\n"
      << err;
}

TEST(PoolHooksSingle, DefaultErrorHandlerPrintsToStderrWithThePoolName) {
  ::testing::internal::CaptureStderr();
  {
    weft::thread_pool pool{weft::pool_options{.threads = 1, .name = "noisy"}};
    pool.post([] { throw std::runtime_error("disk full on /data"); });
    pool.post([] { throw 17; });  // not a std::exception
    pool.join();
  }
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("noisy"), std::string::npos) << err;
  EXPECT_NE(err.find("disk full on /data"), std::string::npos) << err;
  EXPECT_NE(err.find("not derived from std::exception"), std::string::npos)
      << "an exception of another type must be reported too:\n"
      << err;
}

}  // namespace
