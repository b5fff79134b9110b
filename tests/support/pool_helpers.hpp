// pool_helpers.hpp: header-only helpers for tests that drive a weft::thread_pool.
//
// - pool_size, standard_pool_sizes(), pool_size_name: the pool sizes every size-dependent test
//   runs with (STYLE.md §2.9): 1, 2, hardware_concurrency() and 4 x hardware_concurrency(),
//   named so that duplicates (hardware = 2) still give distinct test names.
// - on_every_worker(pool, threads, fn): runs fn once on each worker of a pool, all at once.
//
// These need weft, unlike test_support.hpp; test executables link both.

#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

#include "support/test_support.hpp"
#include <weft/thread_pool.hpp>

namespace weft_test {

/// std::thread::hardware_concurrency(), at least 1 (the pool's own default).
inline std::size_t hardware_threads() {
  return std::max<std::size_t>(1, std::thread::hardware_concurrency());
}

/// One pool size of a parameterised test.
struct pool_size {
  const char* name;     ///< PascalCase, used in the test name
  std::size_t threads;  ///< workers
};

/// Prints a pool size in GoogleTest messages.
// NOLINTNEXTLINE(readability-identifier-naming): GoogleTest looks this name up
inline void PrintTo(const pool_size& size, std::ostream* out) {
  *out << size.name << " (" << size.threads << " threads)";
}

/// The sizes of STYLE.md §2.9: 1, 2, hardware and 4 x hardware workers.
inline std::vector<pool_size> standard_pool_sizes() {
  return {{"One", 1},
          {"Two", 2},
          {"Hardware", hardware_threads()},
          {"FourTimesHardware", 4 * hardware_threads()}};
}

/// The test-name suffix of a pool size (for INSTANTIATE_TEST_SUITE_P).
inline std::string pool_size_name(const ::testing::TestParamInfo<pool_size>& info) {
  return info.param.name;
}

/// How long on_every_worker waits for all workers to hold one of its tasks (scaled); only
/// bounds a failing test.
inline constexpr std::chrono::seconds every_worker_timeout{20};

/// Runs `fn()` once on each of the pool's `threads` workers at the same time and returns the
/// results, or an empty optional if the tasks did not all run at once within
/// every_worker_timeout (a scheduling failure for the caller to report).
///
/// Each of the `threads` submitted tasks waits, bounded, until all of them have started, so
/// no worker can run two of them: success proves that every worker took one. `fn` runs after
/// the meeting, so its results describe all workers. The pool must be otherwise idle.
template <typename F>
auto on_every_worker(weft::thread_pool& pool, std::size_t threads, F fn)
    -> std::optional<std::vector<std::invoke_result_t<F&>>> {
  using result_type = std::invoke_result_t<F&>;
  struct outcome {
    bool met;
    result_type value;
  };
  std::atomic<std::size_t> arrived{0};
  const auto deadline = detail::deadline_after(every_worker_timeout);
  std::vector<weft::future<outcome>> futures;
  futures.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) {
    futures.push_back(pool.submit([&arrived, &fn, threads, deadline] {
      arrived.fetch_add(1, std::memory_order_acq_rel);
      const bool met =
          wait_until([&] { return arrived.load(std::memory_order_acquire) >= threads; }, deadline);
      return outcome{met, fn()};
    }));
  }
  std::vector<result_type> results;
  bool all_met = true;
  for (auto& f : futures) {
    const outcome& o = f.get();  // every task returns: each wait is bounded
    all_met = all_met && o.met;
    results.push_back(o.value);
  }
  if (!all_met) {
    return std::nullopt;
  }
  return results;
}

}  // namespace weft_test
