#pragma once
/*
 * completion_watch — the futures of a weft::wait or weft::as_completed call, and the order in
 * which they complete.
 *
 * Purpose. Both calls wait for "the next of these futures to complete", with a deadline, on
 * any thread, workers of the futures' pool included (where the wait must run other tasks, or a
 * one-worker pool would deadlock). The watch turns completions into a list of positions in
 * completion order, and gives its consumer a future-like signal to wait on, so the wait is the
 * ordinary state wait (shared_state.hpp F4, helping on a worker).
 *
 * Roles. Consumer: the one thread that made the watch and calls next() and stop() (the wait
 * call, or the as_completed range's owner). Completers: the threads that complete the watched
 * futures and run its callbacks (any thread; a registration on a done future runs its callback
 * on the consumer, inside start()).
 *
 * Shared state, guarded by mutex_ (held for a few instructions, never while user code or a wait
 * runs): ready_, the positions completed so far, in completion order (its capacity is reserved
 * up front, so a completer's push never allocates); taken_, how many of them the consumer took;
 * armed_, the signal of a consumer that is waiting, or null. Owned by the consumer: futures_,
 * handles_ (written in start(), read in stop()).
 *
 * Protocol.
 *   W1 start: the futures already done go to ready_ first, in input order; each other one gets
 *      a removable callback (on_done_removable) that reports its position.
 *   W2 completion of position i (a callback): under the mutex, append i and take armed_; after
 *      the mutex, settle the signal taken (combinator_state.hpp, S2), which wakes the consumer.
 *   W3 next(deadline): under the mutex, take the next position if one is ready (skipping one
 *      already handed out). Otherwise, if the deadline has passed, take the first position not
 *      handed out whose future is done (its callback, which runs just after the completion,
 *      may not have reported it yet), or report none; else make a signal, and under the mutex
 * either find a position that arrived meanwhile (drop the signal, take it) or arm the signal; wait
 * on it until the deadline; disarm it if no completer took it; look again. W4 stop: remove every
 * callback (callback_handle::remove); one that has started is not affected. Called by the consumer
 * when it no longer watches (the end of wait, the range's destructor), so nothing is left behind on
 * a future that lives on.
 *
 * Invariants. WI1 Each position enters ready_ at most once: W1 puts a done future there and
 * gives it no callback, and an undone one's callback runs at most once (F8). WI2 A signal is armed
 * by at most one waiter and settled at most once: only the completer that takes it from armed_
 * under the mutex settles it; a waiter that times out takes it back under the same mutex, or finds
 * it gone (then it is settled or being settled, and the waiter only drops its reference).
 *
 * Memory orders. The mutex orders ready_, taken_ and armed_. A completed future's outcome is
 * visible to the consumer through that future's own publication (its state word, acquire).
 * The signal's settlement is the F2 publication the consumer's wait pairs with.
 *
 * References. A signal is made with two references: armed_'s (dropped by whoever takes it from
 * armed_: the completer after settling, or the waiter on disarm) and the waiter's own.
 * Callbacks hold the watch by shared_ptr; stop() destroys the callables of the removed ones.
 */

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_set>
#include <utility>
#include <vector>

#include <weft/callback_handle.hpp>
#include <weft/detail/combinator_state.hpp>
#include <weft/detail/deadline.hpp>
#include <weft/future.hpp>

namespace weft {
inline namespace v1 {
namespace detail {

/// Removes repeated futures (same shared state), keeping the first occurrence; throws
/// usage_error naming the first invalid input.
template <class T>
std::vector<future<T>> distinct_futures(std::vector<future<T>> all, const char* function) {
  std::unordered_set<const void*> seen;
  seen.reserve(all.size());
  std::vector<future<T>> out;
  out.reserve(all.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    const void* s = future_access::state(all[i]);
    if (s == nullptr) {
      throw_invalid_input(function, i);
    }
    if (seen.insert(s).second) {
      out.push_back(std::move(all[i]));
    }
  }
  return out;
}

/// The watch of a set of distinct futures. See the design note above.
template <class T>
class completion_watch {
 public:
  explicit completion_watch(std::vector<future<T>> futures)
      : futures_(std::move(futures)), yielded_(futures_.size(), 0) {
    ready_.reserve(futures_.size());
  }
  completion_watch(const completion_watch&) = delete;
  completion_watch& operator=(const completion_watch&) = delete;
  ~completion_watch() = default;

  /// Step W1. Thread: the consumer.
  static std::shared_ptr<completion_watch> start(std::vector<future<T>> futures) {
    auto w = std::make_shared<completion_watch>(std::move(futures));
    std::vector<future<T>>& fs = w->futures_;
    std::vector<std::size_t> rest;
    rest.reserve(fs.size());
    for (std::size_t i = 0; i < fs.size(); ++i) {
      if (fs[i].done()) {
        w->ready_.push_back(i);  // not shared yet: no lock needed
      } else {
        rest.push_back(i);
        if (w->pool_ == pool_ref{}) {
          w->pool_ = future_access::state(fs[i])->pool();  // the signal's pool: helping there
        }
      }
    }
    w->handles_.reserve(rest.size());
    try {
      for (const std::size_t i : rest) {
        w->handles_.push_back(fs[i].on_done_removable(report{w, i}));
      }
    } catch (...) {
      w->stop();  // std::bad_alloc: nothing stays registered
      throw;
    }
    return w;
  }

  /// Step W3: the position of the next future to complete, or none once the deadline passed.
  /// Precondition: fewer positions taken than futures. Thread: the consumer.
  std::optional<std::size_t> next(steady_time deadline) {
    for (;;) {
      {
        const std::lock_guard lock(mutex_);
        while (taken_ < ready_.size()) {
          const std::size_t i = ready_[taken_++];
          if (yielded_[i] == 0) {
            yielded_[i] = 1;
            return i;
          }
        }
      }
      if (deadline != steady_time::max() && std::chrono::steady_clock::now() >= deadline) {
        return done_at_deadline();
      }
      auto* signal = new combinator_state<void>(pool_, 2);
      {
        std::unique_lock lock(mutex_);
        if (taken_ < ready_.size()) {
          lock.unlock();
          signal->release();
          signal->release();
          continue;
        }
        armed_ = signal;
      }
      static_cast<void>(signal->wait_until(deadline));  // helps on a worker of pool_
      {
        const std::lock_guard lock(mutex_);
        if (armed_ == signal) {
          armed_ = nullptr;  // WI2: timed out, no completer took it
          signal->release();
        }
      }
      signal->release();
    }
  }

  /// W3 at the deadline: a future that is done but whose callback has not reported it yet
  /// (it runs just after the completion) is finished, not unfinished: take it, in input order.
  std::optional<std::size_t> done_at_deadline() {
    const std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < futures_.size(); ++i) {
      if (yielded_[i] == 0 && futures_[i].done()) {
        yielded_[i] = 1;  // its position, if its callback appends it later, is skipped
        return i;
      }
    }
    return std::nullopt;
  }

  /// Step W4. Thread: the consumer.
  void stop() noexcept {
    for (callback_handle& h : handles_) {
      static_cast<void>(h.remove());
    }
    handles_.clear();
  }

  /// The watched futures, in input order; a consumer may move out those it has taken.
  std::vector<future<T>>& futures() noexcept { return futures_; }

 private:
  struct report {
    std::shared_ptr<completion_watch> watch;
    std::size_t index;
    void operator()() const noexcept { watch->completed(index); }
  };

  /// Step W2. Thread: a completer.
  void completed(std::size_t i) noexcept {
    combinator_state<void>* signal = nullptr;
    {
      const std::lock_guard lock(mutex_);
      ready_.push_back(i);  // within the reserved capacity (WI1): never allocates
      signal = std::exchange(armed_, nullptr);
    }
    if (signal != nullptr) {
      signal->settle();
      signal->release();  // armed_'s reference
    }
  }

  std::vector<future<T>> futures_;
  std::vector<callback_handle> handles_;
  pool_ref pool_{};
  std::mutex mutex_;
  std::vector<std::size_t> ready_;
  std::size_t taken_ = 0;
  std::vector<unsigned char> yielded_;  // per position: handed to the consumer (consumer only)
  combinator_state<void>* armed_ = nullptr;
};

}  // namespace detail
}  // namespace v1
}  // namespace weft
