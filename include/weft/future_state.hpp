#pragma once
// future_state: where a future's task is in its life (future::state()).
//
// pending → running → succeeded | failed, or pending → cancelled; a task of a broken pool goes
// from pending to failed without running. Every state but pending and running is final.

#include <ostream>
#include <string_view>

namespace weft {
inline namespace v1 {

/// Where a future's task is in its life.
enum class future_state : unsigned char {
  pending,    ///< accepted, not started
  running,    ///< started, not finished
  succeeded,  ///< finished and returned a value
  failed,     ///< finished with an exception (or failed without running: broken pool)
  cancelled,  ///< will never run
};

/// The state's name ("pending", "running", "succeeded", "failed", "cancelled").
constexpr std::string_view to_string(future_state s) noexcept {
  switch (s) {
    case future_state::pending:
      return "pending";
    case future_state::running:
      return "running";
    case future_state::succeeded:
      return "succeeded";
    case future_state::failed:
      return "failed";
    case future_state::cancelled:
      return "cancelled";
  }
  return "unknown";
}

/// Writes to_string(s).
inline std::ostream& operator<<(std::ostream& out, future_state s) {
  return out << to_string(s);
}

}  // namespace v1
}  // namespace weft
