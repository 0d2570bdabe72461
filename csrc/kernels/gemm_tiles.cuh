// The tiled GEMM kernel of the CUDA backend, with its operands as functors, so one kernel serves
// plain matrices (sgemm, linear) and convolution's implicit matrices (the column matrix of an
// image, never stored: its entries are read from the image while a tile is loaded).
//
//   C(g, m, n) = sum_k A(g, m, k) * B(g, k, n)     for g < groups, m < M, n < N, k < K
//
// (g: independent GEMMs of the same shape, e.g. convolution groups, one per blockIdx.z.)
// Each 256-thread block computes 64 x 64 tiles of C, staging slices of A and B in shared memory:
//   exact FP32 (the default): 4 x 4 outputs per thread, 16-deep slices;
//   TF32 (cuda::allow_tf32()): tensor cores, each of the 8 warps a 16 x 32 piece by m16n16k8
//   matrix products over 8-deep slices, the inputs rounded to TF32 as they are staged.
// When M x N has too few tiles to fill the GPU and K is long (a dense layer at a small batch, a
// convolution's weight gradient), K is split into slices computed by separate blocks into a
// workspace, then summed slice by slice in a fixed order by a second kernel (deterministic, no
// atomics).
//
// An operand (A or B) is a functor describing its matrix by lines: a line is one row m of A or one
// column n of B, and is located once per tile (all the index arithmetic that does not depend on k:
// an image's base address, an output pixel's coordinates), then read at each depth k:
//   struct Line { ... };
//   __device__ Line line(int64_t g, int64_t mn) const        (mn < M for A, < N for B)
//   __device__ float at(const Line& line, int k) const       (k < K < 2^31: 32-bit index arithmetic,
//                                                             and IntDivider where k is split)
//   static constexpr bool k_fastest   consecutive k are adjacent in memory (else consecutive m or n):
//                                     picks the thread-to-element mapping of the tile load so that
//                                     neighbouring threads read neighbouring addresses
// The result is a functor
//   __device__ void operator()(int64_t g, int64_t m, int64_t n, float value) const
// called once per element of C.
#pragma once
#include <mma.h>

#include <cstdint>

#include "core/cuda_check.h"
#include "core/device.h"
#include "core/errors.h"
#include "core/int_divider.h"

namespace convnet {
namespace cuda_kernels {
namespace tiles {

constexpr int TM = 64, TN = 64, TK = 16, THREADS = 256;

// One thread's share of staging an operand tile of R lines (rows of A or columns of B) by D depths
// in shared memory: kLoads elements, whose lines are fixed for the whole tile (located once by
// begin) and whose depths advance with each slice. fetch reads a slice from global memory into
// registers and store puts it in shared memory, so the next slice's reads can be issued before the
// current slice's products and their latency hidden behind them.
template <class Op, int R, int D>
struct Staging {
  static constexpr int kLoads = R * D / THREADS;
  static_assert(THREADS % R == 0 && THREADS % D == 0, "each thread keeps its lines across slices");
  typename Op::Line lines[kLoads] = {};  // set by begin() where inside[]
  bool inside[kLoads];
  float fetched[kLoads];

  // The l-th element of thread t: line r and depth k within the tile.
  __device__ static int line_of(int t, int l) { return Op::k_fastest ? (t + l * THREADS) / D : (t + l * THREADS) % R; }
  __device__ static int depth_of(int t, int l) { return Op::k_fastest ? (t + l * THREADS) % D : (t + l * THREADS) / R; }

  __device__ void begin(const Op& op, int t, int64_t g, int64_t first, int64_t count) {
    for (int l = 0; l < kLoads; ++l) {
      inside[l] = first + line_of(t, l) < count;
      if (inside[l]) lines[l] = op.line(g, first + line_of(t, l));
    }
  }
  // This thread's elements of the slice starting at depth k0 (0 past k_end), into registers.
  __device__ void fetch(const Op& op, int t, int64_t k0, int64_t k_end) {
    for (int l = 0; l < kLoads; ++l) {
      const int k = depth_of(t, l);
      fetched[l] = inside[l] && k0 + k < k_end ? op.at(lines[l], static_cast<int>(k0 + k)) : 0.0f;
    }
  }
  // put(r, k, value) for each fetched element.
  template <class Put>
  __device__ void store(int t, Put put) const {
    for (int l = 0; l < kLoads; ++l) put(line_of(t, l), depth_of(t, l), fetched[l]);
  }
};

// The block's share of the work: tile(g, s, k_begin, k_end, row0, col0) for each 64 x 64 tile of C
// at (row0, col0), of group g and slice s (depths [k_begin, k_end)), striding over what the grid
// does not cover.
template <class Tile>
__device__ void for_each_tile(int64_t M, int64_t N, int64_t K, int64_t groups, int64_t slices, int64_t k_slice,
                              Tile tile) {
  const int64_t tiles_m = (M + TM - 1) / TM, tiles_n = (N + TN - 1) / TN;
  for (int64_t z = blockIdx.z; z < groups * slices; z += gridDim.z) {
    const int64_t g = z / slices, s = z % slices;
    const int64_t k_begin = s * k_slice, k_end = K < k_begin + k_slice ? K : k_begin + k_slice;
    for (int64_t tm = blockIdx.y; tm < tiles_m; tm += gridDim.y)
      for (int64_t tn = blockIdx.x; tn < tiles_n; tn += gridDim.x) tile(g, s, k_begin, k_end, tm * TM, tn * TN);
  }
}

// The tiles of slice s = z % slices of group g = z / slices: store(g, s, m, n, partial sum).
template <class A, class B, class Store>
__global__ void __launch_bounds__(THREADS, 2)  // 128 registers at most: two blocks per SM
    gemm_kernel(int64_t M, int64_t N, int64_t K, int64_t groups, int64_t slices, int64_t k_slice, A a, B b,
                Store store) {
  __shared__ float As[TK][TM + 1];  // As[k][m] = A(g, row0 + m, k0 + k)
  __shared__ float Bs[TK][TN + 1];  // Bs[k][n] = B(g, k0 + k, col0 + n)
  const int t = threadIdx.x, tx = t % 16, ty = t / 16;
  Staging<A, TM, TK> sa;
  Staging<B, TN, TK> sb;
  for_each_tile(M, N, K, groups, slices, k_slice,
                [&](int64_t g, int64_t s, int64_t k_begin, int64_t k_end, int64_t row0, int64_t col0) {
        sa.begin(a, t, g, row0, M);
        sb.begin(b, t, g, col0, N);
        float acc[4][4] = {};
        sa.fetch(a, t, k_begin, k_end);
        sb.fetch(b, t, k_begin, k_end);
        for (int64_t k0 = k_begin; k0 < k_end; k0 += TK) {
          sa.store(t, [&](int m, int k, float v) { As[k][m] = v; });
          sb.store(t, [&](int n, int k, float v) { Bs[k][n] = v; });
          __syncthreads();
          if (k0 + TK < k_end) {  // the next slice's reads, in flight during these products
            sa.fetch(a, t, k0 + TK, k_end);
            sb.fetch(b, t, k0 + TK, k_end);
          }
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
            if (r < M && col < N) store(g, s, r, col, acc[i][j]);
          }
                });
}

// The same tiles on TF32 tensor cores (sm_80 and later). Warp w computes rows 16 * (w % 4) and
// columns 32 * (w / 4) of the tile: two 16 x 16 accumulators, updated by m16n16k8 products per
// 8-deep slice. The tile is gathered in shared memory (Cs) and stored element by element, so the
// store functor sees the same calls as in gemm_kernel.
constexpr int TK_TF32 = 8, PAD_TF32 = 4;  // rows of 12 and 68 floats: 16-byte multiples for wmma

template <class A, class B, class Store>
__global__ void __launch_bounds__(THREADS, 2)
    gemm_tf32_kernel(int64_t M, int64_t N, int64_t K, int64_t groups, int64_t slices, int64_t k_slice, A a, B b,
                     Store store) {
  using namespace nvcuda;
  __shared__ __align__(32) float As[TM][TK_TF32 + PAD_TF32];  // As[m][k]
  __shared__ __align__(32) float Bs[TK_TF32][TN + PAD_TF32];  // Bs[k][n]
  __shared__ __align__(32) float Cs[TM][TN + PAD_TF32];
  const int t = threadIdx.x, warp = t / 32, wm = warp % 4, wn = warp / 4;
  Staging<A, TM, TK_TF32> sa;
  Staging<B, TN, TK_TF32> sb;
  for_each_tile(M, N, K, groups, slices, k_slice,
                [&](int64_t g, int64_t s, int64_t k_begin, int64_t k_end, int64_t row0, int64_t col0) {
        sa.begin(a, t, g, row0, M);
        sb.begin(b, t, g, col0, N);
        wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[2];
        wmma::fill_fragment(acc[0], 0.0f);
        wmma::fill_fragment(acc[1], 0.0f);
        sa.fetch(a, t, k_begin, k_end);
        sb.fetch(b, t, k_begin, k_end);
        for (int64_t k0 = k_begin; k0 < k_end; k0 += TK_TF32) {
          sa.store(t, [&](int m, int k, float v) { As[m][k] = wmma::__float_to_tf32(v); });
          sb.store(t, [&](int n, int k, float v) { Bs[k][n] = wmma::__float_to_tf32(v); });
          __syncthreads();
          if (k0 + TK_TF32 < k_end) {
            sa.fetch(a, t, k0 + TK_TF32, k_end);
            sb.fetch(b, t, k0 + TK_TF32, k_end);
          }
          wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa;
          wmma::load_matrix_sync(fa, &As[wm * 16][0], TK_TF32 + PAD_TF32);
          for (int j = 0; j < 2; ++j) {
            wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fb;
            wmma::load_matrix_sync(fb, &Bs[0][wn * 32 + j * 16], TN + PAD_TF32);
            wmma::mma_sync(acc[j], fa, fb, acc[j]);
          }
          __syncthreads();
        }
        for (int j = 0; j < 2; ++j)
          wmma::store_matrix_sync(&Cs[wm * 16][wn * 32 + j * 16], acc[j], TN + PAD_TF32, wmma::mem_row_major);
        __syncthreads();
        for (int e = t; e < TM * TN; e += THREADS) {
          const int64_t r = row0 + e / TN, col = col0 + e % TN;
          if (r < M && col < N) store(g, s, r, col, Cs[e / TN][e % TN]);
        }
        __syncthreads();  // Cs is read before the next tile overwrites it
                });
}

// Launches the exact-FP32 or the TF32 kernel, as cuda::allow_tf32() says.
template <class A, class B, class Store>
void launch_gemm(const char* name, dim3 grid, int64_t M, int64_t N, int64_t K, int64_t groups, int64_t slices,
                 int64_t k_slice, const A& a, const B& b, const Store& store) {
  if (cuda::allow_tf32())
    cuda::launch(name, gemm_tf32_kernel<A, B, Store>, grid, THREADS, M, N, K, groups, slices, k_slice, a, b, store);
  else
    cuda::launch(name, gemm_kernel<A, B, Store>, grid, THREADS, M, N, K, groups, slices, k_slice, a, b, store);
}

// One slice: the result goes straight to C.
template <class C>
struct WholeStore {
  C c;
  __device__ void operator()(int64_t g, int64_t, int64_t m, int64_t n, float v) const { c(g, m, n, v); }
};

// Several slices: part[s, g, m, n], summed by sum_slices_kernel.
struct SliceStore {
  float* part;
  int64_t groups, M, N;
  __device__ void operator()(int64_t g, int64_t s, int64_t m, int64_t n, float v) const {
    part[((s * groups + g) * M + m) * N + n] = v;
  }
};

// C(g, m, n) = sum over s of part[s, g, m, n], in slice order.
template <class C>
__global__ void sum_slices_kernel(const float* part, int64_t slices, int64_t groups, int64_t M, int64_t N, C c) {
  const int64_t size = groups * M * N;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < size; e += (int64_t)gridDim.x * blockDim.x) {
    float sum = 0.0f;
    for (int64_t s = 0; s < slices; ++s) sum += part[s * size + e];
    c(e / (M * N), (e / N) % M, e % N, sum);
  }
}

// How many slices K is cut into: enough blocks for a large GPU (about 264, two per SM of an
// H100) when the tiles alone are fewer, each slice at least 256 deep, at most 64 slices.
inline int64_t k_slices(int64_t tiles, int64_t K) {
  const int64_t want = (264 + tiles - 1) / tiles, most = (K + 255) / 256;
  const int64_t slices = want < most ? want : most;
  return slices < 1 ? 1 : slices > 64 ? 64 : slices;
}

// C = A . B over every group, launched as described above (grid dimensions capped; the kernels
// stride over what the grid does not cover). `name` names the GEMM in errors.
template <class A, class B, class C>
void gemm(const char* name, int64_t M, int64_t N, int64_t K, int64_t groups, const A& a, const B& b, const C& c) {
  if (M <= 0 || N <= 0 || groups <= 0) return;
  if (!fits_int32(K))
    throw ValueError(std::string(name) + ": the reduction is " + std::to_string(K) +
                     " long, over the 2^31 - 1 this GEMM indexes; use a smaller batch");
  auto cap = [](int64_t n, int64_t limit) { return static_cast<unsigned>(n < limit ? n : limit); };
  const int64_t tiles_m = (M + TM - 1) / TM, tiles_n = (N + TN - 1) / TN;
  const int64_t slices = k_slices(groups * tiles_m * tiles_n, K);
  const int64_t k_slice = (K + slices - 1) / slices;
  const dim3 grid(cap(tiles_n, 1 << 30), cap(tiles_m, 65535), cap(groups * slices, 65535));
  if (slices == 1) {
    launch_gemm(name, grid, M, N, K, groups, slices, k_slice, a, b, WholeStore<C>{c});
    return;
  }
  float* part = cuda::workspace(size_t(slices * groups * M * N));
  launch_gemm(name, grid, M, N, K, groups, slices, k_slice, a, b, SliceStore{part, groups, M, N});
  cuda::launch(name, sum_slices_kernel<C>, cuda::grid_for(groups * M * N), THREADS, part, slices, groups, M, N, c);
}

}  // namespace tiles
}  // namespace cuda_kernels
}  // namespace convnet
