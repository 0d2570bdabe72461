// Elementwise ops.
//   add:  y = a + b, for residual sums. Same shapes, no broadcasting.
//         Backward: da = dy, db = dy.
//   dropout (inverted): element i is kept iff u(seed, i) >= p, where u = dropout_uniform(seed, i) is a
//         counter-based hash of (seed, i) mapped to [0, 1) (splitmix64, no state: the same on the CPU
//         and the GPU); y = x * keep / (1 - p), p in [0, 1). Any shape (treated as flat).
//         Backward regenerates the same mask from the seed (no mask memory): dx = dy * keep / (1 - p).
//         The seed is either a number or a (1,) int64 tensor on x's device (read by the kernel, so a
//         training step captured as a CUDA graph draws a new mask at each replay).
//   rescale: y = scale * x + offset (Keras' Rescaling, e.g. scale 1/255 for 0..255 pixels). Any shape.
//         Backward: dx = scale * dy.
//   flatten: x (N, d1, d2, ...) -> y (N, d1 * d2 * ...), the same elements in the same order.
//         flatten(x) returns a view (shared memory); flatten_forward copies into a caller buffer.
//         Backward: dx = dy reshaped to x's shape.
// Conventions of every op (see README, "Adding an op"):
//   NAME_output_shape(...)  the contract: checks every argument, returns the output shape
//   NAME_forward(outputs..., saved..., inputs..., params)  caller-owned outputs, dispatched by device
//   NAME_backward(grad_inputs..., grad_out, saved/inputs..., params)  a null grad pointer means
//                            "not needed"; gradients are written (=), never accumulated
//   NAME(inputs..., params)  convenience that allocates and returns the outputs
#pragma once
#include <cstdint>

#include "core/host_device.h"
#include "core/random.h"
#include "core/tensor.h"


namespace convnet {
namespace ops {

Shape add_output_shape(const Tensor& a, const Tensor& b);
void add_forward(Tensor& y, const Tensor& a, const Tensor& b);
void add_backward(Tensor* da, Tensor* db, const Tensor& dy);
Tensor add(const Tensor& a, const Tensor& b);

Shape dropout_output_shape(const Tensor& x, float p);  // x's shape; checks p in [0, 1)
void dropout_forward(Tensor& y, const Tensor& x, float p, const Tensor& seed);
void dropout_backward(Tensor& dx, const Tensor& dy, float p, const Tensor& seed);
void dropout_forward(Tensor& y, const Tensor& x, float p, uint64_t seed);
void dropout_backward(Tensor& dx, const Tensor& dy, float p, uint64_t seed);
// A seed as the (1,) int64 tensor the kernels read (dropout's, augmentation's), on `device`.
Tensor seed_tensor(uint64_t seed, Device device);
Tensor dropout(const Tensor& x, float p, uint64_t seed);

Shape rescale_output_shape(const Tensor& x, float scale, float offset);  // x's shape; finite scale and offset
void rescale_forward(Tensor& y, const Tensor& x, float scale, float offset);
void rescale_backward(Tensor& dx, const Tensor& dy, float scale);
Tensor rescale(const Tensor& x, float scale, float offset);

Shape flatten_output_shape(const Tensor& x);  // (N, prod(rest)); x of rank >= 1
void flatten_forward(Tensor& y, const Tensor& x);
void flatten_backward(Tensor& dx, const Tensor& dy);  // dx: x's shape, dy: (N, prod(rest))
Tensor flatten(const Tensor& x);  // a view of x

}  // namespace ops

// u(seed, i) in [0, 1): the splitmix64 finaliser of the counter i keyed by a mixed seed; the top
// 24 bits scaled by 2^-24, so every value is an exact float. Host and device compute the same bits.
inline CONVNET_HOST_DEVICE float dropout_uniform(uint64_t seed, uint64_t i) {
  const uint64_t key = splitmix64_mix(seed + kGoldenGamma);
  const uint64_t z = splitmix64_mix(key + (i + 1) * kGoldenGamma);
  return static_cast<float>(z >> 40) * (1.0f / 16777216.0f);
}

// Kernels: valid arguments assumed (the contract above checked them).
namespace cpu_kernels {
void add_forward(float* y, const float* a, const float* b, int64_t n);
void rescale(float* y, const float* x, int64_t n, float scale, float offset);
// y[i] = x[i] * scale if dropout_uniform(*seed, i) >= p else 0 (forward and backward alike)
void dropout_apply(float* y, const float* x, int64_t n, float p, float scale, const int64_t* seed);
}
namespace cuda_kernels {
void add_forward(float* y, const float* a, const float* b, int64_t n);
void rescale(float* y, const float* x, int64_t n, float scale, float offset);
void dropout_apply(float* y, const float* x, int64_t n, float p, float scale, const int64_t* seed);
}

}  // namespace convnet
