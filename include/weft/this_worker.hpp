#pragma once
// weft::this_worker: what a task can ask about the thread it runs on.
//
// - index(): the worker's index in its pool (0 .. threads-1), empty outside any pool.
// - pool():  the pool the calling thread works for, nullptr outside any pool.
//
// Synchronization: both read a thread-local value set when the worker starts; they are cheap
// and safe to call from anywhere.

#include <cstddef>
#include <optional>

namespace weft {
inline namespace v1 {

class thread_pool;

namespace this_worker {

/// The calling worker's index in its pool, or an empty optional if the calling thread is not
/// a worker of any weft pool.
[[nodiscard]] std::optional<std::size_t> index() noexcept;

/// The pool the calling thread is a worker of, or nullptr.
[[nodiscard]] thread_pool* pool() noexcept;

}  // namespace this_worker
}  // namespace v1
}  // namespace weft
