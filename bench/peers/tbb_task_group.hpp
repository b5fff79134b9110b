#pragma once
// oneTBB tbb::task_group: the thread that waits runs tasks itself.
//
// Choices:
// - Threads: oneTBB counts the waiting thread as one of its threads. A global_control limits
//   the process to `threads` in all (threads - 1 TBB workers plus the caller), which is also
//   what oneTBB does by default on this machine (one thread per core, the caller included).
//   The group runs in the caller's implicit arena, whose size oneTBB fixes at the core count:
//   WEFT_BENCH_THREADS above the core count cannot grow it.
// - post(fn) is task_group::run; wait_idle() is task_group::wait(), which runs tasks.
// - submit(fn) runs fn through the group and hands the value over a std::promise. Its get()
//   first calls task_group::wait() (the oneTBB way to wait: run tasks, do not sleep) unless
//   the value is already there. get_blocking() waits on the promise only: W6 uses it, because
//   with wait() the waiting thread would run the task itself and no wake-up would be measured.
// - fork_join is a task_group on the stack of each level, as oneTBB's documentation shows.
// - W7 (two outside producers): each producer's run() spawns into that thread's own implicit
//   arena. oneTBB's workers serve those arenas; the benchmark thread's wait() runs none of
//   their tasks. That is how task_group behaves with several outside producers.

#include <chrono>
#include <cstddef>
#include <future>
#include <string_view>
#include <type_traits>
#include <utility>

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_group.h>

#include "common/promise_task.hpp"
#include "peers/pool_adapter.hpp"

namespace weft_bench {

class tbb_task_group_pool {
 public:
  static constexpr std::string_view name = "tbb_task_group";
  static constexpr bool one_thread_per_task = false;
  static constexpr bool waits_inside_pool = true;

  template <class R>
  class future {
   public:
    future(tbb::task_group* group, std::future<R> value)
        : group_{group}, value_{std::move(value)} {}

    /// Runs the group's tasks until this value is there (oneTBB's waiting), then returns it.
    R get() {
      if (value_.wait_for(std::chrono::seconds{0}) != std::future_status::ready) {
        group_->wait();
      }
      return value_.get();
    }

    /// Sleeps until a TBB worker has produced the value; runs nothing itself.
    R get_blocking() { return value_.get(); }

   private:
    tbb::task_group* group_;
    std::future<R> value_;
  };

  explicit tbb_task_group_pool(std::size_t threads)
      : limit_{tbb::global_control::max_allowed_parallelism, threads} {}

  tbb_task_group_pool(const tbb_task_group_pool&) = delete;
  tbb_task_group_pool& operator=(const tbb_task_group_pool&) = delete;
  tbb_task_group_pool(tbb_task_group_pool&&) = delete;
  tbb_task_group_pool& operator=(tbb_task_group_pool&&) = delete;

  ~tbb_task_group_pool() { group_.wait(); }

  template <class F>
  void post(F&& fn) {
    group_.run(std::forward<F>(fn));
  }

  template <class F>
  auto submit(F&& fn) {
    promise_task<std::decay_t<F>> task{std::forward<F>(fn)};
    auto value = task.get_future();
    group_.run(std::move(task));
    return future<typename promise_task<std::decay_t<F>>::result_type>{&group_, std::move(value)};
  }

  void wait_idle() { group_.wait(); }

  template <class F>
  auto run_root(F&& fn) {
    return std::forward<F>(fn)();  // the caller is one of the group's threads
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
  tbb::task_group group_;
};

static_assert(fork_join_adapter<tbb_task_group_pool>);

}  // namespace weft_bench
