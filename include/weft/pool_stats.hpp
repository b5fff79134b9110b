#pragma once
// pool_stats: a snapshot of a pool's counters, from thread_pool::stats().
//
// The counters are read without stopping the pool, so a snapshot taken while tasks move may be
// off by the tasks in flight, but it never reports work that does not exist. At rest (nothing
// queued or running), completed + failed + cancelled + rejected equals the number of
// submissions the pool saw (accepted and refused).

#include <cstddef>
#include <cstdint>

namespace weft {
inline namespace v1 {

/// Counters of a thread_pool at one moment.
struct pool_stats {
  std::size_t threads = 0;          ///< live workers
  std::size_t idle_threads = 0;     ///< workers not running a task
  std::size_t largest_threads = 0;  ///< the most workers the pool ever had at once
  std::size_t queued = 0;           ///< tasks waiting to start
  std::size_t running = 0;          ///< tasks running now
  std::uint64_t completed = 0;      ///< tasks that ran and returned
  std::uint64_t failed = 0;         ///< tasks that ran and threw (or failed without running)
  std::uint64_t cancelled = 0;      ///< tasks that never ran: cancelled, or the pool broke
  std::uint64_t rejected = 0;       ///< submissions refused (after shutdown)
};

}  // namespace v1
}  // namespace weft
