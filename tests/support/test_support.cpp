// test_support.cpp: the helpers of test_support.hpp, plus the per-test hang watchdog and the
// per-test check that no worker thread of a pool outlives its test.
//
// Watchdog. A listener records which test is running and since when; a global test
// environment owns one thread that checks that record about once a second. When a test has run
// longer than its limit, the thread prints the test's name, asks gdb (if installed) to print
// every thread's stack, and aborts. The limit is WEFT_TEST_WATCHDOG_SECONDS (default 100) times
// the time scale; CMake sets it a little below the test's CTest TIMEOUT so that the stacks are
// printed before CTest kills the process.
//
// Both objects register themselves from a static initializer below, because gtest_main owns
// main(). The test executables link this library as a whole archive so that this object file
// is never dropped by the linker.
//
// The environment is read with std::getenv: neither weft nor its tests ever modify it, so the
// calls cannot race with a setenv.

#include "support/test_support.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <weft/detail/diagnostics.hpp>

namespace weft_test {
namespace {

using std::chrono::steady_clock;

// Returns the positive number in environment variable `name`, or `fallback` if it is unset.
double env_positive(const char* name, double fallback) {
  const char* text = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): see file comment
  if (text == nullptr || *text == '\0') {
    return fallback;
  }
  char* end = nullptr;
  const double value = std::strtod(text, &end);
  if (end == text || *end != '\0' || !(value > 0.0)) {
    std::fprintf(stderr, "weft_test: ignoring %s=%s (not a positive number); using %g\n", name,
                 text, fallback);
    return fallback;
  }
  return value;
}

// Set once seed() has been called. Relaxed: it is written by the test (possibly on a worker
// thread) and read in OnTestEnd, after the test body and the threads it joined have finished.
std::atomic<bool> seed_used{false};

// ---- Watchdog ------------------------------------------------------------------------------

// What the watchdog knows about the running test. Guarded by `mu`.
struct watch_record {
  std::mutex mu;
  std::condition_variable stop_cv;
  bool stop = false;
  bool running = false;
  std::string test_name;
  steady_clock::time_point started;
};

// Never destroyed: a test that calls std::exit (as death tests and exit tests do) runs the
// static destructors while the watchdog thread still waits on the record, and the environment
// that stops that thread is itself destroyed at exit, after a function-local static would be.
watch_record& record() {
  static auto* const instance = new watch_record;
  return *instance;
}

[[noreturn]] void fire(const std::string& test_name, double elapsed_s, double limit_s) {
  std::fprintf(stderr,
               "\nweft_test watchdog: %s has run for %.0f s, over its limit of %.0f s "
               "(WEFT_TEST_WATCHDOG_SECONDS x WEFT_TEST_TIME_SCALE); dumping all stacks, then "
               "aborting\n",
               test_name.c_str(), elapsed_s, limit_s);
  std::fflush(stdout);
  std::fflush(stderr);
  // NOLINTNEXTLINE(concurrency-mt-unsafe): diagnostics only; the process aborts.
  if (std::system("command -v gdb >/dev/null 2>&1") == 0) {
    // Under Yama ptrace_scope=1 a process may only be traced by its ancestors; gdb is our
    // descendant, so allow it explicitly.
    prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
    const std::string command = "gdb -p " + std::to_string(getpid()) +
                                " -batch -nx -ex 'thread apply all bt' 1>&2 </dev/null";
    // NOLINTNEXTLINE(concurrency-mt-unsafe): as above.
    static_cast<void>(std::system(command.c_str()));
  } else {
    std::fprintf(stderr, "weft_test watchdog: gdb not found; no stack dump\n");
  }
  std::fflush(stderr);
  std::abort();
}

class watchdog_environment final : public ::testing::Environment {
 public:
  watchdog_environment() = default;
  watchdog_environment(const watchdog_environment&) = delete;
  watchdog_environment& operator=(const watchdog_environment&) = delete;
  watchdog_environment(watchdog_environment&&) = delete;
  watchdog_environment& operator=(watchdog_environment&&) = delete;
  // GoogleTest deletes its environments when the process exits. After a normal run TearDown
  // has already stopped the thread; after std::exit inside a test it has not, and destroying a
  // joinable std::thread would call std::terminate.
  ~watchdog_environment() override { stop_thread(); }

  void SetUp() override {
    limit_s_ = env_positive("WEFT_TEST_WATCHDOG_SECONDS", 100.0) * time_scale();
    {
      const std::lock_guard lock(record().mu);
      record().stop = false;
    }
    thread_ = std::thread([this] { run(); });
  }

  void TearDown() override { stop_thread(); }

 private:
  void stop_thread() {
    if (!thread_.joinable()) {
      return;
    }
    {
      const std::lock_guard lock(record().mu);
      record().stop = true;
    }
    record().stop_cv.notify_all();
    thread_.join();
  }

  void run() const {
    watch_record& rec = record();
    std::unique_lock lock(rec.mu);
    // A periodic deadline check, not synchronization: the loop only ever reads the record.
    while (!rec.stop_cv.wait_for(lock, std::chrono::seconds(1), [&] { return rec.stop; })) {
      if (!rec.running) {
        continue;
      }
      const double elapsed_s =
          std::chrono::duration<double>(steady_clock::now() - rec.started).count();
      if (elapsed_s > limit_s_) {
        const std::string name = rec.test_name;
        lock.unlock();
        fire(name, elapsed_s, limit_s_);
      }
    }
  }

  double limit_s_ = 0.0;
  std::thread thread_;
};

// Every pool a test made is destroyed by its end, so no worker thread may be left: a leaked
// pool or a destructor that returned before its threads ended fails the test's process.
void check_no_worker_outlives(const ::testing::TestInfo& info) {
  const std::size_t left = weft::detail::live_worker_threads();
  if (left != 0) {
    std::fprintf(stderr,
                 "[  FAILED  ] %s.%s: %zu worker thread(s) of its pools outlived the test; "
                 "destroy (or join) every pool a test makes before it ends\n",
                 info.test_suite_name(), info.name(), left);
    std::fflush(stderr);
    std::_Exit(1);
  }
}

// Tracks the running test for the watchdog and prints the seed when a test that used it fails.
class test_listener final : public ::testing::EmptyTestEventListener {
 public:
  void OnTestStart(const ::testing::TestInfo& info) override {
    const std::lock_guard lock(record().mu);
    record().running = true;
    record().test_name = std::string(info.test_suite_name()) + "." + info.name();
    record().started = steady_clock::now();
  }

  void OnTestEnd(const ::testing::TestInfo& info) override {
    {
      const std::lock_guard lock(record().mu);
      record().running = false;
    }
    check_no_worker_outlives(info);
    const ::testing::TestResult* result = info.result();
    if (result != nullptr && result->Failed() && seed_used.load(std::memory_order_relaxed)) {
      std::printf("[ weft     ] %s.%s used WEFT_TEST_SEED=%llu; set it to rerun with that seed\n",
                  info.test_suite_name(), info.name(), static_cast<unsigned long long>(seed()));
      std::fflush(stdout);
    }
  }
};

// gtest's registration API takes raw pointers and owns (deletes) both objects.
[[maybe_unused]] const bool registered = [] {
  ::testing::AddGlobalTestEnvironment(new watchdog_environment);
  ::testing::UnitTest::GetInstance()->listeners().Append(new test_listener);
  return true;
}();

}  // namespace

// ---- Public helpers ------------------------------------------------------------------------

double time_scale() {
  static const double scale = env_positive("WEFT_TEST_TIME_SCALE", 1.0);
  return scale;
}

bool slow_build() {
  return time_scale() > 1.0;
}

namespace detail {

steady_clock::time_point deadline_after(std::chrono::duration<double> timeout) {
  const steady_clock::time_point now = steady_clock::now();
  const std::chrono::duration<double> wanted = timeout * time_scale();
  const std::chrono::duration<double> room = steady_clock::time_point::max() - now;
  if (wanted >= room) {
    return steady_clock::time_point::max();
  }
  if (wanted <= std::chrono::duration<double>::zero()) {
    return now;
  }
  return now + std::chrono::duration_cast<steady_clock::duration>(wanted);
}

void poll_backoff(unsigned round) {
  // Yield while the awaited event is probably imminent, then sleep 50 us doubling up to 3.2 ms,
  // so that a long wait costs little CPU and a short one little latency.
  constexpr unsigned yield_rounds = 16;
  constexpr unsigned max_doublings = 6;
  if (round < yield_rounds) {
    std::this_thread::yield();
    return;
  }
  const unsigned doublings = std::min(round - yield_rounds, max_doublings);
  std::this_thread::sleep_for(std::chrono::microseconds(50) * (1U << doublings));
}

}  // namespace detail

std::size_t thread_count() {
  const std::filesystem::directory_iterator tasks("/proc/self/task");
  return static_cast<std::size_t>(
      std::distance(std::filesystem::begin(tasks), std::filesystem::end(tasks)));
}

std::uint64_t seed() {
  static const std::uint64_t value = [] {
    const char* text =
        std::getenv("WEFT_TEST_SEED");  // NOLINT(concurrency-mt-unsafe): see file comment
    if (text != nullptr && *text != '\0') {
      char* end = nullptr;
      const unsigned long long parsed = std::strtoull(text, &end, 0);
      if (end != text && *end == '\0') {
        return static_cast<std::uint64_t>(parsed);
      }
      std::fprintf(stderr, "weft_test: ignoring WEFT_TEST_SEED=%s (not an integer)\n", text);
    }
    std::random_device device;
    return (static_cast<std::uint64_t>(device()) << 32U) ^ device();
  }();
  seed_used.store(true, std::memory_order_relaxed);
  return value;
}

}  // namespace weft_test
