#pragma once
// std::async(std::launch::async, ...): the standard library's task launcher. With libstdc++
// and libc++ it starts a new thread per call.
//
// - post(fn) launches fn and keeps its future; wait_idle() waits for all of them (their
//   destructors then join the threads).
// - submit(fn) is std::async itself; get() is std::future::get().
// - fork_join launches the child with std::async and gets it.
// - `threads` is ignored: there is no pool.

#include <cstddef>
#include <future>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "peers/pool_adapter.hpp"

namespace weft_bench {

class std_async_pool {
 public:
  static constexpr std::string_view name = "std_async";
  static constexpr bool one_thread_per_task = true;
  static constexpr bool waits_inside_pool = true;

  explicit std_async_pool(std::size_t /*threads*/) {}

  template <class F>
  void post(F&& fn) {
    launched_.push_back(
        std::async(std::launch::async, [fn = std::forward<F>(fn)]() mutable { fn(); }));
  }

  template <class F>
  auto submit(F&& fn) {
    return std::async(std::launch::async, std::forward<F>(fn));
  }

  void wait_idle() {
    for (auto& launched : launched_) {
      launched.wait();
    }
    launched_.clear();
  }

  template <class F>
  auto run_root(F&& fn) {
    return submit(std::forward<F>(fn)).get();
  }

  template <class A, class B>
  // NOLINTNEXTLINE(misc-no-recursion): W4's recursive fib calls it at every level, by design
  auto fork_join(A&& left, B&& right) {
    auto child = std::async(std::launch::async, std::forward<A>(left));
    auto right_value = std::forward<B>(right)();
    auto left_value = child.get();
    return std::pair{left_value, right_value};
  }

 private:
  std::vector<std::future<void>> launched_;
};

static_assert(fork_join_adapter<std_async_pool>);

}  // namespace weft_bench
