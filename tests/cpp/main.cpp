// The C++ test program run by ctest: runs every CONVNET_TEST in tests/cpp/*.cpp.
#include "check.h"

namespace convnet_test {

std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}

static int passed = 0, failed = 0;

void record(bool ok, const std::string& what) {
  if (ok) {
    ++passed;
  } else {
    ++failed;
    std::printf("FAILED: %s\n", what.c_str());
  }
}

}  // namespace convnet_test

int main() {
  for (const auto& c : convnet_test::registry()) {
    int before = convnet_test::failed;
    c.fn();
    std::printf("%-40s %s\n", c.name, convnet_test::failed == before ? "ok" : "FAILED");
  }
  std::printf("%d passed, %d failed\n", convnet_test::passed, convnet_test::failed);
  return convnet_test::failed == 0 ? 0 : 1;
}
