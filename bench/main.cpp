// weft_bench: weft and its peers on the workloads of BENCHMARKS.md, in one binary.
//
// Every workload is registered for every pool as BM_<workload>/<pool>. bench/run.sh runs
// each of them in its own process, round-robin over several rounds, and bench/report.py turns
// the JSON into the table of docs/perf/. The JSON context records what a reader needs to judge
// a figure: compiler, flags, threads per pool, scale, affinity, peer versions.
//
// Environment: WEFT_BENCH_THREADS (workers per pool), WEFT_BENCH_SCALE (smoke runs); see
// common/bench_config.hpp and docs/perf/README.md.

#include <string>

#include <benchmark/benchmark.h>
#include <sched.h>

#if WEFT_BENCH_HAVE_TBB
#include <oneapi/tbb/version.h>
#endif
#if WEFT_BENCH_HAVE_ASIO
#include <boost/version.hpp>
#endif

#include "common/bench_config.hpp"
#include "workloads/workloads.hpp"
#include <weft/config.hpp>

#ifndef WEFT_BENCH_CXX_FLAGS
#define WEFT_BENCH_CXX_FLAGS "unknown"
#endif
#ifndef WEFT_BENCH_BUILD_TYPE
#define WEFT_BENCH_BUILD_TYPE "unknown"
#endif

namespace {

std::string compiler_description() {
#if defined(__clang__)
  return "clang " __clang_version__;
#elif defined(__GNUC__)
  return "gcc " __VERSION__;
#else
  return "unknown compiler";
#endif
}

std::string peer_versions() {
  std::string text;
#if WEFT_BENCH_HAVE_TBB
  text += "oneTBB " TBB_VERSION_STRING;
#else
  text += "oneTBB not built";
#endif
#if WEFT_BENCH_HAVE_ASIO
  text += ", Boost.Asio " + std::to_string(BOOST_VERSION / 100000) + "." +
          std::to_string(BOOST_VERSION / 100 % 1000);
#else
  text += ", Boost.Asio not built";
#endif
  return text;
}

std::string affinity_description() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) {
    return "unknown; threads not pinned";
  }
  return std::to_string(CPU_COUNT(&set)) + " CPUs allowed; threads not pinned";
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  benchmark::AddCustomContext("weft_version", WEFT_VERSION_STRING);
  benchmark::AddCustomContext("weft_bench_threads", std::to_string(weft_bench::threads()));
  benchmark::AddCustomContext("weft_bench_scale", std::to_string(weft_bench::scale()));
  benchmark::AddCustomContext("compiler", compiler_description());
  benchmark::AddCustomContext("cxx_flags", WEFT_BENCH_CXX_FLAGS);
  benchmark::AddCustomContext("build_type", WEFT_BENCH_BUILD_TYPE);
  benchmark::AddCustomContext("affinity", affinity_description());
  benchmark::AddCustomContext("peers", peer_versions());

  weft_bench::register_all_workloads();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
