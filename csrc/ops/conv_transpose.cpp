// Transposed convolution: the contract and dispatch (the passes are ops::conv2d's forward and
// backward, see conv_transpose.h), and the CPU bias kernel (OpenMP over the (n, c) planes).
#include "ops/conv_transpose.h"

#include <string>

#include "core/checks.h"
#include "ops/dispatch.h"

namespace convnet {

namespace cpu_kernels {
void add_channel_bias(float* y, const float* b, int64_t N, int64_t C, int64_t P) {
#pragma omp parallel for schedule(static) if (N * C * P > 32768)
  for (int64_t nc = 0; nc < N * C; ++nc) {
    float* yp = y + nc * P;
    const float bo = b[nc % C];
#pragma omp simd
    for (int64_t k = 0; k < P; ++k) yp[k] += bo;
  }
}
}  // namespace cpu_kernels

namespace ops {

static std::string pair_str(int64_t a, int64_t b) { return "(" + std::to_string(a) + ", " + std::to_string(b) + ")"; }

static Shape contract(const char* op, const Tensor& x, const Tensor& w, const Tensor* b,
                      const ConvTranspose2dParams& p) {
  const Conv2dParams& c = p.conv;
  check_float_input(op, "x", x, 4, "(N, C_in, H, W)");
  check_float_input(op, "w", w, 4, "(C_in, C_out/groups, kH, kW)");
  check_same_device(op, "w", w, "x", x);
  CONVNET_CHECK_VALUE(c.stride_h >= 1 && c.stride_w >= 1, op, "stride", "positive values",
                      pair_str(c.stride_h, c.stride_w));
  CONVNET_CHECK_VALUE(c.pad_top >= 0 && c.pad_left >= 0 && c.pad_bottom >= 0 && c.pad_right >= 0, op, "padding",
                      "non-negative values (top, left, bottom, right)",
                      "(" + std::to_string(c.pad_top) + ", " + std::to_string(c.pad_left) + ", " +
                          std::to_string(c.pad_bottom) + ", " + std::to_string(c.pad_right) + ")");
  CONVNET_CHECK_VALUE(c.dilation_h >= 1 && c.dilation_w >= 1, op, "dilation", "values >= 1",
                      pair_str(c.dilation_h, c.dilation_w));
  CONVNET_CHECK_VALUE(p.output_padding_h >= 0 && p.output_padding_w >= 0 && p.output_padding_h < c.stride_h &&
                          p.output_padding_w < c.stride_w,
                      op, "output_padding", "values >= 0 and smaller than the stride " + pair_str(c.stride_h, c.stride_w),
                      pair_str(p.output_padding_h, p.output_padding_w));
  CONVNET_CHECK_VALUE(c.groups >= 1, op, "groups", "a positive int", std::to_string(c.groups));
  const int64_t C_in = x.size(1);
  CONVNET_CHECK_VALUE(C_in % c.groups == 0, op, "groups", "a divisor of the input channels C_in = " + std::to_string(C_in),
                      std::to_string(c.groups));
  CONVNET_CHECK_VALUE(w.size(0) == C_in, op, "w", "shape (C_in = " + std::to_string(C_in) + ", C_out/groups, kH, kW)",
                      shape_str(w.shape()));
  const int64_t C_out = checked_mul(w.size(1), c.groups, op, "output channels");
  if (b) {
    check_dtype(op, "b", *b, DType::Float32);
    check_shape(op, "b", *b, {C_out});
    check_same_device(op, "b", *b, "x", x);
  }
  // int64 throughout: sizes are < 2^63 / small factors after the checks above.
  const int64_t eh = int64_t(c.dilation_h) * (w.size(2) - 1) + 1, ew = int64_t(c.dilation_w) * (w.size(3) - 1) + 1;
  const int64_t H_out = (x.size(2) - 1) * c.stride_h - c.pad_top - c.pad_bottom + eh + p.output_padding_h;
  const int64_t W_out = (x.size(3) - 1) * c.stride_w - c.pad_left - c.pad_right + ew + p.output_padding_w;
  CONVNET_CHECK_VALUE(H_out >= 1 && W_out >= 1, op, "padding",
                      "padding that leaves an output of at least 1 x 1 for x " + shape_str(x.shape()) + " and w " +
                          shape_str(w.shape()),
                      "an output of " + pair_str(H_out, W_out));
  const Shape out{x.size(0), C_out, H_out, W_out};
  checked_output_shape(op, out, "x " + shape_str(x.shape()) + ", w " + shape_str(w.shape()));
  // The adjoint conv2d on y's shape gives back x's: the kernels below rely on it.
  const Shape back = conv2d_output_shape(
      Tensor::from_blob(nullptr, out, DType::Float32, x.device(), nullptr), w, nullptr, c);
  CONVNET_CHECK_VALUE(back == x.shape(), op, "x", "the shape the adjoint convolution gives back, " + shape_str(back),
                      shape_str(x.shape()));
  return out;
}

Shape conv_transpose2d_output_shape(const Tensor& x, const Tensor& w, const Tensor* b,
                                    const ConvTranspose2dParams& p) {
  return contract("conv_transpose2d", x, w, b, p);
}

void conv_transpose2d_forward(Tensor& y, const Tensor& x, const Tensor& w, const Tensor* b,
                              const ConvTranspose2dParams& p) {
  const Shape out = contract("conv_transpose2d", x, w, b, p);
  check_output("conv_transpose2d", "y", y, out, x);
  // y = grad_x of conv2d(y-shaped input, w) at grad_out = x; conv2d reads its input only for grad_w,
  // so y stands for it.
  conv2d_backward(&y, nullptr, nullptr, x, y, w, p.conv);
  if (b) CONVNET_DISPATCH(x, add_channel_bias, y.data<float>(), b->data<float>(), out[0], out[1], out[2] * out[3]);
}

void conv_transpose2d_backward(Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy, const Tensor& x, const Tensor& w,
                               const ConvTranspose2dParams& p) {
  const char* op = "conv_transpose2d_backward";
  const Shape out = contract(op, x, w, nullptr, p);
  check_dtype(op, "grad_out", dy, DType::Float32);
  check_shape(op, "grad_out", dy, out);
  check_same_device(op, "grad_out", dy, "x", x);
  if (dx) check_output(op, "grad_x", *dx, x.shape(), x);
  if (dw) check_output(op, "grad_w", *dw, w.shape(), x);
  if (db) check_output(op, "grad_b", *db, {out[1]}, x);
  if (dx) conv2d_forward(*dx, dy, w, nullptr, p.conv);
  if (dw) conv2d_backward(nullptr, dw, nullptr, x, dy, w, p.conv);
  if (db) {
    // conv2d's per-channel sum of its grad_out: a depthwise 1x1 conv2d of dy's shape, only db asked
    // for (its input and weights are not read: dy stands for one, a shape-only tensor for the other).
    Conv2dParams per_channel;
    per_channel.groups = checked_int(out[1], op, "output channels");
    const Tensor w1 = Tensor::from_blob(nullptr, {out[1], 1, 1, 1}, DType::Float32, dy.device(), nullptr);
    conv2d_backward(nullptr, nullptr, db, dy, dy, w1, per_channel);
  }
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor* b, const ConvTranspose2dParams& p) {
  Tensor y = Tensor::empty(conv_transpose2d_output_shape(x, w, b, p), DType::Float32, x.device());
  conv_transpose2d_forward(y, x, w, b, p);
  return y;
}

}  // namespace ops
}  // namespace convnet
