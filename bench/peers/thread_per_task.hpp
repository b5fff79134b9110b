#pragma once
// Thread-per-task: a std::thread is created for every task and joined after it.
//
// - post(fn) starts a thread; wait_idle() joins every thread started so far.
// - submit(fn) starts a thread running a std::packaged_task; get() waits on its future, and
//   the handle joins the thread when it is destroyed (after the value was read), so the thread's
//   exit is not counted in the wait.
// - fork_join starts a thread for the child and joins it. Never deadlocks (every waiting task
//   has its own thread), but W4b's ~300,000 threads are left out.
// - `threads` is ignored: there is no pool.

#include <cstddef>
#include <future>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "peers/pool_adapter.hpp"

namespace weft_bench {

class thread_per_task_pool {
 public:
  static constexpr std::string_view name = "thread_per_task";
  static constexpr bool one_thread_per_task = true;
  static constexpr bool waits_inside_pool = true;

  template <class R>
  class future {
   public:
    future(std::future<R> value, std::thread thread)
        : value_{std::move(value)}, thread_{std::move(thread)} {}
    future(future&&) noexcept = default;
    future& operator=(future&&) = delete;
    future(const future&) = delete;
    future& operator=(const future&) = delete;
    ~future() {
      if (thread_.joinable()) {
        thread_.join();
      }
    }

    R get() { return value_.get(); }

   private:
    std::future<R> value_;
    std::thread thread_;
  };

  explicit thread_per_task_pool(std::size_t /*threads*/) {}

  thread_per_task_pool(const thread_per_task_pool&) = delete;
  thread_per_task_pool& operator=(const thread_per_task_pool&) = delete;
  thread_per_task_pool(thread_per_task_pool&&) = delete;
  thread_per_task_pool& operator=(thread_per_task_pool&&) = delete;

  ~thread_per_task_pool() { wait_idle(); }

  template <class F>
  void post(F&& fn) {
    threads_.emplace_back(std::forward<F>(fn));
  }

  template <class F>
  auto submit(F&& fn) {
    using result = std::invoke_result_t<std::decay_t<F>&>;
    std::packaged_task<result()> task{std::forward<F>(fn)};
    std::future<result> value = task.get_future();
    return future<result>{std::move(value), std::thread{std::move(task)}};
  }

  void wait_idle() {
    for (auto& thread : threads_) {
      thread.join();
    }
    threads_.clear();
  }

  template <class F>
  auto run_root(F&& fn) {
    return submit(std::forward<F>(fn)).get();
  }

  template <class A, class B>
  // NOLINTNEXTLINE(misc-no-recursion): W4's recursive fib calls it at every level, by design
  auto fork_join(A&& left, B&& right) {
    std::invoke_result_t<A&> left_value{};
    std::thread child{[&] { left_value = left(); }};
    auto right_value = std::forward<B>(right)();
    child.join();
    return std::pair{left_value, right_value};
  }

 private:
  std::vector<std::thread> threads_;
};

static_assert(fork_join_adapter<thread_per_task_pool>);

}  // namespace weft_bench
