// Augmentation of pixel values: a random contrast change and random erasing of a rectangle, the
// transforms of layers.RandomContrast and RandomErasing (which apply them only while training).
// Draws come from the counter-based hash of augment.h (u(k) = dropout_uniform(seed, k)): a pure
// function of (seed, sample), the same on the CPU and the GPU.
//   x, y  (N, C, H, W) float32
//
// random_contrast (Keras 3's RandomContrast): image n draws c = 1 - lower + u(n) * (lower + upper),
//   a factor in [1 - lower, 1 + upper], and each plane (n, ch) with mean m over its H x W values is
//     z = (x - m) * c + m,   y = clip(z, value_lo, value_hi).
//   Backward: dz = dy where value_lo <= z <= value_hi, else 0 (the clip), and since dm/dx = 1 / (H W),
//     dx = c * dz + (1 - c) * mean(dz) over the plane.
// random_erasing (Zhong et al. 2017, torchvision's geometry): image n, from the counters 24n + k,
//   is erased with probability q = prob_lo + u(24n + 1) * (prob_hi - prob_lo) (u(24n) < q). Up to 10
//   attempts a draw an area fraction s = scale_lo + u(24n + 2 + 2a) * (scale_hi - scale_lo) and an
//   aspect ratio r = height / width, log-uniform in [ratio_lo, ratio_hi] (u(24n + 3 + 2a)); the
//   rectangle is eh = round(sqrt(s H W r)) by ew = round(sqrt(s H W / r)), and the first attempt
//   with eh < H and ew < W is taken (none: the image is kept), at top uniform in [0, H - eh]
//   (u(24n + 22)) and left in [0, W - ew] (u(24n + 23)). Every channel's rectangle becomes
//   fill_value, or with random_fill value_lo + u(2^63 + e) * (value_hi - value_lo) for element e of
//   the (N, C, H, W) tensor.
//   Backward: dx = dy outside the rectangle, 0 inside.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/host_device.h"
#include "core/tensor.h"
#include "ops/augment.h"

namespace convnet {
namespace ops {

struct ContrastParams {
  float lower = 0.0f, upper = 0.0f;          // each in [0, 1]
  float value_lo = 0.0f, value_hi = 255.0f;  // value_lo < value_hi
};

Shape random_contrast_output_shape(const Tensor& x, const ContrastParams& p);  // x's shape
// seed: a (1,) int64 tensor on x's device (as dropout's, for captured training steps)
void random_contrast_forward(Tensor& y, const Tensor& x, const ContrastParams& p, const Tensor& seed);
void random_contrast_backward(Tensor& dx, const Tensor& dy, const Tensor& x, const ContrastParams& p,
                              const Tensor& seed);
Tensor random_contrast(const Tensor& x, const ContrastParams& p, uint64_t seed);

struct ErasingParams {
  float prob_lo = 1.0f, prob_hi = 1.0f;        // in [0, 1]
  float scale_lo = 0.02f, scale_hi = 0.33f;    // in (0, 1]
  float ratio_lo = 0.3f, ratio_hi = 3.3f;      // > 0
  bool random_fill = true;                     // else fill_value
  float fill_value = 0.0f;
  float value_lo = 0.0f, value_hi = 255.0f;    // the random fill's range
};

Shape random_erasing_output_shape(const Tensor& x, const ErasingParams& p);  // x's shape
void random_erasing_forward(Tensor& y, const Tensor& x, const ErasingParams& p, const Tensor& seed);
void random_erasing_backward(Tensor& dx, const Tensor& dy, const ErasingParams& p, const Tensor& seed);
Tensor random_erasing(const Tensor& x, const ErasingParams& p, uint64_t seed);

}  // namespace ops

inline CONVNET_HOST_DEVICE float draw_contrast(uint64_t seed, int64_t n, const ops::ContrastParams& p) {
  return 1.0f - p.lower + dropout_uniform(seed, static_cast<uint64_t>(n)) * (p.lower + p.upper);
}
// The mean of a plane's hw values, summed serially in double (the same bits on both devices).
inline CONVNET_HOST_DEVICE float plane_mean(const float* v, int64_t hw) {
  double s = 0.0;
  for (int64_t k = 0; k < hw; ++k) s += v[k];
  return static_cast<float>(s / static_cast<double>(hw));
}
inline CONVNET_HOST_DEVICE float contrast_z(float x, float mean, float c) { return (x - mean) * c + mean; }
inline CONVNET_HOST_DEVICE bool contrast_passes(float z, const ops::ContrastParams& p) {
  return z >= p.value_lo && z <= p.value_hi;
}
// mean(dz) of a plane: dy where the forward value was not clipped.
inline CONVNET_HOST_DEVICE float contrast_grad_mean(const float* dy, const float* x, float mean, float c, int64_t hw,
                                                    const ops::ContrastParams& p) {
  double s = 0.0;
  for (int64_t k = 0; k < hw; ++k)
    if (contrast_passes(contrast_z(x[k], mean, c), p)) s += dy[k];
  return static_cast<float>(s / static_cast<double>(hw));
}

// The erased rectangle of image n (height 0: the image is kept).
struct EraseBox {
  int64_t top, left, height, width;
  CONVNET_HOST_DEVICE bool contains(int64_t i, int64_t j) const {
    return i >= top && i < top + height && j >= left && j < left + width;
  }
};
constexpr uint64_t kEraseFillCounter = 1ull << 63;  // the random fill's counters: 2^63 + element
inline CONVNET_HOST_DEVICE EraseBox draw_erase(uint64_t seed, int64_t n, int64_t h, int64_t w,
                                               const ops::ErasingParams& p) {
  const uint64_t t = 24 * static_cast<uint64_t>(n);
  EraseBox box{0, 0, 0, 0};
  if (!(dropout_uniform(seed, t) < p.prob_lo + dropout_uniform(seed, t + 1) * (p.prob_hi - p.prob_lo))) return box;
  const double area = static_cast<double>(h) * static_cast<double>(w);
  const double log_lo = log(static_cast<double>(p.ratio_lo)), log_hi = log(static_cast<double>(p.ratio_hi));
  for (int a = 0; a < 10; ++a) {
    const double s = p.scale_lo + dropout_uniform(seed, t + 2 + 2 * a) * (p.scale_hi - p.scale_lo);
    const double r = exp(log_lo + dropout_uniform(seed, t + 3 + 2 * a) * (log_hi - log_lo));
    const int64_t eh = static_cast<int64_t>(floor(sqrt(s * area * r) + 0.5));
    const int64_t ew = static_cast<int64_t>(floor(sqrt(s * area / r) + 0.5));
    if (eh < h && ew < w) {
      box.top = uniform_int(seed, t + 22, 0, static_cast<int>(h - eh));
      box.left = uniform_int(seed, t + 23, 0, static_cast<int>(w - ew));
      box.height = eh;
      box.width = ew;
      return box;
    }
  }
  return box;
}
inline CONVNET_HOST_DEVICE float erase_fill(uint64_t seed, int64_t element, const ops::ErasingParams& p) {
  if (!p.random_fill) return p.fill_value;
  return p.value_lo + dropout_uniform(seed, kEraseFillCounter + static_cast<uint64_t>(element)) * (p.value_hi - p.value_lo);
}

// Kernels: valid arguments assumed. x, y, dx, dy (N, C, H, W).
namespace cpu_kernels {
void contrast_forward(float* y, const float* x, int64_t n, int64_t c, int64_t hw, const ops::ContrastParams& p,
                      const int64_t* seed);
void contrast_backward(float* dx, const float* dy, const float* x, int64_t n, int64_t c, int64_t hw,
                       const ops::ContrastParams& p, const int64_t* seed);
// transpose=false: y = x with the rectangle filled; true: dx = dy with the rectangle zeroed
void erasing(float* out, const float* in, int64_t n, int64_t c, int64_t h, int64_t w, const ops::ErasingParams& p,
             const int64_t* seed, bool transpose);
}
namespace cuda_kernels {
void contrast_forward(float* y, const float* x, int64_t n, int64_t c, int64_t hw, const ops::ContrastParams& p,
                      const int64_t* seed);
void contrast_backward(float* dx, const float* dy, const float* x, int64_t n, int64_t c, int64_t hw,
                       const ops::ContrastParams& p, const int64_t* seed);
void erasing(float* out, const float* in, int64_t n, int64_t c, int64_t h, int64_t w, const ops::ErasingParams& p,
             const int64_t* seed, bool transpose);
}

}  // namespace convnet
