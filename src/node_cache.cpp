// Per-thread node cache: see the design note in include/weft/detail/node_cache.hpp.

#include <cstdint>
#include <new>

#include <weft/detail/node_cache.hpp>
#include <weft/detail/tuning.hpp>

namespace weft {
inline namespace v1 {
namespace detail {
namespace {

constexpr std::size_t granule = 16;  // as the heap rounds: no block grows by being cached
constexpr std::size_t classes = node_cache_max_bytes / granule;
static_assert(node_cache_max_bytes % granule == 0, "classes are whole granules");

struct free_block {
  free_block* next;
};

/// One thread's lists. Trivially destructible (no destructor runs at thread exit), so it can be
/// read until the thread is gone; constinit, so access needs no initialisation check.
struct thread_lists {
  free_block* heads[classes];
  std::uint32_t counts[classes];
  bool armed;    // the flusher exists: blocks may be kept
  bool retired;  // the flusher ran: keep nothing more
};
constinit thread_local thread_lists lists{};

/// Returns the lists to the heap when the thread exits.
struct flusher {
  flusher() noexcept { lists.armed = true; }
  flusher(const flusher&) = delete;
  flusher& operator=(const flusher&) = delete;
  ~flusher() {
    lists.armed = false;
    lists.retired = true;
    for (std::size_t k = 0; k < classes; ++k) {
      while (free_block* b = lists.heads[k]) {
        lists.heads[k] = b->next;
        ::operator delete(static_cast<void*>(b));
      }
      lists.counts[k] = 0;
    }
  }
  void arm() noexcept {}  // a call is an odr-use: it constructs the flusher in this thread
};
thread_local flusher thread_flusher;

std::size_t class_of(std::size_t bytes) noexcept {
  return (bytes - 1) / granule;
}

}  // namespace

void* node_allocate(std::size_t bytes) {
  if (node_cache_enabled && bytes != 0 && bytes <= node_cache_max_bytes) {
    const std::size_t k = class_of(bytes);
    if (free_block* b = lists.heads[k]) {
      lists.heads[k] = b->next;
      --lists.counts[k];
      return b;
    }
    if (!lists.armed && !lists.retired) {
      thread_flusher.arm();  // first allocation on this thread: from now on, keep freed blocks
    }
    return ::operator new((k + 1) * granule);  // the whole class, so any thread may keep it
  }
  return ::operator new(bytes);
}

void node_deallocate(void* block, std::size_t bytes) noexcept {
  // Only an armed thread keeps blocks: its flusher will return them (see the design note).
  if (node_cache_enabled && bytes != 0 && bytes <= node_cache_max_bytes && lists.armed) {
    const std::size_t k = class_of(bytes);
    if (lists.counts[k] < node_cache_blocks) {
      auto* b = static_cast<free_block*>(block);
      b->next = lists.heads[k];
      lists.heads[k] = b;
      ++lists.counts[k];
      return;
    }
  }
  ::operator delete(block);
}

std::size_t node_cache_size() noexcept {
  std::size_t total = 0;
  for (const std::uint32_t count : lists.counts) {
    total += count;
  }
  return total;
}

}  // namespace detail
}  // namespace v1
}  // namespace weft
