#pragma once
// weft::when_all: a future that becomes ready when every input future is done (C5, C7).
//
//   auto all = weft::when_all(futures);          // future<std::vector<future<T>>>
//   auto both = weft::when_all(fa, fb);          // future<std::tuple<future<A>, future<B>>>
//   for (auto& f : all.get()) { use(f.get()); }  // each input is done; get() rethrows its error
//
// The result future never fails and is never cancelled: it is ready once every input
// succeeded, failed or was cancelled, and it hands the inputs back in input order, each done,
// so the caller inspects each outcome. An empty range gives a ready future of an empty vector.
// Inputs are copied handles (an rvalue vector is moved in); an invalid input throws
// weft::usage_error at the call, naming its position.
//
// The result behaves like any future: get() and the waits help on a worker of its pool (so a
// task may wait for a when_all of its children, even on a one-worker pool), and on_done and
// then() work. Its pool is the pool of the first input: then() runs there (a when_all of no
// futures has no pool: then() on it throws weft::usage_error).
//
// Protocol (the settler is chosen by one counter). remaining_ starts at the number of inputs
// plus one for the caller. Each input gets one callback (allocated before any is registered,
// so a std::bad_alloc leaves nothing registered) that decrements it; the caller decrements it
// once every callback is registered. The decrement that reaches zero settles the state
// (combinator_state.hpp, S2) with the inputs, so no thread reads the input sequence while
// another moves it. Memory order: the decrements are acq_rel RMWs of one counter: the caller's
// release carries its writes of the input sequence to the settler's acquire, and each input's
// outcome is visible through its own state's publication.
//
// Thread safety: any thread; the inputs may complete concurrently with the call. Model check:
// tests/model/shared_state_model.cpp, model (g), runs this header under Relacy with a
// negative control that splits the decrement.

#include <cstddef>
#include <memory>
#include <ranges>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <weft/detail/combinator_state.hpp>
#include <weft/future.hpp>

namespace weft {
inline namespace v1 {
namespace detail {

/// when_all's state: the input sequence and the counter that elects the settler.
template <class Seq>
class when_all_state final : public combinator_state<Seq> {
 public:
  when_all_state(pool_ref pool, Seq inputs) noexcept
      : combinator_state<Seq>(pool, 1),
        inputs_(std::move(inputs)),
        remaining_(input_count(inputs_) + 1) {}

  /// One part is done (an input, or the caller's registration).
  void arrive() noexcept {
    // acq_rel: see the file comment.
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      this->settle(std::move(inputs_));
    }
  }

  Seq& inputs() noexcept { return inputs_; }

 private:
  ~when_all_state() override = default;

  Seq inputs_;
  state_atomic<std::size_t> remaining_;  // the model seam: std::atomic here
};

/// The callback when_all registers on each input.
template <class S>
class arrival_node final : public callback_node {
 public:
  explicit arrival_node(S* s) noexcept : s_(s) {}
  void invoke(state_base& /*input*/) override { s_->arrive(); }

 private:
  state_ref<S> s_;
};

template <class Seq>
future<Seq> make_when_all(Seq inputs, const char* function) {
  const pool_ref pool = check_inputs(inputs, function);
  using state_type = when_all_state<Seq>;
  auto* s = new state_type(pool, std::move(inputs));
  future<Seq> result = adopt_future<Seq>(s);
  const std::size_t n = input_count(s->inputs());
  std::vector<std::unique_ptr<arrival_node<state_type>>> nodes;
  nodes.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    nodes.push_back(std::make_unique<arrival_node<state_type>>(s));
  }
  for_each_input(s->inputs(), [&](std::size_t i, const auto& f) {
    future_access::state(f)->add_callback(nodes[i].release());  // cannot throw: arrive() doesn't
  });
  s->arrive();  // the caller's part
  return result;
}

}  // namespace detail

/// A future of every input, ready once each is done (succeeded, failed or cancelled).
///
/// `futures`: any input range of weft::future<T> (copied; an rvalue vector is moved).
/// Returns: future<std::vector<future<T>>> holding the inputs in input order, each done.
/// Throws: weft::usage_error if an input is invalid; std::bad_alloc (nothing registered).
template <std::ranges::input_range R>
requires detail::is_future_v<std::remove_cvref_t<std::ranges::range_value_t<R>>>
[[nodiscard]] auto when_all(R&& futures) {
  return detail::make_when_all(detail::collect_futures(std::forward<R>(futures)), "weft::when_all");
}

/// The variadic form: future<std::tuple<future<T>...>>, ready once each input is done.
template <class... T>
[[nodiscard]] future<std::tuple<future<T>...>> when_all(future<T>... futures) {
  return detail::make_when_all(std::tuple<future<T>...>(std::move(futures)...), "weft::when_all");
}

}  // namespace v1
}  // namespace weft
