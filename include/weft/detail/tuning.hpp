#pragma once
// Every tuning constant of weft's engine, in one place, with the reason for its value.
//
// A change to any value here must cite a benchmark run (bench/, docs/perf/) in its commit message.

#include <cstddef>
#include <cstdint>

namespace weft {
inline namespace v1 {
namespace detail {

/// Size of a cache line on the targets weft supports (x86-64, AArch64). Hot shared atomics are
/// aligned to it so that two of them never share a line (false sharing). A constant rather than
/// std::hardware_destructive_interference_size, whose value GCC warns may differ between
/// compilers and so must not shape a type's layout.
inline constexpr std::size_t cache_line = 64;

/// Bytes of callable a task stores inline, without a heap allocation: the promise of the API is
/// "a lambda with up to 48 bytes of captures allocates nothing". With the 8-byte operations
/// pointer a task is 56 bytes, and an injection-queue slot (task plus 8 bytes of slot state)
/// is exactly one cache line.
inline constexpr std::size_t task_inline_bytes = 48;

/// Positions per block of the injection queue (a power of two): a block holds one fewer tasks,
/// 255 one-line slots plus a line of header, 16 KiB. Small enough that an idle pool's one block
/// costs little and a backlog grows in small steps; large enough that a block allocation (at
/// most one per 255 outside posts, none while a spare block is at hand) is lost in the noise.
inline constexpr std::size_t injection_block_lap = 256;

/// A producer that opens a new injection-queue block while more than this many tasks wait
/// yields its processor once (std::this_thread::yield). With more threads than cores, a
/// producer that keeps its core can post millions of tasks before the workers get theirs back,
/// and each waiting task holds a 64-byte slot; the yield lets the workers run, which they must
/// do anyway. On an idle core the yield returns at once, and it happens at most once every 255
/// posts. 16,384 tasks are 1 MiB of slots.
inline constexpr std::size_t injection_backlog_yield = 16384;

/// The node cache (node_cache.hpp) keeps freed blocks of up to this many bytes, in 16-byte
/// size classes. A future's state for a small callable and result is 100-200 bytes.
inline constexpr std::size_t node_cache_max_bytes = 256;

/// Blocks the node cache keeps per size class and thread. The bound on one thread's cache is
/// 32 x (16 + 32 + ... + 256) bytes = 68 KiB; in practice a program uses a few classes. A
/// fork-join worker frees about one state per spawn and allocates the next at once, so it needs
/// a handful; 32 absorbs bursts (a task reading back a batch of futures).
inline constexpr std::uint32_t node_cache_blocks = 32;

/// Initial capacity of a worker's deque (a power of two). Fork-join keeps a deque about as deep
/// as the recursion (W4: 32 levels), so 256 slots rarely grow; growth doubles.
inline constexpr std::size_t deque_initial_capacity = 256;

/// Rounds of "look for work" an idle worker makes before it parks. Each round checks every queue
/// once, then backs off (pause, later yield). Long enough to catch a task that arrives within a
/// few microseconds of the last one (the common case in W2 and W4), short enough that an idle
/// pool stops burning CPU quickly (W8).
inline constexpr unsigned search_rounds_before_park = 64;

/// Backoff: the first rounds issue 2^k pause instructions (k below this bound); later rounds
/// yield the processor.
inline constexpr unsigned backoff_spin_limit = 6;

/// Rounds of backoff after which backoff::is_completed() says a caller should block instead.
inline constexpr unsigned backoff_yield_limit = 10;

/// At most this share of the workers searches (spins) for work at once; the others park at once.
/// tokio's rule: searching workers cost CPU and contend on the queues, and one or two are enough
/// to pick up new work quickly. Expressed as a divisor of the worker count, rounded up.
inline constexpr unsigned searching_divisor = 2;

/// A worker that keeps finding work in its own deque checks the injection queue first every
/// this many tasks, so outside submissions start even while every worker spawns local children
/// (tokio's global-queue interval; prime, so it does not resonate with batch sizes).
inline constexpr unsigned injection_check_interval = 61;

/// A worker helping in get() whose awaited task runs elsewhere and that finds no other work
/// blocks on the future for this long at first, doubling up to help_poll_max_us, then looks for
/// work again: new tasks get its help, and a long wait costs at most ~1,000 wake-ups a second.
inline constexpr unsigned help_poll_min_us = 50;
inline constexpr unsigned help_poll_max_us = 1000;

}  // namespace detail
}  // namespace v1
}  // namespace weft
