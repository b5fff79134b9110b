// Must not compile: submit() of a callable that cannot be invoked with the given arguments is
// rejected at compile time (a static_assert naming weft::thread_pool::submit).
// expected-error: the callable cannot be invoked
#include <weft/thread_pool.hpp>

int main() {
  weft::thread_pool pool{1};
  auto f = pool.submit([](int x) { return x; }, "not an int");
  return 0;
}
