#pragma once
// callback_handle: a removable on_done registration (future::on_done_removable).
//
// A component that watches futures it may stop caring about (a when_any, an as_completed
// range dropped early) registers through on_done_removable and keeps the handle; remove()
// takes the callback back if it has not started, so nothing is left behind on a future that
// lives on. Removal never waits: a callback that is running or has run is not affected.
//
// Thread safety: remove() and removed() may be called from any thread, concurrently with the
// future's completion and with each other. Moving, resetting and destroying a handle need the
// usual exclusive access to that handle object.

#include <utility>

#include <weft/detail/shared_state.hpp>

namespace weft {
inline namespace v1 {

template <class T>
class future;

/// The handle of a callback registered with future::on_done_removable().
///
/// Destroying the handle (or reset()) does not remove the callback: it stays registered and
/// runs when the future is done, as with on_done. Call remove() first to take it back.
class callback_handle {
 public:
  /// A handle that refers to no registration.
  callback_handle() noexcept = default;
  callback_handle(const callback_handle&) = delete;
  callback_handle& operator=(const callback_handle&) = delete;
  /// Takes over `other`'s registration; `other` then refers to none.
  callback_handle(callback_handle&& other) noexcept : node_(std::exchange(other.node_, nullptr)) {}
  /// Lets go of this handle's registration (not removing it) and takes over `other`'s.
  callback_handle& operator=(callback_handle&& other) noexcept {
    if (this != &other) {
      reset();
      node_ = std::exchange(other.node_, nullptr);
    }
    return *this;
  }
  /// Lets go of the registration; the callback stays registered unless remove() succeeded.
  ~callback_handle() { reset(); }

  /// Takes the callback back if it has not started.
  ///
  /// Returns: true if this call removed it: it will never run, and its callable (with its
  /// captures) was destroyed before the return. False if it has started, has run, was removed
  /// before, or the handle refers to no registration.
  /// Thread safety: any thread; decided exactly once against the callback's start, and never
  /// waits for a running callback.
  bool remove() noexcept { return node_ != nullptr && node_->remove(); }

  /// True if the handle refers to a registration (it may have run or been removed since).
  [[nodiscard]] bool valid() const noexcept { return node_ != nullptr; }

  /// Lets go of the registration without removing it; valid() is false afterwards.
  void reset() noexcept {
    if (node_ != nullptr) {
      std::exchange(node_, nullptr)->release_handle();
    }
  }

 private:
  template <class U>
  friend class future;

  explicit callback_handle(detail::removable_node* node) noexcept : node_(node) {}

  detail::removable_node* node_ = nullptr;
};

}  // namespace v1
}  // namespace weft
