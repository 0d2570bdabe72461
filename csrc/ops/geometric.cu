// Geometric augmentation: the CUDA twins of geometric.cpp. Forward and the crop's transpose are one
// thread per output element; the affine backward is one thread per plane, summing it serially in
// the CPU kernel's order (deterministic, no atomics).
#include "core/cuda_check.h"
#include "ops/geometric.h"

namespace convnet {
namespace cuda_kernels {

__global__ void affine_forward_kernel(float* y, const float* x, int64_t n, int64_t c, int64_t h, int64_t w,
                                      ops::AffineParams p, const int64_t* seed_in) {
  const uint64_t seed = static_cast<uint64_t>(*seed_in);
  const int64_t total = n * c * h * w;
  for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < total; k += (int64_t)gridDim.x * blockDim.x) {
    const int64_t j = k % w, i = (k / w) % h, plane = k / (h * w);
    const Taps t = sample_taps(draw_affine(seed, plane / c, p), i, j, h, w, p);
    const float* src = x + plane * h * w;
    float v = 0.0f;
    for (int q = 0; q < t.count; ++q) v += t.weight[q] * (t.index[q] >= 0 ? src[t.index[q]] : p.fill_value);
    y[k] = v;
  }
}

__global__ void affine_backward_kernel(float* dx, const float* dy, int64_t n, int64_t c, int64_t h, int64_t w,
                                       ops::AffineParams p, const int64_t* seed_in) {
  const uint64_t seed = static_cast<uint64_t>(*seed_in);
  for (int64_t plane = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; plane < n * c;
       plane += (int64_t)gridDim.x * blockDim.x) {
    const Affine2 m = draw_affine(seed, plane / c, p);
    float* d = dx + plane * h * w;
    const float* g = dy + plane * h * w;
    for (int64_t k = 0; k < h * w; ++k) d[k] = 0.0f;
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < w; ++j) {
        const Taps t = sample_taps(m, i, j, h, w, p);
        for (int q = 0; q < t.count; ++q)
          if (t.index[q] >= 0) d[t.index[q]] += t.weight[q] * g[i * w + j];
      }
  }
}

__global__ void crop_kernel(float* out, const float* in, int64_t n, int64_t c, int64_t h, int64_t w,
                            ops::CropParams p, const int64_t* seed_in, bool transpose) {
  const uint64_t seed = static_cast<uint64_t>(*seed_in);
  const int64_t oh = transpose ? h : p.height, ow = transpose ? w : p.width;  // the output's plane
  const int64_t total = n * c * oh * ow;
  for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < total; k += (int64_t)gridDim.x * blockDim.x) {
    const int64_t j = k % ow, i = (k / ow) % oh, plane = k / (oh * ow);
    int64_t oy, ox;
    crop_offset(seed, plane / c, h, w, p, oy, ox);
    if (!transpose) {
      out[k] = in[(plane * h + oy + i) * w + ox + j];
    } else {
      const int64_t wi = i - oy, wj = j - ox;  // the position in the window
      const bool inside = wi >= 0 && wi < p.height && wj >= 0 && wj < p.width;
      out[k] = inside ? in[(plane * p.height + wi) * p.width + wj] : 0.0f;
    }
  }
}

void affine_forward(float* y, const float* x, int64_t n, int64_t c, int64_t h, int64_t w, const ops::AffineParams& p,
                    const int64_t* seed) {
  const int64_t total = n * c * h * w;
  if (total == 0) return;
  cuda::launch("affine_forward_kernel", affine_forward_kernel, cuda::grid_for(total), 256, y, x, n, c, h, w, p, seed);
}

void affine_backward(float* dx, const float* dy, int64_t n, int64_t c, int64_t h, int64_t w,
                     const ops::AffineParams& p, const int64_t* seed) {
  if (n * c * h * w == 0) return;
  cuda::launch("affine_backward_kernel", affine_backward_kernel, cuda::grid_for(n * c, 64), 64, dx, dy, n, c, h, w, p,
               seed);
}

void crop(float* out, const float* in, int64_t n, int64_t c, int64_t h, int64_t w, const ops::CropParams& p,
          const int64_t* seed, bool transpose) {
  const int64_t total = n * c * (transpose ? h * w : p.height * p.width);
  if (total == 0) return;
  cuda::launch("crop_kernel", crop_kernel, cuda::grid_for(total), 256, out, in, n, c, h, w, p, seed, transpose);
}

}  // namespace cuda_kernels
}  // namespace convnet
