// Tests of re-entrance: user code that the pool runs (callbacks, continuations, stop callbacks,
// the error handler, the thread hooks) may call back into the pool, and no such call deadlocks
// or runs a callback twice.
//
// - Reentrancy.*: the three programs of the issue (a get() inside an on_done callback whose
//   awaited continuation must still be queued, a cancel() whose callback waits for the pool, a
//   stop callback that submits), wait()/join() from a worker, a get() in on_thread_start, and
//   submitters whose copy constructors wait for the pool or submit to it.
// - ReentrySweep.*: every pair (where the user code runs) x (what it calls), on a 1-worker and a
//   2-worker pool. Each case asserts that the call returned within a bound, that every future
//   involved ends done, and that no callback ran twice.
//
// A case that deadlocks inside the library cannot always be unblocked by the test (a thread
// stuck on a lock of the pool); such a case reports the hang, then leaks its pool and threads
// (support/bounded_thread.hpp) so that the rest of the binary still runs. Everything else is
// unblocked in the failing path: gates are opened and the awaited futures cancelled, so the
// blocked get() throws and the pool can be joined.

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "support/bounded_thread.hpp"
#include "support/task_gates.hpp"
#include "support/test_support.hpp"
#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/pool_options.hpp>
#include <weft/pool_stats.hpp>
#include <weft/this_worker.hpp>
#include <weft/thread_pool.hpp>

namespace {

using namespace std::chrono_literals;
using weft_test::bounded_thread;
using weft_test::event;
using weft_test::quarantine;

// How long a re-entrant call may take before the test calls it a hang (scaled). The calls
// should return at once; the bound only limits how long a failing case takes.
constexpr auto reentry_bound = 10s;
// The timeout of the wait_for() the sweep's WaitForQueued action makes (scaled): far above
// what the queued task needs, and below reentry_bound so the action itself returns in time.
constexpr auto action_wait = 5s;

using weft_test::test_error;

std::string describe(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "a non-std exception";
  }
}

// A list of problems seen on other threads, reported by the test thread at the end.
class problem_log {
 public:
  void add(std::string what) {
    const std::lock_guard lock(mu_);
    problems_.push_back(std::move(what));
  }
  void report() const {
    const std::lock_guard lock(mu_);
    for (const std::string& p : problems_) {
      ADD_FAILURE() << p;
    }
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> problems_;
};

// ---- The programs of the issue -------------------------------------------------------------

TEST(Reentrancy, NestedWaitInCallback) {
  // The callback of `a` waits for c = b.then(g). On the only worker it helps: it runs b, and b's
  // completion must queue c there and then, not after the callback returns.
  struct state {
    problem_log problems;
    std::atomic<int> callback_runs{0};
    std::atomic<int> g_runs{0};
    std::atomic<int> seen{0};
    event finished;
    std::unique_ptr<weft::thread_pool> pool = std::make_unique<weft::thread_pool>(1);
    weft::future<int> a;
    weft::future<int> b;
    weft::future<int> c;
    weft::future<void> blocker;
    weft_test::gate release;
  };
  auto owned = std::make_unique<state>();
  state& st = *owned;
  const event started;
  st.blocker = st.pool->submit([started, go = st.release.waiter()] {
    started.set();
    go.wait();
  });
  ASSERT_TRUE(started.wait_for(weft_test::event_timeout));
  st.a = st.pool->submit([] { return 1; });
  st.b = st.pool->submit([] { return 2; });
  st.c = st.b.then([&st](int v) {
    st.g_runs.fetch_add(1, std::memory_order_relaxed);
    return v * 10;
  });
  st.a.on_done([&st] {
    st.callback_runs.fetch_add(1, std::memory_order_relaxed);
    try {
      st.seen.store(st.c.get(), std::memory_order_relaxed);
    } catch (...) {
      st.problems.add("c.get() in a's callback threw: " + describe(std::current_exception()));
    }
    st.finished.set();
  });
  st.release.open();
  if (!st.finished.wait_for(reentry_bound)) {
    ADD_FAILURE() << "hang: c.get() inside a's on_done callback did not return within "
                  << reentry_bound.count() << " s (b's continuation c was never queued?)";
    static_cast<void>(st.c.cancel());  // wakes the callback's get() with cancelled_error
    if (!st.finished.wait_for(reentry_bound)) {
      quarantine(owned, "the callback stayed blocked after c was cancelled");
      return;
    }
  }
  if (!st.pool->join_for(weft_test::scaled(reentry_bound))) {
    quarantine(owned, "the pool did not join");
    return;
  }
  st.problems.report();
  EXPECT_EQ(st.seen.load(), 20);
  EXPECT_EQ(st.callback_runs.load(), 1);
  EXPECT_LE(st.g_runs.load(), 1);
  for (const weft::future<int>* f : {&st.a, &st.b, &st.c}) {
    EXPECT_TRUE(f->done());
  }
}

TEST(Reentrancy, CancelWhoseCallbackWaits) {
  // f's callback runs on the cancelling thread, releases B and waits for g. The only worker,
  // once free, meets f's stale queue entry before g: it must not wait for the canceller.
  struct state {
    problem_log problems;
    std::atomic<int> callback_runs{0};
    std::atomic<int> seen{0};
    std::atomic<bool> cancelled{false};
    event finished;
    std::unique_ptr<weft::thread_pool> pool = std::make_unique<weft::thread_pool>(1);
    weft::future<void> b;
    weft::future<int> f;
    weft::future<int> g;
    weft_test::gate release_b;
    std::unique_ptr<bounded_thread> canceller;
  };
  auto owned = std::make_unique<state>();
  state& st = *owned;
  const event started;
  st.b = st.pool->submit([started, go = st.release_b.waiter()] {
    started.set();
    go.wait();
  });
  ASSERT_TRUE(started.wait_for(weft_test::event_timeout));
  st.f = st.pool->submit([] { return 1; });
  st.g = st.pool->submit([] { return 2; });
  st.f.on_done([&st] {
    st.callback_runs.fetch_add(1, std::memory_order_relaxed);
    st.release_b.open();
    try {
      st.seen.store(st.g.get(), std::memory_order_relaxed);
    } catch (...) {
      st.problems.add("g.get() in f's callback threw: " + describe(std::current_exception()));
    }
    st.finished.set();
  });
  st.canceller = std::make_unique<bounded_thread>(
      [&st] { st.cancelled.store(st.f.cancel(), std::memory_order_relaxed); });
  if (!st.finished.wait_for(reentry_bound)) {
    ADD_FAILURE() << "hang: g.get() in the callback of the cancelled f did not return within "
                  << reentry_bound.count() << " s (the worker waits for the canceller?)";
    static_cast<void>(st.g.cancel());
  }
  if (!st.canceller->join_for(reentry_bound)) {
    quarantine(owned, "the cancelling thread is stuck in cancel()");
    return;
  }
  if (!st.pool->join_for(weft_test::scaled(reentry_bound))) {
    quarantine(owned, "the pool did not join");
    return;
  }
  st.problems.report();
  EXPECT_TRUE(st.cancelled.load());
  EXPECT_EQ(st.f.state(), weft::future_state::cancelled);
  EXPECT_EQ(st.seen.load(), 2);
  EXPECT_EQ(st.callback_runs.load(), 1);
  EXPECT_TRUE(st.b.done());
  EXPECT_TRUE(st.g.done());
}

TEST(Reentrancy, StopCallbackThatSubmits) {
  // A running task's stop callback submits a stop-aware task; pool.request_stop() from another
  // thread runs the callback. The nested submit must not deadlock and its future completes.
  struct state {
    problem_log problems;
    std::atomic<int> callback_runs{0};
    std::atomic<int> nested_runs{0};
    event registered;
    event callback_done;
    std::mutex mu;
    weft::future<int> nested;  // guarded by mu
    std::unique_ptr<weft::thread_pool> pool = std::make_unique<weft::thread_pool>(1);
    weft::future<bool> task;
    std::unique_ptr<bounded_thread> requester;
  };
  auto owned = std::make_unique<state>();
  state& st = *owned;
  st.task = st.pool->submit([&st](std::stop_token token) {
    const std::stop_callback cb(token, [&st] {
      st.callback_runs.fetch_add(1, std::memory_order_relaxed);
      try {
        weft::future<int> f = st.pool->submit([&st](const std::stop_token&) {
          st.nested_runs.fetch_add(1, std::memory_order_relaxed);
          return 5;
        });
        const std::lock_guard lock(st.mu);
        st.nested = std::move(f);
      } catch (...) {
        st.problems.add("submit in the stop callback threw: " + describe(std::current_exception()));
      }
      st.callback_done.set();
    });
    st.registered.set();
    const bool stopped =
        weft_test::wait_until([&] { return token.stop_requested(); }, reentry_bound);
    // The callback runs on the requesting thread; leaving now would block in ~stop_callback
    // until it returns, so give it the time it should need (it only submits).
    static_cast<void>(st.callback_done.wait_for(reentry_bound));
    return stopped;
  });
  ASSERT_TRUE(st.registered.wait_for(weft_test::event_timeout));
  st.requester = std::make_unique<bounded_thread>([&st] { st.pool->request_stop(); });
  if (!st.callback_done.wait_for(reentry_bound)) {
    ADD_FAILURE() << "hang: the stop callback's submit() did not return within "
                  << reentry_bound.count() << " s";
  }
  if (!st.requester->join_for(reentry_bound)) {
    quarantine(owned, "the thread calling pool.request_stop() is stuck");
    return;
  }
  weft::future<int> nested;
  {
    const std::lock_guard lock(st.mu);
    nested = st.nested;
  }
  ASSERT_TRUE(nested.valid()) << "the stop callback did not submit";
  EXPECT_TRUE(nested.wait_for(weft_test::scaled(reentry_bound)))
      << "the task submitted from the stop callback did not complete";
  EXPECT_TRUE(st.task.wait_for(weft_test::scaled(reentry_bound)));
  if (!st.pool->join_for(weft_test::scaled(reentry_bound))) {
    quarantine(owned, "the pool did not join");
    return;
  }
  st.problems.report();
  EXPECT_EQ(nested.state(), weft::future_state::succeeded);
  EXPECT_TRUE(st.task.get()) << "the task never saw its stop request";
  EXPECT_EQ(st.callback_runs.load(), 1);
  EXPECT_EQ(st.nested_runs.load(), 1);
}

// ---- Waiting on the pool from its own worker -----------------------------------------------

// Calls `call` and returns whether it threw weft::usage_error; records anything else.
template <typename F>
bool throws_usage_error(F call, problem_log& problems, const char* what) {
  try {
    call();
  } catch (const weft::usage_error&) {
    return true;
  } catch (...) {
    problems.add(std::string(what) +
                 " threw something else: " + describe(std::current_exception()));
    return false;
  }
  problems.add(std::string(what) + " returned instead of throwing usage_error");
  return false;
}

// ---- User code at the entrance (I4): the caller's constructors run before anything is queued

// A callable whose copy constructor (run by the submitting thread while it builds the task)
// announces itself, then waits until `release` is set, or three times the bound the test
// waits for the later task (so that a failing case fails instead of timing out the copy).
struct waits_when_copied {
  event copying;
  event release;
  waits_when_copied(event c, event r) : copying(std::move(c)), release(std::move(r)) {}
  waits_when_copied(const waits_when_copied& other)
      : copying(other.copying), release(other.release) {
    copying.set();
    static_cast<void>(release.wait_for(3 * reentry_bound));
  }
  waits_when_copied& operator=(const waits_when_copied&) = delete;
  ~waits_when_copied() = default;
  int operator()() const { return 5; }
};

TEST(Reentrancy, ACopyConstructorThatWaitsForALaterTaskDoesNotStallTheWorker) {
  // The only worker is idle. Thread T submits a callable whose copy waits for a task that the
  // test submits only once that copy has started. The later task must run: a worker may never
  // wait for user code on another thread (the pool's I4), so T's submission must not hold a
  // queue position that the worker would wait on while T copies.
  struct state {
    std::unique_ptr<weft::thread_pool> pool = std::make_unique<weft::thread_pool>(1);
    event copying;
    event later_ran;
    weft::future<int> first;
    std::optional<bounded_thread> submitter;
  };
  auto owned = std::make_unique<state>();
  state& st = *owned;
  const waits_when_copied callable{st.copying, st.later_ran};
  st.submitter.emplace([&st, &callable] { st.first = st.pool->submit(callable); });
  ASSERT_TRUE(st.copying.wait_for(weft_test::event_timeout));
  weft::future<int> later = st.pool->submit([] { return 7; });
  const bool ran = later.wait_for(weft_test::scaled(reentry_bound));
  st.later_ran.set();  // the copy returns either way
  EXPECT_TRUE(ran) << "a task submitted while another submitter copied its callable did not run "
                      "within "
                   << reentry_bound.count() << " s: the worker waited for that copy";
  if (!st.submitter->join_for(weft_test::scaled(reentry_bound))) {
    quarantine(owned, "the submitter stayed inside submit()");
    return;
  }
  EXPECT_EQ(st.first.get(), 5);
  EXPECT_EQ(later.get(), 7);
  EXPECT_TRUE(st.pool->join_for(weft_test::scaled(reentry_bound)));
}

// A callable whose copy constructor submits a task to the pool and keeps its future.
struct submits_when_copied {
  weft::thread_pool* pool;
  std::vector<weft::future<int>>* inner;
  int value;
  submits_when_copied(weft::thread_pool* p, std::vector<weft::future<int>>* i, int v)
      : pool(p), inner(i), value(v) {}
  submits_when_copied(const submits_when_copied& other)
      : pool(other.pool), inner(other.inner), value(other.value) {
    inner->push_back(pool->submit([v = value] { return -v; }));
  }
  submits_when_copied& operator=(const submits_when_copied&) = delete;
  ~submits_when_copied() = default;
  int operator()() const { return value; }
};

TEST(Reentrancy, ACopyConstructorThatSubmitsToThePoolWorksAcrossQueueBlocks) {
  // Each outside submission's copy submits another task (a submission nested inside the
  // building of another, with a queue reserve of its own). Enough of them to cross many blocks
  // of the injection queue: every one runs once, with its own result.
  weft::thread_pool pool{1};
  constexpr int count = 2'000;
  std::vector<weft::future<int>> inner;
  std::vector<weft::future<int>> outer;
  inner.reserve(count);
  outer.reserve(count);
  for (int i = 0; i < count; ++i) {
    const submits_when_copied callable{&pool, &inner, i};
    outer.push_back(pool.submit(callable));
  }
  ASSERT_EQ(inner.size(), static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    ASSERT_EQ(outer[static_cast<std::size_t>(i)].get(), i);
    ASSERT_EQ(inner[static_cast<std::size_t>(i)].get(), -i);
  }
  pool.join();
  EXPECT_EQ(pool.stats().completed, static_cast<std::uint64_t>(2 * count));
}

TEST(Reentrancy, WaitAndJoinFromAWorkerThrowUsageError) {
  struct state {
    problem_log problems;
    std::atomic<int> wait_threw{0};
    std::atomic<int> join_threw{0};
    std::atomic<int> on_worker{0};
    event callback_done;
    std::unique_ptr<weft::thread_pool> then_pool = std::make_unique<weft::thread_pool>(1);
    std::unique_ptr<weft::thread_pool> callback_pool = std::make_unique<weft::thread_pool>(1);
  };
  auto owned = std::make_unique<state>();
  state& st = *owned;
  const auto check = [&st](weft::thread_pool& pool) {
    if (weft::this_worker::pool() == &pool) {
      st.on_worker.fetch_add(1, std::memory_order_relaxed);
    }
    if (throws_usage_error([&pool] { pool.wait(); }, st.problems, "pool.wait() from a worker")) {
      st.wait_threw.fetch_add(1, std::memory_order_relaxed);
    }
    if (throws_usage_error([&pool] { pool.join(); }, st.problems, "pool.join() from a worker")) {
      st.join_threw.fetch_add(1, std::memory_order_relaxed);
    }
  };

  // From a then() continuation.
  weft::future<int> c = st.then_pool->submit([] { return 1; }).then([&st, check](int v) {
    check(*st.then_pool);
    return v;
  });
  if (!c.wait_for(weft_test::scaled(reentry_bound))) {
    quarantine(owned, "hang: wait() or join() inside a then() continuation did not return");
    return;
  }
  EXPECT_EQ(c.get(), 1);

  // From on_done, run by the worker that completes the task.
  {
    weft_test::worker_gate hold(*st.callback_pool, 1);
    ASSERT_TRUE(hold.all_running());
    weft::future<int> f = st.callback_pool->submit([] { return 2; });
    f.on_done([&st, check] {
      check(*st.callback_pool);
      st.callback_done.set();
    });
    hold.open();
    if (!st.callback_done.wait_for(reentry_bound)) {
      quarantine(owned, "hang: wait() or join() inside an on_done callback did not return");
      return;
    }
  }
  st.problems.report();
  EXPECT_EQ(st.on_worker.load(), 2) << "a check did not run on a worker of its pool";
  EXPECT_EQ(st.wait_threw.load(), 2);
  EXPECT_EQ(st.join_threw.load(), 2);
  // Both pools are still usable: join() from the worker did not shut them down.
  EXPECT_EQ(st.then_pool->submit([] { return 3; }).get_for(weft_test::scaled(reentry_bound)), 3);
  EXPECT_EQ(st.callback_pool->submit([] { return 4; }).get_for(weft_test::scaled(reentry_bound)),
            4);
}

TEST(Reentrancy, GetInOnThreadStartOfATaskSubmittedFromTheHookHelps) {
  // The hook holds the only worker, so the task it submits can only run if its get() helps.
  struct state {
    problem_log problems;
    std::atomic<int> hook_runs{0};
    std::atomic<int> task_runs{0};
    std::atomic<int> seen{0};
    event ready;
    event hook_done;
    std::mutex mu;
    weft::future<int> f;  // guarded by mu
    std::unique_ptr<weft::thread_pool> pool;
  };
  auto owned = std::make_unique<state>();
  state& st = *owned;
  st.pool = std::make_unique<weft::thread_pool>(weft::pool_options{
      .threads = 1,
      .on_thread_start =
          [&st] {
            st.hook_runs.fetch_add(1, std::memory_order_relaxed);
            if (!st.ready.wait_for(reentry_bound)) {
              st.problems.add("on_thread_start: the pool was never published");
              return;
            }
            try {
              weft::future<int> f = st.pool->submit([&st] {
                st.task_runs.fetch_add(1, std::memory_order_relaxed);
                return 9;
              });
              {
                const std::lock_guard lock(st.mu);
                st.f = f;
              }
              st.seen.store(f.get(), std::memory_order_relaxed);
            } catch (...) {
              st.problems.add("on_thread_start: " + describe(std::current_exception()));
            }
            st.hook_done.set();
          },
  });
  st.ready.set();
  if (!st.hook_done.wait_for(reentry_bound)) {
    ADD_FAILURE() << "hang: get() in on_thread_start did not return within "
                  << reentry_bound.count() << " s (it does not help)";
    const std::lock_guard lock(st.mu);
    if (st.f.valid()) {
      static_cast<void>(st.f.cancel());  // wakes the hook's get()
    }
  }
  if (!st.hook_done.wait_for(reentry_bound) ||
      !st.pool->join_for(weft_test::scaled(reentry_bound))) {
    quarantine(owned, "the hook stayed blocked");
    return;
  }
  st.problems.report();
  EXPECT_EQ(st.seen.load(), 9);
  EXPECT_EQ(st.hook_runs.load(), 1);
  EXPECT_EQ(st.task_runs.load(), 1);
}

// ---- The sweep: where x what ---------------------------------------------------------------

// Where the user code runs.
enum class site {
  on_done_on_worker,     // on_done, run by the worker that completes the task
  on_done_on_canceller,  // on_done, run by an outside thread that cancel()s the future
  on_done_when_done,     // on_done on a done future: at once, on the registering thread
  then_body,             // a then() continuation
  pool_stop_callback,    // a std::stop_callback fired by pool.request_stop()
  future_stop_callback,  // a std::stop_callback fired by future.request_stop()
  on_error,              // the on_error handler, for a post() that throws
  on_thread_start,       // the on_thread_start hook
  on_thread_exit,        // the on_thread_exit hook (the pool is closed by then)
};

// What it calls.
enum class action {
  submit_and_get,      // submit() a stop-aware task and get() its result
  post_and_wait,       // post() a stop-aware task and wait until it ran
  get_queued,          // get() a future of the pool queued behind the caller
  wait_for_queued,     // wait_for(5 s) on that future
  cancel_queued,       // cancel() that future
  pool_request_stop,   // pool.request_stop()
  cancel_pending,      // pool.cancel_pending()
  stats,               // pool.stats()
  on_done_other,       // on_done on that future
  then_other_and_get,  // then() on that future, and get() the continuation
};

constexpr std::array all_sites = {
    site::on_done_on_worker, site::on_done_on_canceller, site::on_done_when_done,
    site::then_body,         site::pool_stop_callback,   site::future_stop_callback,
    site::on_error,          site::on_thread_start,      site::on_thread_exit,
};
constexpr std::array all_actions = {
    action::submit_and_get,     action::post_and_wait, action::get_queued,
    action::wait_for_queued,    action::cancel_queued, action::pool_request_stop,
    action::cancel_pending,     action::stats,         action::on_done_other,
    action::then_other_and_get,
};

const char* site_name(site w) {
  switch (w) {
    case site::on_done_on_worker:
      return "OnDoneOnWorker";
    case site::on_done_on_canceller:
      return "OnDoneOnCanceller";
    case site::on_done_when_done:
      return "OnDoneWhenDone";
    case site::then_body:
      return "ThenBody";
    case site::pool_stop_callback:
      return "PoolStopCallback";
    case site::future_stop_callback:
      return "FutureStopCallback";
    case site::on_error:
      return "OnError";
    case site::on_thread_start:
      return "OnThreadStart";
    case site::on_thread_exit:
      return "OnThreadExit";
  }
  return "UnknownSite";
}

const char* action_name(action a) {
  switch (a) {
    case action::submit_and_get:
      return "SubmitAndGet";
    case action::post_and_wait:
      return "PostAndWait";
    case action::get_queued:
      return "GetQueued";
    case action::wait_for_queued:
      return "WaitForQueued";
    case action::cancel_queued:
      return "CancelQueued";
    case action::pool_request_stop:
      return "PoolRequestStop";
    case action::cancel_pending:
      return "CancelPending";
    case action::stats:
      return "Stats";
    case action::on_done_other:
      return "OnDoneOther";
    case action::then_other_and_get:
      return "ThenOtherAndGet";
  }
  return "UnknownAction";
}

// True where the user code runs on a worker of the pool. There, waiting for a post()ed task
// (which nothing helps to run) would deadlock a 1-worker pool by the test's own design, so the
// test thread waits for it instead.
bool runs_on_worker(site w) {
  return w == site::on_done_on_worker || w == site::then_body || w == site::on_error ||
         w == site::on_thread_start || w == site::on_thread_exit;
}

// on_thread_exit runs after the pool is closed: a submission from it may be refused.
bool refusal_allowed(site w, action a) {
  return w == site::on_thread_exit && (a == action::submit_and_get || a == action::post_and_wait ||
                                       a == action::then_other_and_get);
}

struct reentry_case {
  site where;
  action what;
  std::size_t threads;
};

// NOLINTNEXTLINE(readability-identifier-naming): GoogleTest looks this name up
void PrintTo(const reentry_case& c, std::ostream* out) {
  *out << site_name(c.where) << " x " << action_name(c.what) << " (" << c.threads
       << (c.threads == 1 ? " worker)" : " workers)");
}

std::vector<reentry_case> all_cases() {
  std::vector<reentry_case> cases;
  for (const site w : all_sites) {
    for (const action a : all_actions) {
      for (const std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
        cases.push_back({w, a, threads});
      }
    }
  }
  return cases;
}

std::string case_name(const ::testing::TestParamInfo<reentry_case>& info) {
  return std::string(site_name(info.param.where)) + "_" + action_name(info.param.what) + "_" +
         (info.param.threads == 1 ? "One" : "Two");
}

constexpr int other_value = 7;
constexpr int trigger_value = 1;

// Everything one case touches, on the heap so that a stuck case can be quarantined whole.
// Declaration order is destruction order reversed: the counters and logs outlive the pool, the
// pool outlives the futures' tasks, and the gates (hold) open before the pool joins.
struct scenario {
  explicit scenario(reentry_case c) : param(c) {}

  reentry_case param;
  problem_log problems;
  std::atomic<int> site_runs{0};
  std::atomic<int> hook_runs{0};
  std::atomic<int> on_error_calls{0};
  std::atomic<int> other_runs{0};
  std::atomic<int> submitted_runs{0};
  std::atomic<int> posted_runs{0};
  std::atomic<int> nested_callbacks{0};
  std::atomic<bool> site_claimed{false};
  std::atomic<bool> posted{false};
  std::atomic<bool> nested_registered{false};
  std::atomic<bool> refused{false};
  event ready;          // the pool is published (on_thread_start waits for it)
  event action_done;    // the call returned (or threw)
  event posted_ran;     // the post()ed task ran
  event stopper_armed;  // the stopper task registered its stop callback
  std::mutex mu;
  std::vector<weft::future<int>> made;  // futures the action created; guarded by mu
  std::optional<std::stop_callback<std::function<void()>>> stop_cb;
  std::unique_ptr<weft::thread_pool> pool;
  weft::future<int> trigger;  // the future whose callback or continuation is the site
  weft::future<int> other;    // the future queued behind the site
  weft::future<int> cont;     // then_body: the continuation that is the site
  weft::future<int> stopper;  // *_stop_callback: the running task whose token fires the site
  std::optional<weft_test::worker_gate> hold;  // keeps `other` queued until the site runs
  std::unique_ptr<bounded_thread> firer;       // the outside thread that fires the site

  void record(const weft::future<int>& f) {
    const std::lock_guard lock(mu);
    made.push_back(f);
  }
  std::vector<weft::future<int>> made_futures() {
    const std::lock_guard lock(mu);
    return made;
  }
};

void run_action(scenario& s) {
  weft::thread_pool& pool = *s.pool;
  try {
    switch (s.param.what) {
      case action::submit_and_get: {
        weft::future<int> f = pool.submit([&s](const std::stop_token&) {
          s.submitted_runs.fetch_add(1, std::memory_order_relaxed);
          return 42;
        });
        s.record(f);
        if (f.get() != 42) {
          s.problems.add("get() of the submitted task returned a wrong value");
        }
        break;
      }
      case action::post_and_wait:
        pool.post([&s](const std::stop_token&) {
          s.posted_runs.fetch_add(1, std::memory_order_relaxed);
          s.posted_ran.set();
        });
        s.posted.store(true, std::memory_order_relaxed);
        if (!runs_on_worker(s.param.where) && !s.posted_ran.wait_for(action_wait)) {
          s.problems.add("the post()ed task did not run within the bound");
        }
        break;
      case action::get_queued:
        if (s.other.get() != other_value) {
          s.problems.add("get() of the queued future returned a wrong value");
        }
        break;
      case action::wait_for_queued:
        if (!s.other.wait_for(weft_test::scaled(action_wait))) {
          s.problems.add("wait_for(5 s) of the queued future returned false");
        }
        break;
      case action::cancel_queued:
        static_cast<void>(s.other.cancel());  // it may have started meanwhile: either is fine
        break;
      case action::pool_request_stop:
        pool.request_stop();
        break;
      case action::cancel_pending:
        // May cancel `other` and anything else queued: the case then only checks that the call
        // returned and that every future ends done.
        static_cast<void>(pool.cancel_pending());
        break;
      case action::stats:
        if (pool.stats().threads > s.param.threads) {
          s.problems.add("stats() reported more threads than the pool has");
        }
        break;
      case action::on_done_other:
        s.nested_registered.store(true, std::memory_order_relaxed);
        s.other.on_done([&s] { s.nested_callbacks.fetch_add(1, std::memory_order_relaxed); });
        break;
      case action::then_other_and_get: {
        weft::future<int> g = s.other.then([](int v) { return v + 1; });
        s.record(g);
        if (g.get() != other_value + 1) {
          s.problems.add("get() of the continuation returned a wrong value");
        }
        break;
      }
    }
  } catch (const weft::pool_shutdown& e) {
    if (refusal_allowed(s.param.where, s.param.what)) {
      s.refused.store(true, std::memory_order_relaxed);
    } else {
      s.problems.add(std::string("the call threw pool_shutdown: ") + e.what());
    }
  } catch (...) {
    s.problems.add("the call threw: " + describe(std::current_exception()));
  }
  s.action_done.set();
}

void run_site(scenario& s) {
  s.site_runs.fetch_add(1, std::memory_order_relaxed);
  if (s.hold) {
    s.hold->open();  // outside the pool, the call may wait for the workers the gate holds
  }
  run_action(s);
}

std::unique_ptr<weft::thread_pool> make_pool(scenario& s) {
  scenario* p = &s;
  weft::pool_options options{.threads = s.param.threads, .name = "reentry"};
  if (s.param.where == site::on_error) {
    options.on_error = [p](const std::exception_ptr&) {
      p->on_error_calls.fetch_add(1, std::memory_order_relaxed);
      run_site(*p);
    };
  } else {
    options.on_error = [p](const std::exception_ptr& e) {
      p->problems.add("unexpected report to on_error: " + describe(e));
    };
  }
  if (s.param.where == site::on_thread_start) {
    options.on_thread_start = [p] {
      p->hook_runs.fetch_add(1, std::memory_order_relaxed);
      if (!p->ready.wait_for(reentry_bound)) {
        p->problems.add("on_thread_start: the pool was never published");
        return;
      }
      if (!p->site_claimed.exchange(true, std::memory_order_relaxed)) {
        run_site(*p);
      }
    };
  }
  if (s.param.where == site::on_thread_exit) {
    options.on_thread_exit = [p] {
      p->hook_runs.fetch_add(1, std::memory_order_relaxed);
      if (!p->site_claimed.exchange(true, std::memory_order_relaxed)) {
        run_site(*p);
      }
    };
  }
  return std::make_unique<weft::thread_pool>(std::move(options));
}

// Builds the pool and the futures of the case; returns false if the setup itself failed.
[[nodiscard]] bool set_up(scenario& s) {
  s.pool = make_pool(s);
  weft::thread_pool& pool = *s.pool;
  scenario* p = &s;
  const auto other_task = [p] {
    p->other_runs.fetch_add(1, std::memory_order_relaxed);
    return other_value;
  };
  switch (s.param.where) {
    case site::on_done_on_worker:
    case site::on_done_on_canceller:
    case site::then_body:
    case site::on_error:
      s.hold.emplace(pool, s.param.threads);
      if (!s.hold->all_running()) {
        return false;
      }
      if (s.param.where == site::on_error) {
        pool.post([] { throw test_error("the posted task failed"); });
      } else {
        s.trigger = pool.submit([] { return trigger_value; });
      }
      if (s.param.where == site::then_body) {
        s.cont = s.trigger.then([p](int) {
          run_site(*p);
          return 2;
        });
      } else if (s.param.where != site::on_error) {
        s.trigger.on_done([p] { run_site(*p); });
      }
      s.other = pool.submit(other_task);
      return true;
    case site::on_done_when_done:
      s.trigger = pool.submit([] { return trigger_value; });
      if (!s.trigger.wait_for(weft_test::scaled(reentry_bound))) {
        return false;
      }
      s.hold.emplace(pool, s.param.threads);
      if (!s.hold->all_running()) {
        return false;
      }
      s.other = pool.submit(other_task);
      return true;
    case site::pool_stop_callback:
    case site::future_stop_callback:
      // All workers busy: one runs the stopper, the others are held.
      s.hold.emplace(pool, s.param.threads - 1);
      if (!s.hold->all_running()) {
        return false;
      }
      s.stopper = pool.submit([p](std::stop_token token) {
        p->stop_cb.emplace(token, [p] { run_site(*p); });
        p->stopper_armed.set();
        // Returns once its stop is requested, as a task that honours its token does.
        return weft_test::wait_until([&] { return token.stop_requested(); }, reentry_bound) ? 0 : 1;
      });
      if (!s.stopper_armed.wait_for(reentry_bound)) {
        return false;
      }
      s.other = pool.submit(other_task);
      return true;
    case site::on_thread_start:
    case site::on_thread_exit:
      s.other = pool.submit(other_task);
      return true;
  }
  return false;
}

// Makes the site run.
void fire(scenario& s) {
  scenario* p = &s;
  const auto on_thread = [&s](auto body) {
    s.firer = std::make_unique<bounded_thread>([p = &s, body]() {
      try {
        body();
      } catch (...) {
        p->problems.add("the firing call threw: " + describe(std::current_exception()));
      }
    });
  };
  switch (s.param.where) {
    case site::on_done_on_worker:
    case site::then_body:
    case site::on_error:
      s.hold->open();
      return;
    case site::on_done_on_canceller:
      on_thread([p] {
        if (!p->trigger.cancel()) {
          p->problems.add("cancel() of the queued trigger returned false");
        }
      });
      return;
    case site::on_done_when_done:
      on_thread([p] {
        p->trigger.on_done([p] { run_site(*p); });
        if (p->site_runs.load(std::memory_order_relaxed) == 0) {
          p->problems.add("on_done on a done future did not run the callback at once");
        }
      });
      return;
    case site::pool_stop_callback:
      on_thread([p] { p->pool->request_stop(); });
      return;
    case site::future_stop_callback:
      on_thread([p] {
        if (!p->stopper.request_stop()) {
          p->problems.add("request_stop() of the running stopper returned false");
        }
      });
      return;
    case site::on_thread_start:
      s.ready.set();
      return;
    case site::on_thread_exit:
      on_thread([p] { p->pool->join(); });
      return;
  }
}

// Every future of the case (the gate's blockers too).
std::vector<weft::future<int>> involved(scenario& s) {
  std::vector<weft::future<int>> all = s.made_futures();
  for (const weft::future<int>* f : {&s.trigger, &s.other, &s.cont, &s.stopper}) {
    if (f->valid()) {
      all.push_back(*f);
    }
  }
  return all;
}

// The failing path: unblocks whatever the test itself can, so that a blocked get() throws and
// the pool can join.
void rescue(scenario& s) {
  s.ready.set();
  if (s.hold) {
    s.hold->open();
  }
  if (s.stopper.valid()) {
    static_cast<void>(s.stopper.request_stop());
  }
  for (weft::future<int>& f : involved(s)) {
    static_cast<void>(f.cancel());
  }
}

class ReentrySweep : public ::testing::TestWithParam<reentry_case> {};

TEST_P(ReentrySweep, CallReturnsEveryFutureEndsNoCallbackRunsTwice) {
  const reentry_case param = GetParam();
  auto owned = std::make_unique<scenario>(param);
  scenario& s = *owned;
  ASSERT_TRUE(set_up(s)) << "the case's setup failed (a gate or a task did not start)";
  fire(s);
  if (!s.action_done.wait_for(reentry_bound)) {
    ADD_FAILURE() << "hang: " << action_name(param.what) << " called from "
                  << site_name(param.where) << " did not return within " << reentry_bound.count()
                  << " s (site ran " << s.site_runs.load() << " times)";
    rescue(s);
  }
  if (s.firer && !s.firer->join_for(reentry_bound)) {
    s.problems.report();
    quarantine(owned, "the thread that fired the site is stuck");
    return;
  }
  for (weft::future<int>& f : involved(s)) {
    EXPECT_TRUE(f.wait_for(weft_test::scaled(reentry_bound)))
        << "a future of the case is still " << ::testing::PrintToString(f.state());
  }
  if (s.posted.load(std::memory_order_relaxed)) {
    EXPECT_TRUE(s.posted_ran.wait_for(reentry_bound)) << "the post()ed task never ran";
  }
  if (s.nested_registered.load(std::memory_order_relaxed)) {
    EXPECT_TRUE(
        weft_test::wait_until([&] { return s.nested_callbacks.load() >= 1; }, reentry_bound))
        << "the callback registered on the other future never ran";
  }
  if (!s.pool->join_for(weft_test::scaled(reentry_bound))) {
    s.problems.report();
    quarantine(owned, "the pool did not join");
    return;
  }
  s.problems.report();
  EXPECT_EQ(s.site_runs.load(), 1) << "the site ran a wrong number of times";
  EXPECT_LE(s.other_runs.load(), 1);
  EXPECT_LE(s.submitted_runs.load(), 1);
  EXPECT_EQ(s.posted_runs.load(), s.posted.load() ? 1 : 0);
  EXPECT_EQ(s.nested_callbacks.load(), s.nested_registered.load() ? 1 : 0);
  if (param.where == site::on_error) {
    EXPECT_EQ(s.on_error_calls.load(), 1);
  }
  if (param.where == site::on_thread_start || param.where == site::on_thread_exit) {
    EXPECT_EQ(s.hook_runs.load(), static_cast<int>(param.threads));
  }
  for (weft::future<int>& f : involved(s)) {
    EXPECT_TRUE(f.done()) << "after join, a future of the case is still "
                          << ::testing::PrintToString(f.state());
  }
  if (s.refused.load()) {
    SUCCEED() << "the call was refused with pool_shutdown (allowed from on_thread_exit)";
  }
}

INSTANTIATE_TEST_SUITE_P(WhereTimesWhat, ReentrySweep, ::testing::ValuesIn(all_cases()), case_name);

}  // namespace
