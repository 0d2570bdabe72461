// Pooling ops: CUDA kernels, twins of pool.cpp (same signatures, same tie rule).
#include "core/cuda_check.h"
#include "ops/pool.h"

namespace convnet {
namespace cuda_kernels {

// One thread per output element (plane, oh, ow), grid-stride.
__global__ void pool2d_forward_kernel(float* y, int64_t* index, const float* x, int64_t planes, int64_t H, int64_t W,
                                      int64_t H_out, int64_t W_out, ops::Pool2dParams p) {
  const int64_t total = planes * H_out * W_out;
  const float inv_area = 1.0f / (float(p.kernel_h) * float(p.kernel_w));
  for (int64_t o = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; o < total; o += (int64_t)gridDim.x * blockDim.x) {
    const int64_t ow = o % W_out, oh = (o / W_out) % H_out, plane = o / (W_out * H_out);
    const float* xp = x + plane * H * W;
    const int64_t hs = oh * p.stride_h - p.pad_h, ws = ow * p.stride_w - p.pad_w;
    const int64_t h0 = max(hs, (int64_t)0), h1 = min(hs + p.kernel_h, H);
    const int64_t w0 = max(ws, (int64_t)0), w1 = min(ws + p.kernel_w, W);
    if (p.mode == ops::PoolMode::Avg) {
      float sum = 0.0f;  // padding adds zeros
      for (int64_t h = h0; h < h1; ++h)
        for (int64_t w = w0; w < w1; ++w) sum += xp[h * W + w];
      y[o] = p.count_include_pad ? sum * inv_area : sum / float((h1 - h0) * (w1 - w0));
    } else {
      const bool is_max = p.mode == ops::PoolMode::Max;
      int64_t best_i = h0 * W + w0;
      float best = xp[best_i];
      for (int64_t h = h0; h < h1; ++h)
        for (int64_t w = w0; w < w1; ++w) {
          const float v = xp[h * W + w];
          // strictly better, so the first wins on ties; the first NaN wins over numbers (as pool.cpp)
          if ((is_max ? !(v <= best) : !(v >= best)) && best == best) { best = v; best_i = h * W + w; }
        }
      y[o] = best;
      if (index) index[o] = best_i;
    }
  }
}

// One thread per input element (plane, h, w), gathering from the outputs whose windows contain it:
// no atomics, a fixed summation order.
__global__ void pool2d_backward_kernel(float* dx, const float* dy, const int64_t* index, int64_t planes, int64_t H,
                                       int64_t W, int64_t H_out, int64_t W_out, ops::Pool2dParams p) {
  const int64_t total = planes * H * W;
  const float inv_area = 1.0f / (float(p.kernel_h) * float(p.kernel_w));
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t w = i % W, h = (i / W) % H, plane = i / (W * H);
    // Outputs oh with oh*stride - pad <= h <= oh*stride - pad + kernel - 1.
    const int64_t hp = h + p.pad_h, wp = w + p.pad_w;
    const int64_t oh0 = hp < p.kernel_h ? 0 : (hp - p.kernel_h) / p.stride_h + 1;
    const int64_t oh1 = min(hp / p.stride_h + 1, H_out);
    const int64_t ow0 = wp < p.kernel_w ? 0 : (wp - p.kernel_w) / p.stride_w + 1;
    const int64_t ow1 = min(wp / p.stride_w + 1, W_out);
    const int64_t base = plane * H_out * W_out, pos = h * W + w;
    float g = 0.0f;
    for (int64_t oh = oh0; oh < oh1; ++oh)
      for (int64_t ow = ow0; ow < ow1; ++ow) {
        const int64_t o = base + oh * W_out + ow;
        if (p.mode != ops::PoolMode::Avg) {
          if (index[o] == pos) g += dy[o];
        } else if (p.count_include_pad) {
          g += dy[o] * inv_area;
        } else {  // divided by the real elements of window (oh, ow)
          const int64_t hs = oh * p.stride_h - p.pad_h, ws = ow * p.stride_w - p.pad_w;
          const int64_t rows = min(hs + p.kernel_h, H) - max(hs, (int64_t)0);
          const int64_t cols = min(ws + p.kernel_w, W) - max(ws, (int64_t)0);
          g += dy[o] / float(rows * cols);
        }
      }
    dx[i] = g;
  }
}

void pool2d_forward(float* y, int64_t* index, const float* x, int64_t planes, int64_t H, int64_t W,
                    int64_t H_out, int64_t W_out, const ops::Pool2dParams& p) {
  cuda::launch("pool2d_forward_kernel", pool2d_forward_kernel, cuda::grid_for(planes * H_out * W_out), 256, y, index, x, planes, H, W, H_out, W_out, p);
}

void pool2d_backward(float* dx, const float* dy, const int64_t* index, int64_t planes, int64_t H, int64_t W,
                     int64_t H_out, int64_t W_out, const ops::Pool2dParams& p) {
  cuda::launch("pool2d_backward_kernel", pool2d_backward_kernel, cuda::grid_for(planes * H * W), 256, dx, dy, index, planes, H, W, H_out, W_out, p);
}

// One warp per (n, c) plane: lanes stride over H*W, then a shuffle reduction.
__global__ void global_avg_pool2d_forward_kernel(float* y, const float* x, int64_t planes, int64_t HW) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = (int64_t)gridDim.x * (blockDim.x / 32);
  for (int64_t plane = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / 32; plane < planes; plane += warps) {
    const float* xp = x + plane * HW;
    float sum = 0.0f;
    for (int64_t i = lane; i < HW; i += 32) sum += xp[i];
    for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
    if (lane == 0) y[plane] = sum * (1.0f / float(HW));
  }
}

__global__ void global_avg_pool2d_backward_kernel(float* dx, const float* dy, int64_t planes, int64_t HW) {
  const int64_t total = planes * HW;
  const float inv = 1.0f / float(HW);
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x)
    dx[i] = dy[i / HW] * inv;
}

void global_avg_pool2d_forward(float* y, const float* x, int64_t planes, int64_t HW) {
  // 256 threads = 8 warps = 8 planes per block; every lane of a warp shares its loop bounds, so the
  // full-mask shuffle is safe.
  cuda::launch("global_avg_pool2d_forward_kernel", global_avg_pool2d_forward_kernel, cuda::grid_for(planes * 32), 256, y, x, planes, HW);
}

void global_avg_pool2d_backward(float* dx, const float* dy, int64_t planes, int64_t HW) {
  cuda::launch("global_avg_pool2d_backward_kernel", global_avg_pool2d_backward_kernel, cuda::grid_for(planes * HW), 256, dx, dy, planes, HW);
}

}  // namespace cuda_kernels
}  // namespace convnet
