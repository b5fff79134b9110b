// Tests of futures that outlive their pool: every observer of a done future works after the
// pool is destroyed, then() on such a future says that the pool is gone, a dependent pending at
// destruction ends done, and three races between a user's call and the pool's destruction
// (cancel, cancel of a dependent, on_done registration) end in a valid outcome, with no access
// to freed memory (the ASan and TSan builds check that; the tests check the outcomes).
//
// The race tests keep everything their threads touch in one heap object, which they leak when
// a thread stays stuck (support/bounded_thread.hpp), so that a hang fails the test, not the
// binary.

#include <atomic>
#include <barrier>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/bounded_thread.hpp"
#include "support/task_gates.hpp"
#include "support/test_support.hpp"
#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/thread_pool.hpp>

namespace {

using namespace std::chrono_literals;
using weft::future_state;
using weft_test::event_timeout;

// How long one round's other thread may take before the test calls it stuck (scaled).
constexpr auto round_bound = 10s;
// Rounds of each destruction race, in every build: a round costs about 50 us natively and
// 0.5 ms under the sanitizers, where the races matter most.
constexpr std::size_t race_rounds = 10'000;

using weft_test::test_error;

// The three outcomes, from a pool that no longer exists.
struct orphans {
  weft::future<int> succeeded;
  weft::future<int> failed;
  weft::future<int> cancelled;
};

orphans make_orphans() {
  orphans o;
  weft::thread_pool pool{1};
  o.succeeded = pool.submit([] { return 11; });
  o.failed = pool.submit([]() -> int { throw test_error("task failed"); });
  {
    weft_test::worker_gate hold(pool, 1);
    EXPECT_TRUE(hold.all_running());
    o.cancelled = pool.submit([] { return 12; });
    EXPECT_TRUE(o.cancelled.cancel());
  }
  EXPECT_TRUE(o.succeeded.wait_for(weft_test::scaled(event_timeout)));
  EXPECT_TRUE(o.failed.wait_for(weft_test::scaled(event_timeout)));
  return o;  // the pool is destroyed here
}

TEST(FuturesOutliveThePool, ObserversWorkForEveryOutcome) {
  orphans o = make_orphans();
  const auto past = std::chrono::steady_clock::now() - 1s;
  const auto soon = std::chrono::system_clock::now() + 1s;

  EXPECT_EQ(o.succeeded.get(), 11);
  EXPECT_NO_THROW(o.succeeded.wait());
  EXPECT_TRUE(o.succeeded.wait_for(0s));
  EXPECT_TRUE(o.succeeded.wait_until(past));
  EXPECT_TRUE(o.succeeded.wait_until(soon));
  EXPECT_EQ(o.succeeded.exception(), nullptr);
  EXPECT_EQ(o.succeeded.state(), future_state::succeeded);
  EXPECT_TRUE(o.succeeded.done());
  EXPECT_EQ(o.succeeded.get_for(0s), 11);

  EXPECT_THROW(static_cast<void>(o.failed.get()), test_error);
  EXPECT_NO_THROW(o.failed.wait());
  EXPECT_TRUE(o.failed.wait_for(0s));
  EXPECT_TRUE(o.failed.wait_until(past));
  ASSERT_NE(o.failed.exception(), nullptr);
  EXPECT_THROW(std::rethrow_exception(o.failed.exception()), test_error);
  EXPECT_EQ(o.failed.state(), future_state::failed);
  EXPECT_TRUE(o.failed.done());

  EXPECT_THROW(static_cast<void>(o.cancelled.get()), weft::cancelled_error);
  EXPECT_NO_THROW(o.cancelled.wait());
  EXPECT_TRUE(o.cancelled.wait_for(0s));
  EXPECT_TRUE(o.cancelled.wait_until(past));
  ASSERT_NE(o.cancelled.exception(), nullptr);
  EXPECT_THROW(std::rethrow_exception(o.cancelled.exception()), weft::cancelled_error);
  EXPECT_EQ(o.cancelled.state(), future_state::cancelled);
  EXPECT_TRUE(o.cancelled.done());
  EXPECT_TRUE(o.cancelled.cancelled());
  EXPECT_FALSE(o.cancelled.cancel()) << "a second cancel() after the pool is gone";
}

TEST(FuturesOutliveThePool, OnDoneRunsAtOnceOnTheCaller) {
  orphans o = make_orphans();
  const std::thread::id caller = std::this_thread::get_id();
  for (const weft::future<int>* f : {&o.succeeded, &o.failed, &o.cancelled}) {
    SCOPED_TRACE(::testing::PrintToString(f->state()));
    int runs = 0;
    std::thread::id ran_on;
    f->on_done([&] {
      ++runs;
      ran_on = std::this_thread::get_id();
    });
    EXPECT_EQ(runs, 1) << "on_done did not run the callback before returning";
    EXPECT_EQ(ran_on, caller);
    f->on_done([&](const weft::future<int>& g) {
      ++runs;
      EXPECT_TRUE(g.done());
    });
    EXPECT_EQ(runs, 2);
  }
}

TEST(FuturesOutliveThePool, ThenThrowsPoolShutdownSayingThePoolWasDestroyed) {
  orphans o = make_orphans();
  for (const weft::future<int>* f : {&o.succeeded, &o.failed, &o.cancelled}) {
    SCOPED_TRACE(::testing::PrintToString(f->state()));
    bool threw = false;
    try {
      static_cast<void>(f->then([](int v) { return v; }));
    } catch (const weft::pool_shutdown& e) {
      threw = true;
      EXPECT_NE(std::string(e.what()).find("destroyed"), std::string::npos)
          << "the message should say that the pool was destroyed: " << e.what();
    }
    EXPECT_TRUE(threw) << "then() on a future of a destroyed pool did not throw pool_shutdown";
  }
}

TEST(FuturesOutliveThePool, DependentPendingAtDestructionEndsDone) {
  // A chain s -> d1 -> d2 whose source is still held when the pool's destruction begins.
  weft::future<int> s;
  weft::future<int> d1;
  weft::future<int> d2;
  {
    weft::thread_pool pool{1};
    const weft_test::gate release;
    const weft_test::event started;
    s = pool.submit([started, go = release.waiter()] {
      started.set();
      go.wait();
      return 1;
    });
    ASSERT_TRUE(started.wait_for(event_timeout));
    d1 = s.then([](int v) { return v + 1; });
    d2 = d1.then([](int v) { return v + 1; });
    EXPECT_FALSE(d1.done());
    release.open();
  }  // the destructor joins while the chain completes
  for (const weft::future<int>* f : {&s, &d1, &d2}) {
    EXPECT_TRUE(f->wait_for(0s)) << "still " << ::testing::PrintToString(f->state())
                                 << " after the pool was destroyed";
    EXPECT_TRUE(f->done());
  }
  EXPECT_EQ(s.state(), future_state::succeeded);
  // Accepted work runs before the pool goes, so the chain normally succeeds; a dependent the
  // pool could no longer run must have failed with pool_shutdown (or been cancelled).
  for (const weft::future<int>* f : {&d1, &d2}) {
    if (f->state() == future_state::failed) {
      EXPECT_THROW(std::rethrow_exception(f->exception()), weft::pool_shutdown);
    }
  }
  if (d2.state() == future_state::succeeded) {
    EXPECT_EQ(d2.get(), 3);
  }
}

// ---- Races with the pool's destruction -----------------------------------------------------

// What a race test and its other thread (X) share. X runs `rounds` rounds: it meets the test
// thread at `start`, does its call, and counts the round in `finished`.
struct race_state {
  explicit race_state(std::uint64_t seed) : balancer(seed) {}

  std::barrier<> start{2};
  std::atomic<bool> quit{false};
  std::atomic<std::size_t> finished{0};
  std::atomic<bool> x_result{false};
  std::atomic<int> callback_runs{0};
  weft_test::race_balancer balancer;
  weft::future<int> target;  // written by the test thread before `start`, used by X after it
  std::optional<weft::thread_pool> pool;
  std::unique_ptr<weft_test::bounded_thread> x;
};

// Starts X: each round it waits at `start`, pauses a random moment, then calls `call(state)`.
template <typename Call>
void start_x(race_state& st, Call call) {
  st.x = std::make_unique<weft_test::bounded_thread>([&st, call] {
    for (;;) {
      st.start.arrive_and_wait();
      if (st.quit.load(std::memory_order_relaxed)) {
        return;
      }
      st.balancer.pause();
      call(st);
      st.finished.fetch_add(1, std::memory_order_release);
    }
  });
}

// Ends X when the test leaves, after the last round or a failed assertion (not after a
// quarantine, which leaks X with the state). Declare it after the state's owner.
class x_stopper {
 public:
  explicit x_stopper(std::unique_ptr<race_state>& owned) : owned_(owned) {}
  x_stopper(const x_stopper&) = delete;
  x_stopper& operator=(const x_stopper&) = delete;
  x_stopper(x_stopper&&) = delete;
  x_stopper& operator=(x_stopper&&) = delete;
  ~x_stopper() {
    if (owned_ == nullptr || owned_->x == nullptr) {
      return;
    }
    owned_->quit.store(true, std::memory_order_relaxed);
    owned_->start.arrive_and_wait();
    if (!owned_->x->join_for(round_bound)) {
      weft_test::quarantine(owned_, "X did not stop");
    }
  }

 private:
  std::unique_ptr<race_state>& owned_;
};

// One round of the test thread: meets X, then opens the gate and destroys the pool. Returns
// false (after quarantining) if X did not finish its call.
[[nodiscard]] bool destroy_during_call(std::unique_ptr<race_state>& owned, std::size_t round,
                                       weft_test::gate& release) {
  race_state& st = *owned;
  st.start.arrive_and_wait();
  release.open();
  st.pool.reset();
  const bool finished = weft_test::wait_until(
      [&] { return st.finished.load(std::memory_order_acquire) == round + 1; }, round_bound);
  if (!finished) {
    weft_test::quarantine(owned, "round " + std::to_string(round) + ": X's call did not return");
  }
  return finished;
}

TEST(LifetimeStress, CancelRacesThePoolsDestruction) {
  const std::size_t rounds = race_rounds;
  auto owned = std::make_unique<race_state>(weft_test::seed());
  race_state& st = *owned;
  const x_stopper stopper(owned);
  start_x(st,
          [](race_state& s) { s.x_result.store(s.target.cancel(), std::memory_order_relaxed); });
  std::size_t cancelled = 0;
  for (std::size_t round = 0; round < rounds; ++round) {
    weft_test::gate release;
    const weft_test::event started;
    st.pool.emplace(1);
    weft::future<void> blocker = st.pool->submit([started, go = release.waiter()] {
      started.set();
      go.wait();
    });
    ASSERT_TRUE(started.wait_for(event_timeout));
    st.target = st.pool->submit([] { return 1; });
    if (!destroy_during_call(owned, round, release)) {
      return;
    }
    const future_state s = st.target.state();
    const bool x_cancelled = st.x_result.load(std::memory_order_relaxed);
    ASSERT_TRUE(s == future_state::cancelled || s == future_state::succeeded)
        << "round " << round << ": " << ::testing::PrintToString(s);
    ASSERT_EQ(x_cancelled, s == future_state::cancelled) << "round " << round;
    EXPECT_TRUE(blocker.done());
    cancelled += x_cancelled ? 1 : 0;
    st.balancer.record(x_cancelled);
  }
  RecordProperty("cancelled_rounds", static_cast<int>(cancelled));
}

TEST(LifetimeStress, DependentCancelRacesItsSourceCompletingDuringDestruction) {
  const std::size_t rounds = race_rounds;
  auto owned = std::make_unique<race_state>(weft_test::seed());
  race_state& st = *owned;
  const x_stopper stopper(owned);
  start_x(st,
          [](race_state& s) { s.x_result.store(s.target.cancel(), std::memory_order_relaxed); });
  for (std::size_t round = 0; round < rounds; ++round) {
    weft_test::gate release;
    const weft_test::event started;
    st.pool.emplace(1);
    weft::future<int> source = st.pool->submit([started, go = release.waiter()] {
      started.set();
      go.wait();
      return 1;
    });
    ASSERT_TRUE(started.wait_for(event_timeout));
    st.target = source.then([](int v) { return v + 1; });
    if (!destroy_during_call(owned, round, release)) {
      return;
    }
    const future_state d = st.target.state();
    ASSERT_TRUE(d == future_state::cancelled || d == future_state::succeeded ||
                d == future_state::failed)
        << "round " << round << ": the dependent is " << ::testing::PrintToString(d);
    ASSERT_EQ(source.state(), future_state::succeeded) << "round " << round;
    if (st.x_result.load(std::memory_order_relaxed)) {
      ASSERT_EQ(d, future_state::cancelled) << "round " << round << ": cancel() returned true";
    }
    st.balancer.record(d == future_state::cancelled);
  }
}

TEST(LifetimeStress, OnDoneRegistrationRacesCompletionAndDestruction) {
  const std::size_t rounds = race_rounds;
  auto owned = std::make_unique<race_state>(weft_test::seed());
  race_state& st = *owned;
  const x_stopper stopper(owned);
  start_x(st, [](race_state& s) {
    s.target.on_done([&s] { s.callback_runs.fetch_add(1, std::memory_order_relaxed); });
  });
  for (std::size_t round = 0; round < rounds; ++round) {
    weft_test::gate release;
    const weft_test::event started;
    st.callback_runs.store(0, std::memory_order_relaxed);
    st.pool.emplace(1);
    st.target = st.pool->submit([started, go = release.waiter()] {
      started.set();
      go.wait();
      return 1;
    });
    ASSERT_TRUE(started.wait_for(event_timeout));
    if (!destroy_during_call(owned, round, release)) {
      return;
    }
    // X's on_done returned and the pool's workers are gone: whoever ran it has run it.
    ASSERT_EQ(st.callback_runs.load(std::memory_order_relaxed), 1) << "round " << round;
    ASSERT_EQ(st.target.state(), future_state::succeeded) << "round " << round;
  }
}

}  // namespace
