#pragma once
// The units of work that weft's queues carry.
//
// - task_node: an intrusive, heap-resident unit of work that a worker deque holds by pointer.
//   A future's shared state is a task_node (the queue entry of `submit` is the state itself, so a
//   submission allocates once), and so is a boxed `task`.
// - task: a move-only, type-erased callable of 56 bytes. A callable of up to
//   task_inline_bytes (48) bytes whose move cannot throw is stored inline, with no heap
//   allocation; larger ones are boxed on the heap. The injection queue stores tasks by value.
//
// Running or cancelling consumes a task: its callable is destroyed right after it ran, on the
// thread that ran it, so a task's captures are gone by the time its outcome is visible. A task
// that is destroyed unconsumed cancels itself, so nothing accepted vanishes silently.

#include <cstddef>
#include <exception>
#include <functional>
#include <new>
#include <type_traits>
#include <utility>

#include <weft/detail/node_cache.hpp>
#include <weft/detail/tuning.hpp>

namespace weft {
inline namespace v1 {
namespace detail {

/// What running a unit of work amounted to, for the pool's statistics.
enum class run_outcome : unsigned char {
  succeeded,  ///< the callable ran and returned
  failed,     ///< the callable ran and threw
  skipped,    ///< nothing ran: the entry was stale (already claimed, cancelled or failed)
};

/// An intrusive unit of work held by pointer. Exactly one of the two members is called once per
/// queue entry, and it releases the queue's ownership of the node.
class task_node {
 public:
  task_node() = default;
  task_node(const task_node&) = delete;
  task_node& operator=(const task_node&) = delete;

  // Every per-task object (a future's state, a task posted from a worker) comes from the
  // per-thread node cache (node_cache.hpp): one per task, so the heap stays off the submit
  // path once a thread has freed a few. The deleting destructor passes the most derived
  // type's size. Over-aligned nodes go to the heap directly; their delete is unsized, since
  // clang does not declare the global sized forms without -fsized-deallocation.
  static void* operator new(std::size_t bytes) { return node_allocate(bytes); }
  static void operator delete(void* block, std::size_t bytes) noexcept {
    node_deallocate(block, bytes);
  }
  static void* operator new(std::size_t bytes, std::align_val_t alignment) {
    return ::operator new(bytes, alignment);
  }
  static void operator delete(void* block, std::align_val_t alignment) noexcept {
    ::operator delete(block, alignment);
  }

  /// Runs the work (if it is still to be run) and releases the queue's reference.
  /// A failure of the user's callable is stored in `error` when nobody else will see it
  /// (fire-and-forget work); work with a future keeps its failure in the future.
  virtual run_outcome run_and_release(std::exception_ptr& error) noexcept = 0;

  /// Drops the work without running it and releases the queue's reference. With a null
  /// `reason` the work ends cancelled, otherwise it fails with `reason`. Returns true if live
  /// work was stopped by this call (false for a stale entry).
  virtual bool cancel_and_release(const std::exception_ptr& reason) noexcept = 0;

 protected:
  ~task_node() = default;
};

/// Move-only, type-erased `void()` callable: an operations pointer plus task_inline_bytes.
class task {
 public:
  task() noexcept = default;

  /// Wraps a node: running the task runs the node.
  explicit task(task_node* node) noexcept : ops_(&node_ops) { ::new (storage_) task_node*(node); }

  /// Stores `f` (decay-copied), inline when it fits.
  template <
      class F, class D = std::decay_t<F>,
      std::enable_if_t<!std::is_same_v<D, task> && !std::is_convertible_v<D, task_node*>, int> = 0>
  explicit task(F&& f) {
    if constexpr (fits_inline<D>) {
      ::new (storage_) D(std::forward<F>(f));
      ops_ = &inline_ops<D>;
    } else {
      ::new (storage_) D*(new D(std::forward<F>(f)));
      ops_ = &boxed_ops<D>;
    }
  }

  task(task&& other) noexcept : ops_(other.ops_) {
    if (ops_ != nullptr) {
      ops_->relocate(storage_, other.storage_);
      other.ops_ = nullptr;
    }
  }

  task& operator=(task&& other) noexcept {
    if (this != &other) {
      reset();
      ops_ = other.ops_;
      if (ops_ != nullptr) {
        ops_->relocate(storage_, other.storage_);
        other.ops_ = nullptr;
      }
    }
    return *this;
  }

  task(const task&) = delete;
  task& operator=(const task&) = delete;

  ~task() { reset(); }

  /// True if the task holds work.
  explicit operator bool() const noexcept { return ops_ != nullptr; }

  /// Runs the work once and consumes the task. Precondition: the task holds work.
  run_outcome run(std::exception_ptr& error) noexcept {
    const ops* o = std::exchange(ops_, nullptr);
    return o->run(storage_, error);
  }

  /// Drops the work without running it (see task_node::cancel_and_release) and consumes the
  /// task. Returns true if live work was stopped. Precondition: the task holds work.
  bool cancel(const std::exception_ptr& reason) noexcept {
    const ops* o = std::exchange(ops_, nullptr);
    return o->cancel(storage_, reason);
  }

  /// True if a callable of type D is stored without a heap allocation.
  template <class D>
  static constexpr bool fits_inline = sizeof(D) <= task_inline_bytes &&
                                      alignof(D) <= alignof(std::max_align_t) &&
                                      alignof(D) <= 8 && std::is_nothrow_move_constructible_v<D>;

 private:
  struct ops {
    run_outcome (*run)(void* storage, std::exception_ptr& error) noexcept;
    bool (*cancel)(void* storage, const std::exception_ptr& reason) noexcept;
    void (*relocate)(void* dst, void* src) noexcept;
  };

  void reset() noexcept {
    if (ops_ != nullptr) {
      // Unconsumed work is cancelled, never dropped silently.
      cancel(nullptr);
    }
  }

  template <class D>
  static run_outcome invoke_guarded(D& f, std::exception_ptr& error) noexcept {
    try {
      std::invoke(f);
    } catch (...) {
      error = std::current_exception();
      return run_outcome::failed;
    }
    return run_outcome::succeeded;
  }

  template <class D>
  static constexpr ops inline_ops{[](void* s, std::exception_ptr& error) noexcept {
                                    D* f = std::launder(static_cast<D*>(s));
                                    const run_outcome outcome = invoke_guarded(*f, error);
                                    f->~D();
                                    return outcome;
                                  },
                                  [](void* s, const std::exception_ptr&) noexcept {
                                    std::launder(static_cast<D*>(s))->~D();
                                    return true;
                                  },
                                  [](void* dst, void* src) noexcept {
                                    D* from = std::launder(static_cast<D*>(src));
                                    ::new (dst) D(std::move(*from));
                                    from->~D();
                                  }};

  template <class D>
  static constexpr ops boxed_ops{
      [](void* s, std::exception_ptr& error) noexcept {
        D* f = *std::launder(static_cast<D**>(s));
        const run_outcome outcome = invoke_guarded(*f, error);
        delete f;
        return outcome;
      },
      [](void* s, const std::exception_ptr&) noexcept {
        delete *std::launder(static_cast<D**>(s));
        return true;
      },
      [](void* dst, void* src) noexcept { ::new (dst) D*(*std::launder(static_cast<D**>(src))); }};

  static constexpr ops node_ops{
      [](void* s, std::exception_ptr& error) noexcept {
        return (*std::launder(static_cast<task_node**>(s)))->run_and_release(error);
      },
      [](void* s, const std::exception_ptr& reason) noexcept {
        return (*std::launder(static_cast<task_node**>(s)))->cancel_and_release(reason);
      },
      [](void* dst, void* src) noexcept {
        ::new (dst) task_node*(*std::launder(static_cast<task_node**>(src)));
      }};

  const ops* ops_ = nullptr;
  alignas(8) unsigned char storage_[task_inline_bytes];
};

static_assert(sizeof(task) == 8 + task_inline_bytes,
              "a task is an operations pointer plus its inline storage");

}  // namespace detail
}  // namespace v1
}  // namespace weft
