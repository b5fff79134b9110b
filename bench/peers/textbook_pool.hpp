#pragma once
// The textbook thread pool: one std::mutex, one std::condition_variable, one
// std::deque<std::function<void()>>, submit returning a std::future through a
// std::packaged_task. It is the design most tutorials show, written carefully (the lock is
// released before notifying), so that every figure also reads as "how much better than the
// obvious".
//
// Roles: any thread posts and submits; `threads` workers pop and run; one outside thread calls
// wait_idle() or the destructor.
//
// - wait_idle() drains and joins: the textbook pool's only way to wait for its work is its
//   shutdown (stop accepting, let the workers empty the queue, join them).
// - Not a fork-join peer: a task that waits for another task blocks its worker, and with every
//   worker blocked the pool deadlocks.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "peers/pool_adapter.hpp"

namespace weft_bench {

class textbook_pool {
 public:
  static constexpr std::string_view name = "textbook";
  static constexpr bool one_thread_per_task = false;
  static constexpr bool waits_inside_pool = false;

  explicit textbook_pool(std::size_t threads) {
    workers_.reserve(threads);
    for (std::size_t i = 0; i < threads; ++i) {
      workers_.emplace_back([this] { run_worker(); });
    }
  }

  textbook_pool(const textbook_pool&) = delete;
  textbook_pool& operator=(const textbook_pool&) = delete;
  textbook_pool(textbook_pool&&) = delete;
  textbook_pool& operator=(textbook_pool&&) = delete;

  ~textbook_pool() { drain_and_join(); }

  template <class F>
  void post(F&& fn) {
    {
      const std::lock_guard lock{mutex_};
      queue_.emplace_back(std::forward<F>(fn));
    }
    ready_.notify_one();
  }

  template <class F>
  auto submit(F&& fn) {
    using result = std::invoke_result_t<std::decay_t<F>&>;
    // std::function needs a copyable callable, hence the shared packaged_task.
    auto task = std::make_shared<std::packaged_task<result()>>(std::forward<F>(fn));
    std::future<result> value = task->get_future();
    post([task] { (*task)(); });
    return value;
  }

  void wait_idle() { drain_and_join(); }

 private:
  void run_worker() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock{mutex_};
        ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) {
          return;  // stopping, and nothing left to run
        }
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  void drain_and_join() {
    {
      const std::lock_guard lock{mutex_};
      stopping_ = true;
    }
    ready_.notify_all();
    for (auto& worker : workers_) {
      if (worker.joinable()) {
        worker.join();
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

static_assert(pool_adapter<textbook_pool>);

}  // namespace weft_bench
