// relacy_policy.hpp: the policy that instantiates weft's lock-free engine with Relacy's types.
//
// The work-stealing deque, the injection queue and the sleep controller are templates over a
// Policy (atomics.hpp, sleep_controller.hpp). The model tests instantiate THE SAME templates with
// this policy, so the code that Relacy checks is the code that ships:
//
// - model_atomic<T>: std::atomic's member signatures (load, store, exchange,
//   compare_exchange_weak/strong with two orders, fetch_add, fetch_sub, fetch_or) forwarding to
//   an rl::atomic<T>. Each operation records its call site (std::source_location) as Relacy's
//   debug info, so an interleaving trace names the line in weft's header, not this wrapper. A
//   default-constructed model_atomic holds T{}, as std::atomic does since C++20.
// - model_backoff: the backoff of a spin wait (the injection queue's waits for a claimed slot or
//   an end mark). pause() is rl::yield: without it a spinning thread would use up the context
//   bound (or the execution depth) waiting for a thread the scheduler never runs, and Relacy
//   would report a livelock; with it, the scheduler runs the other threads first, and a load
//   after the yield reads a value at least as new as any the thread saw before it.
// - model_mutex: lock()/unlock() over rl::mutex.
// - relacy_sync::park/unpark: a model of the futex contract of detail/futex.hpp. park blocks on
//   a condition variable of its word if the word still holds `expected` (checked under the lot's
//   mutex, which plays the futex hash bucket's lock), unpark notifies that word's waiter (the
//   lot's unpark_all every waiter, as futex_wake_all). A parked thread that nobody unparks stays
//   blocked, so a lost wake-up ends the execution with Relacy's "deadlock detected".
//
// Each test suite owns one model_parking_lot (constructed per iteration, inside Relacy's
// context, as Relacy objects must be) and installs it for the static park/unpark with a
// parking_scope member.
//
// <relacy/relacy.hpp> defines macros that would rewrite weft's headers (memory_order_relaxed,
// new, delete, malloc, free, ...). They are undefined below, so that the engine's own allocations
// stay ordinary ones (Relacy does not track them; the model tests do not rely on its leak check).
// Its other macros (pthread_*, sem_*, errno, ...) still break system headers included after it:
// include this header after every other one.
//
// The model programs do not link the library, so this header also defines the function that a
// failed WEFT_ASSERT calls (active in Debug and hardened builds): a Relacy assertion failure,
// which ends the execution and prints its trace.

#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <source_location>
#include <string_view>

#include <relacy/relacy.hpp>

#include <weft/detail/assert.hpp>

#undef memory_order_relaxed
#undef memory_order_consume
#undef memory_order_acquire
#undef memory_order_release
#undef memory_order_acq_rel
#undef memory_order_seq_cst
#undef new
#undef delete
#undef malloc
#undef calloc
#undef realloc
#undef free

// Relacy replaces the unsized global operator new and delete (its allocator tracks every block
// of a model execution). With sized deallocation (C++14 and later, used by optimised builds) a
// delete expression calls the sized forms, whose library versions would free Relacy's blocks
// with std::free; route them to Relacy's. Replacement functions: each model program is one
// translation unit, so this header is included once per program.
void operator delete(void* p, std::size_t) noexcept {
  ::operator delete(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  ::operator delete[](p);
}

// WEFT_ASSERT's report (assert.hpp), defined by the library in every other program. An
// invariant that the weft code checks for itself fails the model execution that broke it.
[[noreturn]] void weft::detail::assertion_failed(const char* condition, const char* message,
                                                 const char* file, int line) noexcept {
  std::cerr << file << ":" << line << ": WEFT_ASSERT(" << condition << ") failed: " << message
            << "\n";
  RL_ASSERT(false);  // switches to Relacy's main fiber: does not return
  std::abort();
}

namespace weft_model {

/// Maps a std::memory_order to Relacy's.
constexpr rl::memory_order to_rl(std::memory_order mo) noexcept {
  switch (mo) {
    case std::memory_order::relaxed:
      return rl::mo_relaxed;
    case std::memory_order::consume:
      return rl::mo_consume;
    case std::memory_order::acquire:
      return rl::mo_acquire;
    case std::memory_order::release:
      return rl::mo_release;
    case std::memory_order::acq_rel:
      return rl::mo_acq_rel;
    case std::memory_order::seq_cst:
      break;
  }
  return rl::mo_seq_cst;
}

/// Relacy's debug info for the caller's source line.
inline rl::debug_info here(const std::source_location& loc) noexcept {
  return rl::debug_info(loc.function_name(), loc.file_name(), loc.line());
}

/// std::atomic<T>'s interface over rl::atomic<T>.
template <class T>
class model_atomic {
  using loc = std::source_location;

 public:
  model_atomic(loc l = loc::current()) { a_.store(T{}, rl::mo_relaxed, here(l)); }
  model_atomic(T value, loc l = loc::current()) { a_.store(value, rl::mo_relaxed, here(l)); }
  model_atomic(const model_atomic&) = delete;
  model_atomic& operator=(const model_atomic&) = delete;

  T load(std::memory_order mo = std::memory_order_seq_cst, loc l = loc::current()) const {
    return a_.load(to_rl(mo), here(l));
  }
  void store(T value, std::memory_order mo = std::memory_order_seq_cst, loc l = loc::current()) {
    a_.store(value, to_rl(mo), here(l));
  }
  T exchange(T value, std::memory_order mo = std::memory_order_seq_cst, loc l = loc::current()) {
    return a_.exchange(value, to_rl(mo), here(l));
  }
  bool compare_exchange_weak(T& expected, T desired, std::memory_order success,
                             std::memory_order failure, loc l = loc::current()) {
    return a_.compare_exchange_weak(expected, desired, to_rl(success), here(l), to_rl(failure),
                                    here(l));
  }
  bool compare_exchange_strong(T& expected, T desired, std::memory_order success,
                               std::memory_order failure, loc l = loc::current()) {
    return a_.compare_exchange_strong(expected, desired, to_rl(success), here(l), to_rl(failure),
                                      here(l));
  }
  bool compare_exchange_weak(T& expected, T desired,
                             std::memory_order mo = std::memory_order_seq_cst,
                             loc l = loc::current()) {
    return compare_exchange_weak(expected, desired, mo, failure_order(mo), l);
  }
  bool compare_exchange_strong(T& expected, T desired,
                               std::memory_order mo = std::memory_order_seq_cst,
                               loc l = loc::current()) {
    return compare_exchange_strong(expected, desired, mo, failure_order(mo), l);
  }
  T fetch_add(T value, std::memory_order mo = std::memory_order_seq_cst, loc l = loc::current()) {
    return a_.fetch_add(value, to_rl(mo), here(l));
  }
  T fetch_sub(T value, std::memory_order mo = std::memory_order_seq_cst, loc l = loc::current()) {
    return a_.fetch_sub(value, to_rl(mo), here(l));
  }
  T fetch_or(T value, std::memory_order mo = std::memory_order_seq_cst, loc l = loc::current()) {
    return a_.fetch_or(value, to_rl(mo), here(l));
  }

 private:
  // The failure order std::atomic derives from a single order.
  static constexpr std::memory_order failure_order(std::memory_order mo) noexcept {
    if (mo == std::memory_order_acq_rel) {
      return std::memory_order_acquire;
    }
    if (mo == std::memory_order_release) {
      return std::memory_order_relaxed;
    }
    return mo;
  }

  rl::atomic<T> a_;
};

/// The pause() of weft's detail::backoff, as a yield to Relacy's scheduler.
class model_backoff {
  using loc = std::source_location;

 public:
  void pause(loc l = loc::current()) { rl::yield(1, here(l)); }
};

/// The lock()/unlock() interface of weft's detail::mutex over rl::mutex.
class model_mutex {
  using loc = std::source_location;

 public:
  void lock(loc l = loc::current()) { m_.lock(here(l)); }
  void unlock(loc l = loc::current()) { m_.unlock(here(l)); }
  rl::mutex& native() { return m_; }

 private:
  rl::mutex m_;
};

/// The model of the futex table: one mutex (the hash bucket's lock) and one condition variable
/// per word that has ever parked.
class model_parking_lot {
 public:
  static constexpr std::size_t max_words = 8;

  void park(model_atomic<std::uint32_t>& word, std::uint32_t expected) {
    m_.lock($);
    // relaxed: the futex contract compares the value under the bucket lock; the waker's store
    // precedes its unpark, which takes the same lock.
    if (word.load(std::memory_order_relaxed) == expected) {
      cv_[index_of(&word)].wait(m_, $);  // may return spuriously, as futex_wait may
    }
    m_.unlock($);
  }

  void unpark(model_atomic<std::uint32_t>& word) {
    m_.lock($);
    cv_[index_of(&word)].notify_one($);
    m_.unlock($);
  }

  /// As unpark, but wakes every thread parked on `word` (futex_wake_all).
  void unpark_all(model_atomic<std::uint32_t>& word) {
    m_.lock($);
    cv_[index_of(&word)].notify_all($);
    m_.unlock($);
  }

 private:
  // Called under m_. The table is plain data guarded by m_; assignment order depends only on
  // the schedule, so a replayed iteration assigns the same indices.
  std::size_t index_of(const void* word) {
    for (std::size_t i = 0; i < used_; ++i) {
      if (words_[i] == word) {
        return i;
      }
    }
    RL_ASSERT(used_ < max_words);
    words_[used_] = word;
    return used_++;
  }

  rl::mutex m_;
  rl::condition_variable cv_[max_words];
  const void* words_[max_words] = {};
  std::size_t used_ = 0;
};

/// The lot that relacy_sync::park/unpark use; set by the running test suite's parking_scope.
inline model_parking_lot* current_lot = nullptr;

/// Installs `lot` for the lifetime of one test-suite object (one iteration).
class parking_scope {
 public:
  explicit parking_scope(model_parking_lot& lot) { current_lot = &lot; }
  parking_scope(const parking_scope&) = delete;
  parking_scope& operator=(const parking_scope&) = delete;
  ~parking_scope() { current_lot = nullptr; }
};

/// The policy for weft's templates: atomics and backoff for the deque and the injection queue,
/// and everything the sleep controller needs (mutex_type, park, unpark).
struct relacy_sync {
  template <class T>
  using atomic = model_atomic<T>;
  using backoff = model_backoff;
  using mutex_type = model_mutex;

  static void park(model_atomic<std::uint32_t>& word, std::uint32_t expected) {
    RL_ASSERT(current_lot != nullptr);
    current_lot->park(word, expected);
  }
  static void unpark(model_atomic<std::uint32_t>& word) {
    RL_ASSERT(current_lot != nullptr);
    current_lot->unpark(word);
  }
};

/// Discards Relacy's progress percentages (noise in a CTest log).
inline std::ostream& null_stream() {
  static std::ostream discard(nullptr);
  return discard;
}

/// Replaces the search of every model with the one named by WEFT_MODEL_SEARCH, if set:
/// "full" (exhaustive), "bound:<n>" (context bound n) or "random:<n>" (n random executions).
/// CI runs the defaults below; a soak run can deepen the search this way.
inline void override_search(rl::test_params& params) {
  const char* text = std::getenv("WEFT_MODEL_SEARCH");
  if (text == nullptr || *text == '\0') {
    return;
  }
  const std::string_view s(text);
  if (s == "full") {
    params.search_type = rl::sched_full;
  } else if (s.rfind("bound:", 0) == 0) {
    params.search_type = rl::sched_bound;
    params.context_bound = static_cast<unsigned>(std::strtoul(text + 6, nullptr, 10));
  } else if (s.rfind("random:", 0) == 0) {
    params.search_type = rl::sched_random;
    params.iteration_count = std::strtoull(text + 7, nullptr, 10);
  } else {
    std::cerr << "weft_model: ignoring WEFT_MODEL_SEARCH=" << s
              << " (expected full, bound:<n> or random:<n>)\n";
  }
}

/// The model filter: argv[1] of the model program, if any (a substring of the models' names).
inline const char* filter = nullptr;

/// Runs Relacy on test suite `Suite` with `params`, prints the outcome line, and returns true
/// if the result is the one the suite expects. Models whose name does not contain `filter`
/// are skipped (and pass).
template <class Suite>
bool run(const char* name, const char* invariant, rl::test_params params) {
  if (filter != nullptr && std::string_view(name).find(filter) == std::string_view::npos) {
    return true;
  }
  params.progress_stream = &null_stream();
  override_search(params);
  std::cout << "=== " << name << "\n    invariant: " << invariant
            << "\n    search: " << rl::format(params.search_type);
  if (params.search_type == rl::sched_bound) {
    std::cout << ", context bound " << params.context_bound;
  }
  if (params.search_type == rl::sched_random) {
    std::cout << ", " << params.iteration_count << " iterations";
  }
  std::cout << "\n    expected: " << rl::test_result_str(Suite::params::expected_result)
            << std::endl;
  const auto start = std::chrono::steady_clock::now();
  const bool ok = rl::simulate<Suite>(params);
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  std::cout << "    result: " << rl::test_result_str(params.test_result) << " after "
            << params.stop_iteration << " execution(s), " << took.count() << " s -> "
            << (ok ? "PASS" : "FAIL") << "\n"
            << std::endl;
  return ok;
}

/// Search parameters: every interleaving.
inline rl::test_params exhaustive() {
  rl::test_params p;
  p.search_type = rl::sched_full;
  return p;
}

/// Search parameters: every interleaving with at most `bound` preemptions.
inline rl::test_params context_bound(unsigned bound) {
  rl::test_params p;
  p.search_type = rl::sched_bound;
  p.context_bound = bound;
  return p;
}

/// Search parameters: `iterations` random interleavings.
inline rl::test_params random_runs(rl::iteration_t iterations) {
  rl::test_params p;
  p.search_type = rl::sched_random;
  p.iteration_count = iterations;
  return p;
}

/// A negative control's parameters: the search stops at the first failure, whose trace is not
/// printed.
inline rl::test_params negative(rl::test_params p) {
  p.output_stream = &null_stream();
  return p;
}

/// Reads the model filter from a model program's arguments (argv[1], if any).
inline void select_models(int argc, char** argv) {
  if (argc > 1) {
    filter = argv[1];
  }
}

/// Prints the program's verdict and returns its exit status.
inline int finish(bool ok, const char* what) {
  std::cout << (ok ? "all " : "a ") << what << (ok ? " models passed" : " model FAILED")
            << std::endl;
  return ok ? 0 : 1;
}

}  // namespace weft_model
