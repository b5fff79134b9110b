// Unit tests of detail::sleep_controller (the production instantiation: std::atomic, the
// annotated mutex, futex parking) with real threads: the accounting of sleepers() and
// searching(), notify_one waking exactly one parked worker, wake_all waking every one (more than
// one batch of 64), and cancel_announce's two outcomes. The protocol's interleavings are
// searched by the Relacy models in tests/model/sleep_controller_model.cpp.
//
// Parked threads are always released before they are joined (a release_all guard calls
// wake_all), so a failing assertion ends the test instead of hanging it.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <latch>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/test_support.hpp"
#include <weft/detail/sleep_controller.hpp>

namespace {

using namespace std::chrono_literals;
using weft::detail::sleep_controller;

// Bounds a wait for an event that should happen promptly (scaled); only a failing test waits
// this long.
constexpr auto prompt = 10s;
// How long a test lets a wrong outcome (a second, unwanted wake-up) happen before it concludes
// that it did not. Not synchronisation: the assertion holds whatever this value is.
constexpr auto wrong_outcome_window = 50ms;

// Wakes every parked worker and joins the threads, whatever the test's outcome.
class release_all {
 public:
  release_all(sleep_controller& sc, std::vector<std::thread>& threads)
      : sc_(sc), threads_(threads) {}
  release_all(const release_all&) = delete;
  release_all& operator=(const release_all&) = delete;
  ~release_all() {
    sc_.wake_all();
    for (std::thread& t : threads_) {
      if (t.joinable()) {
        t.join();
      }
    }
  }

 private:
  sleep_controller& sc_;
  std::vector<std::thread>& threads_;
};

TEST(SleepController, NotifyOneWithNoSleepersIsANoOp) {
  sleep_controller sc(4);
  sc.notify_one();
  EXPECT_EQ(sc.sleepers(), 0U);
  EXPECT_EQ(sc.searching(), 0U);
  sc.wake_all();
  EXPECT_EQ(sc.sleepers(), 0U);
  EXPECT_EQ(sc.searching(), 0U);
}

TEST(SleepController, SearchersAreLimitedToHalfTheWorkers) {
  sleep_controller sc(4);  // at most 2 searchers
  EXPECT_TRUE(sc.try_begin_search());
  EXPECT_TRUE(sc.try_begin_search());
  EXPECT_FALSE(sc.try_begin_search());
  EXPECT_EQ(sc.searching(), 2U);
  EXPECT_FALSE(sc.end_search());  // one searcher remains
  EXPECT_TRUE(sc.end_search());   // the last one
  EXPECT_EQ(sc.searching(), 0U);

  sleep_controller one(1);  // a single worker may still search
  EXPECT_TRUE(one.try_begin_search());
  EXPECT_FALSE(one.try_begin_search());
  EXPECT_TRUE(one.end_search());
}

TEST(SleepController, NotifyOneLeavesTheWorkToASearcher) {
  sleep_controller sc(4);
  ASSERT_TRUE(sc.try_begin_search());  // worker 0 searches
  sc.announce(1);                      // worker 1 is about to park
  sc.notify_one();                     // the searcher will find the work: nobody is woken
  EXPECT_EQ(sc.sleepers(), 1U);
  EXPECT_EQ(sc.searching(), 1U);
  EXPECT_TRUE(sc.cancel_announce(1));
  EXPECT_TRUE(sc.end_search());
  EXPECT_EQ(sc.sleepers(), 0U);
}

TEST(SleepController, CancelAnnounceWithdrawsWhenNotWoken) {
  sleep_controller sc(2);
  sc.announce(0);
  EXPECT_EQ(sc.sleepers(), 1U);
  EXPECT_TRUE(sc.cancel_announce(0));
  EXPECT_EQ(sc.sleepers(), 0U);
  EXPECT_EQ(sc.searching(), 0U);  // a withdrawn worker is not a searcher
  sc.notify_one();                // nobody left to wake
  EXPECT_EQ(sc.searching(), 0U);
}

TEST(SleepController, CancelAnnounceAfterAWakerTookTheWorkerCountsItAsSearching) {
  sleep_controller sc(2);
  sc.announce(0);
  sc.notify_one();  // takes worker 0: it now counts as a searcher
  EXPECT_EQ(sc.sleepers(), 0U);
  EXPECT_EQ(sc.searching(), 1U);
  EXPECT_FALSE(sc.cancel_announce(0));
  EXPECT_EQ(sc.searching(), 1U);  // still counted: the worker ends that search itself
  EXPECT_TRUE(sc.end_search());
  EXPECT_EQ(sc.searching(), 0U);

  // The slot is usable again: a new announcement parks and is woken normally.
  sc.announce(0);
  EXPECT_EQ(sc.sleepers(), 1U);
  EXPECT_TRUE(sc.cancel_announce(0));
}

TEST(SleepController, ParkReturnsAtOnceWhenNotifiedBeforeParking) {
  sleep_controller sc(2);
  sc.announce(1);
  sc.notify_one();
  sc.park(1);  // the word already says "notified": no blocking
  EXPECT_EQ(sc.searching(), 1U);
  EXPECT_TRUE(sc.end_search());
}

// Starts `workers` threads that announce, park and, once woken, count themselves in `woken`;
// returns whether all of them announced in time.
bool park_workers(sleep_controller& sc, std::vector<std::thread>& threads, std::atomic<int>& woken,
                  std::size_t workers) {
  for (std::size_t w = 0; w < workers; ++w) {
    threads.emplace_back([&sc, &woken, w] {
      sc.announce(w);
      sc.park(w);
      woken.fetch_add(1, std::memory_order_relaxed);
    });
  }
  return weft_test::wait_until([&] { return sc.sleepers() == workers; }, prompt);
}

TEST(SleepController, AnnounceAndParkThenNotifyOneWakesExactlyOne) {
  constexpr std::size_t workers = 3;
  sleep_controller sc(workers);
  std::atomic<int> woken{0};
  std::vector<std::thread> threads;
  {
    const release_all guard(sc, threads);
    ASSERT_TRUE(park_workers(sc, threads, woken, workers));

    sc.notify_one();
    EXPECT_EQ(sc.sleepers(), workers - 1);  // one taken off the idle stack...
    EXPECT_EQ(sc.searching(), 1U);          // ...and counted as a searcher on its behalf
    EXPECT_TRUE(weft_test::wait_until([&] { return woken.load() >= 1; }, prompt));
    // Give a wrong second wake-up the chance to happen; there must be none.
    EXPECT_FALSE(weft_test::wait_until([&] { return woken.load() > 1; }, wrong_outcome_window));
    EXPECT_EQ(woken.load(), 1);

    sc.notify_one();  // a searcher exists (the first one never ended its search): no-op
    EXPECT_EQ(sc.sleepers(), workers - 1);
    EXPECT_TRUE(sc.end_search());  // on behalf of the woken worker
    sc.notify_one();               // now it wakes a second one
    EXPECT_TRUE(weft_test::wait_until([&] { return woken.load() == 2; }, prompt));
    EXPECT_EQ(sc.sleepers(), workers - 2);
  }
  // The guard's wake_all released the last worker.
  EXPECT_EQ(woken.load(), static_cast<int>(workers));
  EXPECT_EQ(sc.sleepers(), 0U);
  EXPECT_EQ(sc.searching(), 2U);  // the second and third woken workers never ended their search
}

TEST(SleepController, WakeAllWakesEveryParkedWorkerAcrossBatches) {
  // wake_some releases at most 64 workers per pass under its mutex: 70 needs two passes.
  constexpr std::size_t workers = 70;
  sleep_controller sc(workers);
  std::atomic<int> woken{0};
  std::vector<std::thread> threads;
  {
    const release_all guard(sc, threads);
    ASSERT_TRUE(park_workers(sc, threads, woken, workers));
    sc.wake_all();
    EXPECT_EQ(sc.sleepers(), 0U);
    EXPECT_EQ(sc.searching(), workers);  // each woken worker counts as a searcher
    EXPECT_TRUE(
        weft_test::wait_until([&] { return woken.load() == static_cast<int>(workers); }, prompt));
  }
  EXPECT_EQ(woken.load(), static_cast<int>(workers));
  for (std::size_t i = 0; i + 1 < workers; ++i) {
    EXPECT_FALSE(sc.end_search());
  }
  EXPECT_TRUE(sc.end_search());
}

TEST(SleepController, RepeatedParkAndNotifyNeverLosesAWakeUp) {
  // One worker parks and is woken over and over; the notifier waits for each announcement, so
  // every round exercises announce -> park against notify_one (with the futex wait racing the
  // wake-up). A lost wake-up stalls a round past `prompt`.
  const int rounds = weft_test::iterations(20'000, 2'000);
  sleep_controller sc(1);
  std::atomic<int> completed{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  int stalled_round = -1;
  {
    const release_all guard(sc, threads);
    threads.emplace_back([&] {
      for (;;) {
        sc.announce(0);
        if (stop.load(std::memory_order_seq_cst)) {  // S3: the re-check of the stop flag
          if (!sc.cancel_announce(0)) {
            sc.end_search();
          }
          return;
        }
        sc.park(0);
        sc.end_search();  // woken as a searcher; nothing to search for here
        if (stop.load(std::memory_order_acquire)) {
          return;  // the final wake_all, not a round
        }
        completed.fetch_add(1, std::memory_order_release);
      }
    });
    for (int round = 0; round < rounds; ++round) {
      if (!weft_test::wait_until([&] { return sc.sleepers() == 1; }, prompt)) {
        stalled_round = round;
        break;
      }
      sc.notify_one();
      if (!weft_test::wait_until([&] { return completed.load() == round + 1; }, prompt)) {
        stalled_round = round;
        break;
      }
    }
    stop.store(true, std::memory_order_seq_cst);
  }
  EXPECT_EQ(stalled_round, -1) << "a round stalled: a lost wake-up";
  EXPECT_EQ(completed.load(), rounds);
  EXPECT_EQ(sc.sleepers(), 0U);
  EXPECT_EQ(sc.searching(), 0U);
}

}  // namespace
