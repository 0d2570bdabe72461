// Resampling ops: zero padding and nearest-neighbour upsampling of images (NCHW), Keras'
// ZeroPadding2D and UpSampling2D(interpolation="nearest").
//   zero_pad2d: x (N, C, H, W) -> y (N, C, top + H + bottom, left + W + right)
//           y[n, c, i, j] = x[n, c, i - top, j - left] inside, 0 in the border (torch.nn.functional.pad
//           with (left, right, top, bottom) and zeros). Padding >= 0 on every side.
//           Backward: dx = the crop of dy, dx[n, c, h, w] = dy[n, c, h + top, w + left].
//   upsample_nearest2d: x (N, C, H, W) -> y (N, C, H * scale_h, W * scale_w)
//           y[n, c, i, j] = x[n, c, i / scale_h, j / scale_w] (integer scales >= 1: each input element
//           repeated over a scale_h x scale_w block; torch's F.interpolate(mode="nearest",
//           scale_factor=(sh, sw)) for integer factors). Backward: dx[n, c, h, w] = the sum of dy over
//           the block rows h*sh .. h*sh + sh-1, columns w*sw .. w*sw + sw-1, summed in row-major order
//           by one thread per input element on both devices (deterministic, no atomics).
// Checks: x float32 (N, C, H, W), non-empty; paddings >= 0, scales >= 1; the output size fits
// (core/checks.h). Messages name the op ("zero_pad2d", "upsample_nearest2d") and the argument.
// Conventions: see elementwise.h (outputs are caller-owned, gradients are written (=), never accumulated).
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace convnet {
namespace ops {

struct ZeroPad2dParams {
  int top = 0, bottom = 0, left = 0, right = 0;
};

// The contract: checks x and p, returns (N, C, top + H + bottom, left + W + right).
Shape zero_pad2d_output_shape(const Tensor& x, const ZeroPad2dParams& p);
void zero_pad2d_forward(Tensor& y, const Tensor& x, const ZeroPad2dParams& p);
// dx (N, C, H, W): its shape gives H, W; dy must be zero_pad2d's output shape for it.
void zero_pad2d_backward(Tensor& dx, const Tensor& dy, const ZeroPad2dParams& p);
Tensor zero_pad2d(const Tensor& x, const ZeroPad2dParams& p);

struct Upsample2dParams {
  int scale_h = 2, scale_w = 2;
};

// The contract: checks x and p, returns (N, C, H * scale_h, W * scale_w).
Shape upsample_nearest2d_output_shape(const Tensor& x, const Upsample2dParams& p);
void upsample_nearest2d_forward(Tensor& y, const Tensor& x, const Upsample2dParams& p);
// dx (N, C, H, W): its shape gives H, W; dy (N, C, H * scale_h, W * scale_w).
void upsample_nearest2d_backward(Tensor& dx, const Tensor& dy, const Upsample2dParams& p);
Tensor upsample_nearest2d(const Tensor& x, const Upsample2dParams& p);

}  // namespace ops

// Kernels: valid arguments assumed (the contracts above checked them). `planes` = N*C; each plane of
// x / dx is H*W floats, of y / dy H_out*W_out.
//   pad_crop2d: dst[p, i, j] = src[p, i - top, j - left] where that is inside src (H_src, W_src), else 0,
//               for dst (planes, H_dst, W_dst). zero_pad2d is it with (top, left); its backward with
//               (-top, -left), where every dst element is inside.
//   upsample_nearest2d_backward: dx[p, h, w] = sum_{a < sh, b < sw} dy[p, h*sh + a, w*sw + b].
namespace cpu_kernels {
void pad_crop2d(float* dst, const float* src, int64_t planes, int64_t H_src, int64_t W_src, int64_t H_dst,
                int64_t W_dst, int64_t top, int64_t left);
void upsample_nearest2d_forward(float* y, const float* x, int64_t planes, int64_t H, int64_t W, int sh, int sw);
void upsample_nearest2d_backward(float* dx, const float* dy, int64_t planes, int64_t H, int64_t W, int sh, int sw);
}  // namespace cpu_kernels
namespace cuda_kernels {
void pad_crop2d(float* dst, const float* src, int64_t planes, int64_t H_src, int64_t W_src, int64_t H_dst,
                int64_t W_dst, int64_t top, int64_t left);
void upsample_nearest2d_forward(float* y, const float* x, int64_t planes, int64_t H, int64_t W, int sh, int sw);
void upsample_nearest2d_backward(float* dx, const float* dy, int64_t planes, int64_t H, int64_t W, int sh, int sw);
}  // namespace cuda_kernels

}  // namespace convnet
