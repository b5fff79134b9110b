// Throw helpers and messages shared by the headers: out of line so that templates stay small
// and every message is written in one place, in the project's format
// "weft::<component>::<function>: <what went wrong> (<values>); <what to do>".

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "message.hpp"
#include <weft/detail/assert.hpp>
#include <weft/detail/shared_state.hpp>
#include <weft/error.hpp>
#include <weft/future.hpp>

namespace weft {
inline namespace v1 {
namespace detail {
void assertion_failed(const char* condition, const char* message, const char* file,
                      int line) noexcept {
  std::fprintf(stderr, "weft: internal assertion failed: %s (%s) at %s:%d\n", condition, message,
               file, line);
  std::abort();
}

void throw_invalid_future(const char* function) {
  throw usage_error(cat({function,
                         ": the future is invalid (default-constructed or moved-from); use a "
                         "future returned by submit(), or check valid() first"}));
}

void throw_value_taken(const char* function) {
  throw usage_error(cat({function,
                         ": the value was already moved out by std::move(f).get() (on this or "
                         "a copy of this future); read it with get() on an lvalue, or keep the "
                         "moved value"}));
}

void throw_cancelled(const char* function) {
  throw cancelled_error(cat({function,
                             ": the task was cancelled before it started (by cancel(), "
                             "cancel_pending() or the pool's shutdown); check cancelled() first, "
                             "or catch weft::cancelled_error"}));
}

std::exception_ptr make_cancelled_error(const char* function) {
  try {
    throw_cancelled(function);
  } catch (...) {
    return std::current_exception();
  }
}

std::exception_ptr make_pool_gone_error(const char* function) {
  try {
    throw pool_shutdown(cat({function,
                             ": the pool that ran this task was destroyed, so no continuation "
                             "can run on it; chain the continuation before destroying the pool, "
                             "or use get() on the future"}));
  } catch (...) {
    return std::current_exception();
  }
}

void throw_timeout(const char* function, future_state s, std::chrono::nanoseconds waited) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(waited).count();
  throw timeout_error(
      cat({function, ": the task did not finish in time (state: ", to_string(s), ", waited ",
           std::to_string(ms), " ms); wait longer, or cancel() it if it has not started"}));
}

void throw_empty_callable(const char* function) {
  throw usage_error(cat({function,
                         ": the callable is empty (a null function pointer, or an empty "
                         "std::function or std::move_only_function); pass a callable that can "
                         "be invoked"}));
}

void throw_invalid_input(const char* function, std::size_t index) {
  throw usage_error(cat({function, ": input ", std::to_string(index),
                         " is an invalid future (default-constructed or moved-from); pass only "
                         "futures returned by submit(), then() or a combinator"}));
}

void throw_unfinished(const char* function, std::size_t unfinished, std::size_t total,
                      std::chrono::nanoseconds timeout) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
  throw timeout_error(
      cat({function, ": ", std::to_string(unfinished), " (of ", std::to_string(total),
           ") futures unfinished after the timeout of ", std::to_string(ms),
           " ms; pass a longer timeout, or wait for the rest separately"}));
}

void throw_no_pool_for_then(const char* function) {
  throw usage_error(cat({function,
                         ": this future belongs to no pool (a when_all or when_any of no "
                         "futures), so no continuation can be queued; use get() or on_done(), "
                         "or combine at least one future of a pool"}));
}

}  // namespace detail
}  // namespace v1
}  // namespace weft
