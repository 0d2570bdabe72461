// SGEMM on the CPU: BLIS-style packing + register-blocked micro-kernels (see gemm.h).
#include "kernels/gemm.h"
#include "kernels/scratch.h"

#if defined(__x86_64__) || defined(__i386__)
#define CONVNET_X86 1
#include <immintrin.h>
#endif
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

namespace convnet {
namespace cpu_kernels {
namespace {

// Cache blocking: a KC x NR strip of B (40 KiB at NR = 32) stays in L1/L2 while the MC x KC block
// of A (180 KiB) sits in L2 and the KC x NC panel of B in L2/L3. (KC = 320 measured best here: K = 288
// and 576, the 3x3 convolutions of 32 and 64 channels, split into equal blocks without a short tail.)
#ifndef GEMM_KC
#define GEMM_KC 320
#endif
constexpr int64_t KC = GEMM_KC;
constexpr int64_t MC = 144;   // a multiple of every MR (8, 6, 4)
constexpr int64_t NC = 4096;  // a multiple of every NR (32, 16)

thread_local Scratch tl_pack_a, tl_pack_b;

// ---- micro-kernels: AB = Ap (MR x kc, packed column by column) . Bp (kc x NR, packed row by row);
// C (MR x NR, row stride ldc) = AB, or += AB when acc. With ROWS, row k of Bp is read in place at
// rows[k] + off instead (an operand whose rows are already contiguous: no packing).

#ifdef CONVNET_X86
template <bool ROWS>
__attribute__((target("avx512f"))) void kernel_avx512(int64_t kc, const float* __restrict A,
                                                      const float* __restrict B, const float* const* rows,
                                                      int64_t off, float* C, int64_t ldc, bool acc) {
  constexpr int MR = 8;
  __m512 c0[MR], c1[MR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const float* Bk = ROWS ? rows[k] + off : B;
    const __m512 b0 = _mm512_loadu_ps(Bk), b1 = _mm512_loadu_ps(Bk + 16);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512 a = _mm512_set1_ps(A[i]);
      c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
      c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
    }
    A += MR;
    if (!ROWS) B += 32;
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    float* c = C + i * ldc;
    if (acc) {
      c0[i] = _mm512_add_ps(c0[i], _mm512_loadu_ps(c));
      c1[i] = _mm512_add_ps(c1[i], _mm512_loadu_ps(c + 16));
    }
    _mm512_storeu_ps(c, c0[i]);
    _mm512_storeu_ps(c + 16, c1[i]);
  }
}

template <bool ROWS>
__attribute__((target("avx2,fma"))) void kernel_avx2(int64_t kc, const float* __restrict A,
                                                     const float* __restrict B, const float* const* rows,
                                                     int64_t off, float* C, int64_t ldc, bool acc) {
  constexpr int MR = 6;
  __m256 c0[MR], c1[MR];
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const float* Bk = ROWS ? rows[k] + off : B;
    const __m256 b0 = _mm256_loadu_ps(Bk), b1 = _mm256_loadu_ps(Bk + 8);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const __m256 a = _mm256_broadcast_ss(A + i);
      c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);
      c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);
    }
    A += MR;
    if (!ROWS) B += 16;
  }
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
    float* c = C + i * ldc;
    if (acc) {
      c0[i] = _mm256_add_ps(c0[i], _mm256_loadu_ps(c));
      c1[i] = _mm256_add_ps(c1[i], _mm256_loadu_ps(c + 8));
    }
    _mm256_storeu_ps(c, c0[i]);
    _mm256_storeu_ps(c + 8, c1[i]);
  }
}

#endif  // CONVNET_X86

template <bool ROWS>
void kernel_generic(int64_t kc, const float* __restrict A, const float* __restrict B, const float* const* rows,
                    int64_t off, float* C, int64_t ldc, bool acc) {
  constexpr int MR = 4, NR = 16;
  float ab[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    const float* Bk = ROWS ? rows[k] + off : B;
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) ab[i][j] += A[i] * Bk[j];
    A += MR;
    if (!ROWS) B += NR;
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) C[i * ldc + j] = acc ? C[i * ldc + j] + ab[i][j] : ab[i][j];
}

using MicroKernel = void (*)(int64_t, const float*, const float*, const float* const*, int64_t, float*, int64_t,
                             bool);
struct Isa {
  const char* name;
  int MR, NR;
  MicroKernel kernel, rows_kernel;
};

Isa pick_isa() {
  const Isa generic{"generic", 4, 16, kernel_generic<false>, kernel_generic<true>};
  const char* force = std::getenv("CONVNET_GEMM_ISA");
  const std::string want = force ? force : "";
  if (want == "generic") return generic;
#ifdef CONVNET_X86
  const Isa avx512{"avx512", 8, 32, kernel_avx512<false>, kernel_avx512<true>},
      avx2{"avx2", 6, 16, kernel_avx2<false>, kernel_avx2<true>};
  __builtin_cpu_init();
  const bool has512 = __builtin_cpu_supports("avx512f");
  const bool has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (want == "avx2" && has2) return avx2;
  if (has512) return avx512;
  if (has2) return avx2;
#endif
  return generic;
}
const Isa& isa() {
  static const Isa chosen = pick_isa();
  return chosen;
}

#ifdef CONVNET_X86
// dst[k * NR + j] = rows[j][k] for j < nj (a multiple of 8), k < kc: 8 x 8 blocks transposed in
// AVX registers.
__attribute__((target("avx2"))) void transpose_rows_avx2(const float* const* rows, int64_t nj, int64_t kc,
                                                         int64_t NR, float* dst) {
  const int64_t kc8 = kc / 8 * 8;
  for (int64_t j8 = 0; j8 < nj; j8 += 8) {
    const float* const* r = rows + j8;
    for (int64_t k8 = 0; k8 < kc8; k8 += 8) {
      __m256 a0 = _mm256_loadu_ps(r[0] + k8), a1 = _mm256_loadu_ps(r[1] + k8), a2 = _mm256_loadu_ps(r[2] + k8),
             a3 = _mm256_loadu_ps(r[3] + k8), a4 = _mm256_loadu_ps(r[4] + k8), a5 = _mm256_loadu_ps(r[5] + k8),
             a6 = _mm256_loadu_ps(r[6] + k8), a7 = _mm256_loadu_ps(r[7] + k8);
      __m256 t0 = _mm256_unpacklo_ps(a0, a1), t1 = _mm256_unpackhi_ps(a0, a1), t2 = _mm256_unpacklo_ps(a2, a3),
             t3 = _mm256_unpackhi_ps(a2, a3), t4 = _mm256_unpacklo_ps(a4, a5), t5 = _mm256_unpackhi_ps(a4, a5),
             t6 = _mm256_unpacklo_ps(a6, a7), t7 = _mm256_unpackhi_ps(a6, a7);
      __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE),
             s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE),
             s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE),
             s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
      float* d = dst + k8 * NR + j8;
      _mm256_storeu_ps(d + 0 * NR, _mm256_permute2f128_ps(s0, s4, 0x20));
      _mm256_storeu_ps(d + 1 * NR, _mm256_permute2f128_ps(s1, s5, 0x20));
      _mm256_storeu_ps(d + 2 * NR, _mm256_permute2f128_ps(s2, s6, 0x20));
      _mm256_storeu_ps(d + 3 * NR, _mm256_permute2f128_ps(s3, s7, 0x20));
      _mm256_storeu_ps(d + 4 * NR, _mm256_permute2f128_ps(s0, s4, 0x31));
      _mm256_storeu_ps(d + 5 * NR, _mm256_permute2f128_ps(s1, s5, 0x31));
      _mm256_storeu_ps(d + 6 * NR, _mm256_permute2f128_ps(s2, s6, 0x31));
      _mm256_storeu_ps(d + 7 * NR, _mm256_permute2f128_ps(s3, s7, 0x31));
    }
    for (int64_t k = kc8; k < kc; ++k)
      for (int j = 0; j < 8; ++j) dst[k * NR + j8 + j] = r[j][k];
  }
}
#endif

// ---- packing. Ap: strips of MR rows, each kc columns of MR values (rows past M are 0).
void pack_a(bool trans, const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int MR,
            float* Ap) {
  for (int64_t ir = 0; ir < mc; ir += MR) {
    const int64_t mr = std::min<int64_t>(MR, mc - ir);
    float* dst = Ap + ir * kc;
    if (!trans) {  // A(i, k) = A[i * lda + k]: a transposing copy
      const float* rows[8];
      int64_t i = 0;
      for (; i + 8 <= mr; i += 8) {
        for (int t = 0; t < 8; ++t) rows[t] = A + (i0 + ir + i + t) * lda + p0;
        pack_transposed(rows, 8, kc, MR, dst + i);
      }
      for (; i < mr; ++i) {
        const float* src = A + (i0 + ir + i) * lda + p0;
        for (int64_t k = 0; k < kc; ++k) dst[k * MR + i] = src[k];
      }
    } else {  // A(i, k) = A[k * lda + i]
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = A + (p0 + k) * lda + i0 + ir;
        for (int64_t i = 0; i < mr; ++i) dst[k * MR + i] = src[i];
      }
    }
    if (mr < MR)
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t i = mr; i < MR; ++i) dst[k * MR + i] = 0.0f;
  }
}

// K in equal blocks of at most KC (288 = one block, 576 = 2 x 288, not 256 + 256 + 64).
int64_t k_block(int64_t K) {
  const int64_t blocks = (K + KC - 1) / KC;
  return (K + blocks - 1) / blocks;
}

// One thread: rows [i0, i1) and columns [j0, j1) of C, in whole-problem coordinates.
// When C fits one A block (M <= MC: the small-M GEMMs of convolution) each NR-strip of op(B) is
// packed right before its micro-kernels run, so it is still in L1; otherwise the classic BLIS
// order (a KC x NC panel of op(B) packed once, reused by every MC block of A).
// prepacked: op(A) packed whole by PackedA (then A is unused; m_pad = its M rounded up to MR).
void gemm_serial(bool ta, int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t K, const float* A, int64_t lda,
                 const GemmB& B, float* C, int64_t ldc, bool accumulate, const GemmC* store,
                 const float* prepacked = nullptr, int64_t m_pad = 0) {
  const int64_t M = i1 - i0, N = j1 - j0;
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate && !store)
      for (int64_t i = i0; i < i1; ++i) std::memset(C + i * ldc + j0, 0, sizeof(float) * N);
    return;
  }
  const Isa& s = isa();
  const int MR = s.MR, NR = s.NR;
  const bool small_m = M <= MC;
  const int64_t kc_max = k_block(K);
  const int64_t mc_max = std::min(((M + MR - 1) / MR) * MR, MC);
  const int64_t nc_max = small_m ? NR : std::min(((N + NR - 1) / NR) * NR, NC);
  float* const Abuf = prepacked ? nullptr : tl_pack_a.get(mc_max * kc_max);
  const float* Ap = Abuf;
  // The packed block of A for rows from ic (a multiple of MR) and the K block at pc.
  auto block_a = [&](int64_t ic, int64_t mc, int64_t pc, int64_t kc) {
    if (prepacked) {
      Ap = prepacked + pc * m_pad + ic * kc;
    } else {
      pack_a(ta, A, lda, ic, mc, pc, kc, MR, Abuf);
    }
  };
  float* Bp = tl_pack_b.get(nc_max * kc_max);
  alignas(64) float tile[8 * 32];

  // The micro-kernels of one strip of op(B) (packed at Bs, or in place: rows + column jg) against
  // the packed block of A.
  const float* const* brows = nullptr;
  auto micro = [&](int64_t kc, const float* a, const float* Bs, int64_t jg, float* c, int64_t ldc_, bool acc) {
    if (brows)
      s.rows_kernel(kc, a, nullptr, brows, jg, c, ldc_, acc);
    else
      s.kernel(kc, a, Bs, nullptr, 0, c, ldc_, acc);
  };
  auto run_strip = [&](int64_t ic, int64_t mc, int64_t jg, int64_t nr, int64_t kc, const float* Bs, bool acc) {
    for (int64_t ir = 0; ir < mc; ir += MR) {
      const int64_t mr = std::min<int64_t>(MR, mc - ir);
      const int64_t ig = ic + ir;
      if (store) {
        micro(kc, Ap + ir * kc, Bs, jg, tile, NR, false);
        store->add(ig, mr, jg, nr, tile, NR);
      } else if (mr == MR && nr == NR) {
        micro(kc, Ap + ir * kc, Bs, jg, C + ig * ldc + jg, ldc, acc);
      } else {  // edge tile: compute the full tile aside, keep the valid part
        micro(kc, Ap + ir * kc, Bs, jg, tile, NR, false);
        float* c = C + ig * ldc + jg;
        for (int64_t i = 0; i < mr; ++i)
          for (int64_t j = 0; j < nr; ++j) c[i * ldc + j] = acc ? c[i * ldc + j] + tile[i * NR + j] : tile[i * NR + j];
      }
    }
  };

  for (int64_t jc = j0; jc < j1; jc += NC) {
    const int64_t nc = std::min(NC, j1 - jc);
    for (int64_t pc = 0; pc < K; pc += kc_max) {
      const int64_t kc = std::min(kc_max, K - pc);
      const bool acc = accumulate || pc > 0;
      brows = B.rows(pc, kc);
      if (small_m) {
        block_a(i0, M, pc, kc);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t nr = std::min<int64_t>(NR, nc - jr);
          if (!brows) B.pack(pc, kc, jc + jr, nr, NR, Bp);
          run_strip(i0, M, jc + jr, nr, kc, Bp, acc);
        }
      } else {
        if (!brows)
          for (int64_t jr = 0; jr < nc; jr += NR) B.pack(pc, kc, jc + jr, std::min<int64_t>(NR, nc - jr), NR, Bp + jr * kc);
        for (int64_t ic = i0; ic < i1; ic += MC) {
          const int64_t mc = std::min(MC, i1 - ic);
          block_a(ic, mc, pc, kc);
          for (int64_t jr = 0; jr < nc; jr += NR)
            run_strip(ic, mc, jc + jr, std::min<int64_t>(NR, nc - jr), kc, Bp + jr * kc, acc);
        }
      }
    }
  }
}

}  // namespace

const char* sgemm_isa() { return isa().name; }

void pack_transposed(const float* const* rows, int64_t n, int64_t kc, int64_t ld, float* dst) {
  int64_t done = 0;
#ifdef CONVNET_X86
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2 && n >= 8) {
    done = n / 8 * 8;
    transpose_rows_avx2(rows, done, kc, ld, dst);
  }
#endif
  for (int64_t j = done; j < n; ++j)
    for (int64_t k = 0; k < kc; ++k) dst[k * ld + j] = rows[j][k];
}

// op(B) stored as a matrix: B (K, N) with ldb, or B^T stored (N, K) when trans.
void MatrixB::pack(int64_t k0, int64_t kc, int64_t j0, int64_t nr, int NR, float* dst) const {
  if (!trans) {  // B(k, j) = B[k * ldb + j]: rows copied
    for (int64_t k = 0; k < kc; ++k) {
      const float* src = B + (k0 + k) * ldb + j0;
      float* d = dst + k * NR;
      if (nr == NR) {
        std::memcpy(d, src, sizeof(float) * NR);
      } else {
        for (int64_t j = 0; j < nr; ++j) d[j] = src[j];
        for (int64_t j = nr; j < NR; ++j) d[j] = 0.0f;
      }
    }
  } else {  // B(k, j) = B[j * ldb + k]: a transposing copy
    const float* rows[32];
    for (int64_t j = 0; j < nr; ++j) rows[j] = B + (j0 + j) * ldb + k0;
    pack_transposed(rows, nr, kc, NR, dst);
    if (nr < NR)
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t j = nr; j < NR; ++j) dst[k * NR + j] = 0.0f;
  }
}

namespace {
void gemm_dispatch(bool trans_a, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const GemmB& B,
                   float* C, int64_t ldc, bool accumulate, const GemmC* store, const float* prepacked,
                   int64_t m_pad) {
  if (M <= 0 || N <= 0) return;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  // Small products, a store (its tiles may overlap in memory), or already inside a
  // parallel region: one thread.
  if (threads <= 1 || store || M * N * std::max<int64_t>(K, 1) < 64 * 64 * 64) {
    gemm_serial(trans_a, 0, M, 0, N, K, A, lda, B, C, ldc, accumulate, store, prepacked, m_pad);
    return;
  }
  const int MR = isa().MR, NR = isa().NR;
  // Split C into one block of whole NR-strips of columns per thread when wide enough, else into
  // blocks of MR rows: the threads write disjoint tiles.
  const bool split_n = N >= int64_t(threads) * NR * 2 || N >= M;
  const int64_t step = split_n ? NR : MR;
  const int64_t units = ((split_n ? N : M) + step - 1) / step;
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    const int64_t u0 = units * t / T, u1 = units * (t + 1) / T;
    if (split_n)
      gemm_serial(trans_a, 0, M, u0 * step, std::min(N, u1 * step), K, A, lda, B, C, ldc, accumulate, store,
                  prepacked, m_pad);
    else
      gemm_serial(trans_a, u0 * step, std::min(M, u1 * step), 0, N, K, A, lda, B, C, ldc, accumulate, store,
                  prepacked, m_pad);
  }
}
}  // namespace

void sgemm_ex(bool trans_a, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const GemmB& B, float* C,
              int64_t ldc, bool accumulate, const GemmC* store) {
  gemm_dispatch(trans_a, M, N, K, A, lda, B, C, ldc, accumulate, store, nullptr, 0);
}

PackedA::PackedA(bool trans_a, int64_t M_, int64_t K_, const float* A, int64_t lda) : M(M_), K(K_) {
  const int MR = isa().MR;
  m_pad = ((M + MR - 1) / MR) * MR;
  data = static_cast<float*>(std::aligned_alloc(64, ((sizeof(float) * m_pad * std::max<int64_t>(K, 1) + 63) / 64) * 64));
  if (!data) throw std::bad_alloc();
  // K block by K block, each all M rows in MR strips: the layout gemm_serial reads.
  const int64_t kc_max = k_block(std::max<int64_t>(K, 1));
  for (int64_t pc = 0; pc < K; pc += kc_max)
    pack_a(trans_a, A, lda, 0, M, pc, std::min(kc_max, K - pc), MR, data + pc * m_pad);
}
PackedA::~PackedA() { std::free(data); }

void sgemm_ex(const PackedA& A, int64_t N, const GemmB& B, float* C, int64_t ldc, bool accumulate) {
  gemm_dispatch(false, A.M, N, A.K, nullptr, 0, B, C, ldc, accumulate, nullptr, A.data, A.m_pad);
}

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
           const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  sgemm_ex(trans_a, M, N, K, A, lda, MatrixB(trans_b, B, ldb), C, ldc, accumulate, nullptr);
}

}  // namespace cpu_kernels
}  // namespace convnet
