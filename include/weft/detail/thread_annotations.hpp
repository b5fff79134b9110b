#pragma once
// Clang thread-safety annotations and the annotated mutex every weft lock goes through.
//
// With clang and -Wthread-safety, a member marked WEFT_GUARDED_BY(mu_) that is touched without
// mu_ held, or a function marked WEFT_REQUIRES(mu_) called without it, fails the build. Other
// compilers see empty macros.

#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define WEFT_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define WEFT_THREAD_ANNOTATION(x)
#endif

#define WEFT_CAPABILITY(x) WEFT_THREAD_ANNOTATION(capability(x))
#define WEFT_SCOPED_CAPABILITY WEFT_THREAD_ANNOTATION(scoped_lockable)
#define WEFT_GUARDED_BY(x) WEFT_THREAD_ANNOTATION(guarded_by(x))
#define WEFT_PT_GUARDED_BY(x) WEFT_THREAD_ANNOTATION(pt_guarded_by(x))
#define WEFT_REQUIRES(...) WEFT_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define WEFT_ACQUIRE(...) WEFT_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define WEFT_RELEASE(...) WEFT_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define WEFT_EXCLUDES(...) WEFT_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define WEFT_NO_THREAD_SAFETY_ANALYSIS WEFT_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace weft {
inline namespace v1 {
namespace detail {

/// std::mutex with capability annotations.
class WEFT_CAPABILITY("mutex") mutex {
 public:
  void lock() WEFT_ACQUIRE() { m_.lock(); }
  void unlock() WEFT_RELEASE() { m_.unlock(); }
  /// The wrapped mutex, for std::condition_variable. Only unique_lock below uses it.
  std::mutex& native() noexcept { return m_; }

 private:
  std::mutex m_;
};

/// Scoped lock over detail::mutex that a std::condition_variable can wait with.
class WEFT_SCOPED_CAPABILITY unique_lock {
 public:
  explicit unique_lock(mutex& m) WEFT_ACQUIRE(m) : lock_(m.native()) {}
  ~unique_lock() WEFT_RELEASE() = default;
  unique_lock(const unique_lock&) = delete;
  unique_lock& operator=(const unique_lock&) = delete;

  /// The underlying std::unique_lock, for condition_variable::wait and friends. Waiting releases
  /// and re-acquires the mutex; the analysis treats the lock as held throughout, which is what
  /// the code after the wait may rely on.
  std::unique_lock<std::mutex>& native() noexcept { return lock_; }

 private:
  std::unique_lock<std::mutex> lock_;
};

}  // namespace detail
}  // namespace v1
}  // namespace weft
