// Channel concatenation from C++: known values, skipped gradients, rejected arguments, and the CUDA
// kernel against the CPU one where a GPU (or the emulator) is there.
#include <cstring>
#include <functional>
#include <vector>

#include "check.h"
#include "core/tensor.h"
#include "ops/concat.h"

using namespace convnet;

static Tensor filled(const Shape& shape, const std::function<float(int64_t)>& value) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = value(i);
  return t;
}

static bool same(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

CONVNET_TEST(concat_forward_backward) {
  // a (2, 1, 2): 0..3, b (2, 2, 2): 100..107; y (2, 3, 2) interleaves them row by row.
  Tensor a = filled({2, 1, 2}, [](int64_t i) { return float(i); });
  Tensor b = filled({2, 2, 2}, [](int64_t i) { return 100.0f + float(i); });
  EXPECT(ops::concat_output_shape({&a, &b}) == Shape({2, 3, 2}), "concat output shape");
  Tensor y = Tensor::empty({2, 3, 2});
  ops::concat_forward(y, {&a, &b});
  const std::vector<float> want = {0, 1, 100, 101, 102, 103, 2, 3, 104, 105, 106, 107};
  bool ok = true;
  for (int64_t i = 0; i < 12; ++i) ok &= y.data<float>()[i] == want[i];
  EXPECT(ok, "concat forward: row n of a, then row n of b");
  EXPECT(same(ops::concat({&a, &b}), y), "concat convenience");
  // Backward: a null gradient is skipped, and the next input's slice still starts at its offset.
  Tensor db = Tensor::empty({2, 2, 2});
  ops::concat_backward({nullptr, &db}, y, {a.shape(), b.shape()});
  EXPECT(same(db, b), "concat backward: the slice of b, with a's gradient not needed");
  Tensor da = Tensor::empty({2, 1, 2});
  ops::concat_backward({&da, nullptr}, y, {a.shape(), b.shape()});
  EXPECT(same(da, a), "concat backward: the slice of a");
  ops::concat_backward({nullptr, nullptr}, y, {a.shape(), b.shape()});  // nothing needed: checks only
}

CONVNET_TEST(concat_rejects_arguments) {
  Tensor a = Tensor::zeros({2, 3, 4, 4}), b = Tensor::zeros({2, 1, 4, 4});
  EXPECT_THROWS(ValueError, ops::concat({&a}), "concat needs 2 inputs", "at least 2");
  EXPECT_THROWS(ValueError, ops::concat({}), "concat of nothing", "got 0");
  Tensor other_n = Tensor::zeros({3, 1, 4, 4}), flat = Tensor::zeros({2, 16});
  EXPECT_THROWS(ValueError, ops::concat({&a, &other_n}), "concat checks N", "concat: argument 'inputs[1]'");
  EXPECT_THROWS(ValueError, ops::concat({&a, &flat}), "concat checks the trailing dims", "(2, C, 4, 4)");
  Tensor ints = Tensor::zeros({2, 1, 4, 4}, DType::Int64);
  EXPECT_THROWS(TypeError, ops::concat({&a, &ints}), "concat checks dtypes", "float32");
  EXPECT_THROWS(ValueError, ops::concat({&a, nullptr}), "concat rejects a null input", "None");
  Tensor y = Tensor::empty({2, 3, 4, 4});
  EXPECT_THROWS(ValueError, ops::concat_forward(y, {&a, &b}), "concat checks y's shape", "'y'");
  Tensor dy = Tensor::zeros({2, 4, 4, 4}), da = Tensor::empty({2, 3, 4, 4}), wrong = Tensor::empty({2, 2, 4, 4});
  EXPECT_THROWS(ValueError, ops::concat_backward({&da}, dy, {a.shape(), b.shape()}), "one gradient per input",
                "'grad_inputs'");
  EXPECT_THROWS(ValueError, ops::concat_backward({&da, &wrong}, dy, {a.shape(), b.shape()}),
                "concat backward checks a gradient's shape", "'grad_inputs[1]'");
  EXPECT_THROWS(ValueError, ops::concat_backward({&da, nullptr}, dy, {a.shape(), {2, 2, 4, 4}}),
                "concat backward checks grad_out against the shapes", "'grad_out'");
}

CONVNET_TEST(concat_cuda_matches_cpu) {
  if (!cuda::is_available()) return;
  Tensor a = filled({3, 2, 5, 3}, [](int64_t i) { return float(i) * 0.5f; });
  Tensor b = filled({3, 3, 5, 3}, [](int64_t i) { return -float(i); });
  Tensor c = filled({3, 1, 5, 3}, [](int64_t i) { return float(i * i); });
  const Tensor y = ops::concat({&a, &b, &c});
  Tensor ga = a.to(Device::cuda()), gb = b.to(Device::cuda()), gc = c.to(Device::cuda());
  Tensor gy = Tensor::empty(y.shape(), DType::Float32, Device::cuda());
  ops::concat_forward(gy, {&ga, &gb, &gc});
  EXPECT(same(gy.to(Device::cpu()), y), "concat on CUDA equals the CPU's");
  Tensor db = Tensor::empty(b.shape(), DType::Float32, Device::cuda());
  ops::concat_backward({nullptr, &db, nullptr}, gy, {a.shape(), b.shape(), c.shape()});
  EXPECT(same(db.to(Device::cpu()), b), "concat backward on CUDA: the middle slice");
}
