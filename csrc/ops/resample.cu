// Resampling ops: the CUDA twins of resample.cpp (same signatures). Grid-stride loops over the
// destination, one thread per element; the upsampling backward gathers its block (no atomics).
#include "core/cuda_check.h"
#include "ops/resample.h"

namespace convnet {
namespace cuda_kernels {

namespace {

__global__ void pad_crop2d_kernel(float* dst, const float* src, int64_t planes, int64_t H_src, int64_t W_src,
                                  int64_t H_dst, int64_t W_dst, int64_t top, int64_t left) {
  const int64_t total = planes * H_dst * W_dst;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t j = i % W_dst, r = (i / W_dst) % H_dst, p = i / (W_dst * H_dst);  // i = (p * H_dst + r) * W_dst + j
    const int64_t h = r - top, w = j - left;
    dst[i] = h >= 0 && h < H_src && w >= 0 && w < W_src ? src[(p * H_src + h) * W_src + w] : 0.0f;
  }
}

__global__ void upsample_nearest2d_forward_kernel(float* y, const float* x, int64_t planes, int64_t H, int64_t W,
                                                  int sh, int sw) {
  const int64_t H_out = H * sh, W_out = W * sw, total = planes * H_out * W_out;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t j = i % W_out, r = (i / W_out) % H_out, p = i / (W_out * H_out);
    y[i] = x[(p * H + r / sh) * W + j / sw];
  }
}

// One thread per input element: the sum of its sh x sw block of dy, in row-major order (as the CPU).
__global__ void upsample_nearest2d_backward_kernel(float* dx, const float* dy, int64_t planes, int64_t H, int64_t W,
                                                   int sh, int sw) {
  const int64_t W_out = W * sw, total = planes * H * W;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t w = i % W, h = (i / W) % H, p = i / (W * H);
    const float* block = dy + (p * H * sh + h * sh) * W_out + w * sw;
    float s = 0.0f;
    for (int a = 0; a < sh; ++a)
      for (int b = 0; b < sw; ++b) s += block[a * W_out + b];
    dx[i] = s;
  }
}

}  // namespace

void pad_crop2d(float* dst, const float* src, int64_t planes, int64_t H_src, int64_t W_src, int64_t H_dst,
                int64_t W_dst, int64_t top, int64_t left) {
  cuda::launch("pad_crop2d_kernel", pad_crop2d_kernel, dim3(cuda::grid_for(planes * H_dst * W_dst)), dim3(256), dst,
               src, planes, H_src, W_src, H_dst, W_dst, top, left);
}

void upsample_nearest2d_forward(float* y, const float* x, int64_t planes, int64_t H, int64_t W, int sh, int sw) {
  cuda::launch("upsample_nearest2d_forward_kernel", upsample_nearest2d_forward_kernel,
               dim3(cuda::grid_for(planes * H * sh * W * sw)), dim3(256), y, x, planes, H, W, sh, sw);
}

void upsample_nearest2d_backward(float* dx, const float* dy, int64_t planes, int64_t H, int64_t W, int sh, int sw) {
  cuda::launch("upsample_nearest2d_backward_kernel", upsample_nearest2d_backward_kernel,
               dim3(cuda::grid_for(planes * H * W)), dim3(256), dx, dy, planes, H, W, sh, sw);
}

}  // namespace cuda_kernels
}  // namespace convnet
