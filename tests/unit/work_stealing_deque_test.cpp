// Tests of detail::work_stealing_deque (RELIABILITY.md J1) with real threads.
//
// - Sequential behaviour: the owner pops in LIFO order, thieves steal in FIFO order, the two
//   mix, and growth keeps both orders and every item.
// - Exactly once: one owner pushes N items (and pops some as it goes) while 1-4 thieves steal;
//   the multiset of taken items must equal the multiset of pushed items, for N in {1, 2, 255,
//   256, 257, 65,536, 265,720} (at most 16,384 in sanitizer builds), starting from the smallest
//   ring (2 slots) so that the ring grows many times while thieves read it. The owner's choice
//   between push and pop is seeded (weft_test::seed(), printed on failure).
//
// The interleavings these runs reach are whatever the machine produces; the Relacy model
// (tests/model/work_stealing_deque_model.cpp) searches them systematically on small cases.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <ostream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/test_support.hpp"
#include <weft/detail/work_stealing_deque.hpp>

namespace {

using weft::detail::steal_status;
using deque = weft::detail::work_stealing_deque<std::size_t*>;

// N items 0..n-1, addressed by pointer (the deque holds pointers).
struct items {
  explicit items(std::size_t n) : values(n) {
    for (std::size_t i = 0; i < n; ++i) {
      values[i] = i;
    }
  }
  std::size_t* operator[](std::size_t i) { return &values[i]; }
  std::vector<std::size_t> values;
};

std::size_t steal_one(deque& d) {
  std::size_t* out = nullptr;
  const steal_status s = d.steal(out);
  EXPECT_EQ(s, steal_status::taken);
  return s == steal_status::taken ? *out : static_cast<std::size_t>(-1);
}

TEST(WorkStealingDeque, EmptyDequeGivesNothing) {
  deque d(2);
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(d.size(), 0U);
  EXPECT_EQ(d.pop(), nullptr);
  std::size_t* out = nullptr;
  EXPECT_EQ(d.steal(out), steal_status::empty);
  EXPECT_EQ(out, nullptr);
  EXPECT_TRUE(d.empty());  // a failed pop leaves the deque consistent
}

TEST(WorkStealingDeque, OwnerPopsNewestFirst) {
  items v(10);
  deque d(2);  // grows to 16 on the way
  for (std::size_t i = 0; i < 10; ++i) {
    d.push(v[i]);
  }
  EXPECT_EQ(d.size(), 10U);
  for (std::size_t i = 10; i-- > 0;) {
    std::size_t* p = d.pop();
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(*p, i);
  }
  EXPECT_EQ(d.pop(), nullptr);
  EXPECT_TRUE(d.empty());
}

TEST(WorkStealingDeque, ThiefStealsOldestFirst) {
  items v(10);
  deque d(2);
  for (std::size_t i = 0; i < 10; ++i) {
    d.push(v[i]);
  }
  for (std::size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(steal_one(d), i);
  }
  std::size_t* out = nullptr;
  EXPECT_EQ(d.steal(out), steal_status::empty);
  EXPECT_EQ(d.pop(), nullptr);
}

TEST(WorkStealingDeque, PopsAndStealsTakeFromOppositeEnds) {
  items v(6);
  deque d(2);
  for (std::size_t i = 0; i < 5; ++i) {
    d.push(v[i]);
  }
  EXPECT_EQ(steal_one(d), 0U);
  EXPECT_EQ(*d.pop(), 4U);
  EXPECT_EQ(steal_one(d), 1U);
  d.push(v[5]);
  EXPECT_EQ(*d.pop(), 5U);
  EXPECT_EQ(*d.pop(), 3U);
  EXPECT_EQ(steal_one(d), 2U);  // the last item, to a thief
  EXPECT_EQ(d.pop(), nullptr);
  EXPECT_TRUE(d.empty());
}

TEST(WorkStealingDeque, ReusesWrappedSlotsAndGrowsWithItemsAtAnyOffset) {
  // Steals move top forward, so the ring wraps; the growth that follows must copy the live
  // items from a wrapped range.
  constexpr std::size_t n = 40;
  items v(n);
  deque d(4);
  std::size_t next = 0;
  std::size_t oldest = 0;
  for (int round = 0; round < 5; ++round) {
    for (int k = 0; k < 3; ++k) {
      d.push(v[next++]);
    }
    EXPECT_EQ(steal_one(d), oldest++);
    EXPECT_EQ(steal_one(d), oldest++);
  }
  while (next < n) {
    d.push(v[next++]);  // grows from a wrapped position
  }
  for (std::size_t i = oldest; i < n; ++i) {
    EXPECT_EQ(steal_one(d), i);
  }
  EXPECT_TRUE(d.empty());
}

TEST(WorkStealingDeque, CapacityIsRoundedUpAndGrowthKeepsEveryItem) {
  for (const std::size_t capacity : {0U, 1U, 3U, 256U, 1000U}) {
    items v(3000);
    deque d(capacity);
    for (std::size_t i = 0; i < 3000; ++i) {
      d.push(v[i]);
    }
    EXPECT_EQ(d.size(), 3000U) << "capacity " << capacity;
    for (std::size_t i = 0; i < 1500; ++i) {
      EXPECT_EQ(steal_one(d), i);
    }
    for (std::size_t i = 3000; i-- > 1500;) {
      std::size_t* p = d.pop();
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(*p, i);
    }
    EXPECT_TRUE(d.empty());
  }
}

// ---- Exactly once under concurrency -------------------------------------------------------

struct exactly_once_case {
  std::size_t items;
  int thieves;
};

// Prints a case in GoogleTest messages (instead of its bytes, padding included).
// NOLINTNEXTLINE(readability-identifier-naming): GoogleTest looks this name up
void PrintTo(const exactly_once_case& c, std::ostream* out) {
  *out << c.items << " items, " << c.thieves << " thieves";
}

std::string case_name(const ::testing::TestParamInfo<exactly_once_case>& info) {
  return std::to_string(info.param.items) + "Items" + std::to_string(info.param.thieves) +
         "Thieves";
}

class WorkStealingDequeExactlyOnce : public ::testing::TestWithParam<exactly_once_case> {};

// Every item pushed by the owner is taken exactly once, by one pop or one steal: the taken
// multiset equals {0, ..., N-1}. The owner pushes every item and pops one after about a quarter
// of its pushes, then pops until the deque is empty; thieves steal until the owner is done.
TEST_P(WorkStealingDequeExactlyOnce, EveryItemIsTakenExactlyOnce) {
  const std::size_t n =
      weft_test::iterations(GetParam().items, std::min<std::size_t>(GetParam().items, 16'384));
  const int thieves = GetParam().thieves;
  items v(n);
  deque d(2);

  std::vector<std::vector<std::size_t>> taken(static_cast<std::size_t>(thieves) + 1);
  std::atomic<bool> owner_done{false};
  std::latch start(thieves + 1);
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(thieves));
  for (int t = 1; t <= thieves; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::size_t>& mine = taken[static_cast<std::size_t>(t)];
      start.arrive_and_wait();
      for (;;) {
        // acquire: pairs with the owner's release store; after it, the deque stays empty.
        const bool done = owner_done.load(std::memory_order_acquire);
        std::size_t* out = nullptr;
        const steal_status s = d.steal(out);
        if (s == steal_status::taken) {
          mine.push_back(*out);
        } else if (s == steal_status::empty && done) {
          return;
        } else {
          std::this_thread::yield();  // lets the owner run on an oversubscribed machine
        }
      }
    });
  }

  std::mt19937_64 rng(weft_test::seed());
  std::vector<std::size_t>& owners = taken[0];
  start.arrive_and_wait();
  for (std::size_t i = 0; i < n; ++i) {
    d.push(v[i]);
    if (rng() % 4 == 0) {
      if (std::size_t* p = d.pop()) {
        owners.push_back(*p);
      }
    }
  }
  while (std::size_t* p = d.pop()) {
    owners.push_back(*p);
  }
  // The owner saw the deque empty: every item is taken or being taken by a thief whose CAS
  // already succeeded. release: the thieves' last steal attempt follows it.
  owner_done.store(true, std::memory_order_release);
  for (std::thread& t : threads) {
    t.join();
  }

  // Multiset compare: count how often each item was taken.
  std::vector<unsigned> count(n, 0);
  std::size_t total = 0;
  std::size_t foreign = 0;
  for (const std::vector<std::size_t>& part : taken) {
    for (const std::size_t x : part) {
      ++total;
      if (x < n) {
        ++count[x];
      } else {
        ++foreign;
      }
    }
  }
  std::ostringstream bad;
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (count[i] != 1) {
      if (++wrong <= 10) {
        bad << " item " << i << " taken " << count[i] << " times;";
      }
    }
  }
  EXPECT_EQ(foreign, 0U);
  EXPECT_EQ(wrong, 0U) << wrong << " items not taken exactly once:" << bad.str();
  EXPECT_EQ(total, n);
  EXPECT_TRUE(d.empty());
  std::size_t stolen = 0;
  for (std::size_t t = 1; t < taken.size(); ++t) {
    stolen += taken[t].size();
  }
  RecordProperty("stolen", std::to_string(stolen));
}

std::vector<exactly_once_case> exactly_once_cases() {
  std::vector<exactly_once_case> cases;
  for (const std::size_t n : {1U, 2U, 255U, 256U, 257U, 65'536U, 265'720U}) {
    for (int thieves = 1; thieves <= 4; ++thieves) {
      cases.push_back({n, thieves});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(ItemsAndThieves, WorkStealingDequeExactlyOnce,
                         ::testing::ValuesIn(exactly_once_cases()), case_name);

}  // namespace
