// pool_link: the type-stable link from a state to its pool (design note in pool_link.hpp,
// steps K1-K3), and the entry points through which a state reaches its pool.

#include "pool_link.hpp"

#include <mutex>

#include "pool_core.hpp"
#include <weft/detail/backoff.hpp>
#include <weft/detail/futex.hpp>
#include <weft/error.hpp>
#include <weft/future.hpp>

namespace weft {
inline namespace v1 {
namespace detail {
namespace {

// Links are never freed (type-stable memory): the free list only grows to the largest number
// of pools alive at once. constinit: usable by pools made or destroyed during static
// initialisation or destruction.
constinit std::mutex free_mutex;
constinit pool_link* free_links = nullptr;

}  // namespace

pool_ref pool_link::acquire(pool_core& core) {
  pool_link* link = nullptr;
  {
    const std::lock_guard lock(free_mutex);
    if (free_links != nullptr) {
      link = free_links;
      free_links = link->next_free_;
    }
  }
  if (link == nullptr) {
    link = new pool_link();  // never deleted: see the design note
  }
  link->core_ = &core;
  // relaxed: the generation only changes in retire(), whose release the mutex above carried.
  const auto gen = static_cast<std::uint32_t>(link->word_.load(std::memory_order_relaxed) >> 32);
  return pool_ref{link, gen};
}

void pool_link::retire() noexcept {
  // K3. acq_rel: after it, no visitor of our generation enters (I2).
  word_.fetch_add(generation_one, std::memory_order_acq_rel);
  backoff bo;
  for (;;) {
    // seq_cst: the eventcount's value before the check (see the design note).
    const std::uint32_t seen = retire_wake_.load(std::memory_order_seq_cst);
    // acquire: pairs with leave()'s release; the visitors' use of the pool happens-before.
    if ((word_.load(std::memory_order_acquire) & visitor_mask) == 0) {
      break;
    }
    if (!bo.is_completed()) {
      bo.pause();  // most visits are a few instructions of engine code
    } else {
      futex_wait(retire_wake_, seen);  // a long visit (callbacks): park until the last leaves
    }
  }
  const std::lock_guard lock(free_mutex);
  next_free_ = free_links;
  free_links = this;
}

pool_core* pool_link::enter(std::uint32_t gen) noexcept {
  // K1. acquire: see the design note's memory orders.
  const std::uint64_t before = word_.fetch_add(1, std::memory_order_acquire);
  if (static_cast<std::uint32_t>(before >> 32) != gen) {
    drop_visitor(gen, std::memory_order_relaxed);  // never counted as a visitor of `gen`
    return nullptr;
  }
  return core_;
}

void pool_link::leave(std::uint32_t gen) noexcept {
  drop_visitor(gen, std::memory_order_release);  // K2: pairs with retire()'s acquire loads
}

void pool_link::drop_visitor(std::uint32_t gen, std::memory_order order) noexcept {
  const std::uint64_t before = word_.fetch_sub(1, order);
  if (static_cast<std::uint32_t>(before >> 32) != gen && (before & visitor_mask) == 1) {
    // A retire began after this visitor entered (or its entry failed) and it was the last one
    // inside: the retirer may be parked (K3). seq_cst: see the design note.
    retire_wake_.fetch_add(1, std::memory_order_seq_cst);
    futex_wake_all(retire_wake_);
  }
}

// ---- entry points from the states (declared in shared_state.hpp) ---------------------------

pool_core* own_worker_pool(const pool_ref& ref) noexcept {
  const worker_context& ctx = current_worker();
  // A worker's own pool is alive while the worker runs; its reference tells states apart from
  // those of an earlier pool that used the same link.
  return ctx.core != nullptr && ctx.core->ref() == ref ? ctx.core : nullptr;
}

void core_report_error(const pool_ref& ref, const std::exception_ptr& error) noexcept {
  if (pool_core* own = own_worker_pool(ref)) {
    own->report_error(error);
    return;
  }
  std::shared_ptr<const error_sink> sink;
  {
    const pool_guard guard(ref);
    if (guard.core() != nullptr) {
      sink = guard.core()->errors();
    }
  }
  // Outside the visit: the handler is user code.
  report_to(sink.get(), error);
}

void core_count_unrun(const pool_ref& ref, future_state final, bool was_queued) noexcept {
  if (pool_core* own = own_worker_pool(ref)) {
    own->count_unrun(final, was_queued);
    return;
  }
  const pool_guard guard(ref);
  if (guard.core() != nullptr) {
    guard.core()->count_unrun(final, was_queued);
  }
}

void core_submit_continuation(const pool_ref& ref, state_base* s) {
  if (pool_core* own = own_worker_pool(ref)) {
    own->submit_continuation(s);
    return;
  }
  {
    const pool_guard guard(ref);
    if (guard.core() != nullptr) {
      guard.core()->submit_continuation(s);
      return;
    }
  }
  // The pool was destroyed while the continuation waited for its source: it can never run.
  task t(s);
  static_cast<void>(t.cancel(make_pool_gone_error("weft::future::then")));
}

void throw_no_pool_for_then(const char* function);

void check_continuation_accepted(const pool_ref& ref) {
  if (ref.link == nullptr) {
    throw_no_pool_for_then("weft::future::then");  // a combinator of no futures
  }
  if (pool_core* own = own_worker_pool(ref)) {
    own->check_continuation_accepted();
    return;
  }
  const pool_guard guard(ref);
  if (guard.core() == nullptr) {
    std::rethrow_exception(make_pool_gone_error("weft::future::then"));
  }
  guard.core()->check_continuation_accepted();
}

}  // namespace detail
}  // namespace v1
}  // namespace weft
