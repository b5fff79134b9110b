#pragma once
// The small interface every peer adapter in bench/peers/ implements, so that each workload is
// written once as a template and runs unchanged on weft and on every peer.
//
//   P pool{threads};          start the pool (outside the timed region)
//   pool.post(fn);            fire and forget
//   pool.submit(fn).get();    run fn() on the pool; get() waits and yields its value
//   pool.wait_idle();         wait until every post()ed task finished. Called at most once per
//                             pool object, at the end of its use: for Asio and the textbook
//                             pool it drains and joins the workers (their only way to wait).
//   P::name                   the name in benchmark names: BM_<workload>/<name>
//   P::one_thread_per_task    true for thread-per-task and std::async: skipped where they
//                             would start 10^5..10^6 threads, and in W8 (nothing is idle)
//   P::waits_inside_pool      true if a task may wait for a task it spawned without
//                             deadlocking (the waiter helps, or every task has its own thread)
//
// Only adapters with waits_inside_pool provide the fork-join calls of W4:
//   pool.run_root(fn)         run fn inside the pool, from outside, and return its value
//   pool.fork_join(a, b)      from inside fn: run a() as a child task and b() here, wait for
//                             the child, return {a(), b()}
//
// Each adapter uses its library the way that library's documentation shows, and says in its
// header where it had to choose.

#include <concepts>
#include <cstddef>
#include <string_view>
#include <type_traits>

namespace weft_bench {

template <class P>
concept pool_adapter = std::is_constructible_v<P, std::size_t> &&
    requires(P& pool, void (*task)(), int (*valued_task)()) {
  { P::name } -> std::convertible_to<std::string_view>;
  { P::one_thread_per_task } -> std::convertible_to<bool>;
  { P::waits_inside_pool } -> std::convertible_to<bool>;
  pool.post(task);
  { pool.submit(valued_task).get() } -> std::convertible_to<int>;
  pool.wait_idle();
};

template <class P>
concept fork_join_adapter = pool_adapter<P> && requires(P& pool, int (*valued_task)()) {
  { pool.run_root(valued_task) } -> std::convertible_to<int>;
  pool.fork_join(valued_task, valued_task);
};

}  // namespace weft_bench
