// The injection queue is a template (so the model tests can instantiate it with Relacy's
// atomics); its algorithm and design note are in include/weft/detail/injection_queue.hpp. This
// file instantiates the pool's queue once, so that every translation unit of the library calls
// one out-of-line copy (the header declares the instantiation extern), and checks at compile
// time that it builds.

#include <weft/detail/injection_queue.hpp>

namespace weft {
inline namespace v1 {
namespace detail {

template class basic_injection_queue<task>;

}  // namespace detail
}  // namespace v1
}  // namespace weft
