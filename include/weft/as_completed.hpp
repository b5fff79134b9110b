#pragma once
// weft::as_completed: Python's concurrent.futures.as_completed for weft futures (C4, C5).
//
//   for (weft::future<int>& f : weft::as_completed(futures)) { use(f.get()); }
//   for (auto& f : weft::as_completed(futures, 2s)) { ... }  // throws timeout_error at 2 s
//
// Yields each distinct input (same shared state once) exactly once, done: those already done
// at the call first (in input order), then the others in completion order. The range is
// move-only and lazy: only dereferencing waits. It copies the input handles (an rvalue vector
// is moved in) and keeps nothing of the input container; it drops its handle to a yielded
// future when the consumer advances. With a timeout (total, measured from the call), a
// dereference that would wait past it throws weft::timeout_error, whose message says how many
// of how many futures are unfinished, e.g. "3 (of 7) futures unfinished". An empty input yields
// nothing. An invalid input throws weft::usage_error at the call.
//
// On a worker of the futures' pool, the wait in a dereference runs other tasks of that pool,
// as future::get() does. Destroying the range (also before the end) removes the callbacks it
// registered on the futures it has not yielded (detail/completion_watch.hpp).
//
// Thread safety: one range is used by one thread at a time (as any input range); the futures
// may complete on any thread.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <iterator>
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

namespace weft {
inline namespace v1 {
namespace detail {
/// Throws timeout_error: `unfinished` of `total` futures were not done by the deadline.
[[noreturn]] void throw_unfinished(const char* function, std::size_t unfinished, std::size_t total,
                                   std::chrono::nanoseconds timeout);
}  // namespace detail

/// The range weft::as_completed returns. See the file comment.
template <class T>
class as_completed_range {
 public:
  /// The range's iterator (an input iterator; compare it with the range's end()).
  class iterator {
   public:
    /// An input iterator: single pass.
    using iterator_concept = std::input_iterator_tag;
    /// What it yields.
    using value_type = future<T>;
    /// As every iterator has one.
    using difference_type = std::ptrdiff_t;
    /// The yielded future: done, and movable from.
    using reference = future<T>&;

    /// A singular iterator, equal to the end.
    iterator() noexcept = default;

    /// The next future to complete, done (waits for it the first time).
    ///
    /// Throws: weft::timeout_error when the range's timeout passes before it completes.
    reference operator*() const { return range_->current(); }
    /// As operator*.
    future<T>* operator->() const { return &range_->current(); }

    /// Moves past the current future (dropping the range's handle to it).
    iterator& operator++() {
      range_->advance();
      return *this;
    }
    /// As ++it (an input iterator's post-increment returns nothing).
    void operator++(int) { ++*this; }

    /// True once every distinct input was yielded.
    friend bool operator==(const iterator& it, std::default_sentinel_t /*end*/) noexcept {
      return it.at_end();
    }

   private:
    friend class as_completed_range;
    explicit iterator(as_completed_range* range) noexcept : range_(range) {}
    [[nodiscard]] bool at_end() const noexcept { return range_ == nullptr || range_->at_end(); }
    as_completed_range* range_ = nullptr;
  };

  /// Takes over `other`'s futures and position; `other` is then empty.
  as_completed_range(as_completed_range&& other) noexcept
      : watch_(std::move(other.watch_)),
        total_(std::exchange(other.total_, 0)),
        yielded_(std::exchange(other.yielded_, 0)),
        current_(std::move(other.current_)),
        has_current_(std::exchange(other.has_current_, false)),
        deadline_(other.deadline_),
        timeout_(other.timeout_) {}
  as_completed_range& operator=(as_completed_range&&) = delete;
  as_completed_range(const as_completed_range&) = delete;
  as_completed_range& operator=(const as_completed_range&) = delete;

  /// Removes the callbacks left on the futures not yet yielded.
  ~as_completed_range() {
    if (watch_ != nullptr) {
      watch_->stop();
    }
  }

  /// An iterator at the next future; begin() does not wait.
  iterator begin() noexcept { return iterator(this); }
  /// The end: reached once every distinct input was yielded.
  std::default_sentinel_t end() const noexcept { return {}; }

  /// The number of distinct input futures.
  [[nodiscard]] std::size_t size() const noexcept { return total_; }

 private:
  template <class U>
  friend as_completed_range<U> make_as_completed(std::vector<future<U>> all,
                                                 detail::steady_time deadline,
                                                 std::chrono::nanoseconds timeout);

  as_completed_range(std::vector<future<T>> distinct, detail::steady_time deadline,
                     std::chrono::nanoseconds timeout)
      : total_(distinct.size()), deadline_(deadline), timeout_(timeout) {
    if (total_ != 0) {
      watch_ = detail::completion_watch<T>::start(std::move(distinct));
    }
  }

  [[nodiscard]] bool at_end() const noexcept { return yielded_ == total_; }

  future<T>& current() {
    if (!has_current_) {
      const std::optional<std::size_t> i = watch_->next(deadline_);
      if (!i) {
        detail::throw_unfinished("weft::as_completed", total_ - yielded_, total_, timeout_);
      }
      current_ = std::move(watch_->futures()[*i]);
      has_current_ = true;
    }
    return current_;
  }

  void advance() {
    if (!has_current_) {
      static_cast<void>(current());  // ++ without * still moves past one future
    }
    current_ = future<T>();
    has_current_ = false;
    ++yielded_;
  }

  std::shared_ptr<detail::completion_watch<T>> watch_;
  std::size_t total_ = 0;
  std::size_t yielded_ = 0;
  future<T> current_;
  bool has_current_ = false;
  detail::steady_time deadline_;
  std::chrono::nanoseconds timeout_;
};

template <class U>
as_completed_range<U> make_as_completed(std::vector<future<U>> all, detail::steady_time deadline,
                                        std::chrono::nanoseconds timeout) {
  return as_completed_range<U>(detail::distinct_futures(std::move(all), "weft::as_completed"),
                               deadline, timeout);
}

/// The distinct futures of `futures`, each yielded once, done, in completion order.
///
/// Throws: weft::usage_error if an input is invalid; std::bad_alloc.
template <std::ranges::input_range R>
requires detail::is_future_v<std::remove_cvref_t<std::ranges::range_value_t<R>>>
[[nodiscard]] auto as_completed(R&& futures) {
  return make_as_completed(detail::collect_futures(std::forward<R>(futures)),
                           detail::steady_time::max(), std::chrono::nanoseconds::max());
}

/// As as_completed(futures), giving up `timeout` after the call (see the file comment).
template <std::ranges::input_range R, class Rep, class Period>
requires detail::is_future_v<std::remove_cvref_t<std::ranges::range_value_t<R>>>
[[nodiscard]] auto as_completed(R&& futures, const std::chrono::duration<Rep, Period>& timeout) {
  const detail::steady_time deadline = detail::deadline_after(timeout);
  return make_as_completed(
      detail::collect_futures(std::forward<R>(futures)), deadline,
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::min<std::chrono::duration<double>>(timeout, std::chrono::nanoseconds::max())));
}

}  // namespace v1
}  // namespace weft
