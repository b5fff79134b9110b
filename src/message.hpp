#pragma once
// Builds error messages from pieces. One append loop instead of chains of operator+, which
// also keeps GCC 12's -Wrestrict false positive on string concatenation out of the build.

#include <initializer_list>
#include <string>
#include <string_view>

namespace weft {
inline namespace v1 {
namespace detail {

/// The concatenation of `parts`.
inline std::string cat(std::initializer_list<std::string_view> parts) {
  std::size_t size = 0;
  for (std::string_view p : parts) {
    size += p.size();
  }
  std::string out;
  out.reserve(size);
  for (std::string_view p : parts) {
    out.append(p);
  }
  return out;
}

}  // namespace detail
}  // namespace v1
}  // namespace weft
