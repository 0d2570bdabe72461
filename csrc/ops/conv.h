// 2-D convolution (cross-correlation, as in PyTorch), NCHW.
//
//   x (N, C_in, H, W), w (C_out, C_in/groups, kH, kW), b (C_out) or none  ->  y (N, C_out, H_out, W_out)
//   y[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] * x[n, g*Cg + c, i*sh - pt + u*dh, j*sw - pl + v*dw]
//   (g = o / (C_out/groups), Cg = C_in/groups, taps outside x count as 0)
//   H_out = (H + pad_top + pad_bottom - dilation_h*(kH-1) - 1) / stride_h + 1, likewise W_out.
// Backward (gradients written, never accumulated; a null pointer = not needed):
//   dx = the transposed convolution of dy with w, dw[o, c, u, v] = sum_{n, i, j} dy[n, o, i, j] * x[...],
//   db[o] = sum_{n, i, j} dy[n, o, i, j].
//
// CPU (conv.cpp): implicit GEMM on the blocked SGEMM of kernels/gemm.h, images dealt over the
// OpenMP threads (one image's GEMMs per thread; with fewer images than threads, the GEMMs split).
//   stride 1: the image is zero-padded once and the output computed on the padded width, so each
//     row of the column matrix is a contiguous slice of the padded image and packing is a copy;
//     grad_x is the stride-1 convolution of the padded grad_out with the flipped weights, grad_w a
//     GEMM whose column-matrix operand is transposed while packing (AVX2 8x8 transposes).
//   other strides: im2col fused into the packing of op(B), col2im into the GEMM's store.
//   1x1 stride 1 unpadded: x is the column matrix. Few input channels (Cg*kH*kW < 16, the first
//   layer): grad_w as direct dot products.
// Workspace: padded copies of one image and its gradient per thread, grow-only; no column buffer.
// CUDA (conv.cu): implicit GEMM over the whole batch on the tiled kernel of kernels/gemm_tiles.cuh
// (no column buffer), direct kernels for depthwise convolutions.
#pragma once
#include "core/tensor.h"

namespace convnet {
namespace ops {

struct Conv2dParams {
  int stride_h = 1, stride_w = 1;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;  // 'same' with even kernels pads asymmetrically like PyTorch
  int dilation_h = 1, dilation_w = 1;
  int groups = 1;
};

// The contract: checks every argument (dtypes, ranks, channels and groups, bias size, devices,
// parameter ranges, a non-empty output) and returns (N, C_out, H_out, W_out).
Shape conv2d_output_shape(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dParams& p);
void conv2d_forward(Tensor& y, const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dParams& p);
// dx (like x), dw (like w), db (C_out): each computed when non-null.
void conv2d_backward(Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy, const Tensor& x, const Tensor& w,
                     const Conv2dParams& p);
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dParams& p);
// padding='same' along one axis of `size` inputs, a window of `extent` (dilated kernel) and `stride`:
// the output has ceil(size / stride) positions, so the total padding is
// max((ceil(size / stride) - 1) * stride + extent - size, 0) (TensorFlow's rule; extent - 1 for stride 1,
// PyTorch's 'same'), split as total / 2 before and the rest after.
int64_t same_padding_total(int64_t size, int64_t extent, int64_t stride);
// Resolves padding='same' for an H x W input (the extra pad of an odd total goes to the bottom/right, as
// in PyTorch and TensorFlow). 'valid' is simply zero padding.
Conv2dParams conv2d_same_padding(Conv2dParams p, int kernel_h, int kernel_w, int64_t H, int64_t W);

}  // namespace ops

// Kernels: valid arguments assumed (the contract above checked them).
struct Conv2dGeometry {
  int64_t N, C_in, H, W;        // x (N, C_in, H, W)
  int64_t C_out, kH, kW;        // w (C_out, C_in/groups, kH, kW)
  int64_t H_out, W_out;         // y (N, C_out, H_out, W_out)
  int stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w, groups;
  // One input channel per group (groups == C_in > 1): the CPU and CUDA kernels take a direct path.
  bool depthwise() const { return groups > 1 && groups == C_in; }
};

namespace cpu_kernels {
// b may be null (no bias).
void conv2d_forward(float* y, const float* x, const float* w, const float* b, const Conv2dGeometry& g);
// dx, dw, db may each be null (not needed).
void conv2d_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w,
                     const Conv2dGeometry& g);
}  // namespace cpu_kernels
namespace cuda_kernels {
void conv2d_forward(float* y, const float* x, const float* w, const float* b, const Conv2dGeometry& g);
void conv2d_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w,
                     const Conv2dGeometry& g);
}  // namespace cuda_kernels

}  // namespace convnet
