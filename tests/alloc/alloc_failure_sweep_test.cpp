// Allocation-failure sweeps (SQLite's malloc tests, applied to a thread pool): each scenario
// runs once for every N = 1, 2, ... with the N-th allocation failing (failing_allocator.hpp),
// until a run completes without reaching N. Two modes: only the N-th allocation fails, or the
// N-th and every later one (memory stays exhausted). Every thread's allocations count, the
// pool's workers included: a task that submits from inside the pool grows its worker's deque
// there, and hooks allocate on the workers. The driver and the checks are in sweep_harness.hpp.
//
// Invariant checked after every run (all of them, for every N and mode):
//   - each API call either succeeded or threw std::bad_alloc to its caller (the documented
//     exceptions of a broken pool or a failed thread start aside, where they apply);
//   - a call that threw left nothing behind: its callable never ran;
//   - every future obtained is done, and every accepted task ran exactly once (per-task run
//     counters), or its future failed without running: with std::bad_alloc (a then()
//     continuation that could not be queued) or weft::broken_pool (a hook failed);
//   - every on_done callback that was registered ran exactly once;
//   - at rest, stats(): completed + failed + cancelled + rejected = submissions (pool_stats.hpp),
//     nothing is queued or running, and no worker is left;
//   - the pool joins: wait() and join() return normally, and the run ends within run_timeout
//     (a hang is reported with its N, and the test watchdog then prints every stack);
//   - nothing leaks: the number of live blocks (counted by the replacement operator new) is the
//     same before and after the run, in every build; in AddressSanitizer builds LeakSanitizer
//     also finds no unreachable block after the run (which catches a block allocated before
//     the run and lost in it, such as a reused pool link).
//
// Each run happens on a fresh "driver" thread outside the pool, with a fresh pool, so that the
// per-thread node cache (include/weft/detail/node_cache.hpp; it cannot be switched off from a
// test, only AddressSanitizer builds turn it off) starts empty in every run: the sweep reaches
// the heap allocations behind it, and the threads' exits return the cached blocks before the
// leak count is taken.
//
// Scenarios:
//   OutsideCalls      (a) submit, post, submit_each, then, on_done, cancel and request_stop from
//                     outside a 2-worker pool whose workers are held, so that the allocations
//                     happen in a fixed order on the driver thread; enough posts to need a new
//                     block of the injection queue, with then() calls around that point.
//   InsidePoolCalls   (b) a task submits and posts 300 children (deque_initial_capacity + 44)
//                     from inside the pool while the other worker is held, so that its own
//                     deque must grow; then then(), on_done, submit_each and a helping get().
//   PoolConstruction  (c) constructing a pool (name, worker slots, deques, queues, threads);
//                     outcomes: a working pool, or std::bad_alloc, or std::system_error (the
//                     constructor's documented exception); a pool whose later workers could
//                     not start works with fewer and reports it to on_error (R1 in
//                     src/worker_registry.cpp).
//   PoolConstructionWithAllocatingHooks  (c) again, with hooks that allocate on the workers:
//                     a failing on_thread_start breaks the pool (documented: pool_options.hpp).
//
// No sleeps: latches, gates and futures order everything.
//
// Length. Over 500 lines because it is one sweep: every scenario uses the same driver and
// checks; each scenario is short, and splitting the file would only repeat the setup.

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <latch>
#include <memory>
#include <new>
#include <optional>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "alloc/failing_allocator.hpp"
#include "alloc/sweep_harness.hpp"
#include "support/task_gates.hpp"
#include <weft/detail/tuning.hpp>
#include <weft/error.hpp>
#include <weft/pool_options.hpp>
#include <weft/pool_stats.hpp>
#include <weft/thread_pool.hpp>

namespace {

using weft_test::alloc::attempt;
using weft_test::alloc::call_outcome;
using weft_test::alloc::check_each_futures;
using weft_test::alloc::check_prefix;
using weft_test::alloc::check_stats_at_rest;
using weft_test::alloc::check_task;
using weft_test::alloc::fail_mode;
using weft_test::alloc::future_seen;
using weft_test::alloc::name_of;
using weft_test::alloc::observe;
using weft_test::alloc::problems;

// ---- Scenario (a): calls from outside the pool ---------------------------------------------

/// Calls from a thread outside a 2-worker pool. Both workers are held in tasks while the calls
/// are made, so everything stays queued and the allocations happen in a fixed order on the
/// driver thread; then the workers are let go, and the pool waits and joins.
class outside_calls {
 public:
  enum op : std::size_t {
    submit_small,
    submit_args,
    submit_large,      // a task_state above the node cache's largest class
    submit_stopping,   // a stop-aware task: the state owns a std::stop_source
    submit_cancelled,  // cancelled while queued
    post_small,        // stored inline in the injection queue: no allocation of its own
    post_large,        // boxed on the heap
    post_stopping,
    then_pending,  // a continuation of a running task (queued later, by the worker)
    then_done,     // a continuation of a finished task (queued at once, by this thread)
    on_done_pending,
    on_done_done,
    op_count,
  };
  static constexpr std::array<const char*, op_count> op_names = {"submit (small)",
                                                                 "submit (with an argument)",
                                                                 "submit (large callable)",
                                                                 "submit (stop-aware)",
                                                                 "submit (then cancelled)",
                                                                 "post (small)",
                                                                 "post (large callable)",
                                                                 "post (stop-aware)",
                                                                 "then (on a running task)",
                                                                 "then (on a finished task)",
                                                                 "on_done (on a running task)",
                                                                 "on_done (on a finished task)"};
  static constexpr std::size_t each_inputs = 5;
  // Enough posts to fill the injection queue's first block (injection_block_lap - 1 tasks,
  // about 20 of them taken by the calls before) and claim another; the calls in [then_first,
  // then_last) are then() on a finished task instead, whose continuation goes to the injection
  // queue at once: one of them claims the block's last slot, so some N fails the new block
  // under a continuation (its future must fail, not vanish; the test checks it happened).
  static constexpr std::size_t block_slots = weft::detail::injection_block_lap - 1;
  static constexpr std::size_t bulk_calls = block_slots + 45;
  static constexpr std::size_t then_first = block_slots - 30;
  static constexpr std::size_t then_last = block_slots - 5;
  static bool bulk_is_then(std::size_t i) { return i >= then_first && i < then_last; }

  outside_calls() : inputs_(each_inputs) {
    for (std::size_t i = 0; i < each_inputs; ++i) {
      inputs_[i] = static_cast<int>(i);
    }
  }

  void run(std::uint64_t n, fail_mode mode);
  [[nodiscard]] problems check() const;
  [[nodiscard]] const weft_test::alloc::arm_report& report() const { return report_; }
  /// The number of then() futures of the bulk calls that failed without running.
  [[nodiscard]] std::size_t failed_bulk_continuations() const;

 private:
  void calls(weft::thread_pool& pool);
  void bulk(weft::thread_pool& pool);
  void observe_all();

  std::vector<int> inputs_;
  weft::future<void> held_;  // a task holding a worker: running while the calls are made
  weft::future<void> finished_;
  std::array<weft::future<void>, op_count> futures_{};
  std::optional<std::vector<weft::future<void>>> each_futures_;
  std::array<weft::future<void>, bulk_calls> bulk_futures_{};

  std::array<std::atomic<int>, op_count> runs_{};
  std::array<call_outcome, op_count> outcome_{};
  std::array<std::atomic<int>, each_inputs> each_runs_{};
  call_outcome each_outcome_ = call_outcome::not_reached;
  std::array<std::atomic<int>, bulk_calls> bulk_runs_{};
  std::array<call_outcome, bulk_calls> bulk_outcome_{};
  bool cancelled_ = false;
  call_outcome request_stop_outcome_ = call_outcome::not_reached;
  std::atomic<int> holder_runs_{0};
  std::atomic<int> finished_runs_{0};
  std::atomic<int> errors_reported_{0};

  std::array<future_seen, op_count> seen_{};
  std::array<future_seen, each_inputs> each_seen_{};
  std::array<future_seen, bulk_calls> bulk_seen_{};
  future_seen held_seen_;
  future_seen finished_seen_;
  call_outcome wait_outcome_ = call_outcome::not_reached;
  call_outcome join_outcome_ = call_outcome::not_reached;
  weft::pool_stats stats_{};
  weft_test::alloc::arm_report report_{};
};

void outside_calls::run(std::uint64_t n, fail_mode mode) {
  weft::thread_pool pool{
      weft::pool_options{.threads = 2, .on_error = [this](const std::exception_ptr&) {
                           errors_reported_.fetch_add(1, std::memory_order_relaxed);
                         }}};
  finished_ = pool.submit([this] { finished_runs_.fetch_add(1, std::memory_order_relaxed); });
  finished_.wait();
  std::latch holding{2};
  {
    const weft_test::gate release;
    const auto hold = [this, &holding, open = release.waiter()] {
      holder_runs_.fetch_add(1, std::memory_order_relaxed);
      holding.count_down();
      open.wait();
    };
    held_ = pool.submit(hold);
    pool.post(hold);
    holding.wait();  // both workers are held: every call below only queues

    weft_test::alloc::arm(n, mode);
    calls(pool);
    bulk(pool);
    release.open();
    wait_outcome_ = attempt([&] { pool.wait(); });
    join_outcome_ = attempt([&] { pool.join(); });
    stats_ = pool.stats();
    report_ = weft_test::alloc::disarm();
  }
  observe_all();
}

void outside_calls::calls(weft::thread_pool& pool) {
  const auto bump = [this](op which) {
    return [this, which] { runs_[which].fetch_add(1, std::memory_order_relaxed); };
  };
  outcome_[submit_small] =
      attempt([&] { futures_[submit_small] = pool.submit(bump(submit_small)); });
  outcome_[submit_args] = attempt([&] {
    futures_[submit_args] = pool.submit(
        [this](int k) { runs_[submit_args].fetch_add(k, std::memory_order_relaxed); }, 1);
  });
  outcome_[submit_large] = attempt([&] {
    std::array<unsigned char, 400> ballast{};
    ballast[0] = 1;
    futures_[submit_large] = pool.submit(
        [this, ballast] { runs_[submit_large].fetch_add(ballast[0], std::memory_order_relaxed); });
  });
  outcome_[submit_stopping] = attempt([&] {
    futures_[submit_stopping] = pool.submit([this](const std::stop_token&) {
      runs_[submit_stopping].fetch_add(1, std::memory_order_relaxed);
    });
  });
  outcome_[submit_cancelled] = attempt([&] {
    futures_[submit_cancelled] = pool.submit(bump(submit_cancelled));
    cancelled_ = futures_[submit_cancelled].cancel();
  });
  outcome_[post_small] = attempt([&] { pool.post(bump(post_small)); });
  outcome_[post_large] = attempt([&] {
    std::array<unsigned char, 200> ballast{};
    ballast[0] = 1;
    pool.post(
        [this, ballast] { runs_[post_large].fetch_add(ballast[0], std::memory_order_relaxed); });
  });
  outcome_[post_stopping] = attempt([&] {
    pool.post([this](const std::stop_token&) {
      runs_[post_stopping].fetch_add(1, std::memory_order_relaxed);
    });
  });
  request_stop_outcome_ = attempt([&] { pool.request_stop(); });
  each_outcome_ = attempt([&] {
    each_futures_ = pool.submit_each(inputs_, [this](int i) {
      each_runs_[static_cast<std::size_t>(i)].fetch_add(1, std::memory_order_relaxed);
    });
  });
  outcome_[then_pending] =
      attempt([&] { futures_[then_pending] = held_.then(bump(then_pending)); });
  outcome_[then_done] = attempt([&] { futures_[then_done] = finished_.then(bump(then_done)); });
  outcome_[on_done_pending] = attempt([&] { held_.on_done(bump(on_done_pending)); });
  outcome_[on_done_done] = attempt([&] { finished_.on_done(bump(on_done_done)); });
}

void outside_calls::bulk(weft::thread_pool& pool) {
  for (std::size_t i = 0; i < bulk_calls; ++i) {
    const auto bump = [this, i] { bulk_runs_[i].fetch_add(1, std::memory_order_relaxed); };
    if (bulk_is_then(i)) {
      bulk_outcome_[i] = attempt([&] { bulk_futures_[i] = finished_.then(bump); });
    } else {
      bulk_outcome_[i] = attempt([&] { pool.post(bump); });
    }
  }
}

void outside_calls::observe_all() {
  for (std::size_t i = 0; i < op_count; ++i) {
    seen_[i] = observe(futures_[i]);
  }
  if (each_futures_) {
    for (std::size_t i = 0; i < each_futures_->size() && i < each_inputs; ++i) {
      each_seen_[i] = observe((*each_futures_)[i]);
    }
  }
  for (std::size_t i = 0; i < bulk_calls; ++i) {
    bulk_seen_[i] = observe(bulk_futures_[i]);
  }
  held_seen_ = observe(held_);
  finished_seen_ = observe(finished_);
  futures_ = {};
  bulk_futures_ = {};
  each_futures_.reset();
  held_ = weft::future<void>{};
  finished_ = weft::future<void>{};
}

std::size_t outside_calls::failed_bulk_continuations() const {
  return static_cast<std::size_t>(
      std::count_if(bulk_seen_.begin(), bulk_seen_.end(), [](const future_seen& f) {
        return f.state == weft::future_state::failed && f.error == call_outcome::bad_alloc;
      }));
}

problems outside_calls::check() const {
  problems out;
  std::uint64_t submissions = 3;  // finished_ and the two holders, made before arming
  std::uint64_t unrun_failures = 0;
  check_task(out, "the finished task", call_outcome::succeeded,
             finished_runs_.load(std::memory_order_relaxed), &finished_seen_);
  if (holder_runs_.load(std::memory_order_relaxed) != 2 ||
      held_seen_.state != weft::future_state::succeeded) {
    out.add("the holding tasks ran ", holder_runs_.load(std::memory_order_relaxed),
            " times (expected 2); the submitted one is ", weft::to_string(held_seen_.state));
  }
  for (std::size_t i = 0; i < op_count; ++i) {
    const auto which = static_cast<op>(i);
    const int runs = runs_[i].load(std::memory_order_relaxed);
    const bool is_post = which == post_small || which == post_large || which == post_stopping;
    const bool is_callback = which == on_done_pending || which == on_done_done;
    const bool is_then = which == then_pending || which == then_done;
    if (which == submit_cancelled && outcome_[i] == call_outcome::succeeded) {
      // Queued behind the held workers, so cancel() must win: cancelled, never run.
      if (!cancelled_ || runs != 0 || seen_[i].state != weft::future_state::cancelled) {
        out.add(op_names[i], ": cancel() returned ", cancelled_, ", the task ran ", runs,
                " times, its future is ", weft::to_string(seen_[i].state),
                " (expected true, 0, cancelled)");
      }
      ++submissions;
      continue;
    }
    check_task(out, op_names[i], outcome_[i], runs, is_post || is_callback ? nullptr : &seen_[i],
               is_then);
    if (outcome_[i] == call_outcome::succeeded && !is_callback) {
      ++submissions;
      if (is_then && seen_[i].state == weft::future_state::failed) {
        ++unrun_failures;
      }
    }
  }
  if (request_stop_outcome_ != call_outcome::succeeded &&
      request_stop_outcome_ != call_outcome::bad_alloc) {
    out.add("request_stop threw ", name_of(request_stop_outcome_));
  }
  submissions += check_prefix(out, "submit_each", each_runs_, each_outcome_);
  check_each_futures(out, "submit_each", each_outcome_, each_seen_);
  for (std::size_t i = 0; i < bulk_calls; ++i) {
    const std::string what =
        std::string(bulk_is_then(i) ? "bulk then " : "bulk post ") + std::to_string(i);
    check_task(out, what.c_str(), bulk_outcome_[i], bulk_runs_[i].load(std::memory_order_relaxed),
               bulk_is_then(i) ? &bulk_seen_[i] : nullptr, true);
    if (bulk_outcome_[i] == call_outcome::succeeded) {
      ++submissions;
    }
  }
  unrun_failures += failed_bulk_continuations();
  if (wait_outcome_ != call_outcome::succeeded || join_outcome_ != call_outcome::succeeded) {
    out.add("pool.wait() ", name_of(wait_outcome_), ", pool.join() ", name_of(join_outcome_),
            " (both must return normally)");
  }
  check_stats_at_rest(out, stats_, submissions);
  const std::uint64_t cancelled = cancelled_ ? 1 : 0;
  if (stats_.failed != unrun_failures || stats_.cancelled != cancelled || stats_.rejected != 0) {
    out.add("stats: failed ", stats_.failed, ", cancelled ", stats_.cancelled, ", rejected ",
            stats_.rejected, "; expected ", unrun_failures,
            " (the continuations that failed unrun), ", cancelled, ", 0");
  }
  if (errors_reported_.load(std::memory_order_relaxed) != 0) {
    out.add("on_error was called ", errors_reported_.load(std::memory_order_relaxed),
            " times; every failure here has a caller or a future to receive it");
  }
  return out;
}

// ---- Scenario (b): calls from inside the pool ----------------------------------------------

/// A task on one worker submits and posts `children` tasks while the other worker is held, so
/// that nobody takes from the spawner's deque and it must grow; then it chains a continuation,
/// registers a callback, submits a batch with submit_each, and waits (helping) for a child.
class inside_calls {
 public:
  // Past the deque's initial capacity, so that its owner's push must grow it.
  static constexpr std::size_t children = weft::detail::deque_initial_capacity + 44;
  static constexpr std::size_t each_inputs = 4;

  enum class kind : std::uint8_t { submit, post_small, post_large };
  static kind kind_of(std::size_t i) {
    switch (i % 10) {
      case 3:
        return kind::post_small;
      case 7:
        return kind::post_large;
      default:
        return kind::submit;
    }
  }

  inside_calls() : inputs_(each_inputs) {
    for (std::size_t i = 0; i < each_inputs; ++i) {
      inputs_[i] = static_cast<int>(i);
    }
  }

  void run(std::uint64_t n, fail_mode mode);
  [[nodiscard]] problems check() const;
  [[nodiscard]] const weft_test::alloc::arm_report& report() const { return report_; }
  /// The first child call that threw std::bad_alloc, if any.
  [[nodiscard]] std::optional<std::size_t> first_failed_child() const;

 private:
  void spawn(weft::thread_pool& pool);

  std::vector<int> inputs_;
  std::array<weft::future<void>, children> child_futures_{};
  weft::future<void> spawner_;
  weft::future<void> then_future_;
  std::optional<std::vector<weft::future<void>>> each_futures_;

  std::array<std::atomic<int>, children> child_runs_{};
  std::array<call_outcome, children> child_outcome_{};
  std::atomic<int> spawner_runs_{0};
  std::atomic<int> holder_runs_{0};
  std::atomic<int> then_runs_{0};
  std::atomic<int> callback_runs_{0};
  std::array<std::atomic<int>, each_inputs> each_runs_{};
  call_outcome spawner_outcome_ = call_outcome::not_reached;
  call_outcome spawn_outcome_ = call_outcome::not_reached;
  call_outcome then_outcome_ = call_outcome::not_reached;
  call_outcome on_done_outcome_ = call_outcome::not_reached;
  call_outcome each_outcome_ = call_outcome::not_reached;
  call_outcome get_outcome_ = call_outcome::not_reached;
  std::atomic<int> errors_reported_{0};

  std::array<future_seen, children> child_seen_{};
  std::array<future_seen, each_inputs> each_seen_{};
  future_seen spawner_seen_;
  future_seen then_seen_;
  call_outcome join_outcome_ = call_outcome::not_reached;
  weft::pool_stats stats_{};
  weft_test::alloc::arm_report report_{};
};

void inside_calls::run(std::uint64_t n, fail_mode mode) {
  weft::thread_pool pool{
      weft::pool_options{.threads = 2, .on_error = [this](const std::exception_ptr&) {
                           errors_reported_.fetch_add(1, std::memory_order_relaxed);
                         }}};
  {
    const weft_test::gate release;
    std::latch holding{1};
    pool.post([this, &holding, open = release.waiter()] {
      holder_runs_.fetch_add(1, std::memory_order_relaxed);
      holding.count_down();
      open.wait();
    });
    holding.wait();  // one worker is held: the spawner runs alone on the other

    weft_test::alloc::arm(n, mode);
    spawner_outcome_ = attempt([&] {
      spawner_ = pool.submit([this, &pool, &release] {
        spawner_runs_.fetch_add(1, std::memory_order_relaxed);
        // spawn() records each call's outcome and never throws; attempt() makes sure of it,
        // so that the held worker is always let go.
        spawn_outcome_ = attempt([&] { spawn(pool); });
        release.open();
      });
    });
    if (spawner_outcome_ != call_outcome::succeeded) {
      release.open();
    }
    join_outcome_ = attempt([&] { pool.join(); });
    stats_ = pool.stats();
    report_ = weft_test::alloc::disarm();
  }
  for (std::size_t i = 0; i < children; ++i) {
    child_seen_[i] = observe(child_futures_[i]);
  }
  if (each_futures_) {
    for (std::size_t i = 0; i < each_futures_->size() && i < each_inputs; ++i) {
      each_seen_[i] = observe((*each_futures_)[i]);
    }
  }
  spawner_seen_ = observe(spawner_);
  then_seen_ = observe(then_future_);
  child_futures_ = {};
  each_futures_.reset();
  spawner_ = weft::future<void>{};
  then_future_ = weft::future<void>{};
}

void inside_calls::spawn(weft::thread_pool& pool) {
  for (std::size_t i = 0; i < children; ++i) {
    const auto bump = [this, i] { child_runs_[i].fetch_add(1, std::memory_order_relaxed); };
    switch (kind_of(i)) {
      case kind::submit:
        child_outcome_[i] = attempt([&] { child_futures_[i] = pool.submit(bump); });
        break;
      case kind::post_small:
        child_outcome_[i] = attempt([&] { pool.post(bump); });
        break;
      case kind::post_large:
        child_outcome_[i] = attempt([&] {
          std::array<unsigned char, 200> ballast{};
          ballast[0] = 1;
          pool.post([this, i, ballast] {
            child_runs_[i].fetch_add(ballast[0], std::memory_order_relaxed);
          });
        });
        break;
    }
  }
  // Child 0 is a submit; it has not run yet (nobody takes from this deque meanwhile).
  if (child_futures_[0].valid()) {
    then_outcome_ = attempt([&] {
      then_future_ =
          child_futures_[0].then([this] { then_runs_.fetch_add(1, std::memory_order_relaxed); });
    });
  }
  if (child_futures_[1].valid()) {
    on_done_outcome_ = attempt([&] {
      child_futures_[1].on_done([this] { callback_runs_.fetch_add(1, std::memory_order_relaxed); });
    });
  }
  each_outcome_ = attempt([&] {
    each_futures_ = pool.submit_each(inputs_, [this](int i) {
      each_runs_[static_cast<std::size_t>(i)].fetch_add(1, std::memory_order_relaxed);
    });
  });
  if (child_futures_[0].valid()) {
    get_outcome_ = attempt([&] { child_futures_[0].get(); });  // helps: runs it here
  }
}

std::optional<std::size_t> inside_calls::first_failed_child() const {
  for (std::size_t i = 0; i < children; ++i) {
    if (child_outcome_[i] == call_outcome::bad_alloc) {
      return i;
    }
  }
  return std::nullopt;
}

problems inside_calls::check() const {
  problems out;
  std::uint64_t submissions = 1;  // the holder, posted before arming
  if (holder_runs_.load(std::memory_order_relaxed) != 1) {
    out.add("the holding task ran ", holder_runs_.load(std::memory_order_relaxed), " times");
  }
  check_task(out, "the spawner (submitted from outside)", spawner_outcome_,
             spawner_runs_.load(std::memory_order_relaxed), &spawner_seen_);
  if (spawner_outcome_ == call_outcome::succeeded) {
    ++submissions;
    if (spawn_outcome_ != call_outcome::succeeded) {
      out.add("the spawner's own code threw ", name_of(spawn_outcome_),
              " (each of its calls is checked on its own)");
    }
  }
  for (std::size_t i = 0; i < children; ++i) {
    const std::string what = "child " + std::to_string(i) + " (submitted inside the pool)";
    const future_seen* f = kind_of(i) == kind::submit ? &child_seen_[i] : nullptr;
    check_task(out, what.c_str(), child_outcome_[i], child_runs_[i].load(std::memory_order_relaxed),
               f);
    if (child_outcome_[i] == call_outcome::succeeded) {
      ++submissions;
    }
  }
  check_task(out, "then (inside the pool)", then_outcome_,
             then_runs_.load(std::memory_order_relaxed), &then_seen_, true);
  std::uint64_t failed_continuations = 0;
  if (then_outcome_ == call_outcome::succeeded) {
    ++submissions;
    if (then_seen_.state == weft::future_state::failed) {
      ++failed_continuations;
    }
  }
  check_task(out, "on_done (inside the pool)", on_done_outcome_,
             callback_runs_.load(std::memory_order_relaxed), nullptr);
  submissions += check_prefix(out, "submit_each (inside the pool)", each_runs_, each_outcome_);
  check_each_futures(out, "submit_each (inside the pool)", each_outcome_, each_seen_);
  if (get_outcome_ != call_outcome::not_reached && get_outcome_ != call_outcome::succeeded) {
    out.add("get() on child 0 inside the pool threw ", name_of(get_outcome_));
  }
  if (join_outcome_ != call_outcome::succeeded) {
    out.add("pool.join() ", name_of(join_outcome_), " (must return normally)");
  }
  check_stats_at_rest(out, stats_, submissions);
  if (stats_.failed != failed_continuations || stats_.cancelled != 0 || stats_.rejected != 0) {
    out.add("stats: failed ", stats_.failed, " (expected ", failed_continuations, "), cancelled ",
            stats_.cancelled, ", rejected ", stats_.rejected, " (expected 0, 0)");
  }
  if (errors_reported_.load(std::memory_order_relaxed) != 0) {
    out.add("on_error was called ", errors_reported_.load(std::memory_order_relaxed),
            " times; every failure here has a caller to receive it");
  }
  return out;
}

// ---- Scenario (c): constructing a pool -----------------------------------------------------

/// Constructs a 2-worker pool with a long name (its copies allocate) and hooks, submits one
/// task if construction succeeded, and joins. With `allocating_hooks`, on_thread_start and
/// on_thread_exit allocate on the workers, so their failures are swept as well.
class construction {
 public:
  explicit construction(bool allocating_hooks) : allocating_hooks_(allocating_hooks) {}

  void run(std::uint64_t n, fail_mode mode);
  [[nodiscard]] problems check() const;
  [[nodiscard]] const weft_test::alloc::arm_report& report() const { return report_; }

 private:
  /// A hook that counts its runs and, if allocating_hooks_, allocates (counting failures).
  struct hook_counters {
    std::atomic<int> runs{0};
    std::atomic<int> failures{0};
  };
  std::function<void()> hook(hook_counters& counters);

  bool allocating_hooks_;
  hook_counters start_;
  hook_counters exit_;
  std::atomic<int> errors_reported_{0};
  std::atomic<int> errors_bad_alloc_{0};
  std::atomic<int> task_runs_{0};
  call_outcome construct_outcome_ = call_outcome::not_reached;
  call_outcome submit_outcome_ = call_outcome::not_reached;
  call_outcome join_outcome_ = call_outcome::not_reached;
  future_seen task_seen_;
  weft::pool_stats stats_{};
  weft_test::alloc::arm_report report_{};
};

std::function<void()> construction::hook(hook_counters& counters) {
  return [this, &counters] {
    counters.runs.fetch_add(1, std::memory_order_relaxed);
    if (allocating_hooks_) {
      try {
        const std::string scratch(64, 'x');  // a heap block: past the short-string buffer
        static_cast<void>(scratch.size());
      } catch (...) {
        counters.failures.fetch_add(1, std::memory_order_relaxed);
        throw;
      }
    }
  };
}

void construction::run(std::uint64_t n, fail_mode mode) {
  weft::pool_options options{
      .threads = 2,
      .name = "alloc-sweep-construction",
      .on_thread_start = hook(start_),
      .on_thread_exit = hook(exit_),
      .on_error =
          [this](const std::exception_ptr& e) {
            errors_reported_.fetch_add(1, std::memory_order_relaxed);
            if (attempt([&] { std::rethrow_exception(e); }) == call_outcome::bad_alloc) {
              errors_bad_alloc_.fetch_add(1, std::memory_order_relaxed);
            }
          },
  };
  std::optional<weft::thread_pool> pool;
  weft::future<void> task;
  weft_test::alloc::arm(n, mode);
  construct_outcome_ = attempt([&] { pool.emplace(std::move(options)); });
  if (pool) {
    submit_outcome_ = attempt([&] {
      task = pool->submit([this] { task_runs_.fetch_add(1, std::memory_order_relaxed); });
    });
    join_outcome_ = attempt([&] { pool->join(); });
    stats_ = pool->stats();
  }
  report_ = weft_test::alloc::disarm();
  task_seen_ = observe(task);
  task = weft::future<void>{};
  pool.reset();
}

problems construction::check() const {
  problems out;
  const int starts = start_.runs.load(std::memory_order_relaxed);
  const int exits = exit_.runs.load(std::memory_order_relaxed);
  const int start_failures = start_.failures.load(std::memory_order_relaxed);
  const int hook_failures = start_failures + exit_.failures.load(std::memory_order_relaxed);
  const int errors = errors_reported_.load(std::memory_order_relaxed);
  const int runs = task_runs_.load(std::memory_order_relaxed);
  if (starts != exits) {
    out.add("on_thread_start ran ", starts, " times but on_thread_exit ", exits,
            " times: a worker did not finish");
  }
  if (construct_outcome_ != call_outcome::succeeded) {
    // thread_pool.hpp documents std::system_error (no worker could start); an allocation
    // failure may surface as std::bad_alloc.
    if (construct_outcome_ != call_outcome::bad_alloc &&
        construct_outcome_ != call_outcome::system_error) {
      out.add("the constructor threw ", name_of(construct_outcome_),
              " (expected std::bad_alloc or std::system_error)");
    }
    if (runs != 0) {
      out.add("no pool, yet the task ran");
    }
    return out;
  }
  // pool_options.hpp: a throwing on_thread_start breaks the pool: queued futures fail with
  // weft::broken_pool, later submissions throw it. (When memory stays exhausted, building that
  // error fails too, and std::bad_alloc takes its place.)
  const bool broken = start_failures > 0;
  std::uint64_t submissions = 0;
  std::uint64_t undecidable = 0;
  if (submit_outcome_ == call_outcome::succeeded) {
    ++submissions;
    const bool ran_once = task_seen_.state == weft::future_state::succeeded && runs == 1;
    const bool failed_unrun = task_seen_.state == weft::future_state::failed && runs == 0 &&
                              (task_seen_.error == call_outcome::weft_error ||
                               task_seen_.error == call_outcome::bad_alloc);
    if (!task_seen_.done || !(ran_once || (broken && failed_unrun))) {
      out.add("the task: future ", weft::to_string(task_seen_.state), " (",
              name_of(task_seen_.error), "), ran ", runs, " times; expected one run",
              broken ? ", or a failure with weft::broken_pool without running" : "");
    }
  } else if (submit_outcome_ == call_outcome::weft_error && broken) {
    ++submissions;  // refused by the broken pool: counted in rejected
  } else if (submit_outcome_ == call_outcome::bad_alloc) {
    if (broken) {
      undecidable = 1;  // the refusal's message could not be built: refused, yet bad_alloc
    }
  } else {
    out.add("submit to the new pool threw ", name_of(submit_outcome_));
  }
  if (submit_outcome_ != call_outcome::succeeded && runs != 0) {
    out.add("the submit threw ", name_of(submit_outcome_), ", yet the task ran ", runs, " times");
  }
  if (join_outcome_ != call_outcome::succeeded) {
    out.add("pool.join() ", name_of(join_outcome_), " (must return normally)");
  }
  check_stats_at_rest(out, stats_, submissions, undecidable);
  if (static_cast<std::size_t>(starts) != stats_.largest_threads) {
    out.add("on_thread_start ran ", starts, " times for ", stats_.largest_threads,
            " started workers");
  }
  // Workers that failed to start are reported to on_error (worker_registry.cpp, R1), and so
  // are failing hooks; nothing else should reach it.
  const int missing_workers = 2 - static_cast<int>(stats_.largest_threads);
  if (errors != hook_failures + (missing_workers > 0 ? 1 : 0)) {
    out.add("on_error was called ", errors, " times for ", hook_failures, " failed hooks and ",
            missing_workers, " workers that did not start");
  }
  // Each failed hook threw std::bad_alloc; a worker whose thread could not be made for lack of
  // memory may add one more.
  const int bad_allocs = errors_bad_alloc_.load(std::memory_order_relaxed);
  if (bad_allocs < hook_failures || bad_allocs > hook_failures + (missing_workers > 0 ? 1 : 0)) {
    out.add("on_error received ", bad_allocs, " std::bad_alloc for ", hook_failures,
            " hooks that threw it and ", missing_workers, " workers that did not start");
  }
  return out;
}

// ---- Tests ---------------------------------------------------------------------------------

class AllocFailureSweep : public ::testing::TestWithParam<fail_mode> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(weft_test::alloc::replacement_active())
        << "the replacement operator new is not linked in: every sweep would be vacuous";
    // Outside any run: the first pool of the process takes a pool link that is never freed
    // (type-stable memory, pool_link.hpp), which must not count as a run's leak.
    const weft::thread_pool warm_up{1};
  }
};

std::string mode_name(const ::testing::TestParamInfo<fail_mode>& info) {
  return info.param == fail_mode::once ? "Once" : "FromThenOn";
}

TEST_P(AllocFailureSweep, OutsideCallsFailCleanly) {
  std::size_t failed_continuations = 0;
  const auto s = weft_test::alloc::sweep(
      "OutsideCalls", GetParam(), [] { return std::make_unique<outside_calls>(); },
      [&](const outside_calls& run) { failed_continuations += run.failed_bulk_continuations(); });
  if (weft_test::alloc::sweeping_all()) {
    EXPECT_GT(s.runs, 20U) << "the scenario should allocate more than a few times";
    EXPECT_GT(failed_continuations, 0U)
        << "no run failed a then() continuation's queueing: the sweep missed that path";
  }
}

TEST_P(AllocFailureSweep, InsidePoolCallsFailCleanly) {
  // The number of N whose failure hit each child call first. The child whose push grows the
  // deque fails in at least three more ways (the ring, its slots, the list of rings).
  std::array<std::uint64_t, inside_calls::children> first_failures{};
  const auto s = weft_test::alloc::sweep(
      "InsidePoolCalls", GetParam(), [] { return std::make_unique<inside_calls>(); },
      [&](const inside_calls& run) {
        if (const std::optional<std::size_t> i = run.first_failed_child()) {
          ++first_failures[*i];
        }
      });
  if (weft_test::alloc::sweeping_all()) {
    EXPECT_GT(s.runs, inside_calls::children);
    const auto* most = std::max_element(first_failures.begin(), first_failures.end());
    EXPECT_GE(*most, 4U) << "no child call failed in four or more ways: the sweep did not reach "
                            "the deque's growth (child "
                         << (most - first_failures.begin()) << " failed in " << *most << ")";
  }
}

TEST_P(AllocFailureSweep, PoolConstructionFailsCleanly) {
  const auto s = weft_test::alloc::sweep("PoolConstruction", GetParam(),
                                         [] { return std::make_unique<construction>(false); });
  if (weft_test::alloc::sweeping_all()) {
    EXPECT_GT(s.runs, 10U);
  }
}

TEST_P(AllocFailureSweep, PoolConstructionWithAllocatingHooksFailsCleanly) {
  const auto s = weft_test::alloc::sweep("PoolConstructionWithAllocatingHooks", GetParam(),
                                         [] { return std::make_unique<construction>(true); });
  if (weft_test::alloc::sweeping_all()) {
    EXPECT_GT(s.runs, 10U);
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, AllocFailureSweep,
                         ::testing::Values(fail_mode::once, fail_mode::from_then_on), mode_name);

// ---- The allocator itself ------------------------------------------------------------------

/// Hides `p` from the optimiser, which may otherwise drop an allocation whose block is unused
/// (GCC removes unused ::operator new calls and new/delete pairs).
void* escape(void* p) {
  asm volatile("" : : "g"(p) : "memory");
  return p;
}

TEST(FailingAllocator, FailsExactlyTheNthAllocationOnce) {
  const std::int64_t live_before = weft_test::alloc::live_allocations();
  weft_test::alloc::arm(3, fail_mode::once);
  std::array<call_outcome, 5> outcomes{};
  std::array<void*, 5> blocks{};
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    outcomes[i] = attempt([&] { blocks[i] = escape(::operator new(16)); });
  }
  void* nothrow_block = escape(::operator new(16, std::nothrow));
  const weft_test::alloc::arm_report report = weft_test::alloc::disarm();
  for (void* b : blocks) {
    ::operator delete(escape(b));
  }
  ::operator delete(escape(nothrow_block));
  EXPECT_EQ(outcomes[2], call_outcome::bad_alloc);
  for (const std::size_t i : {0U, 1U, 3U, 4U}) {
    EXPECT_EQ(outcomes[i], call_outcome::succeeded) << "allocation " << i + 1;
  }
  EXPECT_NE(nothrow_block, nullptr);
  EXPECT_EQ(report.counted, 6U);
  EXPECT_EQ(report.injected, 1U);
  EXPECT_EQ(weft_test::alloc::live_allocations(), live_before);
}

TEST(FailingAllocator, FromThenOnFailsEveryFormIncludingNothrowAndAligned) {
  const std::int64_t live_before = weft_test::alloc::live_allocations();
  std::array<void*, 3> blocks{};
  weft_test::alloc::arm(2, fail_mode::from_then_on);
  void* first = escape(::operator new(8));
  const call_outcome plain = attempt([&] { blocks[0] = escape(::operator new(8)); });
  const call_outcome array = attempt([&] { blocks[1] = escape(::operator new[](8)); });
  const call_outcome aligned =
      attempt([&] { blocks[2] = escape(::operator new (8, std::align_val_t{64})); });
  void* nothrow_block = escape(::operator new(8, std::nothrow));
  void* nothrow_aligned = escape(::operator new[](8, std::align_val_t{64}, std::nothrow));
  const weft_test::alloc::arm_report report = weft_test::alloc::disarm();
  ::operator delete(escape(first));
  EXPECT_EQ(plain, call_outcome::bad_alloc);
  EXPECT_EQ(array, call_outcome::bad_alloc);
  EXPECT_EQ(aligned, call_outcome::bad_alloc);
  EXPECT_EQ(nothrow_block, nullptr);
  EXPECT_EQ(nothrow_aligned, nullptr);
  EXPECT_EQ(report.counted, 6U);
  EXPECT_EQ(report.injected, 5U);
  EXPECT_EQ(weft_test::alloc::live_allocations(), live_before);
}

TEST(FailingAllocator, AlignedBlocksAreAlignedAndCounted) {
  const std::int64_t live_before = weft_test::alloc::live_allocations();
  void* p = escape(::operator new (100, std::align_val_t{256}));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 256, 0U);
  EXPECT_EQ(weft_test::alloc::live_allocations(), live_before + 1);
  ::operator delete (escape(p), std::align_val_t{256});
  EXPECT_EQ(weft_test::alloc::live_allocations(), live_before);
}

}  // namespace
