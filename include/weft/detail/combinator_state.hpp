#pragma once
/*
 * combinator_state — the shared state behind a future that no task produces: the result of
 * when_all / when_any, and the wake-up signal of wait() and as_completed().
 *
 * Purpose. A combinator's future must behave like any other future: get() and the waits work
 * (and help on a worker of its pool, so waiting inside a task never deadlocks), on_done and
 * then() work, and it outlives the pools of its inputs. So it is a result_state, completed by
 * the combinator's own callbacks on its inputs instead of by a task.
 *
 * Roles. Owner: the combinator, which builds the state and decides (with its own protocol,
 * in its header) which single thread settles it. Settler: that one thread (an input's
 * completer running a callback, or the combinator's caller). Holders: the returned future and
 * the callbacks registered on the inputs (each holds a reference through state_ref).
 *
 * Protocol.
 *   S1 The state is born running (state_base::started_t): it has no callable and no queue
 *      entry. future::cancel() fails on it (it is not pending), and helping never tries to run
 *      it (helping.cpp runs only pending states with a queue entry); a wait on a worker of its
 *      pool runs other tasks of that pool until it is done.
 *   S2 settle(value): the one settler writes the value and publishes succeeded (the final-state
 *      CAS of shared_state.hpp's F2), which wakes waiters and runs the callbacks. No other
 *      transition exists: a combinator's future never fails and is never cancelled.
 *
 * Invariants. C-I1 settle() runs at most once per state (the owner's protocol guarantees it).
 * C-I2 A state that never settles (its inputs were destroyed unfinished) frees its value slot
 * untouched: result_state destroys a value only when succeeded.
 *
 * Memory orders. None of its own: publication is F2's seq_cst CAS, whose release makes the
 * value visible to every acquire load of the word (waits, getters, callbacks). The owners'
 * counters and CASes that choose the settler are described where they are, in when_all.hpp,
 * when_any.hpp and completion_watch.hpp.
 *
 * Which pool. A combinator's state names the pool of its first input (in input order): its
 * waits help that pool, and then() on its future runs there. A combinator of no inputs names
 * no pool: it is done at once, and then() on it throws weft::usage_error (there is no pool to
 * run on; get() and on_done work).
 */

#include <cstddef>
#include <cstdint>
#include <ranges>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <weft/detail/shared_state.hpp>
#include <weft/future.hpp>

namespace weft {
inline namespace v1 {
namespace detail {

/// A result_state that a combinator settles itself (S1, S2). See the design note above.
template <class V>
class combinator_state : public result_state<V> {
 public:
  /// A running state of `pool`, held by `refs` holders.
  combinator_state(pool_ref pool, std::uint32_t refs) noexcept
      : result_state<V>(pool, refs, state_base::started_t{}) {}

  combinator_state(const combinator_state&) = delete;
  combinator_state& operator=(const combinator_state&) = delete;

  /// Step S2: stores the value and completes the state. Once per state (C-I1).
  template <class... A>
  void settle(A&&... a) noexcept {
    if constexpr (!std::is_void_v<V>) {
      static_assert(std::is_nothrow_constructible_v<V, A&&...>,
                    "a combinator's value is built from parts that move without throwing");
      this->emplace_value(std::forward<A>(a)...);
    }
    this->publish(future_state::succeeded);
  }

 protected:
  ~combinator_state() override = default;

 private:
  // S1: no callable; neither is ever called (the state is never pending).
  void invoke_callable() override {}
  void destroy_callable() noexcept override {}
};

/// A counted reference to a state, for a combinator's callbacks.
template <class S>
class state_ref {
 public:
  /// Adds a reference to `s` (the caller already holds one).
  explicit state_ref(S* s) noexcept : s_(s) { s_->add_ref(); }
  state_ref(const state_ref& other) noexcept : state_ref(other.s_) {}
  state_ref(state_ref&& other) noexcept : s_(std::exchange(other.s_, nullptr)) {}
  state_ref& operator=(const state_ref&) = delete;
  state_ref& operator=(state_ref&&) = delete;
  ~state_ref() {
    if (s_ != nullptr) {
      s_->release();
    }
  }
  S* operator->() const noexcept { return s_; }
  S& operator*() const noexcept { return *s_; }

 private:
  S* s_;
};

/// Throws usage_error: input `index` of `function` is an invalid future.
[[noreturn]] void throw_invalid_input(const char* function, std::size_t index);

/// True for weft::future<T>.
template <class F>
inline constexpr bool is_future_v = false;
template <class T>
inline constexpr bool is_future_v<future<T>> = true;

/// Calls `fn(index, future&)` for each future of a combinator's input sequence (a vector of
/// futures, or a tuple of them), in input order.
template <class T, class Fn>
void for_each_input(std::vector<future<T>>& inputs, Fn&& fn) {
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    fn(i, inputs[i]);
  }
}
template <class... T, class Fn>
void for_each_input(std::tuple<future<T>...>& inputs, Fn&& fn) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (fn(I, std::get<I>(inputs)), ...);
  }
  (std::index_sequence_for<T...>{});
}

/// The number of futures in a combinator's input sequence.
template <class T>
std::size_t input_count(const std::vector<future<T>>& inputs) noexcept {
  return inputs.size();
}
template <class... T>
constexpr std::size_t input_count(const std::tuple<future<T>...>& /*inputs*/) noexcept {
  return sizeof...(T);
}

/// Checks that every input is valid (usage_error naming the first invalid one) and returns the
/// pool of the first input, or none for an empty sequence.
template <class Seq>
pool_ref check_inputs(Seq& inputs, const char* function) {
  pool_ref pool{};
  bool first = true;
  for_each_input(inputs, [&](std::size_t i, const auto& f) {
    const auto* s = future_access::state(f);
    if (s == nullptr) {
      throw_invalid_input(function, i);
    }
    if (first) {
      pool = s->pool();
      first = false;
    }
  });
  return pool;
}

/// Collects a range of futures into a vector: an rvalue vector is moved, anything else copied.
template <class R>
auto collect_futures(R&& futures) {
  using F = std::remove_cvref_t<std::ranges::range_value_t<R>>;
  static_assert(is_future_v<F>, "the range's elements must be weft::future<T>");
  if constexpr (std::is_same_v<std::remove_cvref_t<R>, std::vector<F>> &&
                !std::is_lvalue_reference_v<R>) {
    return std::vector<F>(std::move(futures));
  } else {
    std::vector<F> out;
    if constexpr (std::ranges::sized_range<R>) {
      out.reserve(static_cast<std::size_t>(std::ranges::size(futures)));
    }
    for (auto&& f : futures) {
      out.push_back(f);
    }
    return out;
  }
}

}  // namespace detail
}  // namespace v1
}  // namespace weft
