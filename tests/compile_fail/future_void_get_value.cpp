// Must not compile: future<void>::get() returns nothing, so its result cannot be used.
// expected-error: void
#include <weft/thread_pool.hpp>

int main() {
  weft::thread_pool pool{1};
  auto f = pool.submit([] {});
  int x = f.get();
  return x;
}
