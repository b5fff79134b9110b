// Tests that timed waits on a worker keep their deadline while they help: inside a task on a
// 1-worker pool, with long tasks queued on the worker's own deque, a wait with a zero or
// negative timeout (or a past deadline) runs nothing, and a short get_for() overshoots its
// deadline by at most the one task that was already running when the deadline passed.
//
// The queued tasks spin for spin_time each and count their starts; the tests assert on the
// counters, never on timing alone.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <vector>

#include <gtest/gtest.h>

#include "support/task_gates.hpp"
#include "support/test_support.hpp"
#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/thread_pool.hpp>

namespace {

using namespace std::chrono_literals;
using weft_test::event_timeout;

constexpr int queued_tasks = 5;
// The busy work of each queued task (scaled): three times short_deadline, so that a helper
// that checks its deadline between tasks starts at most one of them.
constexpr auto spin_time = 30ms;
// The deadline of the short timed waits (scaled).
constexpr auto short_deadline = 10ms;

// Spins until `d` has passed on the steady clock (bounded by time, not by a counter).
int spin_for(std::chrono::steady_clock::duration d) {
  const auto until = std::chrono::steady_clock::now() + d;
  int rounds = 0;
  while (std::chrono::steady_clock::now() < until) {
    ++rounds;
  }
  return rounds;
}

// Submits the queued tasks from inside a task; each counts its start in `started`.
std::vector<weft::future<int>> queue_spinners(weft::thread_pool& pool, std::atomic<int>& started) {
  std::vector<weft::future<int>> futures;
  futures.reserve(queued_tasks);
  for (int i = 0; i < queued_tasks; ++i) {
    futures.push_back(pool.submit([&started] {
      started.fetch_add(1, std::memory_order_relaxed);
      return spin_for(weft_test::scaled(
          std::chrono::duration_cast<std::chrono::steady_clock::duration>(spin_time)));
    }));
  }
  return futures;
}

struct poll_result {
  bool oldest_done = true;
  bool newest_done = true;
  int started = -1;
};

// Runs `poll(future)` on the oldest and the newest queued future inside a task on a 1-worker
// pool, and reports what the polls returned and how many queued tasks had started by then.
template <typename Poll>
poll_result poll_inside_a_task(Poll poll) {
  std::atomic<int> started{0};
  weft::thread_pool pool{1};
  weft::future<poll_result> outer = pool.submit([&pool, &started, poll] {
    const std::vector<weft::future<int>> queued = queue_spinners(pool, started);
    poll_result r;
    r.oldest_done = poll(queued.front());
    r.newest_done = poll(queued.back());
    r.started = started.load(std::memory_order_relaxed);
    return r;
  });
  const poll_result r = outer.get_for(weft_test::scaled(event_timeout));
  pool.wait();
  EXPECT_EQ(started.load(), queued_tasks) << "the queued tasks did not all run afterwards";
  return r;
}

TEST(DeadlineHelp, WaitForZeroOnAQueuedFutureRunsNothing) {
  const poll_result r =
      poll_inside_a_task([](const weft::future<int>& f) { return f.wait_for(0ms); });
  EXPECT_FALSE(r.oldest_done) << "wait_for(0ms) ran the awaited task";
  EXPECT_FALSE(r.newest_done) << "wait_for(0ms) ran the awaited task";
  EXPECT_EQ(r.started, 0) << "wait_for(0ms) started queued tasks";
}

TEST(DeadlineHelp, WaitForNegativeOnAQueuedFutureRunsNothing) {
  const poll_result r =
      poll_inside_a_task([](const weft::future<int>& f) { return f.wait_for(-1ms); });
  EXPECT_FALSE(r.oldest_done) << "wait_for(-1ms) ran the awaited task";
  EXPECT_FALSE(r.newest_done) << "wait_for(-1ms) ran the awaited task";
  EXPECT_EQ(r.started, 0) << "wait_for(-1ms) started queued tasks";
}

TEST(DeadlineHelp, WaitUntilAPastDeadlineOnAQueuedFutureRunsNothing) {
  const poll_result r = poll_inside_a_task([](const weft::future<int>& f) {
    return f.wait_until(std::chrono::steady_clock::now() - 1ms);
  });
  EXPECT_FALSE(r.oldest_done) << "wait_until(the past) ran the awaited task";
  EXPECT_FALSE(r.newest_done) << "wait_until(the past) ran the awaited task";
  EXPECT_EQ(r.started, 0) << "wait_until(the past) started queued tasks";
}

struct short_wait_result {
  bool timed_out = false;
  bool other_error = false;
  int started = -1;
};

// Inside a task on a 1-worker pool: queues the spinners, then waits with `wait(c)` on a
// continuation c of the oldest one. c is not queued (its source has not run), so helping can
// only run spinners, newest first, and c becomes ready only after all of them: a helper that
// ignored its deadline would run all five (and then c) before returning.
template <typename Wait>
short_wait_result short_wait_inside_a_task(Wait wait) {
  std::atomic<int> started{0};
  weft::thread_pool pool{1};
  weft::future<short_wait_result> outer = pool.submit([&pool, &started, wait] {
    const std::vector<weft::future<int>> queued = queue_spinners(pool, started);
    const weft::future<int> c = queued.front().then([](int v) { return v; });
    short_wait_result r;
    try {
      r.timed_out = !wait(c);
    } catch (const weft::timeout_error&) {
      r.timed_out = true;
    } catch (...) {
      r.other_error = true;
    }
    r.started = started.load(std::memory_order_relaxed);
    return r;
  });
  const short_wait_result r = outer.get_for(weft_test::scaled(event_timeout));
  pool.wait();
  EXPECT_EQ(started.load(), queued_tasks) << "the queued tasks did not all run afterwards";
  return r;
}

TEST(DeadlineHelp, GetForOvershootsByAtMostTheTaskRunningAtTheDeadline) {
  const short_wait_result r = short_wait_inside_a_task([](const weft::future<int>& c) {
    static_cast<void>(c.get_for(weft_test::scaled(short_deadline)));
    return true;
  });
  EXPECT_TRUE(r.timed_out) << "get_for(10ms) returned a value: it helped past its deadline";
  EXPECT_FALSE(r.other_error);
  EXPECT_LE(r.started, 1) << "get_for(10ms) started tasks after its deadline had passed";
}

TEST(DeadlineHelp, WaitForOvershootsByAtMostTheTaskRunningAtTheDeadline) {
  const short_wait_result r = short_wait_inside_a_task(
      [](const weft::future<int>& c) { return c.wait_for(weft_test::scaled(short_deadline)); });
  EXPECT_TRUE(r.timed_out) << "wait_for(10ms) returned true: it helped past its deadline";
  EXPECT_FALSE(r.other_error);
  EXPECT_LE(r.started, 1) << "wait_for(10ms) started tasks after its deadline had passed";
}

}  // namespace
