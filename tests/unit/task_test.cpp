// Tests of detail::task (the type-erased unit of work the injection queue stores by value), and
// the promise built on it: a post() of a lambda with up to 48 bytes of captures allocates
// nothing.
//
// This executable replaces the global operator new and delete (every form) with counting
// versions over malloc/free, so a test can assert how many heap allocations a stretch of code
// made, on any thread of the process.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <latch>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include <gtest/gtest.h>

#include "support/task_gates.hpp"
#include "support/test_support.hpp"
#include <weft/detail/node_cache.hpp>
#include <weft/detail/task.hpp>
#include <weft/thread_pool.hpp>

// ---- Counting allocator --------------------------------------------------------------------

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool counting_new = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool counting_new = false;
#else
constexpr bool counting_new = true;
#endif
#else
constexpr bool counting_new = true;
#endif

// relaxed: a counter read after the counted code finished (joined threads, latches).
std::atomic<std::uint64_t> allocations{0};

[[maybe_unused]] void* counted_alloc(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) {
    return p;
  }
  throw std::bad_alloc();
}

[[maybe_unused]] void* counted_alloc_aligned(std::size_t size, std::align_val_t align) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  const auto a = static_cast<std::size_t>(align);
  const std::size_t rounded = (size + a - 1) / a * a;  // aligned_alloc needs a multiple
  if (void* p = std::aligned_alloc(a, rounded == 0 ? a : rounded)) {
    return p;
  }
  throw std::bad_alloc();
}

std::uint64_t allocation_count() {
  return allocations.load(std::memory_order_relaxed);
}

}  // namespace

// NOLINTBEGIN(misc-new-delete-overloads, cppcoreguidelines-no-malloc): the replacement set.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define WEFT_TEST_NO_COUNTING_NEW 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define WEFT_TEST_NO_COUNTING_NEW 1
#endif
#endif
// Sanitizer runtimes define operator new themselves (a second definition does not link), so the
// allocation-counting tests are skipped there; the sanitizers check the memory instead.
#ifndef WEFT_TEST_NO_COUNTING_NEW
void* operator new(std::size_t size) {
  return counted_alloc(size);
}
void* operator new[](std::size_t size) {
  return counted_alloc(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t size, std::align_val_t align) {
  return counted_alloc_aligned(size, align);
}
void* operator new[](std::size_t size, std::align_val_t align) {
  return counted_alloc_aligned(size, align);
}
void* operator new(std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc_aligned(size, align);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc_aligned(size, align);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}
#endif  // WEFT_TEST_NO_COUNTING_NEW
// NOLINTEND(misc-new-delete-overloads, cppcoreguidelines-no-malloc)

namespace {

using weft::detail::run_outcome;
using weft::detail::task;
using weft::detail::task_node;

// Counts live copies of a callable's state and records where the last one died.
struct lifetime {
  std::atomic<int> alive{0};
  std::atomic<int> runs{0};
  std::thread::id destroyed_on;
};

// A callable of exactly `Bytes` bytes (a multiple of 8, at least 16) that tracks its lifetime.
template <std::size_t Bytes>
struct tracked {
  static_assert(Bytes >= 16 && Bytes % 8 == 0);
  lifetime* life;
  std::array<std::uint64_t, Bytes / 8 - 1> padding{};

  explicit tracked(lifetime* l) : life(l) { life->alive.fetch_add(1); }
  tracked(const tracked& other) : life(other.life), padding(other.padding) {
    life->alive.fetch_add(1);
  }
  tracked(tracked&& other) noexcept : life(other.life), padding(other.padding) {
    life->alive.fetch_add(1);
  }
  tracked& operator=(const tracked&) = delete;
  tracked& operator=(tracked&&) = delete;
  ~tracked() {
    life->destroyed_on = std::this_thread::get_id();
    life->alive.fetch_sub(1);
  }
  void operator()() const { life->runs.fetch_add(1); }
};

static_assert(sizeof(tracked<48>) == 48);
static_assert(task::fits_inline<tracked<48>>, "48 bytes with a noexcept move fit inline");
static_assert(!task::fits_inline<tracked<56>>, "56 bytes do not");

// A small callable whose move constructor may throw: it must be boxed.
struct throwing_move {
  lifetime* life;
  explicit throwing_move(lifetime* l) : life(l) { life->alive.fetch_add(1); }
  throwing_move(const throwing_move& other) : life(other.life) { life->alive.fetch_add(1); }
  throwing_move(throwing_move&& other) noexcept(false) : life(other.life) {
    life->alive.fetch_add(1);
  }
  throwing_move& operator=(const throwing_move&) = delete;
  throwing_move& operator=(throwing_move&&) = delete;
  ~throwing_move() { life->alive.fetch_sub(1); }
  void operator()() const { life->runs.fetch_add(1); }
};

static_assert(!task::fits_inline<throwing_move>, "a throwing move is boxed");

TEST(Task, StoresAFortyEightByteLambdaWithoutAllocating) {
  if (!counting_new) {
    GTEST_SKIP() << "a sanitizer runtime owns operator new here; nothing to count";
  }
  std::atomic<int> hits{0};
  std::array<std::uint64_t, 5> data{1, 2, 3, 4, 5};
  auto lambda = [&hits, data] { hits.fetch_add(static_cast<int>(data[4])); };
  static_assert(sizeof(lambda) == 48, "the capture is 48 bytes");
  static_assert(task::fits_inline<decltype(lambda)>);

  const std::uint64_t before = allocation_count();
  task t(lambda);
  task moved(std::move(t));
  task assigned;
  assigned = std::move(moved);
  std::exception_ptr error;
  const run_outcome outcome = assigned.run(error);
  const std::uint64_t after = allocation_count();

  EXPECT_EQ(after - before, 0U) << "constructing, moving and running the task allocated";
  EXPECT_EQ(outcome, run_outcome::succeeded);
  EXPECT_EQ(hits.load(), 5);
  EXPECT_FALSE(error);
}

TEST(Task, BoxesLargerCallablesAndStillRunsThem) {
  if (!counting_new) {
    GTEST_SKIP() << "a sanitizer runtime owns operator new here; nothing to count";
  }
  lifetime life;
  {
    const std::uint64_t before = allocation_count();
    task t{tracked<56>(&life)};
    EXPECT_GE(allocation_count() - before, 1U) << "a 56-byte callable is boxed on the heap";
    task moved(std::move(t));  // moves the box pointer, not the callable
    EXPECT_FALSE(t);           // NOLINT(bugprone-use-after-move): moved-from state is specified
    EXPECT_EQ(life.alive.load(), 1);
    std::exception_ptr error;
    EXPECT_EQ(moved.run(error), run_outcome::succeeded);
    EXPECT_FALSE(moved);
  }
  EXPECT_EQ(life.runs.load(), 1);
  EXPECT_EQ(life.alive.load(), 0);
}

TEST(Task, BoxesCallablesWhoseMoveMayThrow) {
  if (!counting_new) {
    GTEST_SKIP() << "a sanitizer runtime owns operator new here; nothing to count";
  }
  lifetime life;
  {
    const std::uint64_t before = allocation_count();
    task t{throwing_move(&life)};
    EXPECT_GE(allocation_count() - before, 1U);
    task moved(std::move(t));
    EXPECT_EQ(life.alive.load(), 1);  // the box moved; the callable was not moved or copied
    std::exception_ptr error;
    EXPECT_EQ(moved.run(error), run_outcome::succeeded);
  }
  EXPECT_EQ(life.runs.load(), 1);
  EXPECT_EQ(life.alive.load(), 0);
}

TEST(Task, MoveTransfersTheCallable) {
  lifetime a_life;
  lifetime b_life;
  task a{tracked<16>(&a_life)};
  task b{tracked<16>(&b_life)};
  EXPECT_TRUE(a);
  EXPECT_EQ(a_life.alive.load(), 1);  // the temporary is gone, one stored copy lives

  task c(std::move(a));
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(c);
  EXPECT_EQ(a_life.alive.load(), 1);

  // Assigning over a task that holds work cancels that work: destroyed, never run.
  c = std::move(b);
  EXPECT_FALSE(b);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(a_life.alive.load(), 0);
  EXPECT_EQ(a_life.runs.load(), 0);
  EXPECT_EQ(b_life.alive.load(), 1);

  std::exception_ptr error;
  EXPECT_EQ(c.run(error), run_outcome::succeeded);
  EXPECT_EQ(b_life.runs.load(), 1);
  EXPECT_EQ(b_life.alive.load(), 0);

  task empty;
  EXPECT_FALSE(empty);
  task also_empty(std::move(empty));
  EXPECT_FALSE(also_empty);
}

template <std::size_t Bytes>
void expect_destroyed_on_running_thread() {
  lifetime life;
  task t{tracked<Bytes>(&life)};
  std::thread::id runner;
  run_outcome outcome = run_outcome::skipped;
  std::thread worker([&] {
    runner = std::this_thread::get_id();
    std::exception_ptr error;
    outcome = t.run(error);
    // Consumed: the callable is gone before run() returns.
    EXPECT_EQ(life.alive.load(), 0);
  });
  worker.join();
  EXPECT_EQ(outcome, run_outcome::succeeded);
  EXPECT_EQ(life.runs.load(), 1);
  EXPECT_EQ(life.alive.load(), 0);
  EXPECT_EQ(life.destroyed_on, runner);
  EXPECT_FALSE(t);
}

TEST(Task, RunningDestroysAnInlineCallableOnTheRunningThread) {
  expect_destroyed_on_running_thread<48>();
}

TEST(Task, RunningDestroysABoxedCallableOnTheRunningThread) {
  expect_destroyed_on_running_thread<64>();
}

TEST(Task, AnUnconsumedTaskCancelsItselfWhenDestroyed) {
  lifetime inline_life;
  lifetime boxed_life;
  {
    task small{tracked<16>(&inline_life)};
    task large{tracked<128>(&boxed_life)};
    EXPECT_EQ(inline_life.alive.load(), 1);
    EXPECT_EQ(boxed_life.alive.load(), 1);
  }
  EXPECT_EQ(inline_life.alive.load(), 0);
  EXPECT_EQ(inline_life.runs.load(), 0);
  EXPECT_EQ(boxed_life.alive.load(), 0);
  EXPECT_EQ(boxed_life.runs.load(), 0);
}

TEST(Task, CancelDestroysTheCallableWithoutRunningIt) {
  lifetime life;
  task t{tracked<24>(&life)};
  EXPECT_TRUE(t.cancel(nullptr));
  EXPECT_FALSE(t);
  EXPECT_EQ(life.alive.load(), 0);
  EXPECT_EQ(life.runs.load(), 0);
}

TEST(Task, AnExceptionComesBackAsFailedWithItsExceptionPtr) {
  for (const bool boxed : {false, true}) {
    std::array<char, 64> big{};
    task t = boxed ? task([big] { throw std::runtime_error(std::string("boom") + big.data()); })
                   : task([] { throw std::runtime_error("boom"); });
    std::exception_ptr error;
    EXPECT_EQ(t.run(error), run_outcome::failed) << "boxed " << boxed;
    ASSERT_TRUE(error);
    try {
      std::rethrow_exception(error);
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "boom");
    } catch (...) {
      ADD_FAILURE() << "the exception_ptr holds another exception";
    }
    EXPECT_FALSE(t);
  }
}

TEST(Task, ASuccessfulRunLeavesTheErrorEmpty) {
  task t([] {});
  std::exception_ptr error;
  EXPECT_EQ(t.run(error), run_outcome::succeeded);
  EXPECT_FALSE(error);
}

// A node that records which member the task called.
class recording_node final : public task_node {
 public:
  run_outcome run_and_release(std::exception_ptr&) noexcept override {
    ++runs;
    return run_outcome::succeeded;
  }
  bool cancel_and_release(const std::exception_ptr& reason) noexcept override {
    ++cancels;
    last_reason = reason;
    return true;
  }
  int runs = 0;
  int cancels = 0;
  std::exception_ptr last_reason;
};

TEST(Task, ANodeTaskForwardsRunAndCancelToTheNode) {
  recording_node ran;
  recording_node dropped;
  recording_node cancelled;
  {
    task r(&ran);
    task moved(std::move(r));
    std::exception_ptr error;
    EXPECT_EQ(moved.run(error), run_outcome::succeeded);
    task d(&dropped);  // destroyed unconsumed
    task c(&cancelled);
    const auto reason = std::make_exception_ptr(std::logic_error("why"));
    EXPECT_TRUE(c.cancel(reason));
    EXPECT_EQ(cancelled.last_reason, reason);
  }
  EXPECT_EQ(ran.runs, 1);
  EXPECT_EQ(ran.cancels, 0);
  EXPECT_EQ(dropped.runs, 0);
  EXPECT_EQ(dropped.cancels, 1);
  EXPECT_EQ(dropped.last_reason, nullptr);
  EXPECT_EQ(cancelled.runs, 0);
  EXPECT_EQ(cancelled.cancels, 1);
}

// ---- End to end: post() from an outside thread ---------------------------------------------

// The API promise (thread_pool::post): "a callable of up to 48 bytes is stored without a heap
// allocation". The injection queue stores tasks in 255-slot blocks and keeps up to four emptied
// blocks for reuse, so once it has grown to a backlog it allocates nothing for the same backlog
// again. Each round holds both workers, posts 500 tasks of a 48-byte-capture lambda from this
// (outside) thread, which need two blocks, then lets the workers run them all. After two
// warm-up rounds (first-use initialisation, and the queue's blocks), a round allocates nothing
// anywhere in the process: not the posts, not the runs, not the wait.
TEST(ThreadPoolPost, FortyEightByteLambdaFromAnOutsideThreadAllocatesNothing) {
  if (!counting_new) {
    GTEST_SKIP() << "a sanitizer runtime owns operator new here; nothing to count";
  }
  constexpr int posts = 500;
  weft::thread_pool pool(2);
  std::atomic<std::uint64_t> sum{0};

  const auto post_batch = [&](std::latch& done, int count) {
    for (int i = 0; i < count; ++i) {
      const std::array<std::uint64_t, 4> payload{static_cast<std::uint64_t>(i), 1, 2, 3};
      auto job = [&done, &sum, payload] {
        sum.fetch_add(payload[0] + payload[3], std::memory_order_relaxed);
        done.count_down();
      };
      static_assert(sizeof(job) == 48, "the capture is 48 bytes");
      pool.post(job);
    }
  };
  // One round; returns the allocations from the first post to the last task's end.
  const auto round = [&] {
    weft_test::worker_gate held(pool, 2);  // allocates (futures): before the window
    EXPECT_TRUE(held.all_running());
    std::latch done(posts);
    const std::uint64_t before = allocation_count();
    post_batch(done, posts);
    held.open();
    done.wait();
    return allocation_count() - before;
  };

  static_cast<void>(round());
  static_cast<void>(round());
  sum.store(0);
  const std::uint64_t allocated = round();
  EXPECT_EQ(allocated, 0U) << allocated << " heap allocations for " << posts
                           << " posts of a 48-byte lambda";
  EXPECT_EQ(sum.load(), static_cast<std::uint64_t>(posts) * (posts - 1) / 2 + 3U * posts);
}

// With the workers running freely, the queue's backlog varies from run to run, but allocations
// stay per block, never per task: 20,000 posts allocate at most one block per 255 of them.
TEST(ThreadPoolPost, OutsidePostsAllocateAtMostOneBlockPer255Tasks) {
  if (!counting_new) {
    GTEST_SKIP() << "a sanitizer runtime owns operator new here; nothing to count";
  }
  constexpr int posts = 20'000;
  weft::thread_pool pool(2);
  {
    std::latch warm(1);
    pool.post([&warm] { warm.count_down(); });
    warm.wait();
  }
  std::latch done(posts);
  const std::uint64_t before = allocation_count();
  for (int i = 0; i < posts; ++i) {
    pool.post([&done] { done.count_down(); });
  }
  done.wait();
  const std::uint64_t allocated = allocation_count() - before;
  EXPECT_LE(allocated, static_cast<std::uint64_t>(posts / 255 + 1))
      << allocated << " heap allocations for " << posts << " posts of an 8-byte lambda";
}

// The counter's control: a 56-byte capture is boxed, so the same window sees at least one
// allocation per post. (If this fails, the counting operator new is not in effect and the test
// above proves nothing.)
TEST(ThreadPoolPost, FiftySixByteLambdaIsBoxedOncePerPost) {
  if (!counting_new) {
    GTEST_SKIP() << "a sanitizer runtime owns operator new here; nothing to count";
  }
  constexpr int posts = 1000;
  weft::thread_pool pool(2);
  std::atomic<std::uint64_t> sum{0};
  {
    std::latch warm(1);
    pool.post([&warm] { warm.count_down(); });
    warm.wait();
  }
  std::latch done(posts);
  const std::uint64_t before = allocation_count();
  for (int i = 0; i < posts; ++i) {
    const std::array<std::uint64_t, 5> payload{static_cast<std::uint64_t>(i), 1, 2, 3, 4};
    auto job = [&done, &sum, payload] {
      sum.fetch_add(payload[0], std::memory_order_relaxed);
      done.count_down();
    };
    static_assert(sizeof(job) == 56, "the capture is 56 bytes");
    pool.post(job);
  }
  done.wait();
  const std::uint64_t after = allocation_count();
  EXPECT_GE(after - before, static_cast<std::uint64_t>(posts));
  EXPECT_EQ(sum.load(), static_cast<std::uint64_t>(posts) * (posts - 1) / 2);
}

// ---- End to end: submit() and post() from a worker --------------------------------------------

// A worker's submit() allocates the future's state, and its post() boxes the task for its deque,
// from the worker's node cache (detail/node_cache.hpp): once the worker has freed as many as it
// needs at once, fork-join on it allocates nothing. Each round runs on the single worker: 24
// submits, each read back at once (fork-join's shape), then 24 posts whose tasks run after it.
TEST(ThreadPoolSubmit, AWorkerReusesItsTaskBlocksAfterWarmUp) {
  if (!counting_new) {
    GTEST_SKIP() << "a sanitizer runtime owns operator new here; nothing to count";
  }
  if (!weft::detail::node_cache_enabled) {
    GTEST_SKIP() << "the node cache is off in this build";
  }
  constexpr int children = 24;
  weft::thread_pool pool(1);
  std::atomic<std::uint64_t> posted_sum{0};

  // One round on the worker; returns the allocations made by its submits and posts.
  const auto round = [&] {
    std::latch posted_done(children);
    const std::uint64_t allocated =
        pool.submit([&] {
              const std::uint64_t before = allocation_count();
              std::uint64_t sum = 0;
              for (int i = 0; i < children; ++i) {
                sum += static_cast<std::uint64_t>(pool.submit([i] { return i; }).get());
              }
              EXPECT_EQ(sum, static_cast<std::uint64_t>(children) * (children - 1) / 2);
              for (int i = 0; i < children; ++i) {
                pool.post([&posted_sum, &posted_done, i] {
                  posted_sum.fetch_add(static_cast<std::uint64_t>(i), std::memory_order_relaxed);
                  posted_done.count_down();
                });
              }
              return allocation_count() - before;
            })
            .get();
    posted_done.wait();  // the posted tasks ran and freed their blocks on the worker
    return allocated;
  };

  static_cast<void>(round());
  static_cast<void>(round());
  posted_sum.store(0);
  const std::uint64_t allocated = round();
  EXPECT_EQ(allocated, 0U) << allocated << " heap allocations for " << children << " submits and "
                           << children << " posts on a worker";
  EXPECT_EQ(posted_sum.load(), static_cast<std::uint64_t>(children) * (children - 1) / 2);
}

}  // namespace
