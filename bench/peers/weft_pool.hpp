#pragma once
// weft itself, through its public API only (DESIGN.md): post, submit -> weft::future, wait.
//
// - get() on a worker of the pool helps (runs other tasks) while it waits, so W4's nested
//   submit-and-get runs inside the pool; from the outside benchmark thread get() just waits.
// - wait_idle() is pool.wait(); the pool stays usable and its destructor joins.

#include <cstddef>
#include <string_view>
#include <utility>

#include "peers/pool_adapter.hpp"
#include <weft/weft.hpp>

namespace weft_bench {

class weft_pool {
 public:
  static constexpr std::string_view name = "weft";
  static constexpr bool one_thread_per_task = false;
  static constexpr bool waits_inside_pool = true;

  explicit weft_pool(std::size_t threads) : pool_{threads} {}

  template <class F>
  void post(F&& fn) {
    pool_.post(std::forward<F>(fn));
  }

  template <class F>
  auto submit(F&& fn) {
    return pool_.submit(std::forward<F>(fn));
  }

  void wait_idle() { pool_.wait(); }

  template <class F>
  auto run_root(F&& fn) {
    auto root = pool_.submit(std::forward<F>(fn));
    auto value = root.get();  // copies the const R& before the future goes away
    return value;
  }

  template <class A, class B>
  // NOLINTNEXTLINE(misc-no-recursion): W4's recursive fib calls it at every level, by design
  auto fork_join(A&& left, B&& right) {
    auto child = pool_.submit(std::forward<A>(left));
    auto right_value = std::forward<B>(right)();
    auto left_value = child.get();  // helps: runs the child itself if nobody took it
    return std::pair{left_value, right_value};
  }

 private:
  weft::thread_pool pool_;
};

static_assert(fork_join_adapter<weft_pool>);

}  // namespace weft_bench
