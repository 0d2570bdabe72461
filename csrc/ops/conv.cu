// Conv2d: CUDA twins of conv.cpp (same signatures): im2col / col2im kernels and the tiled SGEMM
// of kernels/gemm.cu, one image at a time through a per-call column buffer (C_in*kH*kW x H_out*W_out).
#include "core/cuda_check.h"
#include "kernels/gemm.h"
#include "ops/conv.h"

namespace convnet {
namespace cuda_kernels {

namespace {

// A per-call device buffer, freed on every exit path.
struct DeviceBuffer {
  float* ptr = nullptr;
  explicit DeviceBuffer(size_t n) {
    cuda::check(cudaMalloc(reinterpret_cast<void**>(&ptr), n * sizeof(float)), "cudaMalloc (conv2d workspace)");
  }
  ~DeviceBuffer() {
    if (ptr) cudaFree(ptr);
  }
};

// col[(c, u, v), (i, j)] = x[c, i*sh - pt + u*dh, j*sw - pl + v*dw] or 0; x is one image (C, H, W).
__global__ void im2col_kernel(const float* __restrict__ x, int64_t C, Conv2dGeometry g, float* __restrict__ col) {
  const int64_t P = g.H_out * g.W_out, total = C * g.kH * g.kW * P;
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total; idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t p = idx % P, row = idx / P;
    const int64_t i = p / g.W_out, j = p % g.W_out;
    const int64_t v = row % g.kW, u = (row / g.kW) % g.kH, c = row / (g.kW * g.kH);
    const int64_t ih = i * g.stride_h - g.pad_top + u * g.dilation_h;
    const int64_t iw = j * g.stride_w - g.pad_left + v * g.dilation_w;
    col[idx] = (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) ? x[(c * g.H + ih) * g.W + iw] : 0.0f;
  }
}

// x[c, ih, iw] = sum of col over the taps (u, v, i, j) that read it: a gather, one thread per
// element of x, so no atomics and a deterministic sum.
__global__ void col2im_kernel(const float* __restrict__ col, int64_t C, Conv2dGeometry g, float* __restrict__ x) {
  const int64_t P = g.H_out * g.W_out, total = C * g.H * g.W;
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total; idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t iw = idx % g.W, ih = (idx / g.W) % g.H, c = idx / (g.W * g.H);
    float s = 0.0f;
    for (int64_t u = 0; u < g.kH; ++u) {
      const int64_t th = ih + g.pad_top - u * g.dilation_h;  // = i * stride_h
      if (th < 0 || th % g.stride_h != 0) continue;
      const int64_t i = th / g.stride_h;
      if (i >= g.H_out) continue;
      for (int64_t v = 0; v < g.kW; ++v) {
        const int64_t tw = iw + g.pad_left - v * g.dilation_w;  // = j * stride_w
        if (tw < 0 || tw % g.stride_w != 0) continue;
        const int64_t j = tw / g.stride_w;
        if (j >= g.W_out) continue;
        s += col[((c * g.kH + u) * g.kW + v) * P + i * g.W_out + j];
      }
    }
    x[idx] = s;
  }
}

// y[n, o, p] += b[o]
__global__ void add_bias_kernel(float* y, const float* __restrict__ b, int64_t N, int64_t C, int64_t P) {
  const int64_t total = N * C * P;
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total; idx += (int64_t)gridDim.x * blockDim.x)
    y[idx] += b[(idx / P) % C];
}

// db[o] = sum_{n, p} dy[n, o, p]: one block per channel, a shared-memory tree reduction.
__global__ void bias_grad_kernel(float* db, const float* __restrict__ dy, int64_t N, int64_t C, int64_t P) {
  __shared__ float part[256];
  for (int64_t o = blockIdx.x; o < C; o += gridDim.x) {
    float s = 0.0f;
    for (int64_t k = threadIdx.x; k < N * P; k += blockDim.x) s += dy[((k / P) * C + o) * P + k % P];
    part[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
      if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
      __syncthreads();
    }
    if (threadIdx.x == 0) db[o] = part[0];
    __syncthreads();
  }
}

bool is_pointwise(const Conv2dGeometry& g) {
  return g.kH == 1 && g.kW == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 && g.pad_left == 0 &&
         g.H_out == g.H && g.W_out == g.W;
}

}  // namespace

void conv2d_forward(float* y, const float* x, const float* w, const float* b, const Conv2dGeometry& g) {
  const int64_t G = g.groups, Cg = g.C_in / G, Cog = g.C_out / G;
  const int64_t K = Cg * g.kH * g.kW, P = g.H_out * g.W_out, HW = g.H * g.W;
  const bool pointwise = is_pointwise(g);
  DeviceBuffer col(pointwise ? 1 : size_t(g.C_in * g.kH * g.kW * P));
  for (int64_t n = 0; n < g.N; ++n) {
    const float* xn = x + n * g.C_in * HW;
    float* yn = y + n * g.C_out * P;
    if (!pointwise) {
      cuda::launch("im2col_kernel", im2col_kernel, cuda::grid_for(g.C_in * g.kH * g.kW * P), 256, xn, g.C_in, g, col.ptr);
    }
    for (int64_t grp = 0; grp < G; ++grp) {
      const float* colg = pointwise ? xn + grp * Cg * HW : col.ptr + grp * K * P;
      sgemm(false, false, Cog, P, K, w + grp * Cog * K, K, colg, P, yn + grp * Cog * P, P, false);
    }
  }
  if (b) {
    cuda::launch("add_bias_kernel", add_bias_kernel, cuda::grid_for(g.N * g.C_out * P), 256, y, b, g.N, g.C_out, P);
  }
}

void conv2d_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w,
                     const Conv2dGeometry& g) {
  const int64_t G = g.groups, Cg = g.C_in / G, Cog = g.C_out / G;
  const int64_t K = Cg * g.kH * g.kW, P = g.H_out * g.W_out, HW = g.H * g.W;
  const bool pointwise = is_pointwise(g);
  if (db) {
    const unsigned blocks = static_cast<unsigned>(g.C_out < 65535 ? g.C_out : 65535);
    cuda::launch("bias_grad_kernel", bias_grad_kernel, blocks, 256, db, dy, g.N, g.C_out, P);
  }
  if (!dx && !dw) return;
  if (dw) cuda::check(cudaMemset(dw, 0, sizeof(float) * g.C_out * K), "cudaMemset (grad_w)");
  DeviceBuffer col(pointwise ? 1 : size_t(g.C_in * g.kH * g.kW * P));
  for (int64_t n = 0; n < g.N; ++n) {
    const float* xn = x + n * g.C_in * HW;
    const float* dyn = dy + n * g.C_out * P;
    if (dw) {
      if (!pointwise) {
        cuda::launch("im2col_kernel", im2col_kernel, cuda::grid_for(g.C_in * g.kH * g.kW * P), 256, xn, g.C_in, g, col.ptr);
      }
      for (int64_t grp = 0; grp < G; ++grp) {  // dw_g (Cog, K) += dy_g (Cog, P) . col_g^T (P, K)
        const float* colg = pointwise ? xn + grp * Cg * HW : col.ptr + grp * K * P;
        sgemm(false, true, Cog, K, P, dyn + grp * Cog * P, P, colg, P, dw + grp * Cog * K, K, true);
      }
    }
    if (dx) {
      float* dxn = dx + n * g.C_in * HW;
      for (int64_t grp = 0; grp < G; ++grp) {  // dcol_g (K, P) = w_g^T (K, Cog) . dy_g (Cog, P)
        float* dcolg = pointwise ? dxn + grp * Cg * HW : col.ptr + grp * K * P;
        sgemm(true, false, K, P, Cog, w + grp * Cog * K, K, dyn + grp * Cog * P, P, dcolg, P, false);
      }
      if (!pointwise) {
        cuda::launch("col2im_kernel", col2im_kernel, cuda::grid_for(g.C_in * HW), 256, col.ptr, g.C_in, g, dxn);
      }
    }
  }
}

}  // namespace cuda_kernels
}  // namespace convnet
