// weft::this_worker: reads the calling thread's worker context (set in worker_main).

#include "pool_core.hpp"
#include <weft/this_worker.hpp>

namespace weft {
inline namespace v1 {
namespace this_worker {

std::optional<std::size_t> index() noexcept {
  const detail::worker_context& ctx = detail::current_worker();
  if (ctx.self == nullptr) {
    return std::nullopt;
  }
  return ctx.self->index;
}

thread_pool* pool() noexcept {
  const detail::worker_context& ctx = detail::current_worker();
  return ctx.core == nullptr ? nullptr : ctx.core->owner();
}

}  // namespace this_worker
}  // namespace v1
}  // namespace weft
