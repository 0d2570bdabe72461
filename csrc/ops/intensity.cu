// Augmentation of pixel values: the CUDA twins of intensity.cpp. Contrast: one block per plane,
// whose first thread sums the plane serially as the CPU kernel does (the same bits) before all of
// the block's threads write it; erasing: one thread per element.
#include "core/cuda_check.h"
#include "ops/intensity.h"

namespace convnet {
namespace cuda_kernels {

namespace {
constexpr int kBlock = 256;
unsigned plane_blocks(int64_t planes) { return static_cast<unsigned>(planes < 65535 * 8 ? planes : 65535 * 8); }
}  // namespace

__global__ void contrast_forward_kernel(float* y, const float* x, int64_t n, int64_t c, int64_t hw,
                                        ops::ContrastParams p, const int64_t* seed_in) {
  __shared__ float mean;
  const uint64_t seed = static_cast<uint64_t>(*seed_in);
  for (int64_t plane = blockIdx.x; plane < n * c; plane += gridDim.x) {
    const float* src = x + plane * hw;
    if (threadIdx.x == 0) mean = plane_mean(src, hw);
    __syncthreads();
    const float f = draw_contrast(seed, plane / c, p);
    for (int64_t k = threadIdx.x; k < hw; k += kBlock) {
      const float z = contrast_z(src[k], mean, f);
      y[plane * hw + k] = z < p.value_lo ? p.value_lo : z > p.value_hi ? p.value_hi : z;
    }
    __syncthreads();  // all have read mean before the next plane's
  }
}

__global__ void contrast_backward_kernel(float* dx, const float* dy, const float* x, int64_t n, int64_t c,
                                         int64_t hw, ops::ContrastParams p, const int64_t* seed_in) {
  __shared__ float mean, shift;
  const uint64_t seed = static_cast<uint64_t>(*seed_in);
  for (int64_t plane = blockIdx.x; plane < n * c; plane += gridDim.x) {
    const float* xs = x + plane * hw;
    const float* g = dy + plane * hw;
    const float f = draw_contrast(seed, plane / c, p);
    if (threadIdx.x == 0) {
      mean = plane_mean(xs, hw);
      shift = (1.0f - f) * contrast_grad_mean(g, xs, mean, f, hw, p);
    }
    __syncthreads();
    for (int64_t k = threadIdx.x; k < hw; k += kBlock)
      dx[plane * hw + k] = (contrast_passes(contrast_z(xs[k], mean, f), p) ? f * g[k] : 0.0f) + shift;
    __syncthreads();
  }
}

__global__ void erasing_kernel(float* out, const float* in, int64_t n, int64_t c, int64_t h, int64_t w,
                               ops::ErasingParams p, const int64_t* seed_in, bool transpose) {
  const uint64_t seed = static_cast<uint64_t>(*seed_in);
  const int64_t total = n * c * h * w;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t i = (e / w) % h, j = e % w;
    const EraseBox box = draw_erase(seed, e / (c * h * w), h, w, p);
    out[e] = !box.contains(i, j) ? in[e] : transpose ? 0.0f : erase_fill(seed, e, p);
  }
}

void contrast_forward(float* y, const float* x, int64_t n, int64_t c, int64_t hw, const ops::ContrastParams& p,
                      const int64_t* seed) {
  if (n * c * hw == 0) return;
  cuda::launch("contrast_forward_kernel", contrast_forward_kernel, plane_blocks(n * c), kBlock, y, x, n, c, hw, p,
               seed);
}

void contrast_backward(float* dx, const float* dy, const float* x, int64_t n, int64_t c, int64_t hw,
                       const ops::ContrastParams& p, const int64_t* seed) {
  if (n * c * hw == 0) return;
  cuda::launch("contrast_backward_kernel", contrast_backward_kernel, plane_blocks(n * c), kBlock, dx, dy, x, n, c, hw,
               p, seed);
}

void erasing(float* out, const float* in, int64_t n, int64_t c, int64_t h, int64_t w, const ops::ErasingParams& p,
             const int64_t* seed, bool transpose) {
  const int64_t total = n * c * h * w;
  if (total == 0) return;
  cuda::launch("erasing_kernel", erasing_kernel, cuda::grid_for(total), 256, out, in, n, c, h, w, p, seed, transpose);
}

}  // namespace cuda_kernels
}  // namespace convnet
