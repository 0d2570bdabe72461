// Channel layout: (N, C, H, W) <-> (N, H, W, C), the transposes at the edges of a channels-last
// model (Keras' data_format="channels_last"), whose graph runs NCHW inside.
//   to_last:  y[n, h, w, c] = x[n, c, h, w]   x (N, C, H, W), y (N, H, W, C)
//   !to_last: y[n, c, h, w] = x[n, h, w, c]   x (N, H, W, C), y (N, C, H, W)
//   Both are permutations, so the backward of one direction is the forward of the other:
//   layout_backward(dx, dy, to_last) = layout_forward(dx, dy, !to_last), written (=).
// Seen per sample, either direction is the transpose of an (A, B) matrix into (B, A): to_last
// has A = C, B = H * W; !to_last has A = H * W, B = C.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace convnet {
namespace ops {

Shape layout_output_shape(const Tensor& x, bool to_last);  // x: float32, 4-D
void layout_forward(Tensor& y, const Tensor& x, bool to_last);
void layout_backward(Tensor& dx, const Tensor& dy, bool to_last);
Tensor layout(const Tensor& x, bool to_last);

}  // namespace ops

// Kernels: valid arguments assumed. dst[n][b][a] = src[n][a][b] for n < N, a < A, b < B.
namespace cpu_kernels {
void batched_transpose(float* dst, const float* src, int64_t N, int64_t A, int64_t B);
}
namespace cuda_kernels {
void batched_transpose(float* dst, const float* src, int64_t N, int64_t A, int64_t B);
}

}  // namespace convnet
