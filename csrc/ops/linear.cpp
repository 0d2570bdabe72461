// Linear: contract, dispatch and CPU kernels (three SGEMMs).
#include "ops/linear.h"

#include <cstring>

#include "core/checks.h"
#include "kernels/gemm.h"
#include "ops/dispatch.h"

namespace convnet {

namespace cpu_kernels {

void linear_forward(float* y, const float* x, const float* w, const float* b, int64_t N, int64_t in, int64_t out) {
  // y (N, out) = x (N, in) . w^T (in, out)
  sgemm(false, true, N, out, in, x, in, w, in, y, out, false);
  if (b) {
#pragma omp parallel for schedule(static) if (N * out > 32768)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < out; ++o) y[n * out + o] += b[o];
  }
}

void linear_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w, int64_t N,
                     int64_t in, int64_t out) {
  if (dx) sgemm(false, false, N, in, out, dy, out, w, in, dx, in, false);  // dx (N, in) = dy (N, out) . w (out, in)
  if (dw) sgemm(true, false, out, in, N, dy, out, x, in, dw, in, false);   // dw (out, in) = dy^T (out, N) . x (N, in)
  if (db) {  // db[o] = sum_n dy[n, o]
    std::memset(db, 0, sizeof(float) * out);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < out; ++o) db[o] += dy[n * out + o];
  }
}

}  // namespace cpu_kernels

namespace ops {

Shape linear_output_shape(const Tensor& x, const Tensor& w, const Tensor* b) {
  check_float_input("linear", "x", x, 2, "(N, in_features)");
  check_float_input("linear", "w", w, 2, "(out_features, in_features)");
  CONVNET_CHECK_VALUE(w.size(1) == x.size(1), "linear", "w",
                      "shape (out_features, " + std::to_string(x.size(1)) + ") to match x " + shape_str(x.shape()),
                      shape_str(w.shape()));
  check_same_device("linear", "w", w, "x", x);
  if (b) {
    check_dtype("linear", "b", *b, DType::Float32);
    check_shape("linear", "b", *b, {w.size(0)});
    check_same_device("linear", "b", *b, "x", x);
  }
  return checked_output_shape("linear", {x.size(0), w.size(0)},
                              "x " + shape_str(x.shape()) + ", w " + shape_str(w.shape()));
}

void linear_forward(Tensor& y, const Tensor& x, const Tensor& w, const Tensor* b) {
  check_output("linear", "y", y, linear_output_shape(x, w, b), x);
  CONVNET_DISPATCH(x, linear_forward, y.data<float>(), x.data<float>(), w.data<float>(), b ? b->data<float>() : nullptr,
                   x.size(0), x.size(1), w.size(0));
}

void linear_backward(Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy, const Tensor& x, const Tensor& w) {
  const Shape out = linear_output_shape(x, w, nullptr);
  check_dtype("linear_backward", "grad_out", dy, DType::Float32);
  check_shape("linear_backward", "grad_out", dy, out);
  check_same_device("linear_backward", "grad_out", dy, "x", x);
  if (dx) check_output("linear_backward", "grad_x", *dx, x.shape(), x);
  if (dw) check_output("linear_backward", "grad_w", *dw, w.shape(), x);
  if (db) check_output("linear_backward", "grad_b", *db, {w.size(0)}, x);
  CONVNET_DISPATCH(x, linear_backward, dx ? dx->data<float>() : nullptr, dw ? dw->data<float>() : nullptr,
                   db ? db->data<float>() : nullptr, dy.data<float>(), x.data<float>(), w.data<float>(), x.size(0),
                   x.size(1), w.size(0));
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor* b) {
  Tensor y = Tensor::empty(linear_output_shape(x, w, b), DType::Float32, x.device());
  linear_forward(y, x, w, b);
  return y;
}

}  // namespace ops
}  // namespace convnet
