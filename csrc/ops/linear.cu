// Linear: CUDA twins of linear.cpp (same signatures): three tiled SGEMMs (kernels/gemm.cu) and
// two small bias kernels.
#include "core/cuda_check.h"
#include "kernels/gemm.h"
#include "ops/linear.h"

namespace convnet {
namespace cuda_kernels {

namespace {
// y[n, o] += b[o]
__global__ void linear_add_bias_kernel(float* y, const float* __restrict__ b, int64_t N, int64_t out) {
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < N * out; idx += (int64_t)gridDim.x * blockDim.x)
    y[idx] += b[idx % out];
}
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
  sgemm(false, true, N, out, in, x, in, w, in, y, out, false);  // y (N, out) = x (N, in) . w^T (in, out)
  if (b) {
    cuda::launch("linear_add_bias_kernel", linear_add_bias_kernel, cuda::grid_for(N * out), 256, y, b, N, out);
  }
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
