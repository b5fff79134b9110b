// A tour of weft: the classic thread-pool scenarios, each printing what happened.
//
//   1. Reusable workers: 3 workers take 10 queued tasks; each task says which worker ran it.
//   2. I/O-bound work: a simulated crawl of 13 "URLs" on 2 workers versus one after another.
//   3. Fork-join: recursive Fibonacci by nested submit() and get(), which helps inside the pool.
//   4. No lost exceptions: failures come back through futures, and post()ed ones reach on_error.
//   5. Why a pool: 20,000 short tasks on a pool versus a thread per task, with the overhead.
//
// Build and run: `bash scripts/demo.sh` (see README.md).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <weft/weft.hpp>

namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

void reusable_workers() {
  std::puts("1. Reusable workers: 3 workers, 10 queued tasks");
  std::mutex out;
  weft::thread_pool pool{weft::pool_options{.threads = 3, .name = "tour"}};
  std::vector<weft::future<void>> done;
  for (int task = 0; task < 10; ++task) {
    done.push_back(pool.submit([task, &out] {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // a little work
      const std::size_t worker = weft::this_worker::index().value_or(99);
      const std::lock_guard lock(out);
      std::printf("   task %d ran on worker tour-%zu\n", task, worker);
    }));
  }
  for (auto& f : done) {
    f.get();
  }
  std::printf("   3 threads ran 10 tasks: the pool reuses its workers\n\n");
}

// Stands in for a network fetch: the thread waits, as it would on a socket.
std::size_t fetch(const std::string& url) {
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return url.size() * 100;  // "bytes downloaded"
}

void simulated_crawl() {
  std::puts("2. I/O-bound work: crawling 13 URLs (20 ms each)");
  std::vector<std::string> urls;
  for (int i = 0; i < 13; ++i) {
    urls.push_back("https://example.org/page/" + std::to_string(i));
  }
  auto start = clock_type::now();
  std::size_t sequential_bytes = 0;
  for (const auto& url : urls) {
    sequential_bytes += fetch(url);
  }
  const double sequential_ms = ms_since(start);

  weft::thread_pool pool{2};
  start = clock_type::now();
  std::size_t pooled_bytes = 0;
  for (auto& f : pool.submit_each(urls, fetch)) {
    pooled_bytes += f.get();
  }
  const double pooled_ms = ms_since(start);
  std::printf("   sequential: %zu bytes in %.0f ms\n", sequential_bytes, sequential_ms);
  std::printf("   2 workers:  %zu bytes in %.0f ms (%.0f ms saved, %.1fx faster)\n\n", pooled_bytes,
              pooled_ms, sequential_ms - pooled_ms, sequential_ms / pooled_ms);
}

long fib(weft::thread_pool& pool, int n) {
  if (n < 2) {
    return n;
  }
  // The child goes to this worker's own deque; get() runs it here if no one stole it.
  weft::future<long> left = pool.submit([&pool, n] { return fib(pool, n - 1); });
  const long right = fib(pool, n - 2);
  return left.get() + right;
}

void fork_join() {
  std::puts("3. Fork-join: recursive fib by nested submit() + get()");
  for (std::size_t workers : {std::size_t{1}, std::size_t{2}}) {
    weft::thread_pool pool{workers};
    const auto start = clock_type::now();
    const long value = pool.submit([&pool] { return fib(pool, 22); }).get();
    std::printf(
        "   fib(22) = %ld on %zu worker(s) in %.1f ms: waiting tasks help, so even "
        "one worker never deadlocks\n",
        value, workers, ms_since(start));
  }
  std::puts("");
}

void no_lost_exceptions() {
  std::puts("4. No lost exceptions");
  std::mutex out;
  std::vector<std::string> reported;
  {
    weft::thread_pool pool{weft::pool_options{
        .threads = 2,
        .on_error =
            [&](std::exception_ptr e) {
              try {
                std::rethrow_exception(e);
              } catch (const std::exception& ex) {
                const std::lock_guard lock(out);
                reported.emplace_back(ex.what());
              }
            },
    }};
    std::vector<weft::future<int>> results;
    for (int i = 0; i < 4; ++i) {
      results.push_back(pool.submit([i] {
        if (i % 2 == 1) {
          throw std::runtime_error("task " + std::to_string(i) + " failed");
        }
        return i * 10;
      }));
    }
    pool.post([] { throw std::runtime_error("a fire-and-forget task failed"); });
    for (auto& f : results) {
      try {
        std::printf("   result %d\n", f.get());
      } catch (const std::exception& e) {
        std::printf("   caught from a worker: %s\n", e.what());
      }
    }
  }  // the destructor joins: every task ran, on_error has been called
  for (const auto& what : reported) {
    std::printf("   on_error received: %s\n", what.c_str());
  }
  std::puts("");
}

// About `micros` microseconds of arithmetic (calibrated once).
struct spinner {
  double per_us = 1;
  double spin(double micros) const {
    double x = 1.0;
    const auto n = static_cast<long>(micros * per_us);
    for (long i = 0; i < n; ++i) {
      x = std::sqrt(x + static_cast<double>(i));
    }
    return x;
  }
  static spinner calibrate() {
    spinner s;
    const long probe = 2'000'000;
    const auto start = clock_type::now();
    volatile double sink = s.spin(static_cast<double>(probe));
    static_cast<void>(sink);
    const double us = std::chrono::duration<double, std::micro>(clock_type::now() - start).count();
    s.per_us = static_cast<double>(probe) / std::max(us, 1.0);
    return s;
  }
};

void pool_versus_threads() {
  std::puts("5. Why a pool: 20,000 tasks of ~10 us each");
  const spinner work = spinner::calibrate();
  const int tasks = 20'000;
  const unsigned cores = std::max(1U, std::thread::hardware_concurrency());
  std::atomic<double> sink{0};
  auto task = [&] { sink.store(work.spin(10.0), std::memory_order_relaxed); };

  auto start = clock_type::now();
  for (int i = 0; i < tasks; ++i) {
    task();
  }
  const double serial_ms = ms_since(start);
  const double ideal_ms = serial_ms / cores;

  {
    weft::thread_pool pool{cores};
    start = clock_type::now();
    for (int i = 0; i < tasks; ++i) {
      pool.post(task);
    }
    pool.wait();
  }
  const double pool_ms = ms_since(start);

  start = clock_type::now();
  for (int batch = 0; batch < tasks; batch += static_cast<int>(cores)) {
    std::vector<std::thread> threads;
    for (unsigned k = 0; k < cores && batch + static_cast<int>(k) < tasks; ++k) {
      threads.emplace_back(task);
    }
    for (auto& t : threads) {
      t.join();
    }
  }
  const double threads_ms = ms_since(start);
  std::printf("   ideal (work / %u cores): %.0f ms\n", cores, ideal_ms);
  std::printf("   weft pool:               %.0f ms (%+.0f%% over ideal)\n", pool_ms,
              100.0 * (pool_ms / ideal_ms - 1.0));
  std::printf("   a thread per task:       %.0f ms (%+.0f%% over ideal)\n", threads_ms,
              100.0 * (threads_ms / ideal_ms - 1.0));
}

}  // namespace

int main() {
  std::puts("weft tour\n");
  reusable_workers();
  simulated_crawl();
  fork_join();
  no_lost_exceptions();
  pool_versus_threads();
  return 0;
}
