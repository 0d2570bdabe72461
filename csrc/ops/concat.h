// Concatenation along the channel axis (axis 1), as torch.cat(inputs, dim=1) and Keras' Concatenate().
//   inputs: k >= 2 float32 tensors x_i of shapes (N, C_i, d2, d3, ...), the same N and the same trailing
//   dims (d2, ...) for all, e.g. (N, C_i, H, W) feature maps or (N, F_i) features, all on one device.
//   y (N, C, d2, ...) with C = sum_i C_i: y[n, o_i + c, ...] = x_i[n, c, ...], o_i = C_0 + ... + C_{i-1}.
//   With S = d2 * d3 * ... each x_i is N rows of C_i * S elements, and y N rows of C * S: row n of y is
//   row n of x_0, then row n of x_1, and so on.
//   Backward: dx_i = dy[:, o_i : o_i + C_i, ...] (a copy of that channel slice), written (=).
// The forward and backward functions allocate nothing (a graph executor hands them its buffers):
//   concat_forward(y, {&x_0, &x_1, ...})
//   concat_backward({&dx_0, nullptr, &dx_2, ...}, dy, {x_0.shape(), x_1.shape(), ...})
// a null gradient pointer is not needed and skipped; backward takes the inputs' shapes (not the
// inputs), which is all it reads of them, so the channel offset of every input is known.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace convnet {
namespace ops {

Shape concat_output_shape(const std::vector<const Tensor*>& inputs);  // (N, sum C_i, d2, ...)
void concat_forward(Tensor& y, const std::vector<const Tensor*>& inputs);
void concat_backward(const std::vector<Tensor*>& grad_inputs, const Tensor& dy,
                     const std::vector<Shape>& input_shapes);
Tensor concat(const std::vector<const Tensor*>& inputs);

}  // namespace ops

// Kernels: valid arguments assumed. A strided copy of `rows` rows of `width` floats:
//   dst[n * dst_stride + j] = src[n * src_stride + j] for n < rows, j < width.
// Forward copies x_i into y at column o_i * S (dst = y + o_i * S, dst_stride = C * S, src_stride = width =
// C_i * S); backward the other way round.
namespace cpu_kernels {
void concat_copy(float* dst, int64_t dst_stride, const float* src, int64_t src_stride, int64_t rows, int64_t width);
}
namespace cuda_kernels {
void concat_copy(float* dst, int64_t dst_stride, const float* src, int64_t src_stride, int64_t rows, int64_t width);
}

}  // namespace convnet
