// Naming worker threads on Linux. The kernel keeps at most 15 bytes of a thread's name, so
// the pool's name is cut to leave room for the "-N" suffix.

#include <string>

#include <pthread.h>

#include "platform/thread_name.hpp"

namespace weft {
inline namespace v1 {
namespace detail {

std::string worker_thread_name(const std::string& pool_name, std::size_t index) {
  constexpr std::size_t limit = 15;  // TASK_COMM_LEN - 1
  const std::string suffix = "-" + std::to_string(index);
  const std::size_t room = suffix.size() < limit ? limit - suffix.size() : 0;
  return pool_name.substr(0, room) + suffix;
}

void set_current_thread_name(const std::string& name) noexcept {
  static_cast<void>(pthread_setname_np(pthread_self(), name.substr(0, 15).c_str()));
}

}  // namespace detail
}  // namespace v1
}  // namespace weft
