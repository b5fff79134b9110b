#pragma once
// Boost.Asio boost::asio::thread_pool with post.
//
// Choices:
// - post(fn) is boost::asio::post(pool, fn).
// - submit(fn) posts fn and hands the value over a std::promise; get() sleeps on it.
// - wait_idle() is thread_pool::wait(): Asio's way to wait for posted work, which also ends
//   the pool (its threads exit once the work runs out). The adapter contract allows that.
// - Not a fork-join peer: a task that waits for another task blocks its worker, and with every
//   worker blocked the pool deadlocks.

#include <cstddef>
#include <future>
#include <string_view>
#include <type_traits>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include "common/promise_task.hpp"
#include "peers/pool_adapter.hpp"

namespace weft_bench {

class asio_pool {
 public:
  static constexpr std::string_view name = "asio";
  static constexpr bool one_thread_per_task = false;
  static constexpr bool waits_inside_pool = false;

  explicit asio_pool(std::size_t threads) : pool_{threads} {}

  asio_pool(const asio_pool&) = delete;
  asio_pool& operator=(const asio_pool&) = delete;
  asio_pool(asio_pool&&) = delete;
  asio_pool& operator=(asio_pool&&) = delete;

  ~asio_pool() { pool_.join(); }

  template <class F>
  void post(F&& fn) {
    boost::asio::post(pool_, std::forward<F>(fn));
  }

  template <class F>
  auto submit(F&& fn) {
    promise_task<std::decay_t<F>> task{std::forward<F>(fn)};
    auto value = task.get_future();
    boost::asio::post(pool_, std::move(task));
    return value;
  }

  void wait_idle() { pool_.wait(); }

 private:
  boost::asio::thread_pool pool_;
};

static_assert(pool_adapter<asio_pool>);

}  // namespace weft_bench
