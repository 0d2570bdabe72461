// 2-D transposed convolution (PyTorch's ConvTranspose2d, "deconvolution"), NCHW, built on the
// convolution kernels of ops/conv.h: it is the adjoint of ops::conv2d.
//
//   x (N, C_in, H, W), w (C_in, C_out/groups, kH, kW) (PyTorch's ConvTranspose2d layout), b (C_out) or none
//     -> y (N, C_out, H_out, W_out),
//   H_out = (H - 1)*stride_h - pad_top - pad_bottom + dilation_h*(kH - 1) + 1 + output_padding_h, W_out likewise.
//   y[n, o, i, j] = b[o] + sum_{c, a, b', u, v} x[n, c, a, b'] * w[c, o - g*Cog, u, v]
//                    over a*sh - pt + u*dh = i and b'*sw - pl + v*dw = j (g = c / (C_in/groups), Cog = C_out/groups).
// Seen as the convolution conv2d(z, w, p) of an input z (N, C_out, H_out, W_out) with the same
// weights read as a conv2d weight (C_out' = C_in, C_in'/groups = C_out/groups), whose output is
// exactly (N, C_in, H, W) when 0 <= output_padding < stride:
//   forward  y  = d conv2d / d z applied to x                 (conv2d_backward's grad_x, dy = x)
//   backward dx = conv2d(dy, w, p)                             (conv2d_forward)
//            dw = conv2d's weight gradient with the roles swapped (conv2d_backward's grad_w, x = dy, dy = x)
//            db[o] = sum_{n, i, j} dy[n, o, i, j]              (conv2d_backward's bias gradient)
// The output_padding rows / columns (at the bottom / right) are positions of y that no conv2d window
// needs; they get the taps that reach them and the bias, as in PyTorch.
// Asymmetric padding (pad_top != pad_bottom) is allowed: Keras' 'same' for Conv2DTranspose pads
// total = max(k_eff - stride, 0) as tf.nn.conv2d_transpose does, the extra row at the bottom.
// Checks: x, w float32 4-D non-empty on one device; w.shape[0] = C_in; groups dividing C_in; b (C_out);
// stride >= 1, padding >= 0, dilation >= 1, 0 <= output_padding < stride (per axis); H_out, W_out >= 1.
// Messages name "conv_transpose2d" (or "conv_transpose2d_backward") and the argument.
// Conventions: see elementwise.h (outputs are caller-owned, gradients are written (=), never accumulated).
#pragma once
#include "core/tensor.h"
#include "ops/conv.h"

namespace convnet {
namespace ops {

struct ConvTranspose2dParams {
  Conv2dParams conv;  // stride, padding (top, left, bottom, right), dilation, groups: those of the adjoint conv2d
  int output_padding_h = 0, output_padding_w = 0;
};

// The contract: checks every argument and returns (N, C_out, H_out, W_out).
Shape conv_transpose2d_output_shape(const Tensor& x, const Tensor& w, const Tensor* b, const ConvTranspose2dParams& p);
void conv_transpose2d_forward(Tensor& y, const Tensor& x, const Tensor& w, const Tensor* b,
                              const ConvTranspose2dParams& p);
// dx (like x), dw (like w), db (C_out): each computed when non-null.
void conv_transpose2d_backward(Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy, const Tensor& x, const Tensor& w,
                               const ConvTranspose2dParams& p);
Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor* b, const ConvTranspose2dParams& p);

}  // namespace ops

// Kernels: valid arguments assumed. The convolutions are ops/conv.h's; the only kernel of its own
// adds the bias: y[n, o, k] += b[o] for y (N, C, P).
namespace cpu_kernels {
void add_channel_bias(float* y, const float* b, int64_t N, int64_t C, int64_t P);
}
namespace cuda_kernels {
void add_channel_bias(float* y, const float* b, int64_t N, int64_t C, int64_t P);
}

}  // namespace convnet
