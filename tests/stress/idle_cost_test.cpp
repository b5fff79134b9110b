// Tests that idle workers sleep (RELIABILITY.md H8): an idle pool of 8 workers uses under 1%
// of one core over 2 s, once its spin phase is over.
//
// The CPU time of each worker thread is read from /proc/self/task/<tid>/stat (utime + stime,
// in clock ticks); the workers are found by their OS names (the pool's name). The test takes
// over 2 s by design, hence the stress label.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "support/test_support.hpp"
#include <weft/pool_options.hpp>
#include <weft/thread_pool.hpp>

namespace {

using namespace std::chrono_literals;

constexpr std::size_t workers = 8;
// The measured window, and the share of one core the idle pool may use in it.
constexpr auto window = 2s;
constexpr double max_core_share = 0.01;
// Time for the workers to finish their spin phase and park after the last task (the spin
// lasts microseconds; this is generous).
constexpr auto settle_time = 200ms;

struct cpu_sample {
  std::size_t threads = 0;  // worker threads found
  std::uint64_t ticks = 0;  // their utime + stime
};

// Reads a file's whole contents ("" if it cannot be read: the thread exited).
std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Sums utime + stime over this process's threads whose name starts with `prefix`.
cpu_sample sample_cpu(const std::string& prefix) {
  cpu_sample sample;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    std::string comm = read_file(entry.path() / "comm");
    if (comm.rfind(prefix, 0) != 0) {
      continue;
    }
    const std::string stat = read_file(entry.path() / "stat");
    // Fields after the parenthesised name: state (field 3) ... utime (14), stime (15).
    const std::size_t close = stat.rfind(')');
    if (close == std::string::npos) {
      continue;
    }
    std::istringstream fields(stat.substr(close + 1));
    std::vector<std::string> values{std::istream_iterator<std::string>(fields),
                                    std::istream_iterator<std::string>()};
    constexpr std::size_t utime_index = 14 - 3;
    constexpr std::size_t stime_index = 15 - 3;
    if (values.size() <= stime_index) {
      continue;
    }
    sample.ticks += std::stoull(values[utime_index]) + std::stoull(values[stime_index]);
    ++sample.threads;
  }
  return sample;
}

TEST(IdleCost, EightIdleWorkersUseUnderOnePercentOfACore) {
  const std::string name = "idlecost";
  weft::thread_pool pool{weft::pool_options{.threads = workers, .name = name}};
  // Some work first, so that every worker has been busy and gone idle again.
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 1000; ++i) {
      pool.post([] {});
    }
    pool.wait();
  }
  // Lets the pool reach its steady idle state (the quantity measured); orders nothing.
  std::this_thread::sleep_for(settle_time);
  const cpu_sample before = sample_cpu(name + "-");
  ASSERT_EQ(before.threads, workers) << "could not find the workers in /proc/self/task";
  const auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(window);  // the measured interval itself
  const cpu_sample after = sample_cpu(name + "-");
  const double elapsed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(after.threads, workers);
  const auto ticks_per_s = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double used_s = static_cast<double>(after.ticks - before.ticks) / ticks_per_s;
  EXPECT_LT(used_s, max_core_share * elapsed_s)
      << "the idle workers used " << used_s * 1000.0 << " ms of CPU in " << elapsed_s * 1000.0
      << " ms (limit " << max_core_share * 100.0 << "% of one core)";
  EXPECT_EQ(pool.submit([] { return 1; }).get(), 1) << "the pool must wake after idling";
}

}  // namespace
