// Tensors and the elementwise ops, called from C++ with no Python: how a C++ developer creates
// tensors and calls an op's forward and backward.
#include <cstdint>
#include <functional>
#include <random>

#include "check.h"
#include "core/int_divider.h"
#include "core/tensor.h"
#include "ops/elementwise.h"

using namespace convnet;

static Tensor filled(const Shape& shape, const std::function<float(int64_t)>& value) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = value(i);
  return t;
}

CONVNET_TEST(tensor_basics) {
  Tensor t = Tensor::zeros({2, 3, 4});
  EXPECT(t.numel() == 24 && t.dim() == 3 && t.size(-1) == 4, "zeros shape");
  EXPECT(t.strides() == Shape({12, 4, 1}), "row-major strides");
  Tensor r = t.reshape({6, 4});
  EXPECT(r.shares_storage(t), "reshape shares memory");
  EXPECT_THROWS(ValueError, t.reshape({5, 5}), "reshape checks size", "24 elements");
  Tensor c = t.clone();
  c.fill(2.0);
  EXPECT(t.data<float>()[0] == 0.0f && c.data<float>()[0] == 2.0f, "clone copies");
  EXPECT(cuda::is_available() == (cuda::device_count() > 0), "cuda availability is consistent");
}

CONVNET_TEST(add_forward_backward) {
  Tensor a = filled({2, 3}, [](int64_t i) { return float(i); });
  Tensor b = filled({2, 3}, [](int64_t i) { return 10.0f * float(i); });
  Tensor y = ops::add(a, b);
  bool ok = true;
  for (int64_t i = 0; i < 6; ++i) ok &= y.data<float>()[i] == 11.0f * float(i);
  EXPECT(ok, "add forward");
  Tensor da = Tensor::empty({2, 3});
  ops::add_backward(&da, nullptr, y);
  EXPECT(da.data<float>()[5] == y.data<float>()[5], "add backward passes the gradient through");
  EXPECT_THROWS(ValueError, ops::add(a, Tensor::zeros({3, 2})), "add rejects shapes", "add: argument 'b'");
  EXPECT_THROWS(TypeError, ops::add(a, Tensor::zeros({2, 3}, DType::Int64)), "add rejects dtype", "float32");
}

CONVNET_TEST(views_share_a_flat_buffer) {
  Tensor flat = Tensor::zeros({10});
  Tensor w = flat.view(2, {2, 3});
  w.fill(1.0);
  EXPECT(flat.data<float>()[1] == 0.0f && flat.data<float>()[2] == 1.0f && flat.data<float>()[7] == 1.0f &&
             flat.data<float>()[8] == 0.0f, "a view writes into its window only");
  EXPECT_THROWS(ValueError, flat.view(8, {3}), "view checks bounds", "inside 10 elements");
}

// IntDivider against / and %: every divisor near a power of two and the extremes, with dividends
// at the ends of [0, 2^31) and random ones, and random divisors with random dividends.
CONVNET_TEST(int_divider_matches_division) {
  std::mt19937_64 rng(7);
  std::vector<int64_t> divisors = {1, 2, 3, 5, 7, 9, 25, 28, 49, 784, 100352, 2147483647};
  for (int b = 1; b < 31; ++b)
    for (int64_t d : {(int64_t(1) << b) - 1, int64_t(1) << b, (int64_t(1) << b) + 1}) divisors.push_back(d);
  for (int i = 0; i < 200; ++i) divisors.push_back(int64_t(rng() % 2147483647) + 1);
  int64_t wrong = 0;
  for (int64_t d : divisors) {
    const IntDivider divider(d);
    std::vector<uint32_t> dividends = {0, 1, uint32_t(d - 1), uint32_t(d), 2147483647u, 2147483646u};
    if (d < 2147483647) dividends.push_back(uint32_t(d + 1));
    for (int i = 0; i < 2000; ++i) dividends.push_back(uint32_t(rng() % 2147483648u));
    for (uint32_t n : dividends) {
      uint32_t q, r;
      divider.divmod(n, q, r);
      wrong += q != n / uint32_t(d) || r != n % uint32_t(d);
    }
  }
  EXPECT(wrong == 0, "IntDivider's quotient and remainder equal / and % (" + std::to_string(wrong) + " wrong)");
  EXPECT(fits_int32(0) && fits_int32(2147483647) && !fits_int32(2147483648) && !fits_int32(-1), "fits_int32");
  EXPECT_THROWS(std::logic_error, IntDivider(0), "IntDivider refuses 0", "divisor 0 outside [1, 2^31)");
  EXPECT_THROWS(std::logic_error, IntDivider(int64_t(1) << 31), "IntDivider refuses 2^31", "outside [1, 2^31)");
}
