// SGEMM on the GPU: the twin of gemm.cpp (same signature, device pointers), on the tiled kernel
// of gemm_tiles.cuh with plain row-major matrices as its operands. Exact FP32, no tensor cores.
#include "kernels/gemm.h"
#include "kernels/gemm_tiles.cuh"

namespace convnet {
namespace cuda_kernels {

namespace {

// A matrix operand by lines (rows of op(A), columns of op(B)): a line starts at `first` and steps
// `stride` elements per k. KFastest: the k steps are 1 (op(A) = A, op(B) = B^T).
template <bool KFastest>
struct MatrixLines {
  const float* data;
  int64_t ld;
  static constexpr bool k_fastest = KFastest;
  using Line = const float*;
  __device__ Line line(int64_t, int64_t i) const { return KFastest ? data + i * ld : data + i; }
  __device__ float at(Line p, int k) const { return KFastest ? p[k] : p[k * ld]; }
};
// op(A)(m, k): A (M, K) with lda (rows contiguous), or A^T where A is stored (K, M).
template <bool Trans>
using MatrixA = MatrixLines<!Trans>;
// op(B)(k, n): B (K, N) with ldb, or B^T where B is stored (N, K) (columns of op(B) contiguous).
template <bool Trans>
using MatrixB = MatrixLines<Trans>;

struct MatrixC {
  float* C;
  int64_t ldc;
  bool accumulate;
  __device__ void operator()(int64_t, int64_t m, int64_t n, float v) const {
    C[m * ldc + n] = accumulate ? C[m * ldc + n] + v : v;
  }
};

template <bool TransA, bool TransB>
void sgemm_as(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
              int64_t ldc, bool accumulate) {
  tiles::gemm("sgemm_kernel", M, N, K, 1, MatrixA<TransA>{A, lda}, MatrixB<TransB>{B, ldb},
              MatrixC{C, ldc, accumulate});
}

}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
           const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  // K == 0 sums nothing: C = 0 (or unchanged when accumulating).
  if (trans_a)
    trans_b ? sgemm_as<true, true>(M, N, K, A, lda, B, ldb, C, ldc, accumulate)
            : sgemm_as<true, false>(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
  else
    trans_b ? sgemm_as<false, true>(M, N, K, A, lda, B, ldb, C, ldc, accumulate)
            : sgemm_as<false, false>(M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

}  // namespace cuda_kernels
}  // namespace convnet
