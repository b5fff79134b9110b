// The memory an outside submission reserves before its task is built (step Q0 of the injection
// queue, A2 of admission.cpp). An outside submission is admitted, then reserves the block its
// queue position may need, then builds the task (user code), then pushes. So:
//
// - QueueReserve.*: a claim made with a held reserve takes that block and allocates nothing,
//   even for a block's last slot; without one, the same claim allocates (and can fail). A
//   reserve made for a queue of another lap is replaced.
// - OutsideAdmission.*: when the reserve itself cannot be allocated, post() and submit() of a
//   callable whose construction may throw (the route that builds before it queues) throw
//   std::bad_alloc with the caller's callable untouched, count no refusal, and leave the
//   pool's entrance as they found it (join() returns; a retry runs the task once).
//
// Failures are injected by the replacement operator new of failing_allocator.cpp. Each case
// submits from a thread of its own, to a pool that has not queued anything yet, so that the
// thread holds no reserve and the queue no spare block: the reserve is the first allocation.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <new>
#include <thread>
#include <utility>

#include <gtest/gtest.h>

#include "failing_allocator.hpp"
#include "support/test_support.hpp"
#include <weft/detail/injection_queue.hpp>
#include <weft/future.hpp>
#include <weft/pool_stats.hpp>
#include <weft/thread_pool.hpp>

namespace {

namespace alloc = weft_test::alloc;
using namespace std::chrono_literals;
using weft::detail::injection_queue;
using weft::detail::task;

constexpr std::size_t tiny_lap = 4;  // 3 slots per block: the third push opens a block

task counting_task(std::atomic<int>& runs) {
  return task{[&runs] { runs.fetch_add(1, std::memory_order_relaxed); }};
}

int drain_and_run(injection_queue& q) {
  int popped = 0;
  task t;
  while (q.pop(t) == injection_queue::pop_status::taken) {
    std::exception_ptr error;
    static_cast<void>(t.run(error));
    ++popped;
  }
  return popped;
}

TEST(QueueReserve, AClaimWithAHeldReserveNeverAllocates) {
  ASSERT_TRUE(alloc::replacement_active());
  std::atomic<int> runs{0};
  injection_queue q(tiny_lap);
  task first = counting_task(runs);
  task second = counting_task(runs);
  task third = counting_task(runs);  // built before arming: inline, no allocation
  ASSERT_TRUE(q.push(first));
  ASSERT_TRUE(q.push(second));
  injection_queue::block_reserve reserve;
  q.reserve(reserve);
  ASSERT_TRUE(reserve.holds());
  alloc::arm(1, alloc::fail_mode::from_then_on);
  bool pushed = false;
  try {
    pushed = q.push(third, false, &reserve);  // the block's last slot: links the next block
  } catch (const std::bad_alloc&) {
    pushed = false;
  }
  const alloc::arm_report report = alloc::disarm();
  EXPECT_TRUE(pushed);
  EXPECT_EQ(report.counted, 0U) << "the claim allocated although a block was reserved";
  EXPECT_FALSE(reserve.holds()) << "the claim that opened a block did not take the reserve";
  EXPECT_EQ(drain_and_run(q), 3);
  EXPECT_EQ(runs.load(), 3);
}

TEST(QueueReserve, WithoutAReserveTheSameClaimAllocates) {
  // The control of the case above: the claim of a block's last slot needs a block, and when
  // none can be had it throws, leaving the task untouched and the queue as it was.
  ASSERT_TRUE(alloc::replacement_active());
  std::atomic<int> runs{0};
  injection_queue q(tiny_lap);
  task first = counting_task(runs);
  task second = counting_task(runs);
  task third = counting_task(runs);
  ASSERT_TRUE(q.push(first));
  ASSERT_TRUE(q.push(second));
  alloc::arm(1, alloc::fail_mode::from_then_on);
  bool threw = false;
  try {
    static_cast<void>(q.push(third));
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  const alloc::arm_report report = alloc::disarm();
  EXPECT_TRUE(threw);
  EXPECT_GE(report.injected, 1U);
  EXPECT_TRUE(static_cast<bool>(third)) << "a refused push moved the task";
  ASSERT_TRUE(q.push(third));  // memory again: the same task goes in
  EXPECT_EQ(drain_and_run(q), 3);
  EXPECT_EQ(runs.load(), 3);
}

TEST(QueueReserve, AReserveMadeForAnotherLapIsReplaced) {
  ASSERT_TRUE(alloc::replacement_active());
  std::atomic<int> runs{0};
  injection_queue small(tiny_lap);
  injection_queue larger(2 * tiny_lap);  // 7 slots per block
  injection_queue::block_reserve reserve;
  small.reserve(reserve);
  larger.reserve(reserve);  // the small block does not fit: replaced
  ASSERT_TRUE(reserve.holds());
  task tasks[7];
  for (task& t : tasks) {
    t = counting_task(runs);
  }
  for (std::size_t i = 0; i + 1 < 7; ++i) {
    ASSERT_TRUE(larger.push(tasks[i]));
  }
  alloc::arm(1, alloc::fail_mode::from_then_on);
  bool pushed = false;
  try {
    pushed = larger.push(tasks[6], false, &reserve);
  } catch (const std::bad_alloc&) {
    pushed = false;
  }
  const alloc::arm_report report = alloc::disarm();
  EXPECT_TRUE(pushed);
  EXPECT_EQ(report.counted, 0U);
  EXPECT_EQ(drain_and_run(larger), 7);
  EXPECT_EQ(runs.load(), 7);
}

// A move-only callable that counts its runs: whether it was moved from shows in `token`. Its
// move constructor may throw (as far as the type says), so the pool builds its task before
// queueing it: the entrance route of A2, whose reserve these cases make fail.
struct owned_call {
  std::unique_ptr<int> token = std::make_unique<int>(42);
  std::atomic<int>* runs;
  explicit owned_call(std::atomic<int>* r) : runs(r) {}
  owned_call(owned_call&& other) noexcept(false)
      : token(std::move(other.token)), runs(other.runs) {}
  owned_call& operator=(owned_call&&) = delete;
  ~owned_call() = default;
  void operator()() const { runs->fetch_add(1, std::memory_order_relaxed); }
};
static_assert(weft::detail::build_first<owned_call>, "the case must take the entrance route");

// Runs `call(pool, callable)` on a fresh thread with every allocation failing; returns whether
// it threw std::bad_alloc.
template <class Call>
bool fails_on_a_fresh_thread(weft::thread_pool& pool, owned_call& callable, Call call) {
  bool threw = false;
  std::thread submitter([&] {
    alloc::arm(1, alloc::fail_mode::from_then_on);
    try {
      call(pool, callable);
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    static_cast<void>(alloc::disarm());
  });
  submitter.join();
  return threw;
}

TEST(OutsideAdmission, PostWhoseReserveCannotBeAllocatedLeavesTheCallableAndThePoolAsTheyWere) {
  ASSERT_TRUE(alloc::replacement_active());
  std::atomic<int> runs{0};
  weft::thread_pool pool{1};
  owned_call callable{&runs};
  const bool threw = fails_on_a_fresh_thread(
      pool, callable, [](weft::thread_pool& p, owned_call& c) { p.post(std::move(c)); });
  EXPECT_TRUE(threw);
  ASSERT_NE(callable.token, nullptr) << "a post that threw std::bad_alloc moved the callable";
  EXPECT_EQ(pool.stats().rejected, 0U) << "an allocation failure is not a refusal";
  pool.post(std::move(callable));  // memory again: the same callable goes in
  // A submitter that stayed counted in the entrance would keep join() waiting for ever.
  EXPECT_TRUE(pool.join_for(weft_test::scaled(10s)));
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(pool.stats().completed, 1U);
}

TEST(OutsideAdmission, SubmitWhoseReserveCannotBeAllocatedLeavesTheCallableAndThePoolAsTheyWere) {
  ASSERT_TRUE(alloc::replacement_active());
  std::atomic<int> runs{0};
  weft::thread_pool pool{1};
  owned_call callable{&runs};
  const bool threw = fails_on_a_fresh_thread(
      pool, callable,
      [](weft::thread_pool& p, owned_call& c) { static_cast<void>(p.submit(std::move(c))); });
  EXPECT_TRUE(threw);
  ASSERT_NE(callable.token, nullptr) << "a submit that threw std::bad_alloc moved the callable";
  EXPECT_EQ(pool.stats().rejected, 0U);
  weft::future<void> f = pool.submit(std::move(callable));
  f.get();
  EXPECT_TRUE(pool.join_for(weft_test::scaled(10s)));
  EXPECT_EQ(runs.load(), 1);
}

}  // namespace
