#pragma once
// promise_task: a callable that runs fn() and hands its value over a std::promise, for peers
// whose tasks return nothing (Asio, oneTBB). The members are mutable because oneTBB calls its
// task functors through a const reference; each promise_task is called exactly once.
//
// Thread: constructed by the submitter, called once by whichever thread runs the task.

#include <exception>
#include <future>
#include <type_traits>
#include <utility>

namespace weft_bench {

template <class F>
class promise_task {
 public:
  using result_type = std::invoke_result_t<F&>;

  explicit promise_task(F fn) : fn_{std::move(fn)} {}

  std::future<result_type> get_future() { return promise_.get_future(); }

  void operator()() const {
    try {
      if constexpr (std::is_void_v<result_type>) {
        fn_();
        promise_.set_value();
      } else {
        promise_.set_value(fn_());
      }
    } catch (...) {
      promise_.set_exception(std::current_exception());
    }
  }

 private:
  mutable F fn_;
  mutable std::promise<result_type> promise_;
};

/// A callable that runs fn() and then `after()`, for hand-offs that must signal completion.
template <class F, class After>
class then_task {
 public:
  then_task(F fn, After after) : fn_{std::move(fn)}, after_{std::move(after)} {}

  void operator()() const {
    fn_();
    after_();
  }

 private:
  mutable F fn_;
  mutable After after_;
};

}  // namespace weft_bench
