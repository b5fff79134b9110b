#pragma once
// pool_options: how a thread_pool is configured, in one struct for designated initializers.
//
//   weft::thread_pool pool{weft::pool_options{
//       .threads = 4,
//       .name = "crawler",
//       .on_error = [](std::exception_ptr e) { log(e); },
//   }};
//
// Fields are declared in the order of the API contract, so designated initializers written in
// that order keep compiling as fields are added (new fields go after the last documented one).
// The sizing, bounded-queue and overflow fields (max_threads, keep_alive, queue_capacity,
// on_full) are not part of this release; they will take their documented places.
//
// Synchronization: the hooks are called from the pool's workers; they must be safe to call
// concurrently from several workers.

#include <cstddef>
#include <exception>
#include <functional>
#include <string>

namespace weft {
inline namespace v1 {

/// Configuration of a thread_pool.
struct pool_options {
  /// Number of workers. 0 means std::thread::hardware_concurrency() (at least 1).
  std::size_t threads = 0;

  /// Name of the pool: OS thread names are `name-0`, `name-1`, ... (cut so the whole fits
  /// Linux's 15-byte limit), and error reports name the pool. Empty means "weft".
  std::string name = {};

  /// Runs on each worker before its first task. If it throws, the pool is broken: no task runs,
  /// queued futures fail with weft::broken_pool, later submissions throw it, and the exception
  /// is reported to on_error.
  std::function<void()> on_thread_start = {};

  /// Runs on each worker after its last task, before the thread exits. An exception it throws
  /// goes to on_error; the other workers still exit.
  std::function<void()> on_thread_exit = {};

  /// Receives errors that no future can carry: exceptions of post()ed tasks, of on_done
  /// callbacks, and of the hooks. Empty means: print them to standard error with the pool's
  /// name. If on_error itself throws, that exception is swallowed and reported once on standard
  /// error.
  std::function<void(std::exception_ptr)> on_error = {};
};

}  // namespace v1
}  // namespace weft
