#pragma once
// WEFT_ASSERT: a checked condition in Debug and hardened builds, compiled out otherwise.
//
// A failed assertion prints the condition, the message (which cites the invariant it guards) and
// the place, then aborts: an internal invariant is broken, and running on would corrupt work.

#include <weft/config.hpp>

namespace weft {
inline namespace v1 {
namespace detail {

/// Prints a failed assertion and aborts. Out of line so that the check itself stays small.
[[noreturn]] void assertion_failed(const char* condition, const char* message, const char* file,
                                   int line) noexcept;

}  // namespace detail
}  // namespace v1
}  // namespace weft

#if WEFT_HARDENED || !defined(NDEBUG)
#define WEFT_ASSERT(cond, message) \
  ((cond) ? static_cast<void>(0)   \
          : ::weft::detail::assertion_failed(#cond, message, __FILE__, __LINE__))
#else
#define WEFT_ASSERT(cond, message) static_cast<void>(0)
#endif
