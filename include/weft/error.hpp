#pragma once
// weft's exceptions. Every error weft throws derives from weft::error, itself a
// std::runtime_error, so one `catch (const weft::error&)` sees them all.
//
// Messages follow one format: "weft::<component>::<function>: <what went wrong> (<values>);
// <what to do>". They name the call, what was wrong, and how to fix it.
//
// - pool_shutdown:   a submission to a pool after shutdown() (or join()).
// - queue_full:      reserved for the bounded queue's `reject` policy.
// - timeout_error:   a timed call that gives up (future::get_for).
// - cancelled_error: get() on a future whose task was cancelled before it started.
// - queue_closed:    reserved for blocking_queue after close().
// - broken_pool:     an on_thread_start hook threw; the pool runs no task.
// - usage_error:     misuse that would deadlock or is undefined (an empty callable, waiting on
//                    a pool from its own worker, a second move-out of a value).

#include <stdexcept>
#include <string>

namespace weft {
inline namespace v1 {

/// Base of every exception weft throws.
class error : public std::runtime_error {
 public:
  /// Creates an error with the given message.
  explicit error(const std::string& message) : std::runtime_error(message) {}
};

/// Thrown by submissions to a pool that was shut down.
class pool_shutdown : public error {
 public:
  /// Creates the error with the given message.
  explicit pool_shutdown(const std::string& message) : error(message) {}
};

/// Thrown when a bounded queue is full and the overflow policy is `reject`.
class queue_full : public error {
 public:
  /// Creates the error with the given message.
  explicit queue_full(const std::string& message) : error(message) {}
};

/// Thrown when a timed wait gives up before the awaited event.
class timeout_error : public error {
 public:
  /// Creates the error with the given message.
  explicit timeout_error(const std::string& message) : error(message) {}
};

/// Thrown by get() on a future whose task was cancelled before it started.
class cancelled_error : public error {
 public:
  /// Creates the error with the given message.
  explicit cancelled_error(const std::string& message) : error(message) {}
};

/// Thrown by a closed queue.
class queue_closed : public error {
 public:
  /// Creates the error with the given message.
  explicit queue_closed(const std::string& message) : error(message) {}
};

/// Thrown when a pool cannot run tasks because an on_thread_start hook threw.
class broken_pool : public error {
 public:
  /// Creates the error with the given message.
  explicit broken_pool(const std::string& message) : error(message) {}
};

/// Thrown on misuse that would deadlock or is undefined.
class usage_error : public error {
 public:
  /// Creates the error with the given message.
  explicit usage_error(const std::string& message) : error(message) {}
};

}  // namespace v1
}  // namespace weft
