// stats: the pool's counters and the stats() snapshot (invariants I2, I3 of pool_core.hpp).
//
// Every counter is a statistic: per-worker counters have one writer (relaxed load + store);
// shared ones are relaxed RMWs off the hot path. A snapshot reads them without stopping the
// pool, so it may be off by the tasks in flight; at rest the identity of I2 holds.

#include "pool_core.hpp"

namespace weft {
inline namespace v1 {
namespace detail {

void pool_core::count_unrun(future_state final, bool was_queued) noexcept {
  if (final == future_state::cancelled) {
    cancelled_.fetch_add(1, std::memory_order_relaxed);  // a statistic
  } else if (final == future_state::failed) {
    unrun_failed_.fetch_add(1, std::memory_order_relaxed);
  }
  if (was_queued) {
    stale_created_ext_.fetch_add(1, std::memory_order_relaxed);  // its entry stays queued (I3)
  }
}

pool_stats pool_core::stats() const noexcept {
  pool_stats st;
  std::uint64_t stale_created = stale_created_ext_.load(std::memory_order_relaxed);
  std::uint64_t stale_dropped = stale_dropped_ext_.load(std::memory_order_relaxed);
  std::size_t queued = injection_.size();
  for (const auto& w : workers_) {
    st.completed += w->completed.get();
    st.failed += w->failed.get();
    st.running += static_cast<std::size_t>(w->running.get());
    stale_created += w->stale_created.get();
    stale_dropped += w->stale_dropped.get();
    queued += w->deque.size();
  }
  const std::uint64_t stale = stale_created > stale_dropped ? stale_created - stale_dropped : 0;
  st.queued = queued > stale ? queued - static_cast<std::size_t>(stale) : 0;
  st.failed += unrun_failed_.load(std::memory_order_relaxed);
  st.cancelled = cancelled_.load(std::memory_order_relaxed);
  st.rejected = rejected_.load(std::memory_order_relaxed);
  st.threads = live_threads_.load(std::memory_order_relaxed);
  st.largest_threads = started_threads_;
  // Idle: neither busy nor searching for work.
  const std::size_t active = busy_workers() + sleep_.searching();
  st.idle_threads = st.threads > active ? st.threads - active : 0;
  return st;
}

}  // namespace detail
}  // namespace v1
}  // namespace weft
