// Must not compile: an on_done callback must take (const weft::future<T>&) or nothing.
// expected-error: on_done needs a callable
#include <weft/thread_pool.hpp>

int main() {
  weft::thread_pool pool{1};
  auto f = pool.submit([] { return 1; });
  f.on_done([](const std::string&) {});
  return 0;
}
