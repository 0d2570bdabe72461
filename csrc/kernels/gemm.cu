// SGEMM on the GPU: the twin of gemm.cpp (same signature, device pointers). A plain tiled
// shared-memory kernel: each 256-thread block computes 64 x 64 tiles of C (4 x 4 per thread),
// staging 16-deep slices of op(A) and op(B) in shared memory. Exact FP32, no tensor cores.
#include "core/cuda_check.h"
#include "kernels/gemm.h"

namespace convnet {
namespace cuda_kernels {

namespace {
constexpr int TM = 64, TN = 64, TK = 16, THREADS = 256;

__global__ void sgemm_kernel(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* __restrict__ A,
                             int64_t lda, const float* __restrict__ B, int64_t ldb, float* C, int64_t ldc,
                             bool accumulate) {
  __shared__ float As[TK][TM + 1];  // As[k][m] = op(A)(row0 + m, k0 + k)
  __shared__ float Bs[TK][TN + 1];  // Bs[k][n] = op(B)(k0 + k, col0 + n)
  const int t = threadIdx.x, tx = t % 16, ty = t / 16;
  const int64_t tiles_m = (M + TM - 1) / TM, tiles_n = (N + TN - 1) / TN;
  for (int64_t tm = blockIdx.y; tm < tiles_m; tm += gridDim.y)
    for (int64_t tn = blockIdx.x; tn < tiles_n; tn += gridDim.x) {
      const int64_t row0 = tm * TM, col0 = tn * TN;
      float acc[4][4] = {};
      for (int64_t k0 = 0; k0 < K; k0 += TK) {
        for (int l = 0; l < TM * TK / THREADS; ++l) {
          const int idx = t + l * THREADS;
          // consecutive threads read consecutive addresses in either layout
          const int m = ta ? idx % TM : idx / TK, k = ta ? idx / TM : idx % TK;
          const int64_t gm = row0 + m, gk = k0 + k;
          float v = 0.0f;
          if (gm < M && gk < K) v = ta ? A[gk * lda + gm] : A[gm * lda + gk];
          As[k][m] = v;
        }
        for (int l = 0; l < TN * TK / THREADS; ++l) {
          const int idx = t + l * THREADS;
          const int n = tb ? idx / TK : idx % TN, k = tb ? idx % TK : idx / TN;
          const int64_t gn = col0 + n, gk = k0 + k;
          float v = 0.0f;
          if (gn < N && gk < K) v = tb ? B[gn * ldb + gk] : B[gk * ldb + gn];
          Bs[k][n] = v;
        }
        __syncthreads();
#pragma unroll
        for (int k = 0; k < TK; ++k) {
          float a[4], b[4];
#pragma unroll
          for (int i = 0; i < 4; ++i) a[i] = As[k][ty + 16 * i];
#pragma unroll
          for (int j = 0; j < 4; ++j) b[j] = Bs[k][tx + 16 * j];
#pragma unroll
          for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
        }
        __syncthreads();
      }
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
          const int64_t r = row0 + ty + 16 * i, c = col0 + tx + 16 * j;
          if (r < M && c < N) C[r * ldc + c] = accumulate ? C[r * ldc + c] + acc[i][j] : acc[i][j];
        }
    }
}
}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
           const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  const int64_t tiles_m = (M + TM - 1) / TM, tiles_n = (N + TN - 1) / TN;
  dim3 grid(static_cast<unsigned>(tiles_n < 65535 ? tiles_n : 65535),
            static_cast<unsigned>(tiles_m < 65535 ? tiles_m : 65535));
  // K == 0 runs the kernel with no k-slices: C = 0 (or unchanged when accumulating).
  cuda::launch("sgemm_kernel", sgemm_kernel, grid, THREADS, trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

}  // namespace cuda_kernels
}  // namespace convnet
