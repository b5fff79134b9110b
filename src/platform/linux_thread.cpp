// Naming worker threads on Linux. The kernel keeps at most 15 bytes of a thread's name, so
// the pool's name is cut to leave room for the "-N" suffix. The name is built with cat() (one
// append loop, src/message.hpp): GCC 12 reports a false -Wrestrict on "-" + std::to_string().

#include <string>
#include <string_view>

#include <pthread.h>

#include "message.hpp"
#include "platform/thread_name.hpp"

namespace weft {
inline namespace v1 {
namespace detail {

std::string worker_thread_name(const std::string& pool_name, std::size_t index) {
  constexpr std::size_t limit = 15;  // TASK_COMM_LEN - 1
  const std::string number = std::to_string(index);
  const std::size_t suffix = number.size() + 1;
  const std::size_t room = suffix < limit ? limit - suffix : 0;
  return cat({std::string_view(pool_name).substr(0, room), "-", number});
}

void set_current_thread_name(const std::string& name) noexcept {
  static_cast<void>(pthread_setname_np(pthread_self(), name.substr(0, 15).c_str()));
}

}  // namespace detail
}  // namespace v1
}  // namespace weft
