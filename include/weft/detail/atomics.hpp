#pragma once
// The atomic-operations policy that weft's lock-free structures are written against.
//
// The work-stealing deque, the injection queue and the sleep controller are templates over a
// Policy that supplies `Policy::atomic<T>` (std::atomic's interface) and `Policy::backoff` (the
// spin helper of a wait for another thread's store: pause()). Production code uses std_atomics;
// the model tests in tests/model/ instantiate the same code with Relacy's atomics, and a backoff
// whose pause() yields to Relacy's scheduler, so the algorithm that is model-checked is the
// algorithm that ships.

#include <atomic>

#include <weft/detail/backoff.hpp>

namespace weft {
inline namespace v1 {
namespace detail {

/// The production policy: plain std::atomic, and weft's backoff.
struct std_atomics {
  template <class T>
  using atomic = std::atomic<T>;
  using backoff = detail::backoff;
};

}  // namespace detail
}  // namespace v1
}  // namespace weft
