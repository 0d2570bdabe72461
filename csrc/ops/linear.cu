// Linear: CUDA twins of linear.cpp (same signatures): the forward GEMM with the bias added in its
// store (kernels/gemm_tiles.cuh), two SGEMMs and a bias-gradient kernel backward.
#include "core/cuda_check.h"
#include "kernels/gemm.h"
#include "kernels/gemm_tiles.cuh"
#include "ops/linear.h"

namespace convnet {
namespace cuda_kernels {

namespace {
// Rows of a row-major (lines, in) matrix: x's rows are A's rows, w's rows are the columns of
// B = w^T, both read along `in`.
struct Rows {
  const float* data;
  int64_t in;
  static constexpr bool k_fastest = true;
  using Line = const float*;
  __device__ Line line(int64_t, int64_t r) const { return data + r * in; }
  __device__ float at(Line p, int i) const { return p[i]; }
};

// y[n, o] = value + b[o]
struct OutputStore {
  float* y;
  const float* b;
  int64_t out;
  __device__ void operator()(int64_t, int64_t n, int64_t o, float value) const {
    y[n * out + o] = b ? value + b[o] : value;
  }
};

// db[o] = sum_n dy[n, o]: one thread per column (consecutive threads read consecutive columns).
__global__ void linear_bias_grad_kernel(float* db, const float* __restrict__ dy, int64_t N, int64_t out) {
  for (int64_t o = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; o < out; o += (int64_t)gridDim.x * blockDim.x) {
    float s = 0.0f;
    for (int64_t n = 0; n < N; ++n) s += dy[n * out + o];
    db[o] = s;
  }
}
}  // namespace

void linear_forward(float* y, const float* x, const float* w, const float* b, int64_t N, int64_t in, int64_t out) {
  // y (N, out) = x (N, in) . w^T (in, out) + b
  tiles::gemm("linear_forward_kernel", N, out, in, 1, Rows{x, in}, Rows{w, in}, OutputStore{y, b, out});
}

void linear_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w, int64_t N,
                     int64_t in, int64_t out) {
  if (dx) sgemm(false, false, N, in, out, dy, out, w, in, dx, in, false);  // dx = dy . w
  if (dw) sgemm(true, false, out, in, N, dy, out, x, in, dw, in, false);   // dw = dy^T . x
  if (db) {
    cuda::launch("linear_bias_grad_kernel", linear_bias_grad_kernel, cuda::grid_for(out), 256, db, dy, N, out);
  }
}

}  // namespace cuda_kernels
}  // namespace convnet
