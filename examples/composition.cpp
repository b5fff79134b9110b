// Composing futures, as with Python's concurrent.futures: as_completed, wait, when_all and
// when_any over a batch of simulated downloads.
//
//   1. as_completed: handle each download as soon as it finishes, fastest first.
//   2. wait(first_exception): stop at the first failure and cancel what has not started.
//   3. when_all + then: one continuation once every part is in (a fan-in), and when_any for
//      "whichever mirror answers first".
//   4. Inside the pool: a task waits for a when_all of its own children on a one-worker pool.
//
// Build and run: cmake --build --preset release && ./build/release/examples/composition

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <weft/weft.hpp>

namespace {

using namespace std::chrono_literals;

/// A download that takes `ms` milliseconds and returns its size.
int download(const std::string& name, int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));  // the "network"
  if (name == "broken.bin") {
    throw std::runtime_error("404 for " + name);
  }
  return static_cast<int>(name.size()) * 100;
}

void handle_as_they_finish(weft::thread_pool& pool) {
  std::puts("1. as_completed: fastest first");
  const std::vector<std::pair<std::string, int>> files{
      {"slow.iso", 60}, {"fast.txt", 5}, {"medium.tar", 30}};
  std::vector<weft::future<std::string>> downloads;
  for (const auto& [name, ms] : files) {
    downloads.push_back(pool.submit([name = name, ms = ms] {
      return name + " (" + std::to_string(download(name, ms)) + " bytes)";
    }));
  }
  for (weft::future<std::string>& f : weft::as_completed(downloads)) {
    std::printf("   done: %s\n", f.get().c_str());
  }
}

void stop_at_first_failure(weft::thread_pool& pool) {
  std::puts("2. wait(first_exception): stop at the first failure");
  std::vector<weft::future<int>> parts;
  for (int i = 0; i < 12; ++i) {  // 12 parts on 4 workers: most wait in the queue
    const std::string name = i == 1 ? "broken.bin" : "part" + std::to_string(i);
    parts.push_back(pool.submit([name] { return download(name, 20); }));
  }
  auto [done, not_done] = weft::wait(parts, weft::return_when::first_exception);
  int cancelled = 0;
  for (weft::future<int>& f : not_done) {
    cancelled += f.cancel() ? 1 : 0;  // those not started never run
  }
  for (const weft::future<int>& f : done) {
    if (f.state() == weft::future_state::failed) {
      try {
        static_cast<void>(f.get());
      } catch (const std::exception& e) {
        std::printf("   failed: %s; %d part(s) cancelled before they started\n", e.what(),
                    cancelled);
      }
    }
  }
}

void fan_in(weft::thread_pool& pool) {
  std::puts("3. when_all + then: one continuation for the whole batch; when_any: first mirror");
  std::vector<weft::future<int>> chunks;
  for (int i = 0; i < 4; ++i) {
    chunks.push_back(pool.submit([i] { return download("chunk" + std::to_string(i), 10); }));
  }
  weft::future<int> total =
      weft::when_all(chunks).then([](const std::vector<weft::future<int>>& all) {
        int sum = 0;
        for (const weft::future<int>& c : all) {
          sum += c.get();
        }
        return sum;
      });
  std::printf("   4 chunks, %d bytes in all\n", total.get());
  auto first =
      weft::when_any(pool.submit([] { return download("mirror-eu", 40); }), pool.submit([] {
        return download("mirror-us", 5);
      })).get();
  std::printf("   mirror %zu answered first\n", first.index);
}

void inside_the_pool() {
  std::puts("4. A task waits for a when_all of its children, on a one-worker pool");
  weft::thread_pool pool{1};
  weft::future<int> parent = pool.submit([&pool] {
    std::vector<weft::future<int>> children;
    for (int i = 1; i <= 3; ++i) {
      children.push_back(pool.submit([i] { return i * i; }));
    }
    int sum = 0;
    for (const weft::future<int>& c : weft::when_all(children).get()) {  // helps: runs them
      sum += c.get();
    }
    return sum;
  });
  std::printf("   1 + 4 + 9 = %d, no deadlock\n", parent.get());
}

}  // namespace

int main() {
  weft::thread_pool pool{4};
  handle_as_they_finish(pool);
  stop_at_first_failure(pool);
  fan_in(pool);
  inside_the_pool();
}
