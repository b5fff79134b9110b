#pragma once
// The atomic-operations policy that weft's lock-free structures are written against.
//
// The work-stealing deque and the sleep controller are templates over a Policy that supplies
// `Policy::atomic<T>` (std::atomic's interface). Production code uses std_atomics; the model
// tests in tests/model/ instantiate the same code with Relacy's atomics, so the algorithm that is
// model-checked is the algorithm that ships.

#include <atomic>

namespace weft {
inline namespace v1 {
namespace detail {

/// The production policy: plain std::atomic.
struct std_atomics {
  template <class T>
  using atomic = std::atomic<T>;
};

}  // namespace detail
}  // namespace v1
}  // namespace weft
