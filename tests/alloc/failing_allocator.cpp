// failing_allocator.cpp: the replacement global operator new / operator delete of the
// allocation-failure tests. See failing_allocator.hpp for what it does and why.
//
// Every form the standard lets a program replace is defined here ([new.delete]): plain, array,
// nothrow, aligned (std::align_val_t), and the sized and aligned forms of operator delete.
// Blocks come from std::malloc (default alignment) or posix_memalign (over-aligned), and every
// operator delete frees with std::free, so any new matches any delete. The nothrow forms follow
// the standard's "as if by calling the throwing form" and return nullptr where it would throw.
//
// Memory orders. `armed` is loaded acquire by allocating threads and stored release by arm():
// a thread that sees it set also sees the fail point and mode stored before it (those are
// relaxed atomics themselves, for a thread still reading them from the previous arming). `counted`
// is one RMW per counted allocation (relaxed is enough: the RMW alone makes each number unique, so
// exactly one allocation is the n-th). The statistics (`live`, `injected`) are relaxed.

#include "failing_allocator.hpp"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string_view>

#include <execinfo.h>
#include <unistd.h>

namespace weft_test::alloc {
namespace {

std::atomic<bool> armed{false};
std::atomic<std::uint64_t> counted{0};
std::atomic<std::uint64_t> injected{0};
// Written by arm() before it sets `armed`. Atomic (relaxed) because a thread that saw `armed`
// set by an earlier arm() may still be reading them when the next arm() writes them.
std::atomic<std::uint64_t> fail_at_value{0};
std::atomic<fail_mode> mode_value{fail_mode::once};
std::atomic<bool> print_backtraces{false};
std::atomic<std::int64_t> live{0};

void print_backtrace() noexcept {
  constexpr int max_frames = 64;
  std::array<void*, max_frames> frames{};
  const int depth = backtrace(frames.data(), max_frames);
  constexpr std::string_view header = "failing_allocator: injected an allocation failure here:\n";
  static_cast<void>(write(STDERR_FILENO, header.data(), header.size()));
  backtrace_symbols_fd(frames.data(), depth, STDERR_FILENO);  // writes to the fd, no allocation
}

/// True if this allocation must fail: it is counted while armed and hits the fail point.
bool should_fail() noexcept {
  if (!armed.load(std::memory_order_acquire)) {  // pairs with arm()'s release store
    return false;
  }
  const std::uint64_t n = counted.fetch_add(1, std::memory_order_relaxed) + 1;
  const std::uint64_t at = fail_at_value.load(std::memory_order_relaxed);  // see arm()
  const bool fail =
      mode_value.load(std::memory_order_relaxed) == fail_mode::once ? n == at : n >= at;
  if (fail) {
    injected.fetch_add(1, std::memory_order_relaxed);  // a statistic
    if (print_backtraces.load(std::memory_order_relaxed)) {
      print_backtrace();
    }
  }
  return fail;
}

/// One block of `size` bytes aligned to `alignment`, or nullptr (a failure to report).
void* raw_allocate(std::size_t size, std::size_t alignment) noexcept {
  if (size == 0) {
    size = 1;  // operator new(0) must return a unique pointer
  }
  if (alignment <= __STDCPP_DEFAULT_NEW_ALIGNMENT__) {
    return std::malloc(size);  // NOLINT(cppcoreguidelines-no-malloc): this is operator new
  }
  void* p = nullptr;
  const std::size_t a = alignment < sizeof(void*) ? sizeof(void*) : alignment;
  return posix_memalign(&p, a, size) == 0 ? p : nullptr;
}

/// The throwing forms: the injected failure first, then the standard new_handler loop.
void* allocate(std::size_t size, std::size_t alignment) {
  if (should_fail()) {
    throw std::bad_alloc();
  }
  for (;;) {
    if (void* p = raw_allocate(size, alignment)) {
      live.fetch_add(1, std::memory_order_relaxed);  // a statistic
      return p;
    }
    const std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) {
      throw std::bad_alloc();
    }
    handler();
  }
}

/// The nothrow forms: as if by the throwing form, with nullptr instead of the exception.
void* allocate_nothrow(std::size_t size, std::size_t alignment) noexcept {
  try {
    return allocate(size, alignment);
  } catch (...) {
    return nullptr;
  }
}

void deallocate(void* p) noexcept {
  if (p != nullptr) {
    live.fetch_sub(1, std::memory_order_relaxed);  // a statistic
    std::free(p);  // NOLINT(cppcoreguidelines-no-malloc): this is operator delete
  }
}

std::size_t to_size(std::align_val_t alignment) noexcept {
  return static_cast<std::size_t>(alignment);
}

}  // namespace

void arm(std::uint64_t fail_at, fail_mode mode) noexcept {
  counted.store(0, std::memory_order_relaxed);
  injected.store(0, std::memory_order_relaxed);
  fail_at_value.store(fail_at, std::memory_order_relaxed);
  mode_value.store(mode, std::memory_order_relaxed);
  // NOLINTNEXTLINE(concurrency-mt-unsafe): the tests never modify the environment.
  const char* trace = std::getenv("WEFT_TEST_ALLOC_BACKTRACE");
  print_backtraces.store(trace != nullptr && trace[0] == '1', std::memory_order_relaxed);
  armed.store(true, std::memory_order_release);  // publishes the values above
}

arm_report disarm() noexcept {
  armed.store(false, std::memory_order_release);
  return arm_report{counted.load(std::memory_order_relaxed),
                    injected.load(std::memory_order_relaxed)};
}

std::int64_t live_allocations() noexcept {
  return live.load(std::memory_order_relaxed);
}

bool replacement_active() noexcept {
  const std::int64_t before = live.load(std::memory_order_relaxed);
  void* p = ::operator new(1);
  // Hides the block from the optimiser, which may drop an unused new/delete pair.
  asm volatile("" : : "g"(p) : "memory");
  const bool counted_here = live.load(std::memory_order_relaxed) > before;
  ::operator delete(p);
  return counted_here;
}

}  // namespace weft_test::alloc

// ---- The replaced operators ([new.delete.single], [new.delete.array]) ------------------------

namespace alloc = weft_test::alloc;

void* operator new(std::size_t size) {
  return alloc::allocate(size, __STDCPP_DEFAULT_NEW_ALIGNMENT__);
}
void* operator new[](std::size_t size) {
  return alloc::allocate(size, __STDCPP_DEFAULT_NEW_ALIGNMENT__);
}
void* operator new(std::size_t size, const std::nothrow_t& /*tag*/) noexcept {
  return alloc::allocate_nothrow(size, __STDCPP_DEFAULT_NEW_ALIGNMENT__);
}
void* operator new[](std::size_t size, const std::nothrow_t& /*tag*/) noexcept {
  return alloc::allocate_nothrow(size, __STDCPP_DEFAULT_NEW_ALIGNMENT__);
}
void* operator new(std::size_t size, std::align_val_t alignment) {
  return alloc::allocate(size, alloc::to_size(alignment));
}
void* operator new[](std::size_t size, std::align_val_t alignment) {
  return alloc::allocate(size, alloc::to_size(alignment));
}
void* operator new(std::size_t size, std::align_val_t alignment,
                   const std::nothrow_t& /*tag*/) noexcept {
  return alloc::allocate_nothrow(size, alloc::to_size(alignment));
}
void* operator new[](std::size_t size, std::align_val_t alignment,
                     const std::nothrow_t& /*tag*/) noexcept {
  return alloc::allocate_nothrow(size, alloc::to_size(alignment));
}

void operator delete(void* p) noexcept {
  alloc::deallocate(p);
}
void operator delete[](void* p) noexcept {
  alloc::deallocate(p);
}
void operator delete(void* p, std::size_t /*size*/) noexcept {
  alloc::deallocate(p);
}
void operator delete[](void* p, std::size_t /*size*/) noexcept {
  alloc::deallocate(p);
}
void operator delete(void* p, const std::nothrow_t& /*tag*/) noexcept {
  alloc::deallocate(p);
}
void operator delete[](void* p, const std::nothrow_t& /*tag*/) noexcept {
  alloc::deallocate(p);
}
void operator delete(void* p, std::align_val_t /*alignment*/) noexcept {
  alloc::deallocate(p);
}
void operator delete[](void* p, std::align_val_t /*alignment*/) noexcept {
  alloc::deallocate(p);
}
void operator delete(void* p, std::size_t /*size*/, std::align_val_t /*alignment*/) noexcept {
  alloc::deallocate(p);
}
void operator delete[](void* p, std::size_t /*size*/, std::align_val_t /*alignment*/) noexcept {
  alloc::deallocate(p);
}
void operator delete(void* p, std::align_val_t /*alignment*/,
                     const std::nothrow_t& /*tag*/) noexcept {
  alloc::deallocate(p);
}
void operator delete[](void* p, std::align_val_t /*alignment*/,
                       const std::nothrow_t& /*tag*/) noexcept {
  alloc::deallocate(p);
}
