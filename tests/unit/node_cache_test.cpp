// Tests of detail::node_cache: blocks are reused per size class within a thread, the cache is
// bounded, large blocks bypass it, and a block freed on another thread joins that thread's
// cache. Under AddressSanitizer the cache is off by design (use-after-free stays detectable):
// the reuse tests skip there, the bypass tests still run.

#include <cstddef>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <weft/detail/node_cache.hpp>
#include <weft/detail/tuning.hpp>

namespace {

using weft::detail::node_allocate;
using weft::detail::node_cache_size;
using weft::detail::node_deallocate;

TEST(NodeCache, AFreedBlockIsReusedForTheSameSizeClass) {
  if (!weft::detail::node_cache_enabled) {
    GTEST_SKIP() << "the node cache is off in this build (AddressSanitizer)";
  }
  void* first = node_allocate(100);
  node_deallocate(first, 100);
  void* second = node_allocate(110);  // 100 and 110 bytes share the 112-byte class
  EXPECT_EQ(second, first);
  node_deallocate(second, 110);
}

TEST(NodeCache, SizeClassesDoNotShareBlocks) {
  if (!weft::detail::node_cache_enabled) {
    GTEST_SKIP() << "the node cache is off in this build (AddressSanitizer)";
  }
  void* small = node_allocate(64);
  node_deallocate(small, 64);
  void* larger = node_allocate(65);  // the 80-byte class: must not get the 64-byte block
  EXPECT_NE(larger, small);
  node_deallocate(larger, 65);
  void* again = node_allocate(60);  // 60 bytes: the 64-byte class, which still holds it
  EXPECT_EQ(again, small);
  node_deallocate(again, 60);
}

TEST(NodeCache, KeepsAtMostItsBoundPerClass) {
  if (!weft::detail::node_cache_enabled) {
    GTEST_SKIP() << "the node cache is off in this build (AddressSanitizer)";
  }
  const std::size_t before = node_cache_size();
  constexpr std::size_t extra = 10;
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < weft::detail::node_cache_blocks + extra; ++i) {
    blocks.push_back(node_allocate(256));
  }
  for (void* b : blocks) {
    node_deallocate(b, 256);
  }
  // The 256-byte class is full; the blocks beyond the bound went back to the heap.
  EXPECT_LE(node_cache_size(), before + weft::detail::node_cache_blocks);
  EXPECT_GE(node_cache_size(), weft::detail::node_cache_blocks);
}

TEST(NodeCache, BlocksAboveTheLargestClassBypassTheCache) {
  const std::size_t before = node_cache_size();
  void* big = node_allocate(weft::detail::node_cache_max_bytes + 1);
  ASSERT_NE(big, nullptr);
  node_deallocate(big, weft::detail::node_cache_max_bytes + 1);
  EXPECT_EQ(node_cache_size(), before);
}

TEST(NodeCache, ABlockFreedOnAnotherThreadJoinsThatThreadsCache) {
  if (!weft::detail::node_cache_enabled) {
    GTEST_SKIP() << "the node cache is off in this build (AddressSanitizer)";
  }
  void* block = node_allocate(192);
  const std::size_t here_before = node_cache_size();
  std::size_t there_before = 0;
  std::size_t there_after = 0;
  std::thread other([&] {
    node_deallocate(node_allocate(16), 16);  // arms this thread's cache
    there_before = node_cache_size();
    node_deallocate(block, 192);
    there_after = node_cache_size();
    // The thread exits with the block cached: its flusher returns it to the heap (a leak
    // would show under LeakSanitizer builds with the cache on, and in valgrind).
  });
  other.join();
  EXPECT_EQ(there_after, there_before + 1);
  EXPECT_EQ(node_cache_size(), here_before);  // not this thread's cache
}

TEST(NodeCache, AThreadThatNeverAllocatedFreesToTheHeap) {
  // Its cache has no flusher to return blocks at its exit, so it keeps none.
  void* block = node_allocate(48);
  std::size_t there_after = 1;
  std::thread other([&] {
    node_deallocate(block, 48);
    there_after = node_cache_size();
  });
  other.join();
  EXPECT_EQ(there_after, 0U);
}

TEST(NodeCache, BlocksAreUsableMemoryOfTheRequestedSize) {
  // Write every byte of blocks of each size, interleaving frees and allocations, so that a
  // block handed out twice or too small would corrupt its neighbour's pattern.
  std::vector<std::pair<unsigned char*, std::size_t>> live;
  for (std::size_t round = 0; round < 4; ++round) {
    for (std::size_t bytes = 1; bytes <= weft::detail::node_cache_max_bytes + 64; bytes += 21) {
      auto* p = static_cast<unsigned char*>(node_allocate(bytes));
      for (std::size_t i = 0; i < bytes; ++i) {
        p[i] = static_cast<unsigned char>(bytes + i);
      }
      live.emplace_back(p, bytes);
    }
    for (std::size_t i = 0; i < live.size(); i += 2) {
      const auto [p, bytes] = live[i];
      for (std::size_t j = 0; j < bytes; ++j) {
        ASSERT_EQ(p[j], static_cast<unsigned char>(bytes + j)) << "block of " << bytes;
      }
      node_deallocate(p, bytes);
    }
    std::vector<std::pair<unsigned char*, std::size_t>> kept;
    for (std::size_t i = 1; i < live.size(); i += 2) {
      kept.push_back(live[i]);
    }
    live = kept;
  }
  for (const auto& [p, bytes] : live) {
    for (std::size_t j = 0; j < bytes; ++j) {
      ASSERT_EQ(p[j], static_cast<unsigned char>(bytes + j)) << "block of " << bytes;
    }
    node_deallocate(p, bytes);
  }
}

}  // namespace
