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
// K is cut into equal blocks of at most KC = 320. When M fits one A block (M <= 144, the
// convolutions) each strip of op(B) is packed just before its micro-kernels run (still in L1),
// or not packed at all when the operand's rows are already contiguous (GemmB::rows).
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
// dst[k * ld + j] = rows[j][k] for j < n, k < kc: the transposing copy of packing (8 x 8 blocks in
// AVX registers where available). Shared with implicit operands (conv's column matrix).
void pack_transposed(const float* const* rows, int64_t n, int64_t kc, int64_t ld, float* dst);

// Implicit operands, for GEMMs whose op(B) or C is never stored as a matrix (convolution:
// op(B) is im2col of an image, produced while packing; C is scattered back by col2im).
struct GemmB {  // op(B) (K, N)
  virtual ~GemmB() = default;
  // dst (kc, NR) row-major = op(B)[k0 : k0+kc, j0 : j0+nr], columns nr..NR-1 zero.
  virtual void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nr, int NR, float* dst) const = 0;
  // Optional: when every row k of op(B) is contiguous in memory, a table whose entry k - k0 points
  // at op(B)[k, 0] (k0 <= k < k0+kc), readable up to 32 floats past column N-1; the micro-kernel
  // then reads B in place and pack() is not called. The threads of one GEMM call it concurrently;
  // the table must stay valid until the same thread's next call (e.g. a thread_local table).
  virtual const float* const* rows(int64_t k0, int64_t kc) const { return nullptr; }
};
// op(B) stored as a matrix: B (K, N) with ldb, or B^T stored (N, K) when trans.
struct MatrixB final : GemmB {
  bool trans;
  const float* B;
  int64_t ldb;
  MatrixB(bool t, const float* b, int64_t l) : trans(t), B(b), ldb(l) {}
  void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nr, int NR, float* dst) const override;
};
struct GemmC {  // receives C (M, N) tile by tile
  virtual ~GemmC() = default;
  // Adds tile (mr, nr; row stride ldt) into C[i0 : i0+mr, j0 : j0+nr]. Called once per K block
  // (C is the sum of the calls), always from the calling thread: sgemm_ex does not split a GEMM
  // with a store over threads (col2im's tiles overlap in memory).
  virtual void add(int64_t i0, int64_t mr, int64_t j0, int64_t nr, const float* tile, int64_t ldt) const = 0;
};
// C (M, N) (+)= op(A) . op(B) with op(B) from `B`; into the matrix C (ldc) when `C_store` is null,
// else handed to C_store->add (then C and ldc are unused, and accumulate must be true: the
// receiver starts from its own zero).
void sgemm_ex(bool trans_a, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const GemmB& B, float* C,
              int64_t ldc, bool accumulate, const GemmC* C_store = nullptr);

// op(A) (M, K) packed once for several GEMMs that share it (a convolution's weights over a
// batch): the packing is then not repeated per GEMM. Read-only after construction, so the
// GEMMs may run on any threads.
struct PackedA {
  PackedA(bool trans_a, int64_t M, int64_t K, const float* A, int64_t lda);
  ~PackedA();
  PackedA(const PackedA&) = delete;
  PackedA& operator=(const PackedA&) = delete;
  int64_t M, K, m_pad;
  float* data;
};
// C (M, N) (+)= A . op(B) with A packed.
void sgemm_ex(const PackedA& A, int64_t N, const GemmB& B, float* C, int64_t ldc, bool accumulate);
}  // namespace cpu_kernels

namespace cuda_kernels {
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
           const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate);
}  // namespace cuda_kernels

}  // namespace convnet
