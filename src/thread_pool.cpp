// The engine behind weft::thread_pool. The design note, with the protocol steps (B1-B2, L1-L2,
// H1) and invariants (I1-I3) cited below, is at the top of pool_core.hpp; the parking protocol
// (S1-S4, W1-W2) is in include/weft/detail/sleep_controller.hpp.

#include <algorithm>
#include <cstdio>
#include <string>
#include <system_error>

#include "message.hpp"
#include "platform/thread_name.hpp"
#include "pool_core.hpp"
#include <weft/detail/backoff.hpp>
#include <weft/error.hpp>
#include <weft/this_worker.hpp>
#include <weft/thread_pool.hpp>

namespace weft {
inline namespace v1 {
namespace detail {
namespace {

constexpr std::uint64_t epoch_one = std::uint64_t{1} << 32;
constexpr std::uint64_t count_mask = epoch_one - 1;

std::size_t resolve_threads(std::size_t requested) noexcept {
  if (requested != 0) {
    return requested;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : hw;
}

std::string describe(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "an exception of a type not derived from std::exception";
  }
}

/// A fire-and-forget task moved into a node, so a worker can keep it in its deque.
class boxed_task final : public task_node {
 public:
  explicit boxed_task(task&& t) noexcept : task_(std::move(t)) {}
  run_outcome run_and_release(std::exception_ptr& error) noexcept override {
    const run_outcome outcome = task_.run(error);
    delete this;
    return outcome;
  }
  bool cancel_and_release(const std::exception_ptr& reason) noexcept override {
    const bool stopped = task_.cancel(reason);
    delete this;
    return stopped;
  }

 private:
  ~boxed_task() = default;
  task task_;
};

std::uint64_t next_random(std::uint64_t& state) noexcept {
  // xorshift64: victim selection needs speed and spread, not quality.
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

}  // namespace

worker_context& current_worker() noexcept {
  thread_local worker_context context;
  return context;
}

// ---- construction and destruction ------------------------------------------------------------

pool_core::pool_core(thread_pool* owner, pool_options options)
    : owner_(owner),
      options_(std::move(options)),
      name_(options_.name.empty() ? std::string("weft") : options_.name),
      sleep_(resolve_threads(options_.threads)) {
  const std::size_t n = resolve_threads(options_.threads);
  workers_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    workers_.push_back(std::make_unique<worker>(i));
  }
  const unique_lock lock(stop_mutex_);
  stop_source_ = std::stop_source{};
}

void pool_core::start_workers() {
  for (auto& w : workers_) {
    worker* self = w.get();
    try {
      live_threads_.fetch_add(1, std::memory_order_relaxed);  // a statistic
      w->thread = std::thread([this, self] { worker_main(*self); });
      ++started_threads_;
    } catch (const std::system_error& e) {
      live_threads_.fetch_sub(1, std::memory_order_relaxed);
      if (started_threads_ == 0) {
        throw std::system_error(
            e.code(), cat({"weft::thread_pool::thread_pool: pool '", name_,
                           "' could not start any worker thread (", e.what(),
                           "); lower the thread count or raise the system's thread limit"}));
      }
      // Some workers run: the pool works with fewer. Workers that never started keep empty
      // deques and are never woken.
      report_error(std::current_exception());
      break;
    }
  }
}

pool_core::~pool_core() = default;

// ---- workers ---------------------------------------------------------------------------------

void pool_core::worker_main(worker& me) {
  worker_context& ctx = current_worker();
  ctx.core = this;
  ctx.self = &me;
  set_current_thread_name(worker_thread_name(name_, me.index));
  bool started = true;
  if (options_.on_thread_start) {
    try {
      options_.on_thread_start();
    } catch (...) {
      report_error(std::current_exception());
      break_pool(std::current_exception());
      started = false;
    }
  }
  if (started) {
    ctx.in_loop = true;
    worker_loop(me);
    ctx.in_loop = false;
  } else {
    // Tasks this worker fails count as cancelled, like those break_pool() drains (I2).
    cancelled_.fetch_add(drain(broken_error_), std::memory_order_relaxed);  // a statistic
  }
  if (options_.on_thread_exit) {
    try {
      options_.on_thread_exit();
    } catch (...) {
      report_error(std::current_exception());
    }
  }
  ctx = worker_context{};
  live_threads_.fetch_sub(1, std::memory_order_relaxed);  // a statistic
  const unique_lock lock(life_mutex_);
  ++exited_;
  life_cv_.notify_all();
}

void pool_core::worker_loop(worker& me) {
  bool searching = false;  // counted in sleep_.searching() (S1, S4)
  for (;;) {
    go_busy(me);  // B1: busy before taking
    task t;
    while (take_work(me, t)) {
      if (searching) {
        searching = false;
        // S1 chain wake: the last searcher that found work wakes one more if more is visible.
        if (sleep_.end_search() && work_visible()) {
          sleep_.notify_one();
        }
      }
      run_task(me, t);
      if (broken_.load(std::memory_order_acquire)) [[unlikely]] {
        break;
      }
    }
    go_idle(me);  // B1: found nothing anywhere
    if (broken_.load(std::memory_order_acquire)) [[unlikely]] {
      if (searching) {
        sleep_.end_search();
      }
      // Counted like break_pool()'s drain (I2).
      cancelled_.fetch_add(drain(broken_error_), std::memory_order_relaxed);  // a statistic
      return;
    }
    if (!search_then_park(me, searching)) {
      return;  // stopping
    }
  }
}

bool pool_core::search_then_park(worker& me, bool& searching) {
  if (!searching) {
    searching = sleep_.try_begin_search();
  }
  if (searching) {
    // S1: bounded search with backoff (peeks only; taking happens after go_busy).
    backoff bo;
    for (unsigned round = 0; round < search_rounds_before_park; ++round) {
      if (work_visible()) {
        return true;  // keep counting as a searcher; the caller goes busy and takes it
      }
      if (stopping_.load(std::memory_order_acquire)) {
        break;
      }
      bo.pause();
    }
    searching = false;
    sleep_.end_search();
  }
  for (;;) {
    sleep_.announce(me.index);  // S2
    // S3: seq_cst re-check of every queue and of the stop flag.
    const bool stop =
        stopping_.load(std::memory_order_seq_cst) || broken_.load(std::memory_order_seq_cst);
    if (stop || work_visible()) {
      if (!sleep_.cancel_announce(me.index)) {
        searching = true;  // a waker took us: we count as a searcher (S4)
      } else if (!stop) {
        // S3: work seen after our end_search. A publisher may have skipped its wake-up because
        // we were searching, so search again: taking the work then runs the chain wake (S1).
        // If the searcher limit is reached, another searcher answers for the work, as for a
        // publisher that saw searching_ > 0.
        searching = sleep_.try_begin_search();
      }
      if (stop && !broken_.load(std::memory_order_acquire)) {
        if (searching) {
          searching = false;
          sleep_.end_search();
        }
        return false;
      }
      return true;
    }
    sleep_.park(me.index);  // S4: woken as a searcher
    searching = true;
    if (stopping_.load(std::memory_order_acquire)) {
      searching = false;
      sleep_.end_search();
      return false;
    }
    return true;
  }
}

void pool_core::go_busy(worker& me) noexcept {
  if (!me.busy) {
    me.busy = true;
    busy_.fetch_add(1 + epoch_one, std::memory_order_seq_cst);  // B1 (see memory orders)
  }
}

void pool_core::go_idle(worker& me) noexcept {
  if (me.busy) {
    me.busy = false;
    const std::uint64_t before = busy_.fetch_sub(1, std::memory_order_seq_cst);  // B1
    if ((before & count_mask) == 1) {
      notify_idle_waiters();
    }
  }
}

bool pool_core::take_work(worker& me, task& out) {
  // Every injection_check_interval tasks, outside submissions first (no starvation, B12).
  const bool outside_first = ++me.tick >= injection_check_interval;
  if (outside_first) {
    me.tick = 0;
    if (injection_.pop(out) == injection_queue::pop_status::taken) {
      return true;
    }
  }
  if (task_node* node = me.deque.pop()) {
    out = task(node);
    return true;
  }
  if (injection_.pop(out) == injection_queue::pop_status::taken) {
    return true;
  }
  return steal_work(me, out);
}

bool pool_core::steal_work(worker& me, task& out) {
  const std::size_t n = workers_.size();
  if (n <= 1) {
    return false;
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool contended = false;
    const std::size_t start = static_cast<std::size_t>(next_random(me.rng) % n);
    for (std::size_t k = 0; k < n; ++k) {
      worker& victim = *workers_[(start + k) % n];
      if (&victim == &me) {
        continue;
      }
      task_node* node = nullptr;
      const steal_status status = victim.deque.steal(node);
      if (status == steal_status::taken) {
        out = task(node);
        return true;
      }
      contended = contended || status == steal_status::contended;
    }
    if (!contended) {
      return false;
    }
  }
  return false;
}

void pool_core::run_task(worker& me, task& t) noexcept {
  if (broken_.load(std::memory_order_acquire)) [[unlikely]] {
    // Taken as the pool broke: it fails with broken_pool instead of running (A5).
    if (t.cancel(broken_error_)) {
      cancelled_.fetch_add(1, std::memory_order_relaxed);  // a statistic
    } else {
      me.stale_dropped.add();
    }
    return;
  }
  me.running.add();
  std::exception_ptr error;
  const run_outcome outcome = t.run(error);
  me.running.sub();
  count_outcome(me, outcome, false);
  if (error) {
    report_error(error);  // a fire-and-forget task threw: on_error, exactly once
  }
}

void pool_core::count_outcome(worker& me, run_outcome outcome, bool stale_claim) noexcept {
  switch (outcome) {
    case run_outcome::succeeded:
      me.completed.add();
      break;
    case run_outcome::failed:
      me.failed.add();
      break;
    case run_outcome::skipped:
      me.stale_dropped.add();  // a stale entry left its queue (I3)
      return;
  }
  if (stale_claim) {
    me.stale_created.add();  // its queue entry stays behind, stale (I3)
  }
}

bool pool_core::work_visible() const noexcept {
  // seq_cst loads throughout (the S3 re-check side of the Dekker pairs).
  if (!injection_.looks_empty()) {
    return true;
  }
  return std::any_of(workers_.begin(), workers_.end(),
                     [](const std::unique_ptr<worker>& w) { return !w->deque.empty(); });
}

bool pool_core::is_idle() const noexcept {
  // B2.
  const std::uint64_t before = busy_.load(std::memory_order_seq_cst);
  if ((before & count_mask) != 0 || work_visible()) {
    return false;
  }
  return busy_.load(std::memory_order_seq_cst) == before;
}

// ---- submission ------------------------------------------------------------------------------

void pool_core::refuse(const char* function) const {
  if (broken_.load(std::memory_order_acquire)) {
    throw broken_pool(cat({function, ": ", describe(broken_error_)}));
  }
  throw pool_shutdown(cat({function, ": pool '", name_,
                           "' is shut down and accepts no new tasks; submit before shutdown() "
                           "or join(), or create a new pool"}));
}

void pool_core::check_open(const char* function) const {
  if (own_loop_worker() != nullptr && !broken_.load(std::memory_order_acquire)) {
    return;  // a worker's own submissions are never refused
  }
  if (injection_.is_closed() || broken_.load(std::memory_order_acquire)) {
    rejected_.fetch_add(1, std::memory_order_relaxed);  // a statistic
    refuse(function);
  }
}

void pool_core::push_local(worker& me, task_node* node) {
  me.deque.push(node);  // W1: a seq_cst store
  sleep_.notify_one();  // W2
}

void pool_core::push_outside(task& t, bool bypass_close, const char* function) {
  if (!injection_.push(t, bypass_close)) {
    rejected_.fetch_add(1, std::memory_order_relaxed);  // off the hot path
    refuse(function);
  }
  sleep_.notify_one();  // W2 after the seq_cst publication (W1) in push
}

void pool_core::post(task& t, const char* function) {
  if (worker* me = own_loop_worker()) {
    push_local(*me, new boxed_task(std::move(t)));
  } else {
    push_outside(t, false, function);
  }
}

void pool_core::submit(state_base* s, const char* function) {
  s->mark_queued_unshared();  // fresh: no other thread holds the future yet
  if (worker* me = own_loop_worker()) {
    push_local(*me, s);
    return;
  }
  task t(s);
  try {
    push_outside(t, false, function);
  } catch (...) {
    static_cast<void>(t.cancel(nullptr));  // never ran, never counted: it was refused
    throw;
  }
}

void pool_core::submit_continuation(state_base* s) {
  if (!s->mark_queued()) {
    s->release();  // cancelled through its own future meanwhile
    return;
  }
  if (broken_.load(std::memory_order_acquire)) [[unlikely]] {
    // A broken pool runs nothing, and a draining worker may already have passed the deque
    // this would go to: fail it here (counted like the drains' failures).
    task t(s);
    if (t.cancel(broken_error_)) {
      cancelled_.fetch_add(1, std::memory_order_relaxed);  // a statistic
    }
    return;
  }
  if (worker* me = own_loop_worker()) {
    push_local(*me, s);
    return;
  }
  task t(s);
  // Bypass the closed entrance: the continuation belongs to work that was already accepted.
  static_cast<void>(injection_.push(t, true));
  sleep_.notify_one();
  // L2: if join already let the workers go, nobody will run it: cancel it (never pending).
  if (stopping_.load(std::memory_order_seq_cst)) {
    cancel_stragglers();
  }
}

void pool_core::check_continuation_accepted() const {
  if (injection_.is_closed() && own_loop_worker() == nullptr) {
    rejected_.fetch_add(1, std::memory_order_relaxed);  // a statistic
    refuse("weft::future::then");
  }
}

std::stop_token pool_core::stop_token() {
  const unique_lock lock(stop_mutex_);
  return stop_source_.get_token();
}

void pool_core::request_stop() {
  const unique_lock lock(stop_mutex_);
  stop_source_.request_stop();
  stop_source_ = std::stop_source{};  // a fresh epoch for later submissions
}

// ---- waiting and lifecycle -------------------------------------------------------------------

bool pool_core::wait_until(steady_time deadline, const char* function) {
  if (on_own_worker()) {
    throw usage_error(cat({function, ": called from worker ",
                           std::to_string(current_worker().self->index), " of pool '", name_,
                           "', it could never return (the calling task itself keeps the pool "
                           "busy); wait on the futures of the tasks instead"}));
  }
  unique_lock lock(idle_mutex_);
  idle_waiters_.fetch_add(1, std::memory_order_seq_cst);  // Dekker pair with go_idle()
  bool idle = is_idle();
  while (!idle) {
    if (deadline == steady_time::max()) {
      idle_cv_.wait(lock.native());
    } else if (idle_cv_.wait_until(lock.native(), deadline) == std::cv_status::timeout) {
      idle = is_idle();
      break;
    }
    idle = is_idle();
  }
  idle_waiters_.fetch_sub(1, std::memory_order_seq_cst);
  return idle;
}

void pool_core::shutdown() noexcept {
  injection_.close();
}  // L1

bool pool_core::join_until(steady_time deadline, const char* function) {
  if (on_own_worker()) {
    throw usage_error(cat({function, ": called from worker ",
                           std::to_string(current_worker().self->index), " of pool '", name_,
                           "', a pool cannot join itself; call it from a thread outside the "
                           "pool"}));
  }
  shutdown();
  if (!wait_until(deadline, function)) {  // L2: closed and idle stays idle
    return false;
  }
  if (!stopping_.exchange(true, std::memory_order_seq_cst)) {
    sleep_.wake_all();  // X1
  }
  unique_lock lock(life_mutex_);
  while (exited_ < started_threads_) {
    if (deadline == steady_time::max()) {
      life_cv_.wait(lock.native());
    } else if (life_cv_.wait_until(lock.native(), deadline) == std::cv_status::timeout &&
               exited_ < started_threads_) {
      return false;
    }
  }
  if (!joining_) {
    // The first joiner joins the threads and cancels stragglers, holding no lock of ours
    // (cancelling runs user callbacks); later joiners wait until it is done (L6).
    joining_ = true;
    lock.native().unlock();
    for (auto& w : workers_) {
      if (w->thread.joinable()) {
        w->thread.join();
      }
    }
    cancel_stragglers();
    lock.native().lock();
    joined_ = true;
    life_cv_.notify_all();
    return true;
  }
  while (!joined_) {
    if (deadline == steady_time::max()) {
      life_cv_.wait(lock.native());
    } else if (life_cv_.wait_until(lock.native(), deadline) == std::cv_status::timeout &&
               !joined_) {
      return false;
    }
  }
  return true;
}

void pool_core::cancel_stragglers() noexcept {
  // C12: whatever a racing continuation queued after the workers left ends cancelled, and a
  // waiter that saw it queued learns that the pool is idle again.
  cancelled_.fetch_add(drain(nullptr), std::memory_order_relaxed);  // a statistic
  notify_idle_waiters();
}

void pool_core::notify_idle_waiters() noexcept {
  if (idle_waiters_.load(std::memory_order_seq_cst) != 0) {  // Dekker pair with wait_until()
    const unique_lock lock(idle_mutex_);
    idle_cv_.notify_all();
  }
}

std::size_t pool_core::drain(const std::exception_ptr& reason) noexcept {
  std::size_t stopped = 0;
  std::uint64_t stale = 0;
  task t;
  while (injection_.pop(t) == injection_queue::pop_status::taken) {
    if (t.cancel(reason)) {
      ++stopped;
    } else {
      ++stale;
    }
  }
  for (auto& w : workers_) {
    task_node* node = nullptr;
    for (;;) {
      const steal_status status = w->deque.steal(node);
      if (status == steal_status::empty) {
        break;
      }
      if (status == steal_status::taken) {
        if (node->cancel_and_release(reason)) {
          ++stopped;
        } else {
          ++stale;
        }
      }
    }
  }
  stale_dropped_ext_.fetch_add(stale, std::memory_order_relaxed);  // a statistic
  return stopped;
}

std::size_t pool_core::cancel_pending() {
  const std::size_t n = drain(nullptr);  // D6: queued tasks only; running ones are untouched
  cancelled_.fetch_add(n, std::memory_order_relaxed);  // a statistic
  notify_idle_waiters();  // the queues may have been all that kept a waiter waiting
  return n;
}

void pool_core::break_pool(const std::exception_ptr& cause) noexcept {
  if (broken_.load(std::memory_order_acquire)) {
    return;
  }
  {
    const unique_lock lock(life_mutex_);
    if (!broken_error_) {
      try {
        throw broken_pool(
            cat({"weft::thread_pool: on_thread_start of pool '", name_, "' threw (",
                 describe(cause), "); the pool runs no task: fix the hook and create a new pool"}));
      } catch (...) {
        broken_error_ = std::current_exception();
      }
    }
  }
  broken_.store(true, std::memory_order_seq_cst);  // pairs with the S3 re-check
  injection_.close();
  cancelled_.fetch_add(drain(broken_error_), std::memory_order_relaxed);
  sleep_.wake_all();
}

// ---- helping (H1) ------------------------------------------------------------------------------

bool pool_core::help_until(state_base& s, steady_time deadline) {
  worker& me = *own_loop_worker();
  backoff bo;
  auto poll = std::chrono::microseconds(help_poll_min_us);
  while (!s.done()) {
    // A pending state without a queue entry is a then() continuation waiting for its source:
    // it is not ours to run yet.
    if (s.state() == future_state::pending && s.queued()) {
      task_node* bottom = me.deque.pop();
      if (bottom == &s) {  // fork-join: the child we wait for is our newest task
        task t(bottom);
        run_task(me, t);
        continue;
      }
      if (bottom != nullptr) {
        me.deque.push(bottom);  // put it back; claim the awaited task directly instead
      }
      me.running.add();
      const run_outcome outcome = s.run_here();
      me.running.sub();
      if (outcome != run_outcome::skipped) {
        count_outcome(me, outcome, s.queued());
      }
      continue;
    }
    task t;
    if (take_work(me, t)) {
      run_task(me, t);
      poll = std::chrono::microseconds(help_poll_min_us);
      continue;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return s.done();
    }
    if (!bo.is_completed()) {
      bo.pause();
      continue;
    }
    const steady_time until = std::min(deadline, std::chrono::steady_clock::now() + poll);
    static_cast<void>(s.block_until(until));
    poll = std::min(poll * 2, std::chrono::microseconds(help_poll_max_us));
  }
  return true;
}

// ---- errors and statistics -------------------------------------------------------------------

void pool_core::report_error(const std::exception_ptr& error) noexcept {
  if (options_.on_error) {
    try {
      options_.on_error(error);
    } catch (...) {
      if (!on_error_threw_.exchange(true, std::memory_order_relaxed)) {  // print once
        std::fprintf(stderr,
                     "weft: the on_error handler of pool '%s' threw (%s); the exception was "
                     "swallowed, and further ones will not be reported\n",
                     name_.c_str(), describe(std::current_exception()).c_str());
      }
    }
    return;
  }
  std::fprintf(stderr,
               "weft: pool '%s': a task, callback or hook threw an exception no future "
               "could carry: %s\n",
               name_.c_str(), describe(error).c_str());
}

void pool_core::count_unrun(future_state final, bool was_queued) noexcept {
  if (final == future_state::cancelled) {
    cancelled_.fetch_add(1, std::memory_order_relaxed);  // a statistic
  } else if (final == future_state::failed) {
    unrun_failed_.fetch_add(1, std::memory_order_relaxed);
  }
  if (was_queued) {
    stale_created_ext_.fetch_add(1, std::memory_order_relaxed);  // its entry stays queued (I3)
  }
}

pool_stats pool_core::stats() const noexcept {
  pool_stats st;
  std::uint64_t stale_created = stale_created_ext_.load(std::memory_order_relaxed);
  std::uint64_t stale_dropped = stale_dropped_ext_.load(std::memory_order_relaxed);
  std::size_t queued = injection_.size();
  for (const auto& w : workers_) {
    st.completed += w->completed.get();
    st.failed += w->failed.get();
    st.running += static_cast<std::size_t>(w->running.get());
    stale_created += w->stale_created.get();
    stale_dropped += w->stale_dropped.get();
    queued += w->deque.size();
  }
  const std::uint64_t stale = stale_created > stale_dropped ? stale_created - stale_dropped : 0;
  st.queued = queued > stale ? queued - static_cast<std::size_t>(stale) : 0;
  st.failed += unrun_failed_.load(std::memory_order_relaxed);
  st.cancelled = cancelled_.load(std::memory_order_relaxed);
  st.rejected = rejected_.load(std::memory_order_relaxed);
  st.threads = live_threads_.load(std::memory_order_relaxed);
  st.largest_threads = started_threads_;
  const auto busy = static_cast<std::size_t>(busy_.load(std::memory_order_relaxed) & count_mask);
  st.idle_threads = st.threads > busy ? st.threads - busy : 0;
  return st;
}

// ---- hooks used by the headers -----------------------------------------------------------------

void core_report_error(pool_core* pool, std::exception_ptr error) noexcept {
  if (pool != nullptr) {
    pool->report_error(error);
  }
}
void core_count_unrun(pool_core* pool, future_state final, bool was_queued) noexcept {
  if (pool != nullptr) {
    pool->count_unrun(final, was_queued);
  }
}
bool core_on_own_worker(const pool_core* pool) noexcept {
  return pool->own_loop_worker() != nullptr;
}
bool core_help_until(pool_core* pool, state_base& s, steady_time deadline) {
  return pool->help_until(s, deadline);
}
void core_submit_continuation(pool_core* pool, state_base* s) {
  pool->submit_continuation(s);
}
void check_continuation_accepted(pool_core* pool) {
  if (pool != nullptr) {
    pool->check_continuation_accepted();
  }
}
void core_check_open(const pool_core* pool, const char* function) {
  pool->check_open(function);
}
void core_post(pool_core* pool, task& t, const char* function) {
  pool->post(t, function);
}
void core_submit(pool_core* pool, state_base* s, const char* function) {
  pool->submit(s, function);
}
std::stop_token core_stop_token(pool_core* pool) {
  return pool->stop_token();
}

}  // namespace detail

// ---- thread_pool -------------------------------------------------------------------------------

thread_pool::thread_pool() : thread_pool(pool_options{}) {}

thread_pool::thread_pool(std::size_t threads) : thread_pool(pool_options{.threads = threads}) {}

thread_pool::thread_pool(pool_options options)
    : core_(std::make_unique<detail::pool_core>(this, std::move(options))) {
  core_->start_workers();
}

thread_pool::~thread_pool() {
  if (this_worker::pool() == this) {
    std::fprintf(stderr,
                 "weft::thread_pool::~thread_pool: pool '%s' is being destroyed by its own "
                 "worker %zu; a pool cannot join itself, so this would never return: destroy "
                 "the pool from a thread outside it. Aborting.\n",
                 core_->name().c_str(), this_worker::index().value_or(0));
    std::abort();
  }
  join();
}

void thread_pool::wait() {
  static_cast<void>(wait_until_steady(detail::steady_time::max(), "weft::thread_pool::wait"));
}

bool thread_pool::wait_until_steady(detail::steady_time deadline, const char* function) {
  return core_->wait_until(deadline, function);
}

void thread_pool::shutdown() noexcept {
  core_->shutdown();
}

void thread_pool::join() {
  static_cast<void>(join_until_steady(detail::steady_time::max(), "weft::thread_pool::join"));
}

bool thread_pool::join_until_steady(detail::steady_time deadline, const char* function) {
  return core_->join_until(deadline, function);
}

void thread_pool::request_stop() {
  core_->request_stop();
}

std::size_t thread_pool::cancel_pending() {
  return core_->cancel_pending();
}

pool_stats thread_pool::stats() const noexcept {
  return core_->stats();
}

const std::string& thread_pool::name() const noexcept {
  return core_->name();
}

}  // namespace v1
}  // namespace weft
