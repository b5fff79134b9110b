// Tests of misuse that would deadlock (RELIABILITY.md K4, K5, and the matching rows of the
// bad-input table, section 2):
//
// - K4: wait(), wait_for(), join() and join_for() called from one of the pool's own workers
//   throw weft::usage_error at once, and the pool keeps working.
// - K5: the destructor run on one of the pool's own workers prints a clear message and aborts.
//
// Waiting on a pool from a worker of another pool is legitimate and must still work.

#include <chrono>
#include <future>
#include <latch>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/pool_helpers.hpp"
#include "support/test_support.hpp"
#include <weft/error.hpp>
#include <weft/thread_pool.hpp>

namespace {

using namespace std::chrono_literals;
using weft_test::pool_size;

// "At once": a misuse check takes microseconds; anything near this (scaled) means it waited.
constexpr auto at_once_bound = 1s;
// The timeouts given to the timed forms: long enough that "it waited" is unmistakable.
constexpr auto long_timeout = 30s;

// What a task saw when it called each wait of its own pool.
struct self_wait_outcome {
  std::vector<std::string> refused;      // calls that threw usage_error
  std::vector<std::string> not_refused;  // calls that returned or threw something else
  std::chrono::steady_clock::duration took{};
};

class PoolMisuse : public ::testing::TestWithParam<pool_size> {};

TEST_P(PoolMisuse, WaitAndJoinFromOwnWorkerThrowUsageErrorAtOnce) {
  const std::size_t threads = GetParam().threads;
  weft::thread_pool pool{threads};
  auto outcome = pool.submit([&pool] {
    self_wait_outcome out;
    const auto attempt = [&out](const char* call, auto&& fn) {
      try {
        fn();
        out.not_refused.emplace_back(call);
      } catch (const weft::usage_error&) {
        out.refused.emplace_back(call);
      } catch (...) {
        out.not_refused.emplace_back(call);
      }
    };
    const auto start = std::chrono::steady_clock::now();
    attempt("wait", [&] { pool.wait(); });
    attempt("wait_for", [&] { static_cast<void>(pool.wait_for(weft_test::scaled(long_timeout))); });
    attempt("join", [&] { pool.join(); });
    attempt("join_for", [&] { static_cast<void>(pool.join_for(weft_test::scaled(long_timeout))); });
    out.took = std::chrono::steady_clock::now() - start;
    return out;
  });
  const self_wait_outcome& out = outcome.get();
  EXPECT_EQ(out.refused, (std::vector<std::string>{"wait", "wait_for", "join", "join_for"}));
  EXPECT_TRUE(out.not_refused.empty())
      << "not refused: " << ::testing::PrintToString(out.not_refused);
  EXPECT_LT(out.took, weft_test::scaled(at_once_bound)) << "the misuse was not reported at once";
  // The refused calls left the pool intact: it still runs tasks and shuts down normally.
  EXPECT_EQ(pool.submit([] { return 8; }).get(), 8);
  pool.post([] {});
  pool.wait();
  pool.join();
}

TEST_P(PoolMisuse, WaitingOnAnotherPoolFromAWorkerIsAllowed) {
  const std::size_t threads = GetParam().threads;
  weft::thread_pool outer{threads};
  weft::thread_pool inner{2};
  auto result = outer.submit([&inner] {
    auto f = inner.submit([] { return 3; });
    inner.wait();  // inner's workers are not ours: this is a legitimate wait
    return f.get();
  });
  EXPECT_EQ(result.get(), 3);
}

INSTANTIATE_TEST_SUITE_P(PoolSizes, PoolMisuse,
                         ::testing::ValuesIn(weft_test::standard_pool_sizes()),
                         weft_test::pool_size_name);

// Runs in the death test's child: a task deletes its own pool. The destructor must abort; if
// it ever returned, the child would go on, time out below and exit normally (test failure).
void destroy_pool_from_its_own_worker() {
  auto* pool = new weft::thread_pool{1};
  std::promise<void> never;
  pool->post([pool] { delete pool; });
  static_cast<void>(never.get_future().wait_for(weft_test::scaled(30s)));
}

TEST(PoolMisuseDeathTest, DestructorOnOwnWorkerAbortsWithAMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(destroy_pool_from_its_own_worker(),
               "weft::thread_pool::~thread_pool: pool 'weft' is being destroyed by its own "
               "worker 0.*destroy the pool from a thread outside it");
}

}  // namespace
