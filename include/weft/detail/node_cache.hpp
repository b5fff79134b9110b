#pragma once
/*
 * node_cache — per-thread reuse of the blocks behind per-task objects (future states, boxed
 * posts from workers).
 *
 * Purpose. Every submit allocates a shared state and frees it when the task and its future are
 * done; in fork-join that is one allocation per spawn, most often freed by the thread that
 * made it. The general-purpose allocator's fast path is short but not free, and its per-thread
 * cache holds few blocks per size. This cache keeps up to node_cache_blocks freed blocks per
 * size class (16-byte classes up to node_cache_max_bytes) in each thread, in plain singly
 * linked lists: allocation pops, deallocation pushes, no atomic operation at all.
 *
 * Threads and lifetime. Only the calling thread touches its lists (thread_local storage), so
 * nothing is shared and no memory order is involved. A block may be freed by another thread
 * than the one that made it: it then joins that thread's lists (or the heap, when they are
 * full), so lists never grow past their bound. A thread's first allocation from the heap arms
 * its cache: it creates a thread_local flusher, which at thread exit returns the lists to the
 * heap and marks the thread retired. Only an armed thread keeps freed blocks; a thread that
 * never allocated, or a retired one (a pool destroyed during static destruction, after the
 * main thread's thread_local destructors ran), frees straight to the heap. One corner stays:
 * a main thread whose first allocation happens during static destruction registers a flusher
 * that glibc no longer runs, so up to the cache's bound stays allocated (reachable) at exit.
 * The lists themselves are trivially destructible, so reading them stays valid until the
 * thread ends.
 *
 * Sanitizers. Under AddressSanitizer the cache is off (every call goes to the heap), so that a
 * use after free of a state is still reported.
 *
 * Verification. tests/unit/node_cache_test.cpp; every future test goes through it.
 */

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define WEFT_DETAIL_NODE_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_DETAIL_NODE_CACHE 0
#endif
#endif
#ifndef WEFT_DETAIL_NODE_CACHE
#define WEFT_DETAIL_NODE_CACHE 1
#endif

namespace weft {
inline namespace v1 {
namespace detail {

/// False under AddressSanitizer, where every node_allocate/node_deallocate goes to the heap.
inline constexpr bool node_cache_enabled = WEFT_DETAIL_NODE_CACHE != 0;

/// Allocates `bytes` (aligned for any fundamental type), from this thread's cache when it has
/// a block of the size class. Throws std::bad_alloc. Thread: any.
[[nodiscard]] void* node_allocate(std::size_t bytes);

/// Returns a block from node_allocate(bytes) (same `bytes`) to this thread's cache, or to the
/// heap when the cache is full, off, retired, or not armed (the thread never allocated).
/// Thread: any.
void node_deallocate(void* block, std::size_t bytes) noexcept;

/// Number of blocks this thread's cache holds now (for tests). Thread: any.
[[nodiscard]] std::size_t node_cache_size() noexcept;

}  // namespace detail
}  // namespace v1
}  // namespace weft
