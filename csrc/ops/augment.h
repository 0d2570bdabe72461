// Data augmentation: a random flip and whole-pixel translation of each image of a batch, the
// transform of layers.RandomFlip and layers.RandomTranslation (which apply it only while training).
//   x, y  (N, C, H, W) float32
//   Sample n draws, from a counter-based hash of (seed, n) (the dropout hash: no state, the same
//   bits on the CPU and the GPU):
//     fh  mirror left-right (only if params.flip_horizontal), probability 1/2
//     fv  mirror upside-down (only if params.flip_vertical), probability 1/2
//     sy  a whole-pixel shift down, uniform in [min_shift_h, max_shift_h] (negative: up)
//     sx  a shift right, uniform in [min_shift_w, max_shift_w]
//   Forward: flip, then translate with zero fill:
//     y[n,c,h,w] = x[n,c,flip_v(h - sy),flip_h(w - sx)] where h - sy, w - sx are inside, else 0,
//     with flip_v(i) = fv ? H-1-i : i and flip_h(j) = fh ? W-1-j : j.
//   Backward: the transpose of that linear map, dx[n,c,i,j] = dy[n,c,flip_v(i) + sy,flip_h(j) + sx]
//     where inside, else 0 (each input pixel lands on at most one output pixel).
#pragma once
#include <cstdint>

#include "core/host_device.h"
#include "core/tensor.h"
#include "ops/elementwise.h"

namespace convnet {
namespace ops {

struct AugmentParams {
  bool flip_horizontal = false, flip_vertical = false;
  int min_shift_h = 0, max_shift_h = 0, min_shift_w = 0, max_shift_w = 0;
};

Shape random_flip_translate_output_shape(const Tensor& x, const AugmentParams& p);  // x's shape
// seed: a number, or a (1,) int64 tensor on x's device (as dropout's, for captured training steps)
void random_flip_translate_forward(Tensor& y, const Tensor& x, const AugmentParams& p, const Tensor& seed);
void random_flip_translate_backward(Tensor& dx, const Tensor& dy, const AugmentParams& p, const Tensor& seed);
void random_flip_translate_forward(Tensor& y, const Tensor& x, const AugmentParams& p, uint64_t seed);
void random_flip_translate_backward(Tensor& dx, const Tensor& dy, const AugmentParams& p, uint64_t seed);
Tensor random_flip_translate(const Tensor& x, const AugmentParams& p, uint64_t seed);

}  // namespace ops

// The transform drawn for sample n.
struct SampleTransform {
  bool flip_h, flip_v;
  int shift_h, shift_w;
};
inline CONVNET_HOST_DEVICE int uniform_int(uint64_t seed, uint64_t counter, int lo, int hi) {
  const int v = lo + static_cast<int>(dropout_uniform(seed, counter) * static_cast<float>(hi - lo + 1));
  return v > hi ? hi : v;  // guards float rounding at the top end
}
inline CONVNET_HOST_DEVICE SampleTransform draw_transform(uint64_t seed, int64_t n, const ops::AugmentParams& p) {
  const uint64_t c = 4 * static_cast<uint64_t>(n);
  return {p.flip_horizontal && dropout_uniform(seed, c) < 0.5f, p.flip_vertical && dropout_uniform(seed, c + 1) < 0.5f,
          uniform_int(seed, c + 2, p.min_shift_h, p.max_shift_h), uniform_int(seed, c + 3, p.min_shift_w, p.max_shift_w)};
}

// The input row (or column) that output index i reads: flip(i - shift) forward, flip(i) + shift for
// the transpose. Outside [0, size) means "zero fill" (a flip maps outside to outside).
inline CONVNET_HOST_DEVICE int64_t source_index(int64_t i, int64_t size, bool flip, int shift, bool transpose) {
  if (transpose) return (flip ? size - 1 - i : i) + shift;
  const int64_t j = i - shift;
  return flip ? size - 1 - j : j;
}

// Kernels: valid arguments assumed. transpose=false: the forward map; true: its transpose (backward).
namespace cpu_kernels {
void flip_translate(float* out, const float* in, int64_t n, int64_t c, int64_t h, int64_t w,
                    const ops::AugmentParams& p, const int64_t* seed, bool transpose);
}
namespace cuda_kernels {
void flip_translate(float* out, const float* in, int64_t n, int64_t c, int64_t h, int64_t w,
                    const ops::AugmentParams& p, const int64_t* seed, bool transpose);
}

}  // namespace convnet
