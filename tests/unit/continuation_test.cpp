// Tests of future::on_done and future::then (RELIABILITY.md group E): callbacks run exactly once
// with the outcome (E1), at once on the caller for a done future (E2), throwing callbacks go to
// on_error (E3), then() for every combination of outcomes (E4), registration racing completion
// (E5), deep chains without recursion (E6), and a million callbacks on one future (E7).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "support/pool_helpers.hpp"
#include "support/task_gates.hpp"
#include "support/test_support.hpp"
#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/pool_options.hpp>
#include <weft/this_worker.hpp>
#include <weft/thread_pool.hpp>

namespace {

using weft::future_state;
using weft_test::event_timeout;
using weft_test::test_error;

// Collects what a pool hands to on_error. Declare it before the pool.
class error_log {
 public:
  std::function<void(std::exception_ptr)> handler() {
    return [this](std::exception_ptr e) {
      const std::lock_guard lock(mu_);
      errors_.push_back(std::move(e));
    };
  }
  std::vector<std::exception_ptr> errors() const {
    const std::lock_guard lock(mu_);
    return errors_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::exception_ptr> errors_;
};

enum class outcome { value, error, cancel };

const char* outcome_name(outcome o) {
  return o == outcome::value ? "Value" : o == outcome::error ? "Error" : "Cancel";
}

// A held source on a pool whose workers are all blocked by `hold`: it completes with `o` when
// the test opens the hold (value or error) or calls cancel() (cancel).
weft::future<int> held_source(weft::thread_pool& pool, outcome o) {
  return pool.submit([o]() -> int {
    if (o == outcome::error) {
      throw test_error("source failed");
    }
    return 7;
  });
}

class OnDoneOnPool : public ::testing::TestWithParam<weft_test::pool_size> {};

// ---- E1 ------------------------------------------------------------------------------------

TEST_P(OnDoneOnPool, RunsExactlyOnceWithTheOutcome) {
  const std::size_t threads = GetParam().threads;
  for (const outcome o : {outcome::value, outcome::error, outcome::cancel}) {
    SCOPED_TRACE(outcome_name(o));
    std::atomic<int> with_future{0};
    std::atomic<int> without_argument{0};
    std::atomic<bool> saw_final_state{false};
    std::atomic<bool> saw_outcome{false};
    weft::thread_pool pool{threads};
    weft_test::worker_gate hold(pool, threads);
    ASSERT_TRUE(hold.all_running());
    weft::future<int> f = held_source(pool, o);
    f.on_done([&](const weft::future<int>& done) {
      with_future.fetch_add(1, std::memory_order_relaxed);
      saw_final_state.store(done.done(), std::memory_order_relaxed);
      try {
        const int value = done.get();  // rethrows for a failed or cancelled future
        saw_outcome.store(o == outcome::value && value == 7, std::memory_order_relaxed);
      } catch (const test_error&) {
        saw_outcome.store(o == outcome::error, std::memory_order_relaxed);
      } catch (const weft::cancelled_error&) {
        saw_outcome.store(o == outcome::cancel, std::memory_order_relaxed);
      }
    });
    f.on_done([&] { without_argument.fetch_add(1, std::memory_order_relaxed); });
    EXPECT_EQ(with_future.load() + without_argument.load(), 0) << "ran before completion";
    if (o == outcome::cancel) {
      ASSERT_TRUE(f.cancel());
      // On the thread that completed the future, so before cancel() returned.
      EXPECT_EQ(with_future.load(), 1);
      EXPECT_EQ(without_argument.load(), 1);
    }
    hold.open();
    ASSERT_TRUE(f.wait_for(event_timeout));
    pool.wait();  // callbacks run on the completing worker before it goes idle
    EXPECT_EQ(with_future.load(), 1);
    EXPECT_EQ(without_argument.load(), 1);
    EXPECT_TRUE(saw_final_state.load()) << "the callback ran before the future was done";
    EXPECT_TRUE(saw_outcome.load()) << "the callback did not see the task's outcome";
  }
}

// ---- E2 ------------------------------------------------------------------------------------

TEST(OnDone, AlreadyDoneRunsAtOnceOnTheCallingThreadExactlyOnce) {
  std::atomic<int> runs{0};
  weft::thread_pool pool{2};
  weft::future<int> succeeded = pool.submit([] { return 1; });
  weft::future<int> failed = pool.submit([]() -> int { throw test_error("x"); });
  weft::future<int> cancelled;
  {
    weft_test::worker_gate hold(pool, 2);
    ASSERT_TRUE(hold.all_running());
    cancelled = pool.submit([] { return 2; });
    ASSERT_TRUE(cancelled.cancel());
  }
  ASSERT_TRUE(succeeded.wait_for(event_timeout));
  ASSERT_TRUE(failed.wait_for(event_timeout));
  const std::thread::id caller = std::this_thread::get_id();
  for (const weft::future<int>* f : {&succeeded, &failed, &cancelled}) {
    SCOPED_TRACE(::testing::PrintToString(f->state()));
    const int before = runs.load();
    std::thread::id ran_on;
    f->on_done([&] {
      ran_on = std::this_thread::get_id();
      runs.fetch_add(1, std::memory_order_relaxed);
    });
    EXPECT_EQ(runs.load(), before + 1) << "on_done did not run the callback before returning";
    EXPECT_EQ(ran_on, caller);
    f->on_done([&](const weft::future<int>& g) {
      EXPECT_TRUE(g.done());
      runs.fetch_add(1, std::memory_order_relaxed);
    });
    EXPECT_EQ(runs.load(), before + 2);
  }
  pool.wait();
  EXPECT_EQ(runs.load(), 6) << "a callback ran more than once";
}

TEST(OnDone, CallerThatSawTheFutureDoneGetsTheCallbackAtOnce) {
  // The completer wakes blocked waiters as part of publishing the outcome; a woken waiter that
  // registers a callback at once must still have it run on its own thread, before on_done
  // returns (not later by the completer).
  const std::size_t rounds = weft_test::stress_count(20'000, 4'000);
  std::size_t deferred = 0;
  weft::thread_pool pool{1};
  for (std::size_t round = 0; round < rounds; ++round) {
    weft::future<int> f = pool.submit([] {
      std::atomic<int> work{0};  // long enough for the caller to block in wait()
      for (int i = 0; i < 2'000; ++i) {
        work.fetch_add(1, std::memory_order_relaxed);
      }
      return work.load(std::memory_order_relaxed);
    });
    f.wait();
    bool ran = false;
    f.on_done([&ran] { ran = true; });
    if (!ran) {
      ++deferred;
      // The callback now runs on the worker; let it finish with `ran` before it goes away.
      pool.wait();
    }
  }
  EXPECT_EQ(deferred, 0U) << "on_done on a done future left the callback to the completer";
}

TEST(OnDone, ImmediateCallbackExceptionPropagatesToTheCaller) {
  error_log log;
  weft::thread_pool pool{weft::pool_options{.threads = 1, .on_error = log.handler()}};
  weft::future<int> f = pool.submit([] { return 1; });
  ASSERT_TRUE(f.wait_for(event_timeout));
  int runs = 0;
  EXPECT_THROW(f.on_done([&runs] {
    ++runs;
    throw test_error("immediate");
  }),
               test_error);
  EXPECT_EQ(runs, 1);
  EXPECT_TRUE(log.errors().empty()) << "the caller got it; on_error must not get it too";
  f.on_done([&runs] { ++runs; });  // the future is still usable
  EXPECT_EQ(runs, 2);
}

// ---- E3 ------------------------------------------------------------------------------------

TEST_P(OnDoneOnPool, ThrowingCallbackGoesToOnErrorAndLaterCallbacksRun) {
  const std::size_t threads = GetParam().threads;
  error_log log;
  std::atomic<int> first{0};
  std::atomic<int> last{0};
  weft::thread_pool pool{weft::pool_options{.threads = threads, .on_error = log.handler()}};
  const weft_test::gate finish;
  weft::future<int> f = pool.submit([go = finish.waiter()] {
    go.wait();
    return 3;
  });
  f.on_done([&first] { first.fetch_add(1, std::memory_order_relaxed); });
  f.on_done([] { throw test_error("callback failed"); });
  f.on_done([](const weft::future<int>&) { throw 42; });
  f.on_done([&last] { last.fetch_add(1, std::memory_order_relaxed); });
  finish.open();
  EXPECT_EQ(f.get(), 3);  // a throwing callback does not change the outcome
  pool.wait();
  EXPECT_EQ(first.load(), 1);
  EXPECT_EQ(last.load(), 1) << "a throwing callback stopped the later ones";
  const std::vector<std::exception_ptr> errors = log.errors();
  ASSERT_EQ(errors.size(), 2U);
  EXPECT_THROW(std::rethrow_exception(errors[0]), test_error);
  EXPECT_THROW(std::rethrow_exception(errors[1]), int);
  // The worker that ran the callbacks survived: every worker still takes a task.
  EXPECT_EQ(pool.stats().threads, threads);
  ASSERT_TRUE(weft_test::on_every_worker(pool, threads, [] { return 0; }).has_value());
}

TEST(OnDone, ThrowingCallbackAtCancelGoesToOnError) {
  error_log log;
  std::atomic<int> later{0};
  weft::thread_pool pool{weft::pool_options{.threads = 1, .on_error = log.handler()}};
  weft_test::worker_gate hold(pool, 1);
  ASSERT_TRUE(hold.all_running());
  weft::future<int> f = pool.submit([] { return 1; });
  f.on_done([] { throw test_error("at cancel"); });
  f.on_done([&later] { later.fetch_add(1, std::memory_order_relaxed); });
  bool cancelled = false;
  EXPECT_NO_THROW(cancelled = f.cancel());
  EXPECT_TRUE(cancelled);
  EXPECT_EQ(later.load(), 1);
  ASSERT_EQ(log.errors().size(), 1U);
  EXPECT_THROW(std::rethrow_exception(log.errors()[0]), test_error);
}

// ---- E4 ------------------------------------------------------------------------------------

TEST_P(OnDoneOnPool, ThenRunsOnThePoolAfterSuccess) {
  std::atomic<weft::thread_pool*> ran_in{nullptr};
  weft::thread_pool pool{GetParam().threads};
  weft::future<int> source = pool.submit([] { return 6; });
  weft::future<int> dependent = source.then([&ran_in](int v) {
    ran_in.store(weft::this_worker::pool(), std::memory_order_relaxed);
    return v * 7;
  });
  EXPECT_EQ(dependent.get(), 42);
  EXPECT_EQ(ran_in.load(), &pool);
}

TEST(Then, OnADoneSourceRunsOnThePoolNotOnTheCaller) {
  std::atomic<weft::thread_pool*> ran_in{nullptr};
  std::thread::id ran_on;
  weft::thread_pool pool{1};
  weft::future<int> source = pool.submit([] { return 1; });
  ASSERT_TRUE(source.wait_for(event_timeout));
  weft::future<int> dependent = source.then([&](int v) {
    ran_in.store(weft::this_worker::pool(), std::memory_order_relaxed);
    ran_on = std::this_thread::get_id();
    return v + 1;
  });
  EXPECT_EQ(dependent.get(), 2);
  EXPECT_EQ(ran_in.load(), &pool);
  EXPECT_NE(ran_on, std::this_thread::get_id());
}

TEST(Then, VoidSourcesAndVoidContinuations) {
  std::atomic<int> steps{0};
  weft::thread_pool pool{2};
  weft::future<void> source = pool.submit([&steps] { steps.fetch_add(1); });
  weft::future<int> counted = source.then([&steps] { return steps.fetch_add(1) + 1; });
  weft::future<void> finished = counted.then([&steps](int v) { steps.fetch_add(v); });
  weft::future<std::string> observed =
      finished.then([](weft::future<void> f) { return f.done() ? std::string("ok") : "early"; });
  EXPECT_EQ(observed.get(), "ok");
  EXPECT_EQ(steps.load(), 4);
}

TEST(Then, MoveOnlyValueIsMovedIntoTheContinuation) {
  weft::thread_pool pool{2};
  weft::future<std::unique_ptr<int>> source = pool.submit([] { return std::make_unique<int>(5); });
  weft::future<int> dependent = source.then([](std::unique_ptr<int> p) { return *p * 2; });
  EXPECT_EQ(dependent.get(), 10);
  // The continuation took the value out of the shared state, as std::move(source).get() would.
  EXPECT_THROW(static_cast<void>(source.get()), weft::usage_error);
}

TEST(Then, ContinuationOfAcceptedWorkRunsWhileThePoolDrains) {
  weft::thread_pool pool{1};
  const weft_test::gate finish;
  weft::future<int> source = pool.submit([go = finish.waiter()] {
    go.wait();
    return 1;
  });
  weft::future<int> dependent = source.then([](int v) { return v + 1; });
  pool.shutdown();  // the continuation belongs to work accepted before: it still runs
  finish.open();
  EXPECT_EQ(dependent.get(), 2);
  // A continuation of a source that is already done would be new work: refused.
  EXPECT_THROW(static_cast<void>(source.then([](int v) { return v; })), weft::pool_shutdown);
}

enum class form { takes_value, takes_future };
enum class behaviour { returns, throws };
enum class registered { before_completion, after_completion };
using then_case = std::tuple<outcome, form, behaviour, registered>;

class ThenOutcome : public ::testing::TestWithParam<then_case> {};

TEST_P(ThenOutcome, DependentFollowsTheContract) {
  // Plain variables, not structured bindings: clang 14 cannot capture bindings in lambdas.
  const outcome source_outcome = std::get<0>(GetParam());
  const form fn_form = std::get<1>(GetParam());
  const behaviour fn_behaviour = std::get<2>(GetParam());
  const registered when = std::get<3>(GetParam());
  std::atomic<int> fn_runs{0};
  std::atomic<weft::thread_pool*> ran_in{nullptr};
  std::atomic<future_state> seen{future_state::pending};
  weft::thread_pool pool{2};
  weft_test::worker_gate hold(pool, 2);
  ASSERT_TRUE(hold.all_running());
  weft::future<int> source = held_source(pool, source_outcome);

  const auto body = [&, fn_behaviour](future_state source_state, int value) -> int {
    fn_runs.fetch_add(1, std::memory_order_relaxed);
    ran_in.store(weft::this_worker::pool(), std::memory_order_relaxed);
    seen.store(source_state, std::memory_order_relaxed);
    if (fn_behaviour == behaviour::throws) {
      throw test_error("fn failed");
    }
    return value * 10;
  };
  const auto attach = [&]() -> weft::future<int> {
    if (fn_form == form::takes_value) {
      return source.then([body](int v) { return body(future_state::succeeded, v); });
    }
    return source.then([body](weft::future<int> f) {
      return body(f.state(), f.state() == future_state::succeeded ? f.get() : -1);
    });
  };
  weft::future<int> dependent;
  if (when == registered::before_completion) {
    dependent = attach();
  }
  if (source_outcome == outcome::cancel) {
    ASSERT_TRUE(source.cancel());
  }
  hold.open();
  ASSERT_TRUE(source.wait_for(event_timeout));
  if (when == registered::after_completion) {
    dependent = attach();
  }
  ASSERT_TRUE(dependent.wait_for(event_timeout));
  pool.wait();

  const bool fn_should_run = fn_form == form::takes_future || source_outcome == outcome::value;
  if (!fn_should_run) {
    EXPECT_EQ(fn_runs.load(), 0) << "fn ran although the source did not succeed";
    if (source_outcome == outcome::cancel) {
      EXPECT_EQ(dependent.state(), future_state::cancelled);
      EXPECT_THROW(static_cast<void>(dependent.get()), weft::cancelled_error);
    } else {
      EXPECT_EQ(dependent.state(), future_state::failed);
      EXPECT_EQ(dependent.exception(), source.exception()) << "not the source's own exception";
      EXPECT_THROW(static_cast<void>(dependent.get()), test_error);
    }
    return;
  }
  EXPECT_EQ(fn_runs.load(), 1);
  EXPECT_EQ(ran_in.load(), &pool) << "fn did not run as a task of the pool";
  EXPECT_EQ(seen.load(), source.state()) << "fn saw the source before it was done";
  if (fn_behaviour == behaviour::throws) {
    EXPECT_EQ(dependent.state(), future_state::failed);
    try {
      static_cast<void>(dependent.get());
    } catch (const test_error& e) {
      EXPECT_STREQ(e.what(), "fn failed");
    }
  } else {
    EXPECT_EQ(dependent.get(), source_outcome == outcome::value ? 70 : -10);
  }
}

std::string then_case_name(const ::testing::TestParamInfo<then_case>& info) {
  const auto [o, f, b, r] = info.param;
  return std::string("Source") + outcome_name(o) +
         (f == form::takes_value ? "TakesValue" : "TakesFuture") +
         (b == behaviour::returns ? "Returns" : "Throws") +
         (r == registered::before_completion ? "Before" : "After");
}

INSTANTIATE_TEST_SUITE_P(
    EveryCombination, ThenOutcome,
    ::testing::Combine(::testing::Values(outcome::value, outcome::error, outcome::cancel),
                       ::testing::Values(form::takes_value, form::takes_future),
                       ::testing::Values(behaviour::returns, behaviour::throws),
                       ::testing::Values(registered::before_completion,
                                         registered::after_completion)),
    then_case_name);

// ---- E5 ------------------------------------------------------------------------------------

TEST_P(OnDoneOnPool, RegistrationRacingCompletionRunsOnce) {
  const std::size_t rounds = weft_test::stress_count(100'000, 20'000);
  std::vector<std::atomic<int>> runs(rounds);
  std::atomic<std::size_t> at_once{0};
  const std::thread::id registrar = std::this_thread::get_id();
  // A random pause between submit and on_done, balanced so that registration and completion
  // each come first about half the time: they keep meeting close to the completion.
  weft_test::race_balancer balance(weft_test::seed());
  weft::thread_pool pool{GetParam().threads};
  for (std::size_t i = 0; i < rounds; ++i) {
    weft::future<std::size_t> f = pool.submit([i] { return i; });
    balance.pause();
    bool ran_here = false;
    f.on_done([&runs, &at_once, &ran_here, registrar, i] {
      runs[i].fetch_add(1, std::memory_order_relaxed);
      if (std::this_thread::get_id() == registrar) {
        ran_here = true;
        at_once.fetch_add(1, std::memory_order_relaxed);
      }
    });
    balance.record(!ran_here);  // registered before completion: early
  }
  pool.wait();
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < rounds; ++i) {
    if (runs[i].load() != 1) {
      ++wrong;
      ADD_FAILURE() << "callback " << i << " ran " << runs[i].load() << " times";
      if (wrong > 10) {
        break;
      }
    }
  }
  RecordProperty("ran_at_once", static_cast<int>(at_once.load()));
  RecordProperty("ran_at_completion", static_cast<int>(rounds - at_once.load()));
}

// The callback owns the last handle and drops it, while the registration that pushed it may
// still be returning on this thread: registration must not touch the state after the
// completer could have run the callback and freed it (the race of the test above, with the
// state's lifetime at stake; AddressSanitizer reports a use after free).
TEST_P(OnDoneOnPool, ACallbackMayDropTheLastHandleWhileItsRegistrationReturns) {
  const std::size_t rounds = weft_test::stress_count(100'000, 20'000);
  std::atomic<std::size_t> ran{0};
  std::atomic<std::size_t> sum{0};
  const std::thread::id registrar = std::this_thread::get_id();
  weft_test::race_balancer balance(weft_test::seed());
  weft::thread_pool pool{GetParam().threads};
  for (std::size_t i = 0; i < rounds; ++i) {
    auto* holder = new weft::future<std::size_t>(pool.submit([i] { return i; }));
    balance.pause();
    bool ran_here = false;
    holder->on_done([holder, &ran, &sum, &ran_here, registrar] {
      sum.fetch_add(holder->get(), std::memory_order_relaxed);
      if (std::this_thread::get_id() == registrar) {
        ran_here = true;
      }
      delete holder;  // the last handle: the state goes when the callback's caller lets go
      ran.fetch_add(1, std::memory_order_relaxed);
    });
    balance.record(!ran_here);
  }
  pool.wait();
  EXPECT_EQ(ran.load(), rounds);
  EXPECT_EQ(sum.load(), rounds * (rounds - 1) / 2);
}

// ---- E6 ------------------------------------------------------------------------------------

constexpr int chain_depth = 10'000;

// How much deeper than where it started the completion of a whole chain may run. Trampolined
// completion needs a few frames; a recursive one needs some per link, over a megabyte for
// 10,000 links even in a release build.
constexpr std::uintptr_t completion_stack_bound = 256 * 1024;

// The calling frame's position on its stack. Not inlined, so it measures the caller's depth.
[[gnu::noinline]] std::uintptr_t stack_position() {
  return reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
}

std::uintptr_t distance(std::uintptr_t a, std::uintptr_t b) {
  return a > b ? a - b : b - a;
}

TEST(ThenChain, TenThousandDeepChainCompletes) {
  std::vector<std::uintptr_t> positions(chain_depth);
  weft::thread_pool pool{1};  // one worker: every link runs on one stack, so depths compare
  const weft_test::gate start;
  weft::future<int> source = pool.submit([go = start.waiter()] {
    go.wait();
    return 0;
  });
  weft::future<int> last = source;
  for (int i = 0; i < chain_depth; ++i) {
    last = last.then([&positions, i](int v) {
      positions[static_cast<std::size_t>(i)] = stack_position();
      return v + 1;
    });
  }
  start.open();
  ASSERT_TRUE(last.wait_for(event_timeout)) << "the chain did not complete";
  EXPECT_EQ(last.get(), chain_depth);
  const auto [low, high] = std::minmax_element(positions.begin(), positions.end());
  EXPECT_LT(*high - *low, completion_stack_bound) << "links ran nested inside one another";
}

TEST(ThenChain, FailingSourcePassesThroughWithoutRecursion) {
  std::atomic<int> fn_runs{0};
  std::atomic<std::uintptr_t> source_position{0};
  std::atomic<std::uintptr_t> end_position{0};
  weft::thread_pool pool{1};
  const weft_test::gate start;
  weft::future<int> source = pool.submit([&source_position, go = start.waiter()]() -> int {
    go.wait();
    source_position.store(stack_position(), std::memory_order_relaxed);
    throw test_error("chain source failed");
  });
  weft::future<int> last = source;
  for (int i = 0; i < chain_depth; ++i) {
    last = last.then([&fn_runs](int v) {
      fn_runs.fetch_add(1, std::memory_order_relaxed);
      return v + 1;
    });
  }
  last.on_done([&end_position] { end_position.store(stack_position()); });
  start.open();
  ASSERT_TRUE(last.wait_for(event_timeout));
  pool.wait();
  EXPECT_THROW(static_cast<void>(last.get()), test_error);
  EXPECT_EQ(fn_runs.load(), 0);
  ASSERT_NE(end_position.load(), 0U);
  EXPECT_LT(distance(end_position.load(), source_position.load()), completion_stack_bound)
      << "the failure was passed down the chain recursively";
}

TEST(ThenChain, CancelledSourcePassesThroughWithoutRecursion) {
  std::atomic<int> fn_runs{0};
  std::uintptr_t end_position = 0;
  weft::thread_pool pool{1};
  weft_test::worker_gate hold(pool, 1);
  ASSERT_TRUE(hold.all_running());
  weft::future<int> source = pool.submit([] { return 0; });
  weft::future<int> last = source;
  for (int i = 0; i < chain_depth; ++i) {
    last = last.then([&fn_runs](int v) {
      fn_runs.fetch_add(1, std::memory_order_relaxed);
      return v + 1;
    });
  }
  last.on_done([&end_position] { end_position = stack_position(); });
  const std::uintptr_t cancel_position = stack_position();
  ASSERT_TRUE(source.cancel());  // completes the whole chain on this thread
  EXPECT_EQ(last.state(), future_state::cancelled);
  ASSERT_NE(end_position, 0U);
  EXPECT_LT(distance(end_position, cancel_position), completion_stack_bound)
      << "the cancellation was passed down the chain recursively";
  hold.open();
  pool.wait();
  EXPECT_EQ(fn_runs.load(), 0);
}

TEST(ThenChain, FutureTakingLinksRunOnEveryOutcomeDownADeepChain) {
  weft::thread_pool pool{2};
  weft::future<int> last = pool.submit([]() -> int { throw test_error("first link fails"); });
  for (int i = 0; i < chain_depth; ++i) {
    last = last.then([](weft::future<int> f) {
      try {
        return f.get() + 1;
      } catch (const test_error&) {
        return 0;  // recovers: the rest of the chain sees values
      }
    });
  }
  ASSERT_TRUE(last.wait_for(event_timeout));
  EXPECT_EQ(last.get(), chain_depth - 1);
}

// ---- E7 ------------------------------------------------------------------------------------

TEST(OnDone, AMillionCallbacksOnOneFutureAllRunOnce) {
  const std::size_t callbacks = weft_test::stress_count(1'000'000, 100'000);
  // Written only by the completing worker; read after pool.wait(), which orders them.
  std::vector<unsigned char> runs(callbacks, 0);
  weft::thread_pool pool{1};
  const weft_test::gate start;
  weft::future<int> f = pool.submit([go = start.waiter()] {
    go.wait();
    return 1;
  });
  for (std::size_t i = 0; i < callbacks; ++i) {
    f.on_done([&runs, i] { ++runs[i]; });
  }
  start.open();
  ASSERT_TRUE(f.wait_for(event_timeout));
  pool.wait();
  const auto not_once =
      std::count_if(runs.begin(), runs.end(), [](unsigned char r) { return r != 1; });
  EXPECT_EQ(not_once, 0) << "callbacks that did not run exactly once";
}

INSTANTIATE_TEST_SUITE_P(PoolSizes, OnDoneOnPool,
                         ::testing::ValuesIn(weft_test::standard_pool_sizes()),
                         weft_test::pool_size_name);

}  // namespace
