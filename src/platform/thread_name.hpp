#pragma once
// Thread naming, implemented per platform (linux_thread.cpp).

#include <cstddef>
#include <string>

namespace weft {
inline namespace v1 {
namespace detail {

/// "name-index", with `name` cut so that the whole fits the OS limit (15 bytes on Linux).
std::string worker_thread_name(const std::string& pool_name, std::size_t index);

/// Gives the calling thread `name` (best effort: a failure is ignored).
void set_current_thread_name(const std::string& name) noexcept;

}  // namespace detail
}  // namespace v1
}  // namespace weft
