// Channel layout: the CUDA twin of layout.cpp (same signature). A grid-stride loop over the
// output, each thread writing consecutive dst elements (coalesced writes, strided reads).
#include "core/cuda_check.h"
#include "ops/layout.h"

namespace convnet {
namespace cuda_kernels {

namespace {

__global__ void batched_transpose_kernel(float* dst, const float* src, int64_t N, int64_t A, int64_t B) {
  const int64_t total = N * A * B;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t a = i % A, nb = i / A, b = nb % B, n = nb / B;  // i = (n * B + b) * A + a
    dst[i] = src[(n * A + a) * B + b];
  }
}

}  // namespace

void batched_transpose(float* dst, const float* src, int64_t N, int64_t A, int64_t B) {
  constexpr int kThreads = 256;
  const long long blocks = (N * A * B + kThreads - 1) / kThreads;
  cuda::launch("batched_transpose_kernel", batched_transpose_kernel,
               dim3(static_cast<unsigned>(blocks < 1 ? 1 : blocks > 4096 ? 4096 : blocks)), dim3(kThreads), dst, src, N,
               A, B);
}

}  // namespace cuda_kernels
}  // namespace convnet
