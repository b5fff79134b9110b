// worker_registry: the pool's construction, its worker threads and their hooks.
//
// Roles. The constructor (start_workers), each worker thread (worker_main), the destructor
// (retire, in idle_and_join.cpp).
//
// Protocol.
//   R1 Construction makes every worker slot (deque, counters) first, then takes a link
//      (pool_link.hpp), then starts the threads one by one. A thread that cannot start stops
//      the loop: with none running the constructor throws std::system_error naming the pool;
//      with some running the pool works with fewer (reported to on_error), and the slots of
//      the missing workers keep empty deques that nobody pushes to.
//   R2 A worker names its thread, runs on_thread_start, then its task loop (worker.cpp), then
//      on_thread_exit, then counts its exit (life_mutex_) for join. In the hooks the thread is
//      a worker of the pool (this_worker, helping in get()) but submits like an outside thread.
//   R3 A hook that throws reports to on_error; on_thread_start's throw also breaks the pool
//      (drain.cpp, D2): this worker then runs no loop and fails what is queued.
//
// Invariants. R-I1 started_threads_ is written by the constructor only, before any join can
// read it (a join needs the constructed pool). R-I2 exited_ counts each started thread once.

#include <atomic>
#include <cstddef>
#include <string>
#include <system_error>

#include "message.hpp"
#include "platform/thread_name.hpp"
#include "pool_core.hpp"
#include "pool_link.hpp"
#include <weft/detail/diagnostics.hpp>

namespace weft {
inline namespace v1 {
namespace detail {
namespace {

std::size_t resolve_threads(std::size_t requested) noexcept {
  if (requested != 0) {
    return requested;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : hw;
}

}  // namespace

worker_context& current_worker() noexcept {
  thread_local worker_context context;
  return context;
}

pool_core::pool_core(thread_pool* owner, pool_options options)
    : owner_(owner),
      options_(std::move(options)),
      name_(options_.name.empty() ? std::string("weft") : options_.name),
      errors_(std::make_shared<const error_sink>(name_, options_.on_error)),
      sleep_(resolve_threads(options_.threads)) {
  const std::size_t n = resolve_threads(options_.threads);
  workers_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    workers_.push_back(std::make_unique<worker>(i));
  }
  {
    const unique_lock lock(stop_mutex_);
    stop_source_ = std::stop_source{};
  }
  ref_ = pool_link::acquire(*this);  // R1: last, so a throw above leaves no link taken
}

pool_core::~pool_core() = default;

void pool_core::throw_no_worker_started(const std::exception_ptr& cause) const {
  std::error_code code = std::make_error_code(std::errc::not_enough_memory);
  std::string what = "out of memory";
  try {
    std::rethrow_exception(cause);
  } catch (const std::system_error& e) {
    code = e.code();
    what = e.what();
  } catch (...) {
    // std::bad_alloc: keep the defaults (the strings above fit the small-string buffer).
  }
  throw std::system_error(code, cat({"weft::thread_pool::thread_pool: pool '", name_,
                                     "' could not start any worker thread (", what,
                                     "); lower the thread count, raise the system's thread "
                                     "limit or free memory"}));
}

void pool_core::start_workers() {
  for (auto& w : workers_) {
    worker* self = w.get();
    try {
      live_threads_.fetch_add(1, std::memory_order_relaxed);  // a statistic
      w->thread = std::thread([this, self] { worker_main(*self); });
      ++started_threads_;
    } catch (...) {
      // std::system_error (no thread to be had) or std::bad_alloc (no memory for one).
      live_threads_.fetch_sub(1, std::memory_order_relaxed);
      if (started_threads_ == 0) {
        ref_.link->retire();  // K3: no state was made yet; the link goes back to the free list
        throw_no_worker_started(std::current_exception());
      }
      // R1: some workers run; the pool works with fewer.
      report_error(std::current_exception());
      break;
    }
  }
}

std::exception_ptr pool_core::run_hook(const std::function<void()>& hook) noexcept {
  try {
    hook();
  } catch (...) {
    report_error(std::current_exception());  // R3
    return std::current_exception();
  }
  return nullptr;
}

namespace {

// Worker threads of every pool in the process, between the start and the end of worker_main.
// Relaxed: a diagnostic; its reader (a test, after destroying its pools) is ordered after the
// decrements by the joins.
std::atomic<std::size_t> process_workers{0};

struct process_worker_count {
  process_worker_count() noexcept { process_workers.fetch_add(1, std::memory_order_relaxed); }
  ~process_worker_count() { process_workers.fetch_sub(1, std::memory_order_relaxed); }
  process_worker_count(const process_worker_count&) = delete;
  process_worker_count& operator=(const process_worker_count&) = delete;
};

}  // namespace

std::size_t live_worker_threads() noexcept {
  return process_workers.load(std::memory_order_relaxed);
}

void pool_core::worker_main(worker& me) {
  const process_worker_count counted;
  worker_context& ctx = current_worker();
  ctx.core = this;
  ctx.self = &me;
  set_current_thread_name(worker_thread_name(name_, me.index));
  std::exception_ptr start_error;
  if (options_.on_thread_start) {
    start_error = run_hook(options_.on_thread_start);  // R2
  }
  if (!start_error) {
    ctx.in_loop = true;
    worker_loop(me);
    ctx.in_loop = false;
  } else {
    transition_to_broken(start_error);  // R3, D2
    drain_broken();                     // this worker fails what is queued
  }
  if (options_.on_thread_exit) {
    static_cast<void>(run_hook(options_.on_thread_exit));
  }
  ctx = worker_context{};
  live_threads_.fetch_sub(1, std::memory_order_relaxed);  // a statistic
  const unique_lock lock(life_mutex_);
  ++exited_;  // R-I2
  life_cv_.notify_all();
}

}  // namespace detail
}  // namespace v1
}  // namespace weft
