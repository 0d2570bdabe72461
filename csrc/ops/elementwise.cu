// Elementwise ops: CUDA kernels, twins of elementwise.cpp (same signatures).
#include "core/cuda_check.h"
#include "ops/elementwise.h"

namespace convnet {
namespace cuda_kernels {

__global__ void add_forward_kernel(float* y, const float* a, const float* b, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    y[i] = a[i] + b[i];
}

void add_forward(float* y, const float* a, const float* b, int64_t n) {
  cuda::launch("add_forward_kernel", add_forward_kernel, cuda::grid_for(n), 256, y, a, b, n);
}

__global__ void rescale_kernel(float* y, const float* x, int64_t n, float scale, float offset) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    y[i] = scale * x[i] + offset;
}

void rescale(float* y, const float* x, int64_t n, float scale, float offset) {
  if (n == 0) return;
  cuda::launch("rescale_kernel", rescale_kernel, cuda::grid_for(n), 256, y, x, n, scale, offset);
}

__global__ void dropout_apply_kernel(float* y, const float* x, int64_t n, float p, float scale, const int64_t* seed_in) {
  const uint64_t seed = static_cast<uint64_t>(*seed_in);
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    y[i] = dropout_uniform(seed, static_cast<uint64_t>(i)) >= p ? x[i] * scale : 0.0f;
}

void dropout_apply(float* y, const float* x, int64_t n, float p, float scale, const int64_t* seed) {
  if (n == 0) return;
  cuda::launch("dropout_apply_kernel", dropout_apply_kernel, cuda::grid_for(n), 256, y, x, n, p, scale, seed);
}

}  // namespace cuda_kernels
}  // namespace convnet
