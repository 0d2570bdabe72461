// SGEMM: the building block of convolution and linear.
//
//   C (M, N)  =  op(A) (M, K) . op(B) (K, N)        (accumulate = false)
//   C (M, N) +=  op(A) (M, K) . op(B) (K, N)        (accumulate = true)
//
// All matrices are row-major with leading dimensions (elements between rows):
//   op(A) = A (M, K) with lda >= K, or A^T where A is stored (K, M) with lda >= M (trans_a)
//   op(B) = B (K, N) with ldb >= N, or B^T where B is stored (N, K) with ldb >= K (trans_b)
//   C (M, N) with ldc >= N
// K == 0 gives C = 0 (or leaves C unchanged when accumulating).
//
// CPU (gemm.cpp): BLIS-style. op(B) is packed into KC x NC panels of NR-wide strips, op(A) into
// MC x KC blocks of MR-tall strips; a micro-kernel keeps an MR x NR tile of C in vector registers
// and streams one strip of each. Micro-kernels: AVX-512 (8 x 32), AVX2+FMA (6 x 16) and a portable
// one (4 x 16), chosen once at run time with __builtin_cpu_supports (no -march=native needed).
// Called outside an OpenMP parallel region it splits C over the OpenMP threads; called inside
// one (e.g. conv's loop over images) it runs on the calling thread only.
// Packing buffers are thread-local and grow-only: no allocation in the steady state.
//
// CUDA (gemm.cu): a tiled shared-memory kernel (64 x 64 tiles of C, 16-deep K slices, 4 x 4
// outputs per thread), same signature; the pointers are device pointers.
#pragma once
#include <cstdint>

namespace convnet {

namespace cpu_kernels {
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
           const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate);
// The micro-kernel in use: "avx512", "avx2" or "generic". The environment variable
// CONVNET_GEMM_ISA (same names) forces a slower one, for testing every path on one machine.
const char* sgemm_isa();
}  // namespace cpu_kernels

namespace cuda_kernels {
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
           const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate);
}  // namespace cuda_kernels

}  // namespace convnet
