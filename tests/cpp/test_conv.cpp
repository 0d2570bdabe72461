// Convolution, linear and the SGEMM, called from C++: small known values, forward and backward,
// and rejected arguments.
#include <cmath>
#include <functional>

#include "check.h"
#include "core/tensor.h"
#include "kernels/gemm.h"
#include "ops/conv.h"
#include "ops/linear.h"

using namespace convnet;

static Tensor filled(const Shape& shape, const std::function<float(int64_t)>& value) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = value(i);
  return t;
}

CONVNET_TEST(sgemm_matches_naive_with_transposes) {
  const int64_t M = 37, N = 45, K = 300;  // edge tiles and two K blocks
  bool ok = true;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      Tensor A = filled({M * K}, [](int64_t i) { return float((i * 7) % 13) - 6.0f; });
      Tensor B = filled({K * N}, [](int64_t i) { return float((i * 5) % 11) - 5.0f; });
      Tensor C = filled({M * N}, [](int64_t) { return 1.0f; });
      const float *a = A.data<float>(), *b = B.data<float>();
      cpu_kernels::sgemm(ta, tb, M, N, K, a, ta ? M : K, b, tb ? K : N, C.data<float>(), N, true);
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
          double s = 1.0;
          for (int64_t k = 0; k < K; ++k) s += double(ta ? a[k * M + i] : a[i * K + k]) * (tb ? b[j * K + k] : b[k * N + j]);
          ok &= std::fabs(C.data<float>()[i * N + j] - s) < 1e-3;
        }
    }
  EXPECT(ok, "sgemm (all transposes, accumulate) equals the naive product");
}

CONVNET_TEST(sgemm_packed_a_matches_sgemm) {
  const int64_t M = 70, N = 50, K = 700;  // several A strips and K blocks
  Tensor A = filled({M * K}, [](int64_t i) { return float((i * 3) % 7) - 3.0f; });
  Tensor B = filled({K * N}, [](int64_t i) { return float((i * 5) % 9) - 4.0f; });
  Tensor C1 = Tensor::empty({M * N}), C2 = Tensor::empty({M * N});
  cpu_kernels::sgemm(false, false, M, N, K, A.data<float>(), K, B.data<float>(), N, C1.data<float>(), N, false);
  cpu_kernels::PackedA packed(false, M, K, A.data<float>(), K);
  cpu_kernels::sgemm_ex(packed, N, cpu_kernels::MatrixB(false, B.data<float>(), N), C2.data<float>(), N, false);
  bool same = true;
  for (int64_t i = 0; i < M * N; ++i) same &= C1.data<float>()[i] == C2.data<float>()[i];
  EXPECT(same, "a prepacked A gives the same product");
}

CONVNET_TEST(conv2d_known_values) {
  // x = 0..8 (1, 1, 3, 3), w = ones (1, 1, 2, 2), b = 1: y = [[9, 13], [21, 25]]
  Tensor x = filled({1, 1, 3, 3}, [](int64_t i) { return float(i); });
  Tensor w = filled({1, 1, 2, 2}, [](int64_t) { return 1.0f; });
  Tensor b = filled({1}, [](int64_t) { return 1.0f; });
  Tensor y = ops::conv2d(x, w, &b, ops::Conv2dParams{});
  const float* v = y.data<float>();
  EXPECT(y.shape() == Shape({1, 1, 2, 2}) && v[0] == 9 && v[1] == 13 && v[2] == 21 && v[3] == 25, "conv2d forward");
  // dy = ones: dx counts the windows covering each pixel, dw sums the windows, db = 4.
  Tensor dy = filled({1, 1, 2, 2}, [](int64_t) { return 1.0f; });
  Tensor dx = Tensor::empty(x.shape()), dw = Tensor::empty(w.shape()), db = Tensor::empty({1});
  ops::conv2d_backward(&dx, &dw, &db, dy, x, w, ops::Conv2dParams{});
  const float* gx = dx.data<float>();
  const float* gw = dw.data<float>();
  EXPECT(gx[0] == 1 && gx[1] == 2 && gx[4] == 4 && gx[8] == 1, "conv2d grad_x");
  EXPECT(gw[0] == 8 && gw[1] == 12 && gw[2] == 20 && gw[3] == 24, "conv2d grad_w");
  EXPECT(db.data<float>()[0] == 4, "conv2d grad_b");
  ops::conv2d_backward(nullptr, &dw, nullptr, dy, x, w, ops::Conv2dParams{});
  EXPECT(dw.data<float>()[3] == 24, "conv2d grad_w alone");
}

CONVNET_TEST(conv2d_same_padding_and_errors) {
  ops::Conv2dParams p = ops::conv2d_same_padding(ops::Conv2dParams{}, 4, 3, 5, 5);
  EXPECT(p.pad_top == 1 && p.pad_bottom == 2 && p.pad_left == 1 && p.pad_right == 1, "'same' pads like PyTorch");
  ops::Conv2dParams s2;
  s2.stride_h = s2.stride_w = 2;
  // TensorFlow: 28 -> 14 outputs, total (14 - 1) * 2 + 3 - 28 = 1 at the bottom; 7 -> 4, total 2: one each side.
  p = ops::conv2d_same_padding(s2, 3, 3, 28, 7);
  EXPECT(p.pad_top == 0 && p.pad_bottom == 1 && p.pad_left == 1 && p.pad_right == 1, "'same' pads like TensorFlow");
  s2.stride_h = 0;
  EXPECT_THROWS(ValueError, ops::conv2d_same_padding(s2, 3, 3, 5, 5), "'same' needs positive strides", "stride");
  Tensor x = Tensor::zeros({1, 4, 5, 5});
  Tensor w = Tensor::zeros({2, 3, 3, 3});
  EXPECT_THROWS(ValueError, ops::conv2d(x, w, nullptr, ops::Conv2dParams{}), "conv2d checks channels",
                "conv2d: argument 'w'");
  ops::Conv2dParams g3;
  g3.groups = 3;
  EXPECT_THROWS(ValueError, ops::conv2d(x, w, nullptr, g3), "conv2d checks groups", "'groups'");
}

CONVNET_TEST(linear_known_values) {
  Tensor x = filled({1, 2}, [](int64_t i) { return float(i + 1); });   // [1, 2]
  Tensor w = filled({2, 2}, [](int64_t i) { return float(i); });       // [[0, 1], [2, 3]]
  Tensor b = filled({2}, [](int64_t) { return 0.5f; });
  Tensor y = ops::linear(x, w, &b);
  EXPECT(y.data<float>()[0] == 2.5f && y.data<float>()[1] == 8.5f, "linear forward");
  Tensor dy = filled({1, 2}, [](int64_t) { return 1.0f; });
  Tensor dx = Tensor::empty({1, 2}), dw = Tensor::empty({2, 2}), db = Tensor::empty({2});
  ops::linear_backward(&dx, &dw, &db, dy, x, w);
  EXPECT(dx.data<float>()[0] == 2 && dx.data<float>()[1] == 4, "linear grad_x");
  EXPECT(dw.data<float>()[0] == 1 && dw.data<float>()[3] == 2 && db.data<float>()[1] == 1, "linear grad_w, grad_b");
  EXPECT_THROWS(ValueError, ops::linear(x, Tensor::zeros({2, 3}), nullptr), "linear checks in_features",
                "linear: argument 'w'");
}
