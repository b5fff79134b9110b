#pragma once
// Process-wide resource figures: CPU time (W8) and resident memory (peak RSS of W1).
//
// Both are process-wide, so they are only meaningful when one process runs one benchmark:
// bench/run.sh runs every workload x pool in its own process for that reason.
//
// Thread: any.

#include <cstdio>

#include <sys/resource.h>
#include <unistd.h>

namespace weft_bench {

/// User + system CPU seconds used so far by every thread of this process.
inline double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

/// Peak resident set size of this process so far, in MiB (ru_maxrss is in KiB on Linux).
inline double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

/// Current resident set size in MiB, from /proc/self/statm (0 where that file is missing).
inline double current_rss_mib() {
  // NOLINTNEXTLINE(cppcoreguidelines-owning-memory): a C stream, closed three lines below
  std::FILE* file = std::fopen("/proc/self/statm", "r");
  if (file == nullptr) {
    return 0.0;
  }
  unsigned long size_pages = 0;
  unsigned long resident_pages = 0;
  const int fields = std::fscanf(file, "%lu %lu", &size_pages, &resident_pages);
  std::fclose(file);  // NOLINT(cppcoreguidelines-owning-memory): closes the stream above
  if (fields != 2) {
    return 0.0;
  }
  const long page = sysconf(_SC_PAGESIZE);
  return static_cast<double>(resident_pages) * static_cast<double>(page) / (1024.0 * 1024.0);
}

}  // namespace weft_bench
