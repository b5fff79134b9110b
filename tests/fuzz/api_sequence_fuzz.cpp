// api_sequence_fuzz: a libFuzzer target that reads its input as a sequence of API calls on one
// pool, then checks the obligations that every such sequence must meet.
//
// Input. Byte 0 configures the session: bit 0 picks 1 or 2 workers; bit 1 ends the session
// with the destructor instead of join() (the counters of V7 are then not checked). Each
// operation then takes two bytes, an opcode and an argument; at most max_operations are read.
// Eight slots hold futures, and the argument's low three bits name one. Opcodes (mod 16):
//   0-3  submit into a slot: a task that returns a value / throws / is stop-aware (bit 3: it
//        lingers until its stop is requested, for at most linger_rounds yields) / submits a
//        child from its worker and get()s it (a cooperative wait)
//   4    post: bit 3 throws, bit 4 stop-aware
//   5    then() on a slot's future, into the slot named by bits 3-5; bit 6: the continuation
//        throws
//   6    on_done() on a slot's future: bit 3 throws, bit 4 takes no argument
//   7    cancel()          8  get_for(0-31 us)     9  wait_for(0, or up to 240 us)
//   10   request_stop() on a slot's future         11 pool.request_stop()
//   12   pool.cancel_pending()                     13 pool.shutdown(), or pool.join() (bit 3)
//   14   drop a slot's future                      15 pool.wait_for(0), or pool.wait() (bit 3)
// Tasks are short: none blocks or sleeps, except a nested task in the get() of its own child,
// which the pool runs (helping) or another worker does.
//
// Invariants. A violation prints what was found on standard error and aborts, which libFuzzer
// reports as a crash with the input that caused it.
//   V1 Every task runs at most once; a task whose submission was refused, or whose cancel()
//      returned true, never runs; after join, every task that started has finished.
//   V2 Every on_done callback runs exactly once; one that throws reaches on_error, or the
//      caller that registered it, exactly once.
//   V3 A post()ed task that threw reaches on_error exactly once; nothing else does (submitted
//      tasks and continuations keep their exceptions in their futures).
//   V4 Every future is done once the pool is joined (and whenever pool.wait() returned), and
//      its outcome matches what its task did: the value it returned, the exception it threw,
//      cancelled only if it never ran, failed without running only for a continuation.
//   V5 Before shutdown every submission from this (outside) thread is accepted, after it each
//      one throws pool_shutdown; a submission from a running task is always accepted.
//   V6 A stop-aware task sees its stop requested if a pool.request_stop() made after its
//      submission returned before the task looked, and sees it only if some request (the
//      pool's, or its own future's) was made after its submission.
//   V7 At rest after join: no task queued or running, no live worker; completed equals the
//      tasks that returned, failed those that threw plus the continuations of failed tasks,
//      cancelled at least the cancellations seen here, rejected the refusals seen here, and
//      completed + failed + cancelled + rejected equals every submission (the identity of
//      pool_stats.hpp).
//   V8 Once the pool is destroyed, a held future stays usable: it is done, then() throws
//      pool_shutdown, and on_done runs at once.
//
// Length. Over 500 lines because a libFuzzer target is one program: the decoder of the input,
// the operations it drives and the invariants checked at the end share one session's state.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/pool_options.hpp>
#include <weft/pool_stats.hpp>
#include <weft/thread_pool.hpp>

namespace {

using weft::future_state;

constexpr std::size_t max_operations = 128;
constexpr std::size_t slot_count = 8;
// A lingering stop-aware task yields up to this many times while its stop is not requested, so
// that a later pool.request_stop() often finds it running. Bounded: it never waits for a stop.
constexpr int linger_rounds = 256;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "api_sequence_fuzz: invariant violated: %s\n", what.c_str());
  std::abort();
}

void require(bool condition, const char* what) {
  if (!condition) {
    fail(what);
  }
}

/// Something that may throw a planned_error: counts how often its exception was delivered.
struct reporter {
  std::atomic<int> reported{0};
};

/// The exception the harness's tasks and callbacks throw on purpose.
class planned_error : public std::runtime_error {
 public:
  explicit planned_error(reporter* source)
      : std::runtime_error("api_sequence_fuzz: planned"), source_(source) {}
  [[nodiscard]] reporter* source() const noexcept { return source_; }

 private:
  reporter* source_;
};

enum class task_kind : std::uint8_t { value, throwing, stop_aware, nested, child, post, then };
enum class outcome : std::uint8_t { none, returned, threw };

/// What the harness knows about one task. Written by the harness thread before the task is
/// submitted (a submission happens-before its task starts) and by the task while it runs; the
/// harness reads the task's fields only after an edge to the task's end (its future observed
/// done, or join), so relaxed accesses suffice except where a comment says otherwise.
struct task_record : reporter {
  task_kind kind = task_kind::value;
  bool throws = false;  // throws planned_error(this) when it runs
  int value = 0;
  std::uint64_t stop_calls_at_submit = 0;
  bool refused = false;
  bool counted = false;                // a submission the pool saw (accepted or refused)
  std::atomic<bool> cancelled{false};  // our cancel() returned true
  std::atomic<bool> own_stop{false};   // our future.request_stop() returned true
  task_record* child = nullptr;        // kind nested: the record of its child
  weft::future<int> source;            // kind then: the future it continues

  std::atomic<int> runs{0};
  std::atomic<outcome> result{outcome::none};
  std::atomic<int> returned{0};
  std::atomic<bool> saw_stop{false};
  std::atomic<bool> submitted{false};  // kind child: its parent submitted it
};

struct callback_record : reporter {
  bool throws = false;
  std::atomic<int> calls{0};
};

void note_run(task_record& r) {
  // relaxed: the RMW alone detects a second run (V1).
  if (r.runs.fetch_add(1, std::memory_order_relaxed) != 0) {
    fail("a task ran twice (V1)");
  }
  if (r.cancelled.load(std::memory_order_relaxed) || r.refused) {
    fail("a cancelled or refused task ran (V1)");
  }
}

int finish(task_record& r, int v) {
  if (r.throws) {
    r.result.store(outcome::threw, std::memory_order_relaxed);
    throw planned_error(&r);
  }
  r.returned.store(v, std::memory_order_relaxed);
  r.result.store(outcome::returned, std::memory_order_relaxed);
  return v;
}

void note_callback(callback_record& c) {
  if (c.calls.fetch_add(1, std::memory_order_relaxed) != 0) {
    fail("an on_done callback ran twice (V2)");
  }
}

/// Checks that a done future agrees with its task's record (V4). Any thread; `f` is done.
void check_outcome(const weft::future<int>& f, const task_record& r) {
  const int runs = r.runs.load(std::memory_order_relaxed);
  const outcome result = r.result.load(std::memory_order_relaxed);
  switch (f.state()) {
    case future_state::succeeded:
      require(runs == 1 && result == outcome::returned, "succeeded, but the task did not return");
      require(f.get() == r.returned.load(std::memory_order_relaxed), "get() is not the value");
      return;
    case future_state::failed:
      if (runs == 0) {
        require(r.kind == task_kind::then, "failed without running, and not a continuation");
      } else {
        require(result == outcome::threw, "failed, but the task did not throw");
      }
      try {
        std::rethrow_exception(f.exception());
      } catch (const planned_error& e) {
        require(runs == 0 || e.source() == &r, "failed with another task's exception");
      } catch (const weft::cancelled_error&) {
        require(runs == 0 || r.kind == task_kind::nested, "failed with cancelled_error");
      }
      return;
    case future_state::cancelled:
      require(runs == 0, "cancelled, but the task ran (V4)");
      return;
    default:
      fail("a future is not done (V4)");
  }
}

/// One input: a pool, the records of everything submitted to it, and the held futures.
/// Members are destroyed in reverse order: the futures, then the pool, then the records that
/// the tasks and callbacks point to.
class session {
 public:
  explicit session(std::size_t operations) : tasks_(2 * operations), callbacks_(operations) {}

  void run(const std::uint8_t* data, std::size_t size);

 private:
  struct slot {
    weft::future<int> f;
    task_record* record = nullptr;
  };

  void operation(std::uint8_t op, std::uint8_t arg);
  task_record& new_task(task_kind kind);
  void submit(task_kind kind, std::uint8_t arg);
  void submit_nested(task_record& r, slot& s);
  void post(std::uint8_t arg);
  void then(std::uint8_t arg);
  void on_done(std::uint8_t arg);
  void cancel(slot& s);
  void get_for(slot& s, std::uint8_t arg);
  void wait_for(slot& s, std::uint8_t arg);
  void request_stop(slot& s);
  void pool_wait(std::uint8_t arg);
  void stop_task(task_record& r, const std::stop_token& token) const;
  void on_error(const std::exception_ptr& e) const;
  void check_all_done() const;
  void check_records() const;
  void check_stats(const weft::pool_stats& st) const;
  void check_after_destruction() const;

  std::vector<task_record> tasks_;
  std::vector<callback_record> callbacks_;
  std::size_t task_count_ = 0;
  std::size_t callback_count_ = 0;
  // Incremented (release) after each pool.request_stop() returns; tasks load it (acquire) for
  // V6: a request they see counted reached their token before it returned.
  std::atomic<std::uint64_t> pool_stop_calls_{0};
  std::uint64_t refusals_ = 0;
  std::uint64_t cancels_seen_ = 0;
  bool shut_down_ = false;
  std::optional<weft::thread_pool> pool_;
  std::array<slot, slot_count> slots_;
};

void session::run(const std::uint8_t* data, std::size_t size) {
  const std::uint8_t config = size > 0 ? data[0] : 0;
  pool_.emplace(weft::pool_options{
      .threads = 1 + (config & 1U),
      .name = "fuzz",
      .on_error = [this](std::exception_ptr e) { on_error(e); },
  });
  for (std::size_t i = 1, n = 0; i < size && n < max_operations; i += 2, ++n) {
    operation(data[i], i + 1 < size ? data[i + 1] : 0);
  }
  if ((config & 2U) != 0) {
    pool_.reset();  // the destructor joins
    check_records();
  } else {
    pool_->join();
    check_records();
    check_stats(pool_->stats());
    pool_.reset();
  }
  check_all_done();
  check_after_destruction();
}

void session::operation(std::uint8_t op, std::uint8_t arg) {
  slot& s = slots_[arg % slot_count];
  switch (op % 16) {
    case 0:
      return submit(task_kind::value, arg);
    case 1:
      return submit(task_kind::throwing, arg);
    case 2:
      return submit(task_kind::stop_aware, arg);
    case 3:
      return submit(task_kind::nested, arg);
    case 4:
      return post(arg);
    case 5:
      return then(arg);
    case 6:
      return on_done(arg);
    case 7:
      return cancel(s);
    case 8:
      return get_for(s, arg);
    case 9:
      return wait_for(s, arg);
    case 10:
      return request_stop(s);
    case 11:
      pool_->request_stop();
      pool_stop_calls_.fetch_add(1, std::memory_order_release);  // pairs with stop_task's load
      return;
    case 12:
      cancels_seen_ += pool_->cancel_pending();
      return;
    case 13:
      shut_down_ = true;
      if ((arg & 8U) != 0) {
        pool_->join();
        check_all_done();
      } else {
        pool_->shutdown();
      }
      return;
    case 14:
      s = slot{};
      return;
    default:
      return pool_wait(arg);
  }
}

task_record& session::new_task(task_kind kind) {
  task_record& r = tasks_.at(task_count_);
  r.kind = kind;
  r.value = static_cast<int>(task_count_++) + 1;
  r.stop_calls_at_submit = pool_stop_calls_.load(std::memory_order_relaxed);  // our own writes
  r.counted = kind != task_kind::child;  // a child counts once its parent submitted it
  return r;
}

void session::stop_task(task_record& r, const std::stop_token& token) const {
  // acquire: pairs with the release after pool.request_stop() returned (V6).
  const std::uint64_t calls = pool_stop_calls_.load(std::memory_order_acquire);
  const bool stopped = token.stop_requested();
  if (calls > r.stop_calls_at_submit && !stopped) {
    fail("pool.request_stop() returned, but a task submitted before it sees no stop (V6)");
  }
  r.saw_stop.store(stopped, std::memory_order_relaxed);
}

void session::submit(task_kind kind, std::uint8_t arg) {
  slot& s = slots_[arg % slot_count];
  task_record& r = new_task(kind);
  r.throws = kind == task_kind::throwing;
  try {
    switch (kind) {
      case task_kind::stop_aware:
        s.f = pool_->submit([this, &r, linger = (arg & 8U) != 0](std::stop_token token) {
          note_run(r);
          for (int i = 0; linger && i < linger_rounds && !token.stop_requested(); ++i) {
            std::this_thread::yield();
          }
          stop_task(r, token);
          return finish(r, r.saw_stop.load(std::memory_order_relaxed) ? -r.value : r.value);
        });
        break;
      case task_kind::nested:
        submit_nested(r, s);
        break;
      default:
        s.f = pool_->submit([&r] {
          note_run(r);
          return finish(r, r.value);
        });
        break;
    }
  } catch (const weft::pool_shutdown&) {
    require(shut_down_, "a submission was refused before shutdown (V5)");
    r.refused = true;
    ++refusals_;
    return;
  }
  require(!shut_down_, "a submission was accepted after shutdown (V5)");
  s.record = &r;
}

void session::submit_nested(task_record& r, slot& s) {
  task_record& c = new_task(task_kind::child);
  r.child = &c;
  weft::thread_pool* pool = &*pool_;
  s.f = pool_->submit([&r, &c, pool] {
    note_run(r);
    weft::future<int> child;
    try {
      child = pool->submit([&c] {
        note_run(c);
        return finish(c, c.value);
      });
    } catch (const std::exception& e) {
      fail(std::string("a submission from a running task threw (V5): ") + e.what());
    }
    c.submitted.store(true, std::memory_order_relaxed);
    try {
      return finish(r, child.get() + 1);  // helps: may run the child itself
    } catch (const weft::cancelled_error&) {
      r.result.store(outcome::threw, std::memory_order_relaxed);  // cancel_pending() took it
      throw;
    }
  });
}

void session::post(std::uint8_t arg) {
  task_record& r = new_task(task_kind::post);
  r.throws = (arg & 8U) != 0;
  try {
    if ((arg & 16U) != 0) {
      pool_->post([this, &r](std::stop_token token) {
        note_run(r);
        stop_task(r, token);
        finish(r, r.value);
      });
    } else {
      pool_->post([&r] {
        note_run(r);
        finish(r, r.value);
      });
    }
  } catch (const weft::pool_shutdown&) {
    require(shut_down_, "a post was refused before shutdown (V5)");
    r.refused = true;
    ++refusals_;
    return;
  }
  require(!shut_down_, "a post was accepted after shutdown (V5)");
}

void session::then(std::uint8_t arg) {
  const slot& from = slots_[arg % slot_count];
  slot& to = slots_[static_cast<std::size_t>(arg >> 3U) % slot_count];
  if (!from.f.valid()) {
    return;
  }
  task_record& r = new_task(task_kind::then);
  r.throws = (arg & 64U) != 0;
  r.source = from.f;
  try {
    to.f = from.f.then([&r](int v) {
      note_run(r);
      return finish(r, v + 1);
    });
  } catch (const weft::pool_shutdown&) {
    // then() refuses only a done future on a shut-down pool; it counts in rejected.
    require(shut_down_ && r.source.done(), "then() was refused before shutdown (V5)");
    r.refused = true;
    ++refusals_;
    return;
  }
  to.record = &r;
}

void session::on_done(std::uint8_t arg) {
  const slot& s = slots_[arg % slot_count];
  if (!s.f.valid()) {
    return;
  }
  callback_record& c = callbacks_.at(callback_count_++);
  c.throws = (arg & 8U) != 0;
  const task_record* r = s.record;
  try {
    if ((arg & 16U) != 0) {
      s.f.on_done([&c] {
        note_callback(c);
        if (c.throws) {
          throw planned_error(&c);
        }
      });
    } else {
      s.f.on_done([&c, r](const weft::future<int>& f) {
        note_callback(c);
        require(f.done(), "an on_done callback ran before its future was done (V2)");
        check_outcome(f, *r);
        if (c.throws) {
          throw planned_error(&c);
        }
      });
    }
  } catch (const planned_error& e) {
    // The future was done: the callback ran here, and its exception is ours (V2).
    require(e.source() == &c, "on_done() threw another callback's exception");
    c.reported.fetch_add(1, std::memory_order_relaxed);
  }
}

void session::cancel(slot& s) {
  if (!s.f.valid()) {
    return;
  }
  if (s.f.cancel()) {
    s.record->cancelled.store(true, std::memory_order_relaxed);
    ++cancels_seen_;
    require(s.f.cancelled(), "cancel() returned true, but the future is not cancelled");
    require(!s.f.cancel(), "a second cancel() returned true");
  }
}

void session::get_for(slot& s, std::uint8_t arg) {
  if (!s.f.valid()) {
    return;
  }
  try {
    const int v = s.f.get_for(std::chrono::microseconds(arg >> 3U));
    require(s.f.state() == future_state::succeeded, "get_for() returned, but not succeeded");
    require(v == s.record->returned.load(std::memory_order_relaxed), "get_for() is not the value");
  } catch (const weft::timeout_error&) {
    // Not done in time: nothing to check (the task goes on).
  } catch (const weft::cancelled_error&) {
    // Cancelled, or a nested task whose child was cancelled: check_outcome tells which.
    check_outcome(s.f, *s.record);
  } catch (const planned_error&) {
    check_outcome(s.f, *s.record);
  }
}

void session::wait_for(slot& s, std::uint8_t arg) {
  if (!s.f.valid()) {
    return;
  }
  const auto timeout = std::chrono::microseconds((arg & 8U) != 0 ? (arg >> 4U) * 16U : 0U);
  if (s.f.wait_for(timeout)) {
    check_outcome(s.f, *s.record);
  }
}

void session::request_stop(slot& s) {
  if (!s.f.valid()) {
    return;
  }
  if (s.f.request_stop()) {
    require(s.record->kind == task_kind::stop_aware, "request_stop() true without a token");
    s.record->own_stop.store(true, std::memory_order_relaxed);
  }
}

void session::pool_wait(std::uint8_t arg) {
  if ((arg & 8U) != 0) {
    pool_->wait();
  } else if (!pool_->wait_for(std::chrono::seconds(0))) {
    return;
  }
  // Idle: nothing queued or running, so every accepted task is done (V4).
  check_all_done();
}

void session::on_error(const std::exception_ptr& e) const {
  try {
    std::rethrow_exception(e);
  } catch (const planned_error& planned) {
    planned.source()->reported.fetch_add(1, std::memory_order_relaxed);
  } catch (const std::exception& other) {
    fail(std::string("on_error received an unexpected exception: ") + other.what());
  } catch (...) {
    fail("on_error received an unexpected non-standard exception");
  }
}

void session::check_all_done() const {
  for (const slot& s : slots_) {
    if (s.f.valid()) {
      require(s.f.done(), "a future is not done although the pool is idle or joined (V4)");
      check_outcome(s.f, *s.record);
    }
  }
}

void session::check_records() const {
  for (std::size_t i = 0; i < task_count_; ++i) {
    const task_record& r = tasks_[i];
    const int runs = r.runs.load(std::memory_order_relaxed);
    const outcome result = r.result.load(std::memory_order_relaxed);
    require((runs == 0) == (result == outcome::none), "a task started but did not finish (V1)");
    require(runs == 0 || !(r.refused || r.cancelled.load(std::memory_order_relaxed)),
            "a refused task, or one whose cancel() returned true, ran (V1)");
    const bool delivered = r.kind == task_kind::post && result == outcome::threw;
    require(r.reported.load(std::memory_order_relaxed) == (delivered ? 1 : 0),
            "on_error did not receive exactly the exceptions of post()ed tasks (V3)");
    if (r.kind == task_kind::nested && runs == 1) {
      require(r.child->submitted.load(std::memory_order_relaxed), "a nested task lost its child");
    }
    const bool stop_possible =
        pool_stop_calls_.load(std::memory_order_relaxed) > r.stop_calls_at_submit ||
        r.own_stop.load(std::memory_order_relaxed);
    require(!r.saw_stop.load(std::memory_order_relaxed) || stop_possible,
            "a task saw a stop that nobody requested after its submission (V6)");
  }
  for (std::size_t i = 0; i < callback_count_; ++i) {
    const callback_record& c = callbacks_[i];
    require(c.calls.load(std::memory_order_relaxed) == 1,
            "an on_done callback did not run exactly once (V2)");
    require(c.reported.load(std::memory_order_relaxed) == (c.throws ? 1 : 0),
            "an on_done callback's exception was not delivered exactly once (V2)");
  }
}

void session::check_stats(const weft::pool_stats& st) const {
  std::uint64_t submissions = 0;
  std::uint64_t returned = 0;
  std::uint64_t failed = 0;
  for (std::size_t i = 0; i < task_count_; ++i) {
    const task_record& r = tasks_[i];
    if (r.counted || r.submitted.load(std::memory_order_relaxed)) {
      ++submissions;
    }
    const outcome result = r.result.load(std::memory_order_relaxed);
    returned += result == outcome::returned ? 1 : 0;
    failed += result == outcome::threw ? 1 : 0;
    // A continuation of a failed task fails without running (counted in failed), unless our
    // cancel() got it first.
    if (r.kind == task_kind::then && !r.refused && !r.cancelled.load(std::memory_order_relaxed) &&
        r.source.state() == future_state::failed) {
      ++failed;
    }
  }
  const auto report = [&](const char* what) {
    fail(std::string(what) + " (V7): completed " + std::to_string(st.completed) + ", failed " +
         std::to_string(st.failed) + ", cancelled " + std::to_string(st.cancelled) + ", rejected " +
         std::to_string(st.rejected) + ", queued " + std::to_string(st.queued) + ", running " +
         std::to_string(st.running) + ", threads " + std::to_string(st.threads) +
         "; expected completed " + std::to_string(returned) + ", failed " + std::to_string(failed) +
         ", cancelled at least " + std::to_string(cancels_seen_) + ", rejected " +
         std::to_string(refusals_) + ", submissions " + std::to_string(submissions));
  };
  if (st.queued != 0 || st.running != 0 || st.threads != 0) {
    report("a joined pool is not at rest");
  }
  if (st.completed != returned || st.failed != failed || st.rejected != refusals_) {
    report("the counters disagree with what the tasks did");
  }
  if (st.cancelled < cancels_seen_ ||
      st.completed + st.failed + st.cancelled + st.rejected != submissions) {
    report("completed + failed + cancelled + rejected is not every submission");
  }
}

void session::check_after_destruction() const {
  for (const slot& s : slots_) {
    if (!s.f.valid()) {
      continue;
    }
    try {
      static_cast<void>(s.f.then([](int v) { return v; }));
      fail("then() on a future of a destroyed pool did not throw (V8)");
    } catch (const weft::pool_shutdown&) {
      // As documented.
    }
    bool ran = false;
    s.f.on_done([&ran] { ran = true; });
    require(ran, "on_done() on a done future did not run at once (V8)");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  session one(std::min(size / 2 + 1, max_operations));
  try {
    one.run(data, size);
  } catch (const std::exception& e) {
    fail(std::string("an unexpected exception reached the harness: ") + e.what());
  } catch (...) {
    fail("an unexpected non-standard exception reached the harness");
  }
  return 0;
}
