// Conv2d: CUDA twins of conv.cpp (same signatures). Every pass is one launch over the whole batch:
//   - implicit GEMM on the tiled kernel of kernels/gemm_tiles.cuh: the column matrix (im2col) is
//     never stored; its entries are read from the image (or the output gradient) as tiles load.
//       forward   y_g (Cog, N*P)     = w_g (Cog, K)        . col_g (K, N*P)        + b, fused in the store
//       grad_x    dx_g (Cg, N*H*W)   = w_g^T (Cg, Cog*kk)  . taps_g (Cog*kk, N*H*W)
//                 taps_g[(o, u, v), (n, ih, iw)] = dy[n, o, i, j] with i*sh - pt + u*dh = ih (0 if none)
//       grad_w    dw_g (Cog, K)      = dy_g (Cog, N*P)     . col_g^T (N*P, K)
//     (g a group, K = Cg*kH*kW, kk = kH*kW, P = H_out*W_out, N the batch; the GEMM splits a long
//     reduction such as grad_w's N*P into slices itself).
//   - depthwise (groups == C_in): direct kernels, one thread per output element (forward), per
//     input element (grad_x), one block per weight (grad_w): a GEMM with Cg = 1 would waste its tiles.
#include "core/cuda_check.h"
#include "core/int_divider.h"
#include "kernels/gemm_tiles.cuh"
#include "ops/conv.h"

namespace convnet {
namespace cuda_kernels {

namespace {

constexpr int kBlock = 256;

// x[n, c, ih, iw] for the tap (u, v) of output pixel (i, j), or 0 in the padding.
__device__ inline float input_tap(const float* x, const Conv2dGeometry& g, int64_t n, int64_t c, int64_t i,
                                  int64_t j, int64_t u, int64_t v) {
  const int64_t ih = i * g.stride_h - g.pad_top + u * g.dilation_h;
  const int64_t iw = j * g.stride_w - g.pad_left + v * g.dilation_w;
  return ih >= 0 && ih < g.H && iw >= 0 && iw < g.W ? x[((n * g.C_in + c) * g.H + ih) * g.W + iw] : 0.0f;
}

// The output pixel (i, j) whose tap (u, v) reads input pixel (ih, iw), if any (the transposed map).
__device__ inline bool output_of_tap(const Conv2dGeometry& g, int64_t ih, int64_t iw, int64_t u, int64_t v,
                                     int64_t& i, int64_t& j) {
  const int64_t th = ih + g.pad_top - u * g.dilation_h, tw = iw + g.pad_left - v * g.dilation_w;
  if (th < 0 || tw < 0 || th % g.stride_h != 0 || tw % g.stride_w != 0) return false;
  i = th / g.stride_h;
  j = tw / g.stride_w;
  return i < g.H_out && j < g.W_out;
}

// ---- implicit-GEMM operands, by lines (see kernels/gemm_tiles.cuh for the contract): what does
// not depend on the depth k is worked out once per line and tile ----

// Rows of a (lines, depth) row-major matrix whose line r of group g is at data[(g*per_group + r) * depth]:
// the weights w_g (Cog, K) of the forward pass.
struct GroupRows {
  const float* data;
  int64_t per_group, depth;
  static constexpr bool k_fastest = true;
  using Line = const float*;
  __device__ Line line(int64_t grp, int64_t r) const { return data + (grp * per_group + r) * depth; }
  __device__ float at(Line p, int k) const { return p[k]; }
};

// The taps of a kernel window, k = (c * kH + u) * kW + v, split by two IntDividers (k < 2^31: the
// GEMM checks its depth).
struct WindowTaps {
  IntDivider per_channel, per_row;  // kH * kW, kW
  explicit WindowTaps(const Conv2dGeometry& g) : per_channel(g.kH * g.kW), per_row(g.kW) {}
  __device__ void split(int k, uint32_t& c, uint32_t& u, uint32_t& v) const {
    uint32_t tap;
    per_channel.divmod(k, c, tap);
    per_row.divmod(tap, u, v);
  }
};

// Whether 0 <= i < n, in one comparison.
__device__ inline bool inside(int i, int n) { return static_cast<unsigned>(i) < static_cast<unsigned>(n); }

// col_g (K, N*P), the column matrix of the forward pass, by columns (n, i, j):
//   B(g, (c, u, v), (n, i, j)) = x[n, g*Cg + c, i*sh - pt + u*dh, j*sw - pl + v*dw] (0 in the padding)
struct ImageColumns {
  const float* x;
  Conv2dGeometry geo;
  WindowTaps taps;
  int H, W, dilation_h, dilation_w;  // 32-bit copies for at()
  ImageColumns(const float* x, const Conv2dGeometry& g)
      : x(x), geo(g), taps(g), H(int(g.H)), W(int(g.W)), dilation_h(int(g.dilation_h)), dilation_w(int(g.dilation_w)) {}
  static constexpr bool k_fastest = false;  // neighbouring output pixels read neighbouring inputs
  struct Line {
    const float* image;  // x[n, g*Cg]
    int ih0, iw0;        // the input pixel of tap (0, 0)
  };
  __device__ Line line(int64_t grp, int64_t col) const {
    const int64_t P = geo.H_out * geo.W_out, n = col / P, i = (col % P) / geo.W_out, j = col % geo.W_out;
    const int64_t Cg = geo.C_in / geo.groups;
    return {x + (n * geo.C_in + grp * Cg) * geo.H * geo.W, int(i * geo.stride_h - geo.pad_top),
            int(j * geo.stride_w - geo.pad_left)};
  }
  __device__ float at(const Line& l, int k) const {
    uint32_t c, u, v;
    taps.split(k, c, u, v);
    const int ih = l.ih0 + int(u) * dilation_h, iw = l.iw0 + int(v) * dilation_w;
    return inside(ih, H) && inside(iw, W) ? l.image[(int64_t(c) * H + ih) * W + iw] : 0.0f;
  }
};

// y[n, g*Cog + o, p] = value + b[g*Cog + o]
struct OutputStore {
  float* y;
  const float* b;
  int64_t Cog, C_out, P;
  __device__ void operator()(int64_t grp, int64_t o, int64_t col, float value) const {
    const int64_t channel = grp * Cog + o;
    y[(col / P * C_out + channel) * P + col % P] = b ? value + b[channel] : value;
  }
};

// w_g^T (Cg, Cog*kk) by rows c: A(g, c, (o, u, v)) = w[g*Cog + o, c, u, v]
struct WeightColumns {
  const float* w;
  int64_t Cog, Cg, kk;
  IntDivider per_output;  // kk
  static constexpr bool k_fastest = true;  // (u, v) runs along memory
  using Line = const float*;                // w[g*Cog, c]
  __device__ Line line(int64_t grp, int64_t c) const { return w + (grp * Cog * Cg + c) * kk; }
  __device__ float at(Line p, int k) const {
    uint32_t o, tap;
    per_output.divmod(k, o, tap);
    return p[int64_t(o) * Cg * kk + tap];
  }
};

// taps_g (Cog*kk, N*H*W) by columns (n, ih, iw): B(g, (o, u, v), (n, ih, iw)) = dy[n, g*Cog + o, i, j]
// where tap (u, v) of output pixel (i, j) reads (ih, iw), else 0: (i, j) = ((ih + pt - u*dh) / sh,
// (iw + pl - v*dw) / sw) when both divisions are exact and land inside the output.
struct GradOutputTaps {
  const float* dy;
  Conv2dGeometry geo;
  WindowTaps taps;
  IntDivider stride_h, stride_w;
  int H_out, W_out, dilation_h, dilation_w;  // 32-bit copies for at()
  GradOutputTaps(const float* dy, const Conv2dGeometry& g)
      : dy(dy), geo(g), taps(g), stride_h(g.stride_h), stride_w(g.stride_w), H_out(int(g.H_out)),
        W_out(int(g.W_out)), dilation_h(int(g.dilation_h)), dilation_w(int(g.dilation_w)) {}
  static constexpr bool k_fastest = false;
  struct Line {
    const float* grad;  // dy[n, g*Cog]
    int th0, tw0;       // (ih + pt, iw + pl): where tap (0, 0) would put the output pixel, times the stride
  };
  __device__ Line line(int64_t grp, int64_t col) const {
    const int64_t HW = geo.H * geo.W, n = col / HW, Cog = geo.C_out / geo.groups;
    return {dy + (n * geo.C_out + grp * Cog) * geo.H_out * geo.W_out, int((col % HW) / geo.W + geo.pad_top),
            int(col % geo.W + geo.pad_left)};
  }
  __device__ float at(const Line& l, int k) const {
    uint32_t o, u, v, i, j, rest_h, rest_w;
    taps.split(k, o, u, v);
    const int th = l.th0 - int(u) * dilation_h, tw = l.tw0 - int(v) * dilation_w;
    if (th < 0 || tw < 0) return 0.0f;
    stride_h.divmod(th, i, rest_h);
    stride_w.divmod(tw, j, rest_w);
    if (rest_h != 0 || rest_w != 0 || int(i) >= H_out || int(j) >= W_out) return 0.0f;
    return l.grad[(int64_t(o) * H_out + i) * W_out + j];
  }
};

// dx[n, g*Cg + c, q] = value (q a pixel of the input plane)
struct InputGradStore {
  float* dx;
  int64_t Cg, C_in, HW;
  __device__ void operator()(int64_t grp, int64_t c, int64_t col, float value) const {
    dx[(col / HW * C_in + grp * Cg + c) * HW + col % HW] = value;
  }
};

// dy_g (Cog, N*P) by rows o: A(g, o, (n, p)) = dy[n, g*Cog + o, p]
struct GradOutputRows {
  const float* dy;
  int64_t Cog, C_out, P;
  IntDivider per_image;  // P
  static constexpr bool k_fastest = true;
  using Line = const float*;  // dy[0, g*Cog + o]
  __device__ Line line(int64_t grp, int64_t o) const { return dy + (grp * Cog + o) * P; }
  __device__ float at(Line p, int k) const {
    uint32_t n, q;
    per_image.divmod(k, n, q);
    return p[int64_t(n) * C_out * P + q];
  }
};

// col_g^T (N*P, K) by columns (c, u, v): B(g, (n, i, j), (c, u, v)) = col_g[(c, u, v), (n, i, j)]
struct ImageColumnsT {
  const float* x;
  Conv2dGeometry geo;
  IntDivider per_image, per_row;  // P, W_out
  int H, W, stride_h, stride_w;   // 32-bit copies for at()
  int64_t image_size;             // C_in * H * W
  ImageColumnsT(const float* x, const Conv2dGeometry& g)
      : x(x), geo(g), per_image(g.H_out * g.W_out), per_row(g.W_out), H(int(g.H)), W(int(g.W)),
        stride_h(int(g.stride_h)), stride_w(int(g.stride_w)), image_size(g.C_in * g.H * g.W) {}
  static constexpr bool k_fastest = true;  // k runs over output pixels
  struct Line {
    const float* plane;  // x[0, g*Cg + c]
    int dh, dw;          // the tap's offset from (i*sh, j*sw)
  };
  __device__ Line line(int64_t grp, int64_t col) const {
    const int64_t kk = geo.kH * geo.kW, Cg = geo.C_in / geo.groups;
    const int64_t c = col / kk, u = (col % kk) / geo.kW, v = col % geo.kW;
    return {x + (grp * Cg + c) * geo.H * geo.W, int(u * geo.dilation_h - geo.pad_top),
            int(v * geo.dilation_w - geo.pad_left)};
  }
  __device__ float at(const Line& l, int k) const {
    uint32_t n, p, i, j;
    per_image.divmod(k, n, p);
    per_row.divmod(p, i, j);
    const int ih = int(i) * stride_h + l.dh, iw = int(j) * stride_w + l.dw;
    return inside(ih, H) && inside(iw, W) ? l.plane[int64_t(n) * image_size + ih * W + iw] : 0.0f;
  }
};

// dw[g*Cog + o, k] = value
struct WeightGradStore {
  float* dw;
  int64_t Cog, K;
  __device__ void operator()(int64_t grp, int64_t o, int64_t k, float value) const {
    dw[(grp * Cog + o) * K + k] = value;
  }
};

// The sum of v over the block (a power of two threads), returned to every thread: a tree in `part`
// (one float per thread, shared memory), which is free again on return.
__device__ float block_sum(float v, float* part) {
  part[threadIdx.x] = v;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  const float total = part[0];
  __syncthreads();  // every thread has read part[0] before it is reused
  return total;
}

// db[o] = sum_{n, p} dy[n, o, p]: one block per channel, a shared-memory tree reduction. A block
// walks a whole channel, so it is large: more loads in flight.
constexpr int kChannelBlock = 1024;
__global__ void __launch_bounds__(kChannelBlock)
    bias_grad_kernel(float* db, const float* __restrict__ dy, ChannelValues values, int count) {
  __shared__ float part[kChannelBlock];
  for (int64_t o = blockIdx.x; o < values.channels; o += gridDim.x) {
    float s = 0.0f;
    for (int64_t k = threadIdx.x; k < count; k += blockDim.x) s += dy[values.offset(o, k)];
    const float total = block_sum(s, part);
    if (threadIdx.x == 0) db[o] = total;
  }
}

// ---- depthwise (groups == C_in: input channel c feeds outputs c*M .. c*M + M-1, M = C_out/C_in) ----

// y[n, o, i, j] = b[o] + sum_{u, v} w[o, 0, u, v] * x[n, o / M, ...]
__global__ void depthwise_forward_kernel(float* y, const float* x, const float* w, const float* b, Conv2dGeometry g) {
  const int64_t P = g.H_out * g.W_out, total = g.N * g.C_out * P, M = g.C_out / g.C_in;
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total; idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t j = idx % g.W_out, i = (idx / g.W_out) % g.H_out, o = (idx / P) % g.C_out, n = idx / (P * g.C_out);
    const float* wo = w + o * g.kH * g.kW;
    float s = b ? b[o] : 0.0f;
    for (int64_t u = 0; u < g.kH; ++u)
      for (int64_t v = 0; v < g.kW; ++v) s += wo[u * g.kW + v] * input_tap(x, g, n, o / M, i, j, u, v);
    y[idx] = s;
  }
}

// dx[n, c, ih, iw] = sum over c's outputs o and the taps (u, v) that read (ih, iw)
__global__ void depthwise_grad_input_kernel(float* dx, const float* dy, const float* w, Conv2dGeometry g) {
  const int64_t HW = g.H * g.W, total = g.N * g.C_in * HW, M = g.C_out / g.C_in;
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total; idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t iw = idx % g.W, ih = (idx / g.W) % g.H, c = (idx / HW) % g.C_in, n = idx / (HW * g.C_in);
    float s = 0.0f;
    for (int64_t o = c * M; o < (c + 1) * M; ++o) {
      const float* dyo = dy + (n * g.C_out + o) * g.H_out * g.W_out;
      for (int64_t u = 0; u < g.kH; ++u)
        for (int64_t v = 0; v < g.kW; ++v) {
          int64_t i, j;
          if (output_of_tap(g, ih, iw, u, v, i, j)) s += w[(o * g.kH + u) * g.kW + v] * dyo[i * g.W_out + j];
        }
    }
    dx[idx] = s;
  }
}

// dw[o, 0, u, v] = sum_{n, i, j} dy[n, o, i, j] * x[n, o / M, ...]: one block per weight.
__global__ void depthwise_grad_weight_kernel(float* dw, const float* dy, const float* x, Conv2dGeometry g) {
  __shared__ float part[kBlock];
  const int64_t P = g.H_out * g.W_out, kk = g.kH * g.kW, M = g.C_out / g.C_in;
  for (int64_t e = blockIdx.x; e < g.C_out * kk; e += gridDim.x) {
    const int64_t o = e / kk, u = (e % kk) / g.kW, v = e % g.kW;
    float s = 0.0f;
    for (int64_t q = threadIdx.x; q < g.N * P; q += blockDim.x) {
      const int64_t n = q / P, i = (q % P) / g.W_out, j = q % g.W_out;
      s += dy[(n * g.C_out + o) * P + q % P] * input_tap(x, g, n, o / M, i, j, u, v);
    }
    const float total = block_sum(s, part);
    if (threadIdx.x == 0) dw[e] = total;
  }
}

unsigned blocks_for(int64_t n) { return static_cast<unsigned>(n < 65535 * 8 ? n : 65535 * 8); }

}  // namespace

void conv2d_forward(float* y, const float* x, const float* w, const float* b, const Conv2dGeometry& g) {
  const int64_t P = g.H_out * g.W_out;
  if (g.depthwise()) {
    cuda::launch("depthwise_forward_kernel", depthwise_forward_kernel, cuda::grid_for(g.N * g.C_out * P), kBlock, y,
                 x, w, b, g);
    return;
  }
  const int64_t Cg = g.C_in / g.groups, Cog = g.C_out / g.groups, K = Cg * g.kH * g.kW;
  tiles::gemm("conv2d_forward_kernel", Cog, g.N * P, K, g.groups, GroupRows{w, Cog, K}, ImageColumns(x, g),
              OutputStore{y, b, Cog, g.C_out, P});
}

void conv2d_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w,
                     const Conv2dGeometry& g) {
  const int64_t G = g.groups, Cg = g.C_in / G, Cog = g.C_out / G, kk = g.kH * g.kW, K = Cg * kk;
  const int64_t P = g.H_out * g.W_out, HW = g.H * g.W;
  if (db) {
    CONVNET_CHECK_VALUE(fits_int32(g.N * P), "conv2d", "input", "fewer than 2^31 output values per channel",
                        std::to_string(g.N * P));
    cuda::launch("bias_grad_kernel", bias_grad_kernel, blocks_for(g.C_out), kChannelBlock, db, dy,
                 ChannelValues(P, g.C_out), int(g.N * P));
  }
  if (g.depthwise()) {
    if (dx)
      cuda::launch("depthwise_grad_input_kernel", depthwise_grad_input_kernel, cuda::grid_for(g.N * g.C_in * HW),
                   kBlock, dx, dy, w, g);
    if (dw)
      cuda::launch("depthwise_grad_weight_kernel", depthwise_grad_weight_kernel, blocks_for(g.C_out * kk), kBlock, dw,
                   dy, x, g);
    return;
  }
  if (dx)
    tiles::gemm("conv2d_grad_input_kernel", Cg, g.N * HW, Cog * kk, G, WeightColumns{w, Cog, Cg, kk, IntDivider(kk)},
                GradOutputTaps(dy, g), InputGradStore{dx, Cg, g.C_in, HW});
  if (dw)
    tiles::gemm("conv2d_grad_weight_kernel", Cog, K, g.N * P, G, GradOutputRows{dy, Cog, g.C_out, P, IntDivider(P)},
                ImageColumnsT(x, g), WeightGradStore{dw, Cog, K});
}

}  // namespace cuda_kernels
}  // namespace convnet
