// Pooling ops from C++: known values, the saved index (first tie wins), backward routing, rejected arguments.
#include <cmath>
#include <functional>

#include "check.h"
#include "core/tensor.h"
#include "ops/pool.h"

using namespace convnet;

static Tensor filled(const Shape& shape, const std::function<float(int64_t)>& value) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = value(i);
  return t;
}

static bool equals(const Tensor& t, const std::vector<float>& want) {
  if (t.numel() != int64_t(want.size())) return false;
  for (size_t i = 0; i < want.size(); ++i)
    if (std::fabs(t.data<float>()[i] - want[i]) > 1e-6f) return false;
  return true;
}

CONVNET_TEST(max_pool2d_forward_backward_index) {
  // x = 0..15 in a 4x4 plane; 2x2 windows, stride 2.
  Tensor x = filled({1, 1, 4, 4}, [](int64_t i) { return float(i); });
  ops::Pool2dParams p;  // max, kernel 2, stride 2
  EXPECT(ops::pool2d_output_shape(x, p) == Shape({1, 1, 2, 2}), "max pool output shape");
  Tensor y = Tensor::empty({1, 1, 2, 2});
  Tensor index = Tensor::empty({1, 1, 2, 2}, DType::Int64);
  ops::pool2d_forward(y, &index, x, p);
  EXPECT(equals(y, {5, 7, 13, 15}), "max pool forward");
  const int64_t* ix = index.data<int64_t>();
  EXPECT(ix[0] == 5 && ix[1] == 7 && ix[2] == 13 && ix[3] == 15, "index holds h*W + w");
  Tensor dy = filled({1, 1, 2, 2}, [](int64_t i) { return float(i + 1); });
  Tensor dx = Tensor::empty({1, 1, 4, 4});
  dx.fill(99.0);  // written fully
  ops::pool2d_backward(dx, dy, &index, p);
  EXPECT(equals(dx, {0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4}), "max pool backward routes to the index");
  EXPECT(equals(ops::pool2d(x, p), {5, 7, 13, 15}), "pool2d convenience");
}

CONVNET_TEST(max_pool2d_ties_pick_first) {
  Tensor x = filled({1, 1, 3, 3}, [](int64_t) { return 1.0f; });
  ops::Pool2dParams p;
  p.stride_h = p.stride_w = 1;
  Tensor y = Tensor::empty({1, 1, 2, 2});
  Tensor index = Tensor::empty({1, 1, 2, 2}, DType::Int64);
  ops::pool2d_forward(y, &index, x, p);
  const int64_t* ix = index.data<int64_t>();
  EXPECT(ix[0] == 0 && ix[1] == 1 && ix[2] == 3 && ix[3] == 4, "ties: each window's first element");
  p.mode = ops::PoolMode::Min;
  ops::pool2d_forward(y, &index, x, p);
  EXPECT(ix[0] == 0 && ix[1] == 1 && ix[2] == 3 && ix[3] == 4, "min ties: each window's first element");
  // Padding is never chosen, even against -inf.
  Tensor ninf = filled({1, 1, 2, 2}, [](int64_t) { return -INFINITY; });
  p = ops::Pool2dParams{ops::PoolMode::Max, 3, 3, 1, 1, 1, 1};
  ops::pool2d_forward(y, &index, ninf, p);
  EXPECT(ix[0] == 0 && ix[1] == 0 && ix[2] == 0 && ix[3] == 0, "padding never chosen");
}

CONVNET_TEST(avg_pool2d_count_include_pad) {
  Tensor x = filled({1, 1, 2, 2}, [](int64_t i) { return float(i + 1); });  // [[1, 2], [3, 4]]
  ops::Pool2dParams p{ops::PoolMode::Avg, 2, 2, 1, 1, 1, 1};                 // padding 1: 3x3 outputs
  Tensor y = ops::pool2d(x, p);
  EXPECT(y.shape() == Shape({1, 1, 3, 3}), "avg pool output shape");
  EXPECT(equals(y, {0.25f, 0.75f, 0.5f, 1.0f, 2.5f, 1.5f, 0.75f, 1.75f, 1.0f}), "avg pool divides by the kernel area");
  Tensor dy = filled({1, 1, 3, 3}, [](int64_t) { return 1.0f; });
  Tensor dx = Tensor::empty({1, 1, 2, 2});
  ops::pool2d_backward(dx, dy, nullptr, p);  // every input lies in 4 windows: 4 * 1/4
  EXPECT(equals(dx, {1, 1, 1, 1}), "avg pool backward");
}

CONVNET_TEST(global_avg_pool2d_forward_backward) {
  Tensor x = filled({2, 3, 2, 2}, [](int64_t i) { return float(i); });
  Tensor y = ops::global_avg_pool2d(x);
  EXPECT(y.shape() == Shape({2, 3}) && equals(y, {1.5f, 5.5f, 9.5f, 13.5f, 17.5f, 21.5f}), "global avg forward");
  Tensor dy = filled({2, 3}, [](int64_t i) { return 4.0f * float(i); });
  Tensor dx = Tensor::empty({2, 3, 2, 2});
  ops::global_avg_pool2d_backward(dx, dy);
  EXPECT(dx.data<float>()[0] == 0.0f && dx.data<float>()[4] == 1.0f && dx.data<float>()[23] == 5.0f,
         "global avg backward spreads dy / (H*W)");
}

CONVNET_TEST(pool2d_rejects_arguments) {
  Tensor x = Tensor::zeros({1, 2, 5, 5});
  ops::Pool2dParams p;
  EXPECT_THROWS(ValueError, ops::pool2d(Tensor::zeros({2, 5, 5}), p), "pool rejects rank", "max_pool2d: argument 'x'");
  EXPECT_THROWS(TypeError, ops::pool2d(Tensor::zeros({1, 1, 4, 4}, DType::Int64), p), "pool rejects dtype", "float32");
  p.stride_h = 0;
  EXPECT_THROWS(ValueError, ops::pool2d(x, p), "pool rejects stride 0", "argument 'stride'");
  p = ops::Pool2dParams{ops::PoolMode::Avg, 3, 3, 1, 1, 2, 2};
  EXPECT_THROWS(ValueError, ops::pool2d(x, p), "pool rejects pad > kernel/2", "avg_pool2d: argument 'padding'");
  p = ops::Pool2dParams{ops::PoolMode::Min, 6, 2, 1, 1, 0, 0};
  EXPECT_THROWS(ValueError, ops::pool2d(x, p), "pool rejects a kernel larger than the input", "padded input size");
  p = ops::Pool2dParams{};
  Tensor dx = Tensor::empty({1, 2, 5, 5});
  Tensor dy = Tensor::zeros({1, 2, 2, 2});
  EXPECT_THROWS(ValueError, ops::pool2d_backward(dx, dy, nullptr, p), "max backward needs the index", "'index'");
  Tensor bad_dy = Tensor::zeros({1, 2, 3, 3});
  EXPECT_THROWS(ValueError, ops::pool2d_backward(dx, bad_dy, nullptr, p), "backward checks dy", "'grad_out'");
  Tensor y = Tensor::empty({1, 2, 2, 2});
  Tensor index_f = Tensor::empty({1, 2, 2, 2});
  EXPECT_THROWS(TypeError, ops::pool2d_forward(y, &index_f, x, p), "index must be int64", "'index'");
  EXPECT_THROWS(ValueError, ops::global_avg_pool2d(Tensor::zeros({0, 2, 3, 3})), "global avg rejects empty",
                "non-empty");
  EXPECT_THROWS(ValueError, ops::global_avg_pool2d_backward(dx, Tensor::zeros({2, 1})), "global avg checks dy",
                "'grad_out'");
}
