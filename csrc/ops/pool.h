// Pooling ops.
//   pool2d: max, average or min over kernel_h x kernel_w windows, moved by stride, over the input
//           padded by pad_h rows / pad_w columns on each side, plus extra_h rows at the bottom and extra_w
//           columns at the right (TensorFlow's 'same' puts the odd one of an odd total there):
//             x (N, C, H, W) -> y (N, C, H_out, W_out),
//             H_out = (H + 2*pad_h + extra_h - kernel_h) / stride_h + 1 (floor, like PyTorch), W_out likewise.
//           Window (oh, ow) covers rows oh*stride_h - pad_h .. + kernel_h - 1 (columns likewise).
//     Max / Min: padding counts as -inf / +inf, so it is never chosen (pad <= kernel/2 guarantees that every
//           window holds at least one real element; so does pad + extra <= kernel/2). `index` (int64, (N, C, H_out, W_out), same shape as y)
//           saves the flat position h*W + w of the chosen element inside its (n, c) plane; the first one in
//           row-major window order wins on ties (a NaN wins over numbers, like PyTorch). Backward routes dy
//           there: dx[n, c, index] += dy (summed where windows overlap), zero elsewhere. The saved index is
//           what makes CPU and GPU agree on ties. index may be nullptr in forward (inference: not saved) but
//           is required by backward.
//     Avg:  y = sum(window) / area: padding counts as zeros; area = kernel_h * kernel_w with
//           count_include_pad (PyTorch's default), else the number of real elements in the window
//           (TensorFlow's and Keras' 'same'). Backward: dx[h, w] = sum over windows containing (h, w) of
//           dy / area. index unused (may be nullptr).
//   global_avg_pool2d: x (N, C, H, W) -> y (N, C), y = mean over H*W. Backward: dx = dy / (H*W), broadcast.
//   pool2d_same_padding: Keras' padding='same' for an H x W input: H_out = ceil(H / stride), the total
//           padding (H_out - 1) * stride + kernel - H (at least 0) split as pad = total / 2 at the top and the
//           rest at the bottom (extra = total % 2), columns likewise; average pooling then excludes the padding.
// Checks (PyTorch's rules): kernel >= 1, stride >= 1, 0 <= pad, 0 <= extra, pad + extra <= kernel/2, kernel <= the padded input
// (output not empty), x float32 (N, C, H, W) and non-empty. Error messages name the op by its mode:
// "max_pool2d", "avg_pool2d", "min_pool2d", and the parameters as kernel_size / stride / padding.
// Conventions: see elementwise.h (outputs are caller-owned, gradients are written (=), never accumulated).
#pragma once
#include <string>

#include "core/tensor.h"

namespace convnet {
namespace ops {

enum class PoolMode { Max, Avg, Min };
struct Pool2dParams {
  PoolMode mode = PoolMode::Max;
  int kernel_h = 2, kernel_w = 2, stride_h = 2, stride_w = 2, pad_h = 0, pad_w = 0;
  int extra_h = 0, extra_w = 0;   // more padding at the bottom / right
  bool count_include_pad = true;  // Avg: divide by the kernel area (true) or by the real elements (false)
};
// "max_pool2d", "avg_pool2d", "min_pool2d": the name errors use.
const char* pool2d_name(PoolMode mode);

// p with Keras' 'same' padding for an H x W input (the other fields kept).
Pool2dParams pool2d_same_padding(Pool2dParams p, int64_t H, int64_t W);
// The contract: checks x and p, returns (N, C, H_out, W_out).
Shape pool2d_output_shape(const Tensor& x, const Pool2dParams& p);
// The same checks naming `op` in errors (e.g. "max_pool2d_backward" in bindings that recompute the forward).
Shape pool2d_contract(const std::string& op, const Tensor& x, const Pool2dParams& p);
// y (N, C, H_out, W_out); index (N, C, H_out, W_out) int64 or nullptr; x (N, C, H, W).
void pool2d_forward(Tensor& y, Tensor* index, const Tensor& x, const Pool2dParams& p);
// dx (N, C, H, W) written fully (its shape gives H, W); dy (N, C, H_out, W_out); index as saved by
// pool2d_forward (required for Max / Min, ignored for Avg); an entry outside [0, H*W) is ignored, never followed.
void pool2d_backward(Tensor& dx, const Tensor& dy, const Tensor* index, const Pool2dParams& p);
Tensor pool2d(const Tensor& x, const Pool2dParams& p);  // convenience: returns y

// Global average pooling: x (N, C, H, W) -> y (N, C).
Shape global_avg_pool2d_output_shape(const Tensor& x);
void global_avg_pool2d_forward(Tensor& y, const Tensor& x);
// dx (N, C, H, W), shape given by the caller; dy (N, C).
void global_avg_pool2d_backward(Tensor& dx, const Tensor& dy);
Tensor global_avg_pool2d(const Tensor& x);

}  // namespace ops

// Kernels: valid arguments assumed (the contract above checked them). `planes` = N*C; each (n, c)
// plane of x / dx is H*W floats, of y / dy / index H_out*W_out. index may be nullptr in forward.
namespace cpu_kernels {
void pool2d_forward(float* y, int64_t* index, const float* x, int64_t planes, int64_t H, int64_t W,
                    int64_t H_out, int64_t W_out, const ops::Pool2dParams& p);
void pool2d_backward(float* dx, const float* dy, const int64_t* index, int64_t planes, int64_t H, int64_t W,
                     int64_t H_out, int64_t W_out, const ops::Pool2dParams& p);
void global_avg_pool2d_forward(float* y, const float* x, int64_t planes, int64_t HW);
void global_avg_pool2d_backward(float* dx, const float* dy, int64_t planes, int64_t HW);
}  // namespace cpu_kernels
namespace cuda_kernels {
void pool2d_forward(float* y, int64_t* index, const float* x, int64_t planes, int64_t H, int64_t W,
                    int64_t H_out, int64_t W_out, const ops::Pool2dParams& p);
void pool2d_backward(float* dx, const float* dy, const int64_t* index, int64_t planes, int64_t H, int64_t W,
                     int64_t H_out, int64_t W_out, const ops::Pool2dParams& p);
void global_avg_pool2d_forward(float* y, const float* x, int64_t planes, int64_t HW);
void global_avg_pool2d_backward(float* dx, const float* dy, int64_t planes, int64_t HW);
}  // namespace cuda_kernels

}  // namespace convnet
