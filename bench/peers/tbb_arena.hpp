#pragma once
// oneTBB tbb::task_arena with enqueue: a pool-like hand-off to TBB worker threads.
//
// Choices:
// - Threads: an arena of `threads` slots, none reserved for outside threads, so `threads` TBB
//   workers serve it; a global_control of threads + 1 lets oneTBB start that many workers
//   (its limit counts the calling thread).
// - post(fn) is task_arena::enqueue. oneTBB has no "wait until the enqueued tasks ran", so
//   post() also counts the task in a wait_group that wait_idle() waits on: what a user of
//   enqueue writes, at one shared atomic increment and decrement per task.
// - submit(fn) enqueues fn and hands the value over a std::promise; get() sleeps on it.
// - fork_join runs inside the arena: run_root is arena.execute(fn), and each level uses a
//   task_group on its stack, as oneTBB's documentation shows.

#include <cstddef>
#include <future>
#include <string_view>
#include <type_traits>
#include <utility>

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include "common/promise_task.hpp"
#include "common/wait_group.hpp"
#include "peers/pool_adapter.hpp"

namespace weft_bench {

class tbb_arena_pool {
 public:
  static constexpr std::string_view name = "tbb_arena";
  static constexpr bool one_thread_per_task = false;
  static constexpr bool waits_inside_pool = true;

  explicit tbb_arena_pool(std::size_t threads)
      : limit_{tbb::global_control::max_allowed_parallelism, threads + 1},
        arena_{static_cast<int>(threads), /*reserved_for_masters=*/0} {
    arena_.initialize();
  }

  tbb_arena_pool(const tbb_arena_pool&) = delete;
  tbb_arena_pool& operator=(const tbb_arena_pool&) = delete;
  tbb_arena_pool(tbb_arena_pool&&) = delete;
  tbb_arena_pool& operator=(tbb_arena_pool&&) = delete;

  ~tbb_arena_pool() { pending_.wait(); }

  template <class F>
  void post(F&& fn) {
    pending_.add();
    arena_.enqueue(then_task{std::decay_t<F>{std::forward<F>(fn)}, [this] { pending_.done(); }});
  }

  template <class F>
  auto submit(F&& fn) {
    promise_task<std::decay_t<F>> task{std::forward<F>(fn)};
    auto value = task.get_future();
    arena_.enqueue(std::move(task));
    return value;
  }

  void wait_idle() { pending_.wait(); }

  template <class F>
  auto run_root(F&& fn) {
    return arena_.execute(std::forward<F>(fn));
  }

  template <class A, class B>
  // NOLINTNEXTLINE(misc-no-recursion): W4's recursive fib calls it at every level, by design
  auto fork_join(A&& left, B&& right) {
    std::invoke_result_t<A&> left_value{};
    tbb::task_group group;
    group.run([&] { left_value = left(); });
    auto right_value = std::forward<B>(right)();
    group.wait();
    return std::pair{left_value, right_value};
  }

 private:
  tbb::global_control limit_;
  tbb::task_arena arena_;
  wait_group pending_;
};

static_assert(fork_join_adapter<tbb_arena_pool>);

}  // namespace weft_bench
