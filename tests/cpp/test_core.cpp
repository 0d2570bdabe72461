// The C++ core used directly, with no Python: a small test program run by ctest.
// It shows a C++ developer how to create tensors and call an op's forward and backward.
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "ops/elementwise.h"

using namespace convnet;

static int failures = 0;
static int passed = 0;

static void expect(bool cond, const std::string& what) {
  if (cond) {
    ++passed;
  } else {
    ++failures;
    std::printf("FAILED: %s\n", what.c_str());
  }
}

template <typename E>
static void expect_throws(const std::function<void()>& fn, const std::string& what, const std::string& fragment) {
  try {
    fn();
    expect(false, what + " (no exception)");
  } catch (const E& e) {
    expect(std::string(e.what()).find(fragment) != std::string::npos,
           what + " (message '" + e.what() + "' lacks '" + fragment + "')");
  }
}

static Tensor filled(const Shape& shape, const std::function<float(int64_t)>& value) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = value(i);
  return t;
}

static void test_tensor() {
  Tensor t = Tensor::zeros({2, 3, 4});
  expect(t.numel() == 24 && t.dim() == 3 && t.size(-1) == 4, "zeros shape");
  expect(t.strides() == Shape({12, 4, 1}), "row-major strides");
  Tensor r = t.reshape({6, 4});
  expect(r.shares_storage(t), "reshape shares memory");
  expect_throws<ValueError>([&] { t.reshape({5, 5}); }, "reshape checks size", "24 elements");
  Tensor c = t.clone();
  c.fill(2.0);
  expect(t.data<float>()[0] == 0.0f && c.data<float>()[0] == 2.0f, "clone copies");
  expect(!cuda::is_available() || cuda::device_count() > 0, "cuda availability is consistent");
}

static void test_add() {
  Tensor a = filled({2, 3}, [](int64_t i) { return float(i); });
  Tensor b = filled({2, 3}, [](int64_t i) { return 10.0f * float(i); });
  Tensor y = ops::add(a, b);
  bool ok = true;
  for (int64_t i = 0; i < 6; ++i) ok &= y.data<float>()[i] == 11.0f * float(i);
  expect(ok, "add forward");
  Tensor da = Tensor::empty({2, 3});
  ops::add_backward(&da, nullptr, y);
  expect(da.data<float>()[5] == y.data<float>()[5], "add backward passes the gradient through");
  expect_throws<ValueError>([&] { ops::add(a, Tensor::zeros({3, 2})); }, "add rejects shapes", "add: argument 'b'");
  expect_throws<TypeError>([&] { ops::add(a, Tensor::zeros({2, 3}, DType::Int64)); }, "add rejects dtype", "float32");
}

int main() {
  test_tensor();
  test_add();
  std::printf("%d passed, %d failed\n", passed, failures);
  return failures == 0 ? 0 : 1;
}
