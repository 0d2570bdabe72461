// Resampling ops: contracts, dispatch and the CPU kernels (OpenMP over the (n, c) planes and rows).
#include "ops/resample.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/checks.h"
#include "ops/dispatch.h"

namespace convnet {

namespace cpu_kernels {

void pad_crop2d(float* dst, const float* src, int64_t planes, int64_t H_src, int64_t W_src, int64_t H_dst,
                int64_t W_dst, int64_t top, int64_t left) {
  // the columns j of a dst row that read src: 0 <= j - left < W_src
  const int64_t j0 = std::clamp<int64_t>(left, 0, W_dst), j1 = std::clamp<int64_t>(left + W_src, j0, W_dst);
#pragma omp parallel for collapse(2) schedule(static) if (planes * H_dst * W_dst > 32768)
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t i = 0; i < H_dst; ++i) {
      float* d = dst + (p * H_dst + i) * W_dst;
      const int64_t h = i - top;
      if (h < 0 || h >= H_src) {
        std::memset(d, 0, sizeof(float) * W_dst);
        continue;
      }
      const float* s = src + (p * H_src + h) * W_src;
      for (int64_t j = 0; j < j0; ++j) d[j] = 0.0f;
      if (j1 > j0) std::memcpy(d + j0, s + (j0 - left), sizeof(float) * (j1 - j0));
      for (int64_t j = j1; j < W_dst; ++j) d[j] = 0.0f;
    }
}

void upsample_nearest2d_forward(float* y, const float* x, int64_t planes, int64_t H, int64_t W, int sh, int sw) {
  const int64_t H_out = H * sh, W_out = W * sw;
#pragma omp parallel for collapse(2) schedule(static) if (planes * H_out * W_out > 32768)
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t h = 0; h < H; ++h) {
      const float* s = x + (p * H + h) * W;
      float* row = y + (p * H_out + h * sh) * W_out;
      for (int64_t w = 0; w < W; ++w)
        for (int b = 0; b < sw; ++b) row[w * sw + b] = s[w];
      for (int a = 1; a < sh; ++a) std::memcpy(row + a * W_out, row, sizeof(float) * W_out);
    }
}

void upsample_nearest2d_backward(float* dx, const float* dy, int64_t planes, int64_t H, int64_t W, int sh, int sw) {
  const int64_t H_out = H * sh, W_out = W * sw;
#pragma omp parallel for collapse(2) schedule(static) if (planes * H_out * W_out > 32768)
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t h = 0; h < H; ++h) {
      const float* block = dy + (p * H_out + h * sh) * W_out;
      float* d = dx + (p * H + h) * W;
      for (int64_t w = 0; w < W; ++w) {
        float s = 0.0f;  // row-major over the block, as the CUDA kernel sums
        for (int a = 0; a < sh; ++a)
          for (int b = 0; b < sw; ++b) s += block[a * W_out + w * sw + b];
        d[w] = s;
      }
    }
}

}  // namespace cpu_kernels

namespace ops {

static std::string pads_str(const ZeroPad2dParams& p) {
  return "((" + std::to_string(p.top) + ", " + std::to_string(p.bottom) + "), (" + std::to_string(p.left) + ", " +
         std::to_string(p.right) + "))";
}

Shape zero_pad2d_output_shape(const Tensor& x, const ZeroPad2dParams& p) {
  const char* op = "zero_pad2d";
  check_float_input(op, "x", x, 4, "(N, C, H, W)");
  CONVNET_CHECK_VALUE(p.top >= 0 && p.bottom >= 0 && p.left >= 0 && p.right >= 0, op, "padding",
                      "non-negative values ((top, bottom), (left, right))", pads_str(p));
  const Shape& s = x.shape();
  const Shape out{s[0], s[1], checked_add(checked_add(s[2], p.top, op, "padded height"), p.bottom, op, "padded height"),
                  checked_add(checked_add(s[3], p.left, op, "padded width"), p.right, op, "padded width")};
  return checked_output_shape(op, out, "x " + shape_str(s) + " and padding " + pads_str(p));
}

void zero_pad2d_forward(Tensor& y, const Tensor& x, const ZeroPad2dParams& p) {
  const Shape out = zero_pad2d_output_shape(x, p);
  check_output("zero_pad2d", "y", y, out, x);
  const Shape& s = x.shape();
  CONVNET_DISPATCH(x, pad_crop2d, y.data<float>(), x.data<float>(), s[0] * s[1], s[2], s[3], out[2], out[3], p.top,
                   p.left);
}

void zero_pad2d_backward(Tensor& dx, const Tensor& dy, const ZeroPad2dParams& p) {
  const char* op = "zero_pad2d_backward";
  const Shape out = zero_pad2d_output_shape(dx, p);
  check_dtype(op, "grad_out", dy, DType::Float32);
  check_shape(op, "grad_out", dy, out);
  check_output(op, "grad_x", dx, dx.shape(), dy);
  CONVNET_DISPATCH(dy, pad_crop2d, dx.data<float>(), dy.data<float>(), out[0] * out[1], out[2], out[3], dx.size(2),
                   dx.size(3), -int64_t(p.top), -int64_t(p.left));
}

Tensor zero_pad2d(const Tensor& x, const ZeroPad2dParams& p) {
  Tensor y = Tensor::empty(zero_pad2d_output_shape(x, p), DType::Float32, x.device());
  zero_pad2d_forward(y, x, p);
  return y;
}

static std::string scales_str(const Upsample2dParams& p) {
  return "(" + std::to_string(p.scale_h) + ", " + std::to_string(p.scale_w) + ")";
}

Shape upsample_nearest2d_output_shape(const Tensor& x, const Upsample2dParams& p) {
  const char* op = "upsample_nearest2d";
  check_float_input(op, "x", x, 4, "(N, C, H, W)");
  CONVNET_CHECK_VALUE(p.scale_h >= 1 && p.scale_w >= 1, op, "size", "integer scale factors >= 1 (height, width)",
                      scales_str(p));
  const Shape& s = x.shape();
  const Shape out{s[0], s[1], checked_mul(s[2], p.scale_h, op, "upsampled height"),
                  checked_mul(s[3], p.scale_w, op, "upsampled width")};
  return checked_output_shape(op, out, "x " + shape_str(s) + " and size " + scales_str(p));
}

void upsample_nearest2d_forward(Tensor& y, const Tensor& x, const Upsample2dParams& p) {
  check_output("upsample_nearest2d", "y", y, upsample_nearest2d_output_shape(x, p), x);
  const Shape& s = x.shape();
  CONVNET_DISPATCH(x, upsample_nearest2d_forward, y.data<float>(), x.data<float>(), s[0] * s[1], s[2], s[3], p.scale_h,
                   p.scale_w);
}

void upsample_nearest2d_backward(Tensor& dx, const Tensor& dy, const Upsample2dParams& p) {
  const char* op = "upsample_nearest2d_backward";
  const Shape out = upsample_nearest2d_output_shape(dx, p);
  check_dtype(op, "grad_out", dy, DType::Float32);
  check_shape(op, "grad_out", dy, out);
  check_output(op, "grad_x", dx, dx.shape(), dy);
  const Shape& s = dx.shape();
  CONVNET_DISPATCH(dy, upsample_nearest2d_backward, dx.data<float>(), dy.data<float>(), s[0] * s[1], s[2], s[3],
                   p.scale_h, p.scale_w);
}

Tensor upsample_nearest2d(const Tensor& x, const Upsample2dParams& p) {
  Tensor y = Tensor::empty(upsample_nearest2d_output_shape(x, p), DType::Float32, x.device());
  upsample_nearest2d_forward(y, x, p);
  return y;
}

}  // namespace ops
}  // namespace convnet
