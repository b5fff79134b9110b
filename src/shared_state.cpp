// The future's shared state: see the design note in include/weft/detail/shared_state.hpp, whose
// steps (F1-F9) and invariants (I1-I4) the comments below cite.

#include <algorithm>

#include <weft/detail/backoff.hpp>
#include <weft/detail/futex.hpp>
#include <weft/detail/shared_state.hpp>

namespace weft {
inline namespace v1 {
namespace detail {
namespace {

// The callback stack's word: a node pointer (nodes are 8-aligned, so its low bits are free) with
// F9's flags, or the closed marker ("done: run new callbacks at once"), never dereferenced.
constexpr std::uintptr_t compacting_bit = 1;  // a registrar is compacting the stack (F9)
constexpr std::uintptr_t handoff_bit = 2;     // done meanwhile: the compactor runs the stack
constexpr std::uintptr_t flag_bits = compacting_bit | handoff_bit;

callback_node* closed_marker() noexcept {
  return reinterpret_cast<callback_node*>(std::uintptr_t{4});
}
std::uintptr_t flags_of(callback_node* word) noexcept {
  return reinterpret_cast<std::uintptr_t>(word) & flag_bits;
}
callback_node* top_of(callback_node* word) noexcept {
  return reinterpret_cast<callback_node*>(reinterpret_cast<std::uintptr_t>(word) & ~flag_bits);
}
callback_node* with_flags(callback_node* top, std::uintptr_t flags) noexcept {
  return reinterpret_cast<callback_node*>(reinterpret_cast<std::uintptr_t>(top) | flags);
}

// F9's schedule: a compaction waits for this many removable registrations at least, and for as
// many as the nodes the previous one left, so its walk costs O(1) per registration.
constexpr std::uint32_t min_compaction = 4;
constexpr std::uint32_t count_mask = 0xffff;
constexpr std::uint32_t kept_shift = 16;

// F6: the per-thread trampoline. `active` while a thread runs completions; further completions
// on that thread are appended to the list and run by the outermost frame, in order.
struct completion_list {
  bool active = false;
  state_base* head = nullptr;
  state_base* tail = nullptr;
};
#if defined(WEFT_DETAIL_STATE_MODEL)
// The model seam (design note, Verification): Relacy runs every simulated thread on one OS
// thread, so tests/model/shared_state_model.cpp defines one list per simulated thread.
completion_list& this_thread_completions() noexcept;
#else
thread_local completion_list completions;
inline completion_list& this_thread_completions() noexcept {
  return completions;
}
#endif

}  // namespace

void run_completion_list() noexcept;

state_base::~state_base() {
  // A state always completes before its last reference goes (every accepted task runs or is
  // cancelled), so its stack is closed; nodes left on an open stack are freed, not run.
  // relaxed: the deleting thread synchronized with every holder through refs_.
  callback_node* node = callbacks_.load(std::memory_order_relaxed);
  if (node == closed_marker()) {
    return;
  }
  node = top_of(node);  // no compactor is left: it holds a reference while it works
  while (node != nullptr) {
    callback_node* next_node = node->next;
    node->dispose();
    node = next_node;
  }
}

bool state_base::try_transition(future_state from, future_state to) noexcept {
  std::uint32_t w = word_.load(std::memory_order_relaxed);  // re-validated by the CAS
  for (;;) {
    if (static_cast<future_state>(w & state_mask) != from) {
      return false;
    }
    const std::uint32_t next = (w & ~state_mask) | static_cast<std::uint32_t>(to);
    // acq_rel: acquire so the winner sees the constructed state; release for publication.
    if (word_.compare_exchange_weak(w, next, std::memory_order_acq_rel,
                                    std::memory_order_relaxed)) {
      return true;
    }
  }
}

bool state_base::mark_queued() noexcept {
  std::uint32_t w = word_.load(std::memory_order_relaxed);
  for (;;) {
    if (static_cast<future_state>(w & state_mask) != future_state::pending) {
      return false;
    }
    // acq_rel: orders against a concurrent cancel's CAS, which reads the bit.
    if (word_.compare_exchange_weak(w, w | queued_bit, std::memory_order_acq_rel,
                                    std::memory_order_relaxed)) {
      return true;
    }
  }
}

run_outcome state_base::run_here() noexcept {
  if (!try_transition(future_state::pending, future_state::running)) {
    return run_outcome::skipped;  // F1 lost: started, cancelled or failed elsewhere
  }
  try {
    invoke_callable();
  } catch (...) {
    error_ = std::current_exception();
    destroy_callable();  // I1; captures are gone before the outcome is visible
    publish(future_state::failed);
    return run_outcome::failed;
  }
  destroy_callable();
  publish(future_state::succeeded);
  return run_outcome::succeeded;
}

bool state_base::cancel() noexcept {
  if (!try_transition(future_state::pending, completing)) {
    return false;
  }
  destroy_callable();  // F3, I1: captures are released now, not when the entry is popped
  // F7: the count is the canceller's only use of the pool (a visit, if it is not a worker:
  // the pool may be joining). A worker that meets the stale entry drops it without waiting.
  core_count_unrun(pool(), future_state::cancelled, queued());
  publish(future_state::cancelled);
  return true;
}

bool state_base::fail_pending(std::exception_ptr reason) noexcept {
  if (!try_transition(future_state::pending, completing)) {
    return false;
  }
  destroy_callable();
  error_ = std::move(reason);
  publish(future_state::failed);
  return true;
}

void state_base::complete_like(const state_base& source) noexcept {
  const future_state outcome = source.state();
  if (!try_transition(future_state::pending, completing)) {
    return;  // cancelled by its own holder meanwhile
  }
  destroy_callable();
  error_ = source.error_;
  core_count_unrun(pool(), outcome, queued());
  publish(outcome);
}

void state_base::publish(future_state final) noexcept {
  // F2. The state bits hold `running` or `completing`; only this CAS makes the outcome visible.
  std::uint32_t w = word_.load(std::memory_order_relaxed);
  std::uint32_t next = 0;
  do {
    next = (w & ~(state_mask | waiters_bit)) | static_cast<std::uint32_t>(final);
    // seq_cst: the release publishes error_/the value (I2) to the waiters' acquire loads; the
    // total order pairs it with add_callback's push and re-check (F5, see take_callbacks).
  } while (
      !word_.compare_exchange_weak(w, next, std::memory_order_seq_cst, std::memory_order_relaxed));
  if ((w & waiters_bit) != 0) {
    futex_wake_all(word_);
  }
  // seq_cst: in the total order with the CAS above and a registrar's push and re-check (F5).
  // Either this load sees the push, or the registrar's re-check sees the final state; an empty
  // stack (the common case) costs a load, not an exchange.
  if (callbacks_.load(std::memory_order_seq_cst) != nullptr) {
    take_callbacks();
  }
}

void state_base::take_callbacks() noexcept {
  callback_node* word = callbacks_.load(std::memory_order_acquire);
  for (;;) {
    if (word == closed_marker() || (flags_of(word) & handoff_bit) != 0) {
      return;  // taken by another taker (F5), or already handed to the compactor (F9)
    }
    if ((flags_of(word) & compacting_bit) != 0) {
      // F9: a registrar is unlinking removed nodes; it runs the stack when it gives it back.
      // acq_rel: release, so the compactor, which runs the callbacks, sees the outcome.
      if (callbacks_.compare_exchange_weak(word, with_flags(word, handoff_bit),
                                           std::memory_order_acq_rel, std::memory_order_acquire)) {
        return;
      }
      continue;
    }
    // acq_rel: acquire pairs with add_callback's release push (and a compactor's release of
    // its links); release pairs with a registrar's acquire load that sees the marker and then
    // reads the outcome. Whoever takes a non-empty stack (the completer or a registrar, F5)
    // runs it: the CAS gives it to exactly one.
    if (callbacks_.compare_exchange_weak(word, closed_marker(), std::memory_order_acq_rel,
                                         std::memory_order_acquire)) {
      run_taken(word);
      return;
    }
  }
}

void state_base::run_taken(callback_node* list) noexcept {
  if (list == nullptr) {
    return;
  }
  // Reverse the stack into registration order.
  callback_node* ordered = nullptr;
  while (list != nullptr) {
    callback_node* next_node = list->next;
    list->next = ordered;
    ordered = list;
    list = next_node;
  }
  add_ref();  // held until the trampoline has run the callbacks
  taken_callbacks_ = ordered;
  run_completions(this);
}

void state_base::compact_callbacks() noexcept {
  // F9. Only one compactor at a time, and only on an open, non-empty stack.
  callback_node* word = callbacks_.load(std::memory_order_relaxed);  // re-validated by the CAS
  if (word == nullptr) {
    compaction_.store(0, std::memory_order_relaxed);  // nothing to unlink: start counting anew
    return;
  }
  // acq_rel: acquire, so the walk sees every node pushed below the top and the links of the
  // previous compaction (every push and compaction is an RMW of this word, which continues
  // their release sequences).
  if (word == closed_marker() || flags_of(word) != 0 ||
      !callbacks_.compare_exchange_strong(word, with_flags(word, compacting_bit),
                                          std::memory_order_acq_rel, std::memory_order_relaxed)) {
    return;  // done, or another registrar is compacting
  }
  // The top stays: it is the word that pushers compare against. Below it, only this thread
  // touches the links until it gives the stack back: pushers write their own node's link, the
  // completer hands the stack over instead of taking it, and nothing else reads the nodes.
  std::uint32_t kept = 1;
  callback_node* prev = word;
  for (callback_node* n = prev->next; n != nullptr; n = prev->next) {
    if (n->removed()) {
      prev->next = n->next;
      n->dispose();  // the stack's reference; its callable went with the remove() (F8)
    } else {
      prev = n;
      ++kept;
    }
  }
  compaction_.store(std::min(kept, count_mask) << kept_shift, std::memory_order_relaxed);
  // Give the stack back: clear the flag, or, if the state completed meanwhile, take the stack
  // and run it as its completer would have (the handoff, F9).
  callback_node* now = with_flags(word, compacting_bit);
  for (;;) {
    if ((flags_of(now) & handoff_bit) != 0) {
      // acq_rel: acquire pairs with the completer's handoff CAS and later pushes; release for
      // registrars that see the marker.
      run_taken(top_of(callbacks_.exchange(closed_marker(), std::memory_order_acq_rel)));
      return;
    }
    // acq_rel: release, so whoever takes the stack later sees the links changed above.
    if (callbacks_.compare_exchange_weak(now, top_of(now), std::memory_order_acq_rel,
                                         std::memory_order_acquire)) {
      return;
    }
  }
}

void run_completions(state_base* first) noexcept {
  completion_list& list = this_thread_completions();
  first->next_completion_ = nullptr;
  if (list.tail != nullptr) {
    list.tail->next_completion_ = first;
  } else {
    list.head = first;
  }
  list.tail = first;
  if (list.active) {
    return;  // F6: queued behind the running frame instead of recursing
  }
  list.active = true;
  run_completion_list();
  list.active = false;
}

void run_completion_list() noexcept {
  completion_list& list = this_thread_completions();
  while (list.head != nullptr) {
    state_base* s = list.head;
    list.head = s->next_completion_;
    if (list.head == nullptr) {
      list.tail = nullptr;
    }
    callback_node* node = std::exchange(s->taken_callbacks_, nullptr);
    while (node != nullptr) {
      callback_node* next_node = node->next;
      try {
        if (node->claim()) {  // F8: a removed callback is skipped
          node->invoke(*s);
        }
      } catch (...) {
        core_report_error(s->pool(), std::current_exception());  // E3: later ones still run
      }
      node->dispose();
      node = next_node;
    }
    s->release();
  }
}

void run_deferred_completions() noexcept {
  // F6': a callback that waits would otherwise wait for completions that only its own frame
  // would run after it returns. Running them here nests one level per waiting callback, as
  // helping does, never one per link of a chain.
  if (this_thread_completions().head != nullptr) {
    run_completion_list();
  }
}

void state_base::add_callback(callback_node* node) {
  // F5. Already done: run at once on this thread (done() loads with acquire, so the outcome
  // is visible). An exception propagates to the caller.
  if (!done()) {
    // Once pushed, the node may run on the completer at once, and the callback may drop the
    // caller's last handle: our own reference keeps the state alive for the re-check below.
    add_ref();
    if (node->removable()) {
      // F9: removed nodes would otherwise stay on a long-lived stack until it completes.
      const std::uint32_t c = compaction_.fetch_add(1, std::memory_order_relaxed) + 1;
      if ((c & count_mask) >= std::max(min_compaction, c >> kept_shift)) {
        compact_callbacks();
      }
    }
    callback_node* head = callbacks_.load(std::memory_order_acquire);
    while (head != closed_marker()) {
      node->next = top_of(head);  // a push keeps F9's flags
      // seq_cst: release, so whoever takes the stack sees the node's contents; and in the
      // total order with the completer's final-state CAS and its load of the stack (publish):
      // if the completer read the stack before this push, the re-check below sees the state
      // done.
      if (callbacks_.compare_exchange_weak(head, with_flags(node, flags_of(head)),
                                           std::memory_order_seq_cst, std::memory_order_acquire)) {
        if (is_done(
                static_cast<future_state>(word_.load(std::memory_order_seq_cst) & state_mask))) {
          take_callbacks();  // the completer may have missed the push: one of us runs it (I3)
        }
        release();
        return;
      }
    }
    release();  // closed: done meanwhile; the caller's handle still keeps the state alive
  }
  struct disposer {
    callback_node* n;
    ~disposer() { n->dispose(); }
  } guard{node};
  if (node->claim()) {  // F8: its handle may have removed it already
    node->invoke(*this);
  }
}

bool state_base::block_until(steady_time deadline) const noexcept {
  // acquire: pairs with publish()'s release; the outcome is visible once done is seen.
  std::uint32_t w = word_.load(std::memory_order_acquire);
  for (;;) {
    if (is_done(static_cast<future_state>(w & state_mask))) {
      return true;
    }
    if ((w & waiters_bit) == 0) {
      // acquire on success and failure: we re-inspect the state either way.
      if (!word_.compare_exchange_weak(w, w | waiters_bit, std::memory_order_acquire,
                                       std::memory_order_acquire)) {
        continue;
      }
      w |= waiters_bit;
    }
    if (deadline == steady_time::max()) {
      futex_wait(word_, w);
    } else if (!futex_wait_until(word_, w, deadline)) {
      return done();
    }
    w = word_.load(std::memory_order_acquire);
  }
}

bool state_base::wait_until(steady_time deadline) const {
  if (done()) {
    return true;
  }
  run_deferred_completions();  // F6': what we wait for may be among them
  if (pool_core* own = own_worker_pool(pool())) {
    return core_help_until(own, const_cast<state_base&>(*this), deadline);
  }
  return block_until(deadline);
}

run_outcome state_base::run_and_release(std::exception_ptr& /*error*/) noexcept {
  const run_outcome outcome = run_here();  // a failure stays in the future, not on_error
  release();                               // a stale entry (F7) is dropped at once
  return outcome;
}

bool state_base::cancel_and_release(const std::exception_ptr& reason) noexcept {
  bool stopped = false;
  if (reason) {
    stopped = fail_pending(reason);
  } else if (try_transition(future_state::pending, completing)) {
    destroy_callable();
    publish(future_state::cancelled);
    stopped = true;  // the pool counts it (it knows whether it was cancel_pending or a drain)
  }
  release();
  return stopped;
}

}  // namespace detail
}  // namespace v1
}  // namespace weft
