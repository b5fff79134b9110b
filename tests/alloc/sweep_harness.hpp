// sweep_harness.hpp: the driver and the checks shared by the allocation-failure sweeps
// (alloc_failure_sweep_test.cpp), on top of failing_allocator.hpp.
//
// - call_outcome, attempt(f): how one API call made under a possible failure ended, recorded
//   without allocating (the sweeps record while armed and build messages afterwards).
// - future_seen, observe(f): what a future looked like after its pool joined.
// - problems: the findings of one run, as text.
// - check_task, check_prefix, check_stats_at_rest: the per-task, submit_each and pool_stats
//   checks every scenario applies.
// - sweep(name, mode, make, on_run): runs a scenario for N = 1, 2, ... until a run completes
//   with no injected failure, each run on a fresh thread, and checks each run for its
//   scenario's problems and for leaks (live blocks, and LeakSanitizer in AddressSanitizer
//   builds). A run that does not finish within run_timeout is reported as a hang. A scenario
//   is a class with run(n, mode), check() and report().
//
// Environment (for reproducing a failure): WEFT_TEST_ALLOC_N=<n> runs only that N;
// WEFT_TEST_ALLOC_FROM=<n> starts the sweep at N (to go on past a run that aborts);
// WEFT_TEST_ALLOC_BACKTRACE=1 prints the stack of every injected failure (failing_allocator).
// A std::terminate during a run prints the scenario and N before aborting.

#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <optional>
#include <semaphore>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "alloc/failing_allocator.hpp"
#include "support/test_support.hpp"
#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/pool_stats.hpp>

#if defined(__SANITIZE_ADDRESS__)
#define WEFT_TEST_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_TEST_LSAN 1
#endif
#endif
#ifdef WEFT_TEST_LSAN
#include <sanitizer/lsan_interface.h>
#endif

namespace weft_test::alloc {

// ---- Outcomes of calls and futures ---------------------------------------------------------

/// How one API call made while armed ended.
enum class call_outcome : std::uint8_t {
  not_reached,  ///< not attempted (an earlier step of the scenario failed)
  succeeded,
  bad_alloc,
  weft_error,  ///< a weft::error (only documented ones are accepted, per scenario)
  system_error,
  other,
};

inline const char* name_of(call_outcome o) {
  switch (o) {
    case call_outcome::not_reached:
      return "not reached";
    case call_outcome::succeeded:
      return "succeeded";
    case call_outcome::bad_alloc:
      return "std::bad_alloc";
    case call_outcome::weft_error:
      return "a weft::error";
    case call_outcome::system_error:
      return "std::system_error";
    case call_outcome::other:
      return "an unexpected exception";
  }
  return "?";
}

/// Runs `f()` and says how it ended. Allocates nothing of its own (the exception object of a
/// throw comes from the runtime's malloc, not from operator new).
template <typename F>
call_outcome attempt(F&& f) noexcept {
  try {
    f();
    return call_outcome::succeeded;
  } catch (const std::bad_alloc&) {
    return call_outcome::bad_alloc;
  } catch (const weft::error&) {
    return call_outcome::weft_error;
  } catch (const std::system_error&) {
    return call_outcome::system_error;
  } catch (...) {
    return call_outcome::other;
  }
}

/// What a future looked like after the run.
struct future_seen {
  bool valid = false;
  bool done = false;
  weft::future_state state = weft::future_state::pending;
  call_outcome error = call_outcome::not_reached;  ///< the failure's kind, if it failed
};

/// Observes `f` without waiting (a future that is not done after join is a lost task).
template <typename T>
future_seen observe(const weft::future<T>& f) {
  future_seen seen;
  if (!f.valid()) {
    return seen;
  }
  seen.valid = true;
  seen.done = f.done();
  seen.state = f.state();
  if (seen.done && seen.state == weft::future_state::failed) {
    const std::exception_ptr e = f.exception();
    seen.error = attempt([&] { std::rethrow_exception(e); });
  }
  return seen;
}

// ---- Checks --------------------------------------------------------------------------------

/// Problems found in one run, as text (built only after the run, when nothing is armed).
class problems {
 public:
  template <typename... Parts>
  void add(const Parts&... parts) {
    std::ostringstream out;
    (out << ... << parts);
    list_.push_back(out.str());
  }
  [[nodiscard]] bool empty() const { return list_.empty(); }
  [[nodiscard]] const std::vector<std::string>& list() const { return list_; }

 private:
  std::vector<std::string> list_;
};

/// Checks a call's outcome, its task's run count and its future together.
///
/// A call that threw std::bad_alloc must have run nothing and left no future. A call that
/// succeeded must have a future (when `f` is given) that is done; its task ran once and
/// succeeded, or (when `may_fail_unrun`: a then() continuation that could not be queued)
/// failed with std::bad_alloc without running. Without a future (post, on_done), the task or
/// callback ran exactly once.
inline void check_task(problems& out, const char* what, call_outcome call, int runs,
                       const future_seen* f, bool may_fail_unrun = false) {
  if (call == call_outcome::not_reached || call == call_outcome::bad_alloc) {
    if (runs != 0) {
      out.add(what, ": the call ",
              call == call_outcome::bad_alloc ? "threw std::bad_alloc" : "was not made",
              ", yet its task ran ", runs, " times");
    }
    if (call == call_outcome::bad_alloc && f != nullptr && f->valid) {
      out.add(what, ": the call threw std::bad_alloc, yet a future was returned");
    }
    return;
  }
  if (call != call_outcome::succeeded) {
    out.add(what, ": the call threw ", name_of(call), " (only std::bad_alloc is expected)");
    return;
  }
  if (f == nullptr) {
    if (runs != 1) {
      out.add(what, ": accepted, ran ", runs, " times instead of once (lost or repeated)");
    }
    return;
  }
  if (!f->valid || !f->done) {
    out.add(what, ": accepted, but its future is ", f->valid ? "not done" : "invalid",
            " after join (lost task); ran ", runs, " times");
    return;
  }
  if (f->state == weft::future_state::succeeded && runs == 1) {
    return;
  }
  if (may_fail_unrun && f->state == weft::future_state::failed &&
      f->error == call_outcome::bad_alloc && runs == 0) {
    return;
  }
  out.add(what, ": accepted, future ", weft::to_string(f->state), " (", name_of(f->error),
          "), ran ", runs, " times; expected succeeded after one run");
}

/// Counts how many entries of `runs` are 1 and checks they form a prefix followed by zeros
/// (submit_each: tasks submitted before a failure keep running, later ones are never made).
template <std::size_t Size>
std::size_t check_prefix(problems& out, const char* what,
                         const std::array<std::atomic<int>, Size>& runs, call_outcome call) {
  std::size_t ran = 0;
  while (ran < Size && runs[ran].load(std::memory_order_relaxed) == 1) {
    ++ran;
  }
  for (std::size_t i = ran; i < Size; ++i) {
    if (runs[i].load(std::memory_order_relaxed) != 0) {
      out.add(what, ": element ", i, " ran ", runs[i].load(std::memory_order_relaxed),
              " times after element ", ran, " did not run once (expected a prefix)");
    }
  }
  if (call == call_outcome::succeeded && ran != Size) {
    out.add(what, ": the call succeeded, but only ", ran, " of ", Size, " elements ran once");
  }
  if (call != call_outcome::succeeded && call != call_outcome::bad_alloc &&
      call != call_outcome::not_reached) {
    out.add(what, ": threw ", name_of(call), " (only std::bad_alloc is expected)");
  }
  return ran;
}

/// Checks the futures of a submit_each call that succeeded: all of them succeeded.
template <std::size_t Size>
void check_each_futures(problems& out, const char* what, call_outcome call,
                        const std::array<future_seen, Size>& seen) {
  if (call != call_outcome::succeeded) {
    return;
  }
  for (std::size_t i = 0; i < Size; ++i) {
    if (!seen[i].done || seen[i].state != weft::future_state::succeeded) {
      out.add(what, ": future ", i, " is ", weft::to_string(seen[i].state), " after join");
    }
  }
}

/// Checks the at-rest identity of pool_stats.hpp and that the pool is empty and stopped.
/// `undecidable` submissions may or may not have been seen by the pool (construction).
inline void check_stats_at_rest(problems& out, const weft::pool_stats& s, std::uint64_t submissions,
                                std::uint64_t undecidable = 0) {
  const std::uint64_t accounted = s.completed + s.failed + s.cancelled + s.rejected;
  if (accounted < submissions || accounted > submissions + undecidable) {
    out.add("stats identity: completed ", s.completed, " + failed ", s.failed, " + cancelled ",
            s.cancelled, " + rejected ", s.rejected, " = ", accounted, ", but the pool saw ",
            submissions, " submissions", undecidable != 0 ? " (plus at most one refused)" : "");
  }
  if (s.queued != 0 || s.running != 0) {
    out.add("stats after join: queued ", s.queued, ", running ", s.running, " (expected 0, 0)");
  }
  if (s.threads != 0) {
    out.add("stats after join: ", s.threads, " live threads (expected 0)");
  }
}

// ---- The sweep -----------------------------------------------------------------------------

/// How long one run may take before the sweep calls it a hang (scaled by the time scale). A run
/// takes milliseconds; this only bounds a failing one, and stays far below the watchdog's limit.
inline constexpr std::chrono::seconds run_timeout{20};

namespace detail {

/// What the terminate handler prints: the run in progress. Relaxed throughout: diagnostics only,
/// written by the sweep before it starts each run's thread (which orders them for that run).
inline std::atomic<const char*> current_scenario{""};
inline std::atomic<std::uint64_t> current_n{0};

[[noreturn]] inline void report_terminate() {
  static_cast<void>(disarm());
  const auto n = static_cast<unsigned long long>(current_n.load(std::memory_order_relaxed));
  std::fprintf(stderr,
               "\nalloc sweep: std::terminate during scenario %s at N = %llu; rerun with "
               "WEFT_TEST_ALLOC_N=%llu (WEFT_TEST_ALLOC_BACKTRACE=1 prints the failing "
               "allocation's stack), or go on with WEFT_TEST_ALLOC_FROM=%llu\n",
               current_scenario.load(std::memory_order_relaxed), n, n, n + 1);
  if (const std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      std::fprintf(stderr, "alloc sweep: the active exception: %s\n", ex.what());
    } catch (...) {
      std::fprintf(stderr, "alloc sweep: the active exception is not a std::exception\n");
    }
  }
  std::fflush(stderr);
  std::abort();
}

/// Reports a run that did not finish in time. It disarms the allocator first, so that the test
/// watchdog (test_support.hpp), which fires later, can allocate while it prints every thread's
/// stack and aborts: a hung run cannot be abandoned, since its threads are stuck in the pool.
inline void report_hang(const char* name, std::uint64_t n) {
  static_cast<void>(disarm());
  ADD_FAILURE() << name << ": the run at N = " << n << " did not finish within "
                << scaled(run_timeout).count()
                << " s (a hang: a call, wait() or join() never returned); rerun with "
                   "WEFT_TEST_ALLOC_N="
                << n << ". The test watchdog prints every stack when it fires.";
}

/// The positive integer in environment variable `name`, if it is set.
inline std::optional<std::uint64_t> env_n(const char* name) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): the tests never modify the environment.
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') {
    return std::nullopt;
  }
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0' || value == 0) {
    ADD_FAILURE() << name << "=" << text << " is not a positive integer";
    return std::nullopt;
  }
  return static_cast<std::uint64_t>(value);
}

/// True if LeakSanitizer finds unreachable blocks now (always false without it). Leaked blocks
/// stay leaked, so once it has found some, every later check would report them again: it then
/// stays quiet for the rest of the process, and the live-block count goes on checking each run.
inline bool lsan_finds_new_leaks() {
#ifdef WEFT_TEST_LSAN
  static bool reported = false;
  if (reported) {
    return false;
  }
  reported = __lsan_do_recoverable_leak_check() != 0;
  return reported;
#else
  return false;
#endif
}

}  // namespace detail

/// WEFT_TEST_ALLOC_N: run only that N (to rerun one failing run alone).
inline std::optional<std::uint64_t> only_n() {
  return detail::env_n("WEFT_TEST_ALLOC_N");
}

/// WEFT_TEST_ALLOC_FROM: start the sweep at that N (to go on past a run that aborts).
inline std::uint64_t first_n() {
  return detail::env_n("WEFT_TEST_ALLOC_FROM").value_or(1);
}

/// True unless WEFT_TEST_ALLOC_N or WEFT_TEST_ALLOC_FROM limits the sweep.
inline bool sweeping_all() {
  return !only_n().has_value() && first_n() == 1;
}

/// What a sweep did.
struct sweep_summary {
  std::uint64_t runs = 0;
  std::uint64_t most_counted = 0;  ///< allocations of the longest run
  std::vector<std::uint64_t> failing;
  double seconds = 0.0;
};

/// A run count no scenario here comes near (each allocates a few hundred times at most): a
/// sweep that passes it is not converging.
inline constexpr std::uint64_t max_runs = 20000;
/// Failing runs whose problems are printed in full; the others are listed by N.
inline constexpr std::size_t detailed_failures = 5;

/// Runs `make()`'s scenario for N = first_n(), first_n() + 1, ... (or only WEFT_TEST_ALLOC_N)
/// until a run sees no injected failure, and checks each run. `on_run(scenario)` sees each
/// scenario after its run (for sweep-wide assertions).
template <typename Make, typename OnRun>
sweep_summary sweep(const char* name, fail_mode mode, Make make, OnRun on_run) {
  const std::terminate_handler previous = std::set_terminate(detail::report_terminate);
  detail::current_scenario.store(name, std::memory_order_relaxed);
  sweep_summary summary;
  const auto start = std::chrono::steady_clock::now();
  const std::optional<std::uint64_t> only = only_n();
  for (std::uint64_t n = only.value_or(first_n()); n <= max_runs; ++n) {
    detail::current_n.store(n, std::memory_order_relaxed);
    auto scenario = make();  // allocated before the count: the scenario's own storage
    const std::int64_t live_before = live_allocations();
    // A fresh thread per run: its node cache starts empty and is flushed when it exits.
    std::binary_semaphore finished{0};
    std::thread driver([&] {
      scenario->run(n, mode);
      finished.release();
    });
    if (!finished.try_acquire_for(scaled(run_timeout))) {
      detail::report_hang(name, n);
    }
    driver.join();  // after a hang, the watchdog ends the process before this returns
    const std::int64_t live_after = live_allocations();
    const bool lsan_leak = detail::lsan_finds_new_leaks();
    ++summary.runs;
    summary.most_counted = std::max(summary.most_counted, scenario->report().counted);
    problems found = scenario->check();
    if (live_after != live_before) {
      found.add("leak: ", live_after - live_before, " more live blocks after the run than before");
    }
    if (lsan_leak) {
      found.add("LeakSanitizer found unreachable blocks after this run (report above)");
    }
    if (!found.empty()) {
      summary.failing.push_back(n);
      if (summary.failing.size() <= detailed_failures) {
        std::ostringstream text;
        text << name << ", mode " << (mode == fail_mode::once ? "once" : "from then on")
             << ", N = " << n << " (" << scenario->report().counted << " allocations counted, "
             << scenario->report().injected << " failed):";
        for (const std::string& p : found.list()) {
          text << "\n  - " << p;
        }
        text << "\n  rerun: WEFT_TEST_ALLOC_N=" << n
             << " (add WEFT_TEST_ALLOC_BACKTRACE=1 for the failing allocation's stack)";
        ADD_FAILURE() << text.str();
      }
    }
    on_run(*scenario);
    if (only || scenario->report().injected == 0) {
      break;
    }
    if (n == max_runs) {
      ADD_FAILURE() << name << ": still injecting failures after " << max_runs << " runs";
    }
  }
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::set_terminate(previous);
  if (summary.failing.size() > detailed_failures) {
    std::ostringstream text;
    text << name << ": " << summary.failing.size() << " failing runs in all, at N =";
    for (const std::uint64_t n : summary.failing) {
      text << ' ' << n;
    }
    ADD_FAILURE() << text.str();
  }
  std::printf("[ alloc    ] %s (%s): %llu runs, up to %llu allocations per run, %.2f s\n", name,
              mode == fail_mode::once ? "once" : "from then on",
              static_cast<unsigned long long>(summary.runs),
              static_cast<unsigned long long>(summary.most_counted), summary.seconds);
  std::fflush(stdout);
  return summary;
}

/// sweep() without a per-run hook.
template <typename Make>
sweep_summary sweep(const char* name, fail_mode mode, Make make) {
  return sweep(name, mode, make, [](const auto&) {});
}

}  // namespace weft_test::alloc
