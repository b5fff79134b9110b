// Smallest useful weft program: the consumers in tests/install build and run it.

#include <weft/config.hpp>
#include <weft/weft.hpp>

#ifndef WEFT_VERSION_STRING
#error "weft/config.hpp does not define WEFT_VERSION_STRING"
#endif

int main() {
  weft::thread_pool pool{2};
  auto f = pool.submit([] { return 42; });
  return f.get() == 42 ? 0 : 1;
}
