// A tiny test harness for the C++ test program (no dependencies): each tests/cpp/test_*.cpp
// defines tests with CONVNET_TEST(name) { ... } and checks with EXPECT / EXPECT_THROWS.
#pragma once
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace convnet_test {

struct Case {
  const char* name;
  void (*fn)();
};
std::vector<Case>& registry();
struct Register {
  Register(const char* name, void (*fn)()) { registry().push_back({name, fn}); }
};
void record(bool ok, const std::string& what);

template <typename E>
void expect_throws(const std::function<void()>& fn, const std::string& what, const std::string& fragment) {
  try {
    fn();
    record(false, what + " (no exception)");
  } catch (const E& e) {
    record(std::string(e.what()).find(fragment) != std::string::npos,
           what + " (message '" + e.what() + "' lacks '" + fragment + "')");
  }
}

}  // namespace convnet_test

#define CONVNET_TEST(name)                                                 \
  static void name();                                                      \
  static convnet_test::Register register_##name(#name, name);             \
  static void name()
#define EXPECT(cond, what) convnet_test::record((cond), (what))
#define EXPECT_THROWS(E, stmt, what, fragment) convnet_test::expect_throws<E>([&] { stmt; }, (what), (fragment))
