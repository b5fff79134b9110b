#pragma once
// Process-wide diagnostics of the library, for tests: not part of the public API.

#include <cstddef>

namespace weft {
inline namespace v1 {
namespace detail {

/// The worker threads of every pool in the process that have started and not yet finished.
/// Once every pool is destroyed (its destructor joins its threads), this is 0.
std::size_t live_worker_threads() noexcept;

}  // namespace detail
}  // namespace v1
}  // namespace weft
