// error_reporting: errors that no future can carry (post()ed tasks, callbacks, hooks) go to
// the pool's on_error, or to standard error with the pool's name.
//
// The handler lives in a shared error_sink, so that a thread reporting from outside the pool
// (a callback run by a canceller) takes a reference inside its visit and calls the handler
// after it (pool_link.hpp): user code never runs inside a visit. A handler that throws is
// reported once on standard error, then its exceptions are swallowed.

#include <cstdio>
#include <string>

#include "pool_core.hpp"

namespace weft {
inline namespace v1 {
namespace detail {

std::string describe(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "an exception of a type not derived from std::exception";
  }
}

void report_to(const error_sink* sink, const std::exception_ptr& error) noexcept {
  if (sink == nullptr) {
    std::fprintf(stderr,
                 "weft: a callback threw after its pool was destroyed, so no on_error could "
                 "take it: %s\n",
                 describe(error).c_str());
    return;
  }
  if (sink->on_error) {
    try {
      sink->on_error(error);
    } catch (...) {
      if (!sink->handler_threw.exchange(true, std::memory_order_relaxed)) {  // print once
        std::fprintf(stderr,
                     "weft: the on_error handler of pool '%s' threw (%s); the exception was "
                     "swallowed, and further ones will not be reported\n",
                     sink->pool_name.c_str(), describe(std::current_exception()).c_str());
      }
    }
    return;
  }
  std::fprintf(stderr,
               "weft: pool '%s': a task, callback or hook threw an exception no future "
               "could carry: %s\n",
               sink->pool_name.c_str(), describe(error).c_str());
}

void pool_core::report_error(const std::exception_ptr& error) noexcept {
  report_to(errors_.get(), error);
}

}  // namespace detail
}  // namespace v1
}  // namespace weft
