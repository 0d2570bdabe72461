// Fully connected layer (PyTorch's weight layout).
//
//   x (N, in), w (out, in), b (out) or none  ->  y (N, out) = x w^T + b
// Backward (gradients written, never accumulated; a null pointer = not needed):
//   dx (N, in) = dy w,  dw (out, in) = dy^T x,  db (out) = sum_n dy[n, :]
//
// CPU (linear.cpp): the three products are SGEMMs (kernels/gemm.h) split over the OpenMP threads.
// CUDA (linear.cu): the tiled SGEMM of kernels/gemm.cu plus small bias kernels.
#pragma once
#include "core/tensor.h"

namespace convnet {
namespace ops {

// The contract: x and w 2-D float32 and non-empty, w.shape[1] == x.shape[1], b of shape (out),
// one device. Returns (N, out).
Shape linear_output_shape(const Tensor& x, const Tensor& w, const Tensor* b);
void linear_forward(Tensor& y, const Tensor& x, const Tensor& w, const Tensor* b);
// dx (like x), dw (like w), db (out): each computed when non-null.
void linear_backward(Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy, const Tensor& x, const Tensor& w);
Tensor linear(const Tensor& x, const Tensor& w, const Tensor* b);

}  // namespace ops

// Kernels: valid arguments assumed. Sizes: N rows, in features, out features.
namespace cpu_kernels {
void linear_forward(float* y, const float* x, const float* w, const float* b, int64_t N, int64_t in, int64_t out);
void linear_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w, int64_t N,
                     int64_t in, int64_t out);
}  // namespace cpu_kernels
namespace cuda_kernels {
void linear_forward(float* y, const float* x, const float* w, const float* b, int64_t N, int64_t in, int64_t out);
void linear_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w, int64_t N,
                     int64_t in, int64_t out);
}  // namespace cuda_kernels

}  // namespace convnet
