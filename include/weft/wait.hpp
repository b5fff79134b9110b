#pragma once
// weft::wait: Python's concurrent.futures.wait for weft futures (C5, C6).
//
//   auto [done, not_done] = weft::wait(futures);                               // all of them
//   auto [done, rest] = weft::wait(futures, weft::return_when::first_completed);
//   auto r = weft::wait(futures, weft::return_when::all_completed, 100ms);     // the split at 100
//   ms
//
// Returns a wait_result<T>: the distinct input futures (same shared state once), each in the
// order of its first occurrence, split into those done at the return and the others.
// first_completed returns once any input is done (already-done inputs count at once);
// first_exception once any input has failed (a cancelled future is not a failure, as in
// Python) or all are done; all_completed once all are done. With a timeout (total, from the
// call; zero polls) it returns the split at the deadline and never throws timeout_error. An
// empty input returns two empty vectors at once. An invalid input throws weft::usage_error.
//
// On a worker of the futures' pool the wait runs other tasks of the pool meanwhile, as
// future::get() does, so a task may wait for its children even on a one-worker pool. The
// callbacks it registers to learn of completions are removed before it returns
// (detail/completion_watch.hpp), so nothing is left on futures that live on.

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>
#include <vector>

#include <weft/detail/combinator_state.hpp>
#include <weft/detail/completion_watch.hpp>
#include <weft/detail/deadline.hpp>
#include <weft/future.hpp>
#include <weft/future_state.hpp>

namespace weft {
inline namespace v1 {

/// When weft::wait returns.
enum class return_when {
  first_completed,  ///< when any input is done
  first_exception,  ///< when any input has failed, or when all are done
  all_completed,    ///< when all are done
};

/// What weft::wait returns: the distinct inputs, split. Decomposes with structured bindings.
template <class T>
struct wait_result {
  std::vector<future<T>> done;      ///< done at the return, in input order
  std::vector<future<T>> not_done;  ///< the others, in input order
};

namespace detail {

template <class T>
wait_result<T> split_by_done(std::vector<future<T>>& futures) {
  wait_result<T> r;
  for (future<T>& f : futures) {
    (f.done() ? r.done : r.not_done).push_back(std::move(f));
  }
  return r;
}

template <class T>
bool wait_condition_met(const std::vector<future<T>>& futures, return_when rw) {
  bool all = true;
  for (const future<T>& f : futures) {
    const future_state s = f.state();
    if (s == future_state::failed && rw == return_when::first_exception) {
      return true;
    }
    if (s == future_state::succeeded || s == future_state::failed || s == future_state::cancelled) {
      if (rw == return_when::first_completed) {
        return true;
      }
    } else {
      all = false;
    }
  }
  return all;
}

template <class T>
wait_result<T> wait_impl(std::vector<future<T>> all, return_when rw, steady_time deadline) {
  std::vector<future<T>> futures = distinct_futures(std::move(all), "weft::wait");
  if (futures.empty() || wait_condition_met(futures, rw)) {
    return split_by_done(futures);
  }
  if (rw == return_when::all_completed) {
    // Each in turn: every wait helps on a worker, and no callback is needed.
    for (const future<T>& f : futures) {
      if (!future_access::state(f)->wait_until(deadline)) {
        break;  // the deadline passed
      }
    }
    return split_by_done(futures);
  }
  auto watch = completion_watch<T>::start(std::move(futures));
  struct stopper {
    completion_watch<T>& w;
    ~stopper() { w.stop(); }
  } const guard{*watch};
  std::vector<future<T>>& fs = watch->futures();
  for (std::size_t seen = 0; seen < fs.size(); ++seen) {
    const std::optional<std::size_t> i = watch->next(deadline);
    if (!i || rw == return_when::first_completed || fs[*i].state() == future_state::failed) {
      break;
    }
  }
  return split_by_done(fs);
}

}  // namespace detail

/// Waits for `futures` as `rw` says; returns the distinct inputs split into done and not done.
///
/// `futures`: any input range of weft::future<T> (copied; an rvalue vector is moved).
/// Throws: weft::usage_error if an input is invalid; std::bad_alloc.
template <std::ranges::input_range R>
requires detail::is_future_v<std::remove_cvref_t<std::ranges::range_value_t<R>>>
auto wait(R&& futures, return_when rw = return_when::all_completed) {
  return detail::wait_impl(detail::collect_futures(std::forward<R>(futures)), rw,
                           detail::steady_time::max());
}

/// As wait(futures, rw), returning the split at `timeout` (total; zero or negative polls;
/// duration::max() waits as long as it takes).
template <std::ranges::input_range R, class Rep, class Period>
requires detail::is_future_v<std::remove_cvref_t<std::ranges::range_value_t<R>>>
auto wait(R&& futures, return_when rw, const std::chrono::duration<Rep, Period>& timeout) {
  const detail::steady_time deadline = detail::deadline_after(timeout);
  return detail::wait_impl(detail::collect_futures(std::forward<R>(futures)), rw, deadline);
}

/// As wait(futures, return_when::all_completed, timeout).
template <std::ranges::input_range R, class Rep, class Period>
requires detail::is_future_v<std::remove_cvref_t<std::ranges::range_value_t<R>>>
auto wait(R&& futures, const std::chrono::duration<Rep, Period>& timeout) {
  return weft::wait(std::forward<R>(futures), return_when::all_completed, timeout);
}

}  // namespace v1
}  // namespace weft
