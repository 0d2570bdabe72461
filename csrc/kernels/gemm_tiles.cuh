// The tiled GEMM kernel of the CUDA backend, with its operands as functors, so one kernel serves
// plain matrices (sgemm, linear) and convolution's implicit matrices (the column matrix of an
// image, never stored: its entries are read from the image while a tile is loaded).
//
//   C[z][m, n] = sum_{k in z's slice} A(g, m, k) * B(g, k, n)     for m < M, n < N
//
// z = blockIdx.z runs over g = z / splits (independent GEMMs: convolution groups) and
// s = z % splits (slices of K: split-K, when M x N alone has too few tiles to fill the GPU;
// the caller adds the slices up). Slice s covers k in [s * k_slice, min(K, (s+1) * k_slice)).
//
// Each 256-thread block computes 64 x 64 tiles of C (4 x 4 outputs per thread), staging 16-deep
// slices of A and B in shared memory. Exact FP32 (no tensor cores).
//
// An operand is a functor with
//   __device__ float operator()(int64_t g, int64_t row, int64_t col) const   (in range, see below)
//   static constexpr bool k_fastest   consecutive k are adjacent in memory (else consecutive m or n):
//                                     picks the thread-to-element mapping of the tile load so that
//                                     neighbouring threads read neighbouring addresses
// A is called as A(g, m, k), B as B(g, k, n), only with m < M, n < N and k < K. The result C is a
// functor  __device__ void operator()(int64_t g, int64_t s, int64_t m, int64_t n, float value) const
// called once per element of C and slice.
#pragma once
#include <cstdint>

#include "core/cuda_check.h"

namespace convnet {
namespace cuda_kernels {
namespace tiles {

constexpr int TM = 64, TN = 64, TK = 16, THREADS = 256;

template <class A, class B, class C>
__global__ void gemm_kernel(int64_t M, int64_t N, int64_t K, int64_t groups, int64_t splits, int64_t k_slice,
                            A a, B b, C c) {
  __shared__ float As[TK][TM + 1];  // As[k][m] = A(g, row0 + m, k0 + k)
  __shared__ float Bs[TK][TN + 1];  // Bs[k][n] = B(g, k0 + k, col0 + n)
  const int t = threadIdx.x, tx = t % 16, ty = t / 16;
  const int64_t tiles_m = (M + TM - 1) / TM, tiles_n = (N + TN - 1) / TN;
  for (int64_t z = blockIdx.z; z < groups * splits; z += gridDim.z) {
    const int64_t g = z / splits, s = z % splits;
    const int64_t k_begin = s * k_slice, k_end = K < k_begin + k_slice ? K : k_begin + k_slice;
    for (int64_t tm = blockIdx.y; tm < tiles_m; tm += gridDim.y)
      for (int64_t tn = blockIdx.x; tn < tiles_n; tn += gridDim.x) {
        const int64_t row0 = tm * TM, col0 = tn * TN;
        float acc[4][4] = {};
        for (int64_t k0 = k_begin; k0 < k_end; k0 += TK) {
          for (int l = 0; l < TM * TK / THREADS; ++l) {
            const int idx = t + l * THREADS;
            const int m = A::k_fastest ? idx / TK : idx % TM, k = A::k_fastest ? idx % TK : idx / TM;
            const int64_t gm = row0 + m, gk = k0 + k;
            As[k][m] = gm < M && gk < k_end ? a(g, gm, gk) : 0.0f;
          }
          for (int l = 0; l < TN * TK / THREADS; ++l) {
            const int idx = t + l * THREADS;
            const int n = B::k_fastest ? idx / TK : idx % TN, k = B::k_fastest ? idx % TK : idx / TN;
            const int64_t gn = col0 + n, gk = k0 + k;
            Bs[k][n] = gn < N && gk < k_end ? b(g, gk, gn) : 0.0f;
          }
          __syncthreads();
#pragma unroll
          for (int k = 0; k < TK; ++k) {
            float av[4], bv[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) av[i] = As[k][ty + 16 * i];
#pragma unroll
            for (int j = 0; j < 4; ++j) bv[j] = Bs[k][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
              for (int j = 0; j < 4; ++j) acc[i][j] += av[i] * bv[j];
          }
          __syncthreads();
        }
        for (int i = 0; i < 4; ++i)
          for (int j = 0; j < 4; ++j) {
            const int64_t r = row0 + ty + 16 * i, col = col0 + tx + 16 * j;
            if (r < M && col < N) c(g, s, r, col, acc[i][j]);
          }
      }
  }
}

// Launches gemm_kernel over every tile of every group and slice (grid dimensions capped; the
// kernel strides over what the grid does not cover).
template <class A, class B, class C>
void gemm(const char* name, int64_t M, int64_t N, int64_t K, int64_t groups, int64_t splits, int64_t k_slice,
          const A& a, const B& b, const C& c) {
  if (M <= 0 || N <= 0 || groups <= 0) return;
  auto cap = [](int64_t n, int64_t limit) { return static_cast<unsigned>(n < limit ? n : limit); };
  const dim3 grid(cap((N + TN - 1) / TN, 1 << 30), cap((M + TM - 1) / TM, 65535), cap(groups * splits, 65535));
  cuda::launch(name, gemm_kernel<A, B, C>, grid, THREADS, M, N, K, groups, splits, k_slice, a, b, c);
}

}  // namespace tiles
}  // namespace cuda_kernels
}  // namespace convnet
