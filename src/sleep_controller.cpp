// The sleep controller is a template (so the model tests can instantiate it with Relacy's
// atomics); this file instantiates the production version once, so that every translation unit
// of the library shares one copy, and checks at compile time that it builds.

#include <weft/detail/sleep_controller.hpp>

namespace weft {
inline namespace v1 {
namespace detail {

template class basic_sleep_controller<std_sync>;

}  // namespace detail
}  // namespace v1
}  // namespace weft
