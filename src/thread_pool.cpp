// weft::thread_pool, the public handle: it forwards to the engine (src/pool_core.hpp, whose
// design note lists where each concern lives).

#include <cstdio>
#include <cstdlib>

#include "pool_core.hpp"
#include <weft/this_worker.hpp>
#include <weft/thread_pool.hpp>

namespace weft {
inline namespace v1 {

thread_pool::thread_pool() : thread_pool(pool_options{}) {}

thread_pool::thread_pool(std::size_t threads) : thread_pool(pool_options{.threads = threads}) {}

thread_pool::thread_pool(pool_options options)
    : core_(std::make_unique<detail::pool_core>(this, std::move(options))), ref_(core_->ref()) {
  core_->start_workers();
}

thread_pool::~thread_pool() {
  if (this_worker::pool() == this) {
    std::fprintf(stderr,
                 "weft::thread_pool::~thread_pool: pool '%s' is being destroyed by its own "
                 "worker %zu; a pool cannot join itself, so this would never return: destroy "
                 "the pool from a thread outside it. Aborting.\n",
                 core_->name().c_str(), this_worker::index().value_or(0));
    std::abort();
  }
  join();
  core_->retire();  // L4: from here on no state reaches the core
}

void thread_pool::wait() {
  static_cast<void>(wait_until_steady(detail::steady_time::max(), "weft::thread_pool::wait"));
}

bool thread_pool::wait_until_steady(detail::steady_time deadline, const char* function) {
  return core_->wait_until(deadline, function);
}

void thread_pool::shutdown() noexcept {
  core_->shutdown();
}

void thread_pool::join() {
  static_cast<void>(join_until_steady(detail::steady_time::max(), "weft::thread_pool::join"));
}

bool thread_pool::join_until_steady(detail::steady_time deadline, const char* function) {
  return core_->join_until(deadline, function);
}

void thread_pool::request_stop() {
  core_->request_stop();
}

std::size_t thread_pool::cancel_pending() {
  return core_->cancel_pending();
}

pool_stats thread_pool::stats() const noexcept {
  return core_->stats();
}

const std::string& thread_pool::name() const noexcept {
  return core_->name();
}

}  // namespace v1
}  // namespace weft
