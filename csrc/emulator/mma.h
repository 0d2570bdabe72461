// The CUDA emulator's warp matrix functions (nvcuda::wmma), the part convnet's TF32 GEMM uses:
// m16n16k8 fragments of TF32 inputs and float accumulators, fill_fragment, load_matrix_sync,
// mma_sync and store_matrix_sync, and __float_to_tf32.
//
// On a GPU a fragment is spread over the warp's lanes in an unspecified layout; kernels may only
// treat its elements uniformly (x[i] for all i), never by position. Here every lane holds the whole
// tile, which gives the same results for any such kernel (each lane computes, and stores, the same
// values). mma_sync sums the products of TF32 values in float, in k order.
#pragma once
#include <cstdint>
#include <cstring>

namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
namespace precision {
struct tf32 {};
}  // namespace precision
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K>
struct fragment_shape;
template <int M, int N, int K>
struct fragment_shape<matrix_a, M, N, K> {
  static constexpr int rows = M, cols = K;
};
template <int M, int N, int K>
struct fragment_shape<matrix_b, M, N, K> {
  static constexpr int rows = K, cols = N;
};
template <int M, int N, int K>
struct fragment_shape<accumulator, M, N, K> {
  static constexpr int rows = M, cols = N;
};

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
  using shape = fragment_shape<Use, M, N, K>;
  static constexpr int num_elements = shape::rows * shape::cols;
  float x[num_elements];  // row-major (rows, cols), the whole tile
};

// x rounded to TF32 (10 mantissa bits), to nearest with ties away from zero (cvt.rna.tf32.f32).
inline float __float_to_tf32(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  if ((bits & 0x7f800000u) != 0x7f800000u) bits = (bits + 0x1000u) & 0xffffe000u;  // finite only
  std::memcpy(&x, &bits, sizeof bits);
  return x;
}

template <class Use, int M, int N, int K, class T, class Layout>
void fill_fragment(fragment<Use, M, N, K, T, Layout>& f, float value) {
  for (float& v : f.x) v = value;
}

// A or B from memory, row-major with leading dimension ldm (elements).
template <class Use, int M, int N, int K, class T>
void load_matrix_sync(fragment<Use, M, N, K, T, row_major>& f, const float* p, unsigned ldm) {
  using S = typename fragment<Use, M, N, K, T, row_major>::shape;
  for (int r = 0; r < S::rows; ++r)
    for (int c = 0; c < S::cols; ++c) f.x[r * S::cols + c] = p[r * ldm + c];
}

template <int M, int N, int K>
void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm, layout_t layout) {
  for (int r = 0; r < M; ++r)
    for (int c = 0; c < N; ++c) {
      const float v = f.x[r * N + c];
      if (layout == mem_row_major)
        p[r * ldm + c] = v;
      else
        p[c * ldm + r] = v;
    }
}

// d = a . b + c
template <int M, int N, int K, class T>
void mma_sync(fragment<accumulator, M, N, K, float>& d, const fragment<matrix_a, M, N, K, T, row_major>& a,
              const fragment<matrix_b, M, N, K, T, row_major>& b, const fragment<accumulator, M, N, K, float>& c) {
  fragment<accumulator, M, N, K, float> out;
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      float s = c.x[i * N + j];
      for (int k = 0; k < K; ++k) s += __float_to_tf32(a.x[i * K + k]) * __float_to_tf32(b.x[k * N + j]);
      out.x[i * N + j] = s;
    }
  d = out;
}

}  // namespace wmma
}  // namespace nvcuda
