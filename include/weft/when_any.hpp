#pragma once
// weft::when_any: a future that becomes ready at the first completion of any input (C5, C7).
//
//   auto first = weft::when_any(futures).get();  // when_any_result<std::vector<future<T>>>
//   use(first.futures[first.index]);             // done: succeeded, failed or cancelled
//   auto either = weft::when_any(fa, fb);        // ...<std::tuple<future<A>, future<B>>>
//
// `index` names the input that completed first; if inputs are already done at the call, the
// lowest such index. The result never fails and hands every input back in input order (the
// others may still be running). An empty range gives a ready result with index
// static_cast<std::size_t>(-1) and no futures. An invalid input throws weft::usage_error at the
// call. The result's pool is the first input's (then() runs there), as for when_all.
//
// Nothing is left behind: the callbacks on the inputs that did not win are removed
// (callback_handle::remove) before the result is ready, so a long-running future watched by
// round after round of when_any keeps its memory flat (shared_state.hpp, F8 and F9).
//
// Protocol. A scan first: the first input already done wins at once, nothing is registered.
// Otherwise each input, in order, gets a removable callback; registration stops early once a
// winner exists. Callback i tries to become the winner (CAS winner_: none -> i); the one that
// succeeds arrives. The caller arrives when it has registered what it will. Two arrivals
// (parts_ from 2 to 0) elect the finisher, which alone touches handles_ and the inputs: it
// removes every registration (the winner's own has started, so its remove() is a no-op), then
// settles (combinator_state.hpp, S2). So the inputs are never moved while the caller still
// registers, and handles_ is written by the caller only, before its arrival.
// Memory orders: winner_'s CAS acq_rel (the winner's arrival follows it; the finisher reads
// winner_ after both arrivals, relaxed, ordered by parts_); parts_'s decrements acq_rel, so
// the finisher sees the caller's handles_ and the winner's index. winner_'s load in the
// registration loop is relaxed: it only stops registering early, which is an optimisation.
//
// Thread safety: any thread; the inputs may complete concurrently with the call. Model check:
// tests/model/shared_state_model.cpp, model (h), runs this header under Relacy with a
// negative control that splits the decrement.

#include <cstddef>
#include <ranges>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <weft/callback_handle.hpp>
#include <weft/detail/combinator_state.hpp>
#include <weft/future.hpp>

namespace weft {
inline namespace v1 {

/// What when_any's future holds: the first input to complete, and every input.
template <class Seq>
struct when_any_result {
  /// The position of the input that completed first (static_cast<std::size_t>(-1) if none).
  std::size_t index = static_cast<std::size_t>(-1);
  /// The inputs, in input order.
  Seq futures;
};

namespace detail {

template <class Seq>
class when_any_state final : public combinator_state<when_any_result<Seq>> {
 public:
  static constexpr std::size_t none = static_cast<std::size_t>(-1);

  when_any_state(pool_ref pool, Seq inputs) noexcept
      : combinator_state<when_any_result<Seq>>(pool, 1), inputs_(std::move(inputs)) {}

  /// Callback i ran: input i is done.
  void fire(std::size_t i) noexcept {
    std::size_t expected = none;
    // acq_rel: see the file comment.
    if (winner_.compare_exchange_strong(expected, i, std::memory_order_acq_rel,
                                        std::memory_order_relaxed)) {
      arrive();
    }
  }

  /// The caller registers a callback on every input until one has won.
  void register_all() {
    handles_.reserve(input_count(inputs_));
    try {
      bool stop = false;
      for_each_input(inputs_, [&](std::size_t i, const auto& f) {
        // relaxed: only an early stop (see the file comment).
        if (stop || winner_.load(std::memory_order_relaxed) != none) {
          stop = true;
          return;
        }
        handles_.push_back(f.on_done_removable(fire_input{state_ref<when_any_state>(this), i}));
      });
    } catch (...) {
      remove_all();  // std::bad_alloc: take back what was registered; the result is dropped
      throw;
    }
    arrive();
  }

  /// The scan: settles at once with the first input already done. Returns true if one was.
  bool settle_if_one_done() noexcept {
    std::size_t done_at = none;
    for_each_input(inputs_, [&](std::size_t i, const auto& f) {
      if (done_at == none && f.done()) {
        done_at = i;
      }
    });
    if (done_at == none) {
      return false;
    }
    this->settle(when_any_result<Seq>{done_at, std::move(inputs_)});
    return true;
  }

  const Seq& inputs_view() const noexcept { return inputs_; }

  /// Settles an empty when_any.
  void settle_empty() noexcept { this->settle(when_any_result<Seq>{none, std::move(inputs_)}); }

 private:
  ~when_any_state() override = default;

  struct fire_input {
    state_ref<when_any_state> s;
    std::size_t index;
    void operator()() const noexcept { s->fire(index); }
  };

  void arrive() noexcept {
    // acq_rel: see the file comment.
    if (parts_.fetch_sub(1, std::memory_order_acq_rel) != 1) {
      return;
    }
    remove_all();
    this->settle(when_any_result<Seq>{winner_.load(std::memory_order_relaxed), std::move(inputs_)});
  }

  void remove_all() noexcept {
    for (callback_handle& h : handles_) {
      static_cast<void>(h.remove());  // false for the winner's: it has started
    }
    handles_.clear();
  }

  Seq inputs_;
  std::vector<callback_handle> handles_;
  state_atomic<std::size_t> winner_{none};  // state_atomic: the model seam
  state_atomic<unsigned> parts_{2};         // the winner's arrival and the caller's
};

template <class Seq>
future<when_any_result<Seq>> make_when_any(Seq inputs, const char* function) {
  const pool_ref pool = check_inputs(inputs, function);
  auto* s = new when_any_state<Seq>(pool, std::move(inputs));
  future<when_any_result<Seq>> result = adopt_future<when_any_result<Seq>>(s);
  if (input_count(s->inputs_view()) == 0) {
    s->settle_empty();
  } else if (!s->settle_if_one_done()) {
    s->register_all();
  }
  return result;
}

}  // namespace detail

/// A future ready at the first completion of any input.
///
/// `futures`: any input range of weft::future<T> (copied; an rvalue vector is moved).
/// Returns: future<when_any_result<std::vector<future<T>>>>.
/// Throws: weft::usage_error if an input is invalid; std::bad_alloc (nothing left registered).
template <std::ranges::input_range R>
requires detail::is_future_v<std::remove_cvref_t<std::ranges::range_value_t<R>>>
[[nodiscard]] auto when_any(R&& futures) {
  return detail::make_when_any(detail::collect_futures(std::forward<R>(futures)), "weft::when_any");
}

/// The variadic form: future<when_any_result<std::tuple<future<T>...>>>.
template <class... T>
[[nodiscard]] future<when_any_result<std::tuple<future<T>...>>> when_any(future<T>... futures) {
  return detail::make_when_any(std::tuple<future<T>...>(std::move(futures)...), "weft::when_any");
}

}  // namespace v1
}  // namespace weft
