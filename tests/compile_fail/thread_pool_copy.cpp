// Must not compile: a thread_pool owns threads and is neither copyable nor movable.
// expected-error: deleted
#include <weft/thread_pool.hpp>

int main() {
  weft::thread_pool pool{1};
  weft::thread_pool copy = pool;
  return 0;
}
