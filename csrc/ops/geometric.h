// Geometric augmentation: a random rotation and zoom about the image centre (one affine resampling
// op), and a random crop: the transforms of layers.RandomRotation, RandomZoom and RandomCrop, which
// apply them only while training. Draws come from the counter-based hash of augment.h, so they are
// a pure function of (seed, sample) and the same on the CPU and the GPU.
//   x (N, C, H, W) float32
//
// random_affine: sample n draws (t = the counter 3n, u(k) = dropout_uniform(seed, k))
//     turn  = rotation_lo + u(t) * (rotation_hi - rotation_lo)      fractions of a full turn
//     zh    = 1 + zoom_h_lo + u(t + 1) * (zoom_h_hi - zoom_h_lo)    (> 1 zooms out, < 1 zooms in: Keras)
//     zw    = zh when keep_aspect, else 1 + zoom_w_lo + u(t + 2) * (zoom_w_hi - zoom_w_lo)
//   and output pixel (i, j) (row, column) reads the input at the position (Keras' affine_transform)
//     (px, py) = c + R(2 pi turn) diag(zw, zh) ((j, i) - c),  c = ((W - 1) / 2, (H - 1) / 2),
//     R(a) = [[cos a, -sin a], [sin a, cos a]]  (x = column, y = row: a > 0 turns the picture
//     counter-clockwise on screen), pixel centres at integer positions.
//   Interpolation: bilinear, the 4 pixels around (px, py) weighted by the distances, or nearest, the
//   pixel (floor(py + 1/2), floor(px + 1/2)). A pixel index outside the image is extended by
//   fill_mode, per axis (Keras' modes):
//     reflect   d c b a | a b c d | d c b a   (mirrored including the edge pixel: period 2n)
//     wrap      a b c d | a b c d | a b c d
//     nearest   a a a a | a b c d | d d d d
//     constant  fill_value
//   So y = A x + b, A the (sparse) sampling matrix and b the constant fill.
//   Backward: dx = A^T dy, each output pixel's gradient added to the pixels it read, with their
//   weights; a plane is summed serially in a fixed order (deterministic on both devices).
// random_crop: a (height, width) window of each image, y[n, c, i, j] = x[n, c, oy + i, ox + j], with
//     oy uniform in [0, H - height] and ox in [0, W - width] (counters 2n, 2n + 1), or the central
//     window oy = (H - height) / 2, ox = (W - width) / 2 (floor) when !random. y (N, C, height, width).
//   Backward: dx = dy in the window, 0 elsewhere.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>

#include "core/host_device.h"
#include "core/tensor.h"
#include "ops/augment.h"

namespace convnet {
namespace ops {

enum class FillMode : int { Reflect, Wrap, Nearest, Constant };
enum class Interpolation : int { Bilinear, Nearest };
// "reflect", "wrap", "nearest", "constant" / "bilinear", "nearest"; ValueError naming op and arg otherwise.
FillMode fill_mode_from_name(const std::string& name, const char* op);
Interpolation interpolation_from_name(const std::string& name, const char* op);

struct AffineParams {
  float rotation_lo = 0.0f, rotation_hi = 0.0f;  // fractions of a full turn, each in [-1, 1]
  float zoom_h_lo = 0.0f, zoom_h_hi = 0.0f;      // Keras' zoom factors, each in [-1, 1]
  float zoom_w_lo = 0.0f, zoom_w_hi = 0.0f;
  bool keep_aspect = true;                       // zw = zh (RandomZoom's width_factor=None)
  FillMode fill_mode = FillMode::Reflect;
  Interpolation interpolation = Interpolation::Bilinear;
  float fill_value = 0.0f;                       // fill_mode constant
};

Shape random_affine_output_shape(const Tensor& x, const AffineParams& p);  // x's shape
// seed: a number, or a (1,) int64 tensor on x's device (as dropout's, for captured training steps)
void random_affine_forward(Tensor& y, const Tensor& x, const AffineParams& p, const Tensor& seed);
void random_affine_backward(Tensor& dx, const Tensor& dy, const AffineParams& p, const Tensor& seed);
Tensor random_affine(const Tensor& x, const AffineParams& p, uint64_t seed);

struct CropParams {
  int64_t height = 1, width = 1;
  bool random = true;  // false: the central window (inference)
};

Shape random_crop_output_shape(const Tensor& x, const CropParams& p);  // (N, C, height, width)
void random_crop_forward(Tensor& y, const Tensor& x, const CropParams& p, const Tensor& seed);
// dx: x's shape, dy: the output's
void random_crop_backward(Tensor& dx, const Tensor& dy, const CropParams& p, const Tensor& seed);
Tensor random_crop(const Tensor& x, const CropParams& p, uint64_t seed);

}  // namespace ops

// The read position of sample n: p_in = c + m (p_out - c), in (column, row) coordinates.
struct Affine2 {
  float m00, m01, m10, m11;
};
inline CONVNET_HOST_DEVICE Affine2 draw_affine(uint64_t seed, int64_t n, const ops::AffineParams& p) {
  const uint64_t t = 3 * static_cast<uint64_t>(n);
  const float turn = p.rotation_lo + dropout_uniform(seed, t) * (p.rotation_hi - p.rotation_lo);
  const float zh = 1.0f + p.zoom_h_lo + dropout_uniform(seed, t + 1) * (p.zoom_h_hi - p.zoom_h_lo);
  const float zw = p.keep_aspect ? zh : 1.0f + p.zoom_w_lo + dropout_uniform(seed, t + 2) * (p.zoom_w_hi - p.zoom_w_lo);
  const float a = 6.28318530717958647692f * turn;
  const float cs = cosf(a), sn = sinf(a);
  return {cs * zw, -sn * zh, sn * zw, cs * zh};
}

// Index i of an axis of n pixels, extended by the fill mode: an index in [0, n), or -1 for "the
// constant fill value".
inline CONVNET_HOST_DEVICE int64_t extend_index(int64_t i, int64_t n, ops::FillMode mode) {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case ops::FillMode::Constant: return -1;
    case ops::FillMode::Nearest: return i < 0 ? 0 : n - 1;
    case ops::FillMode::Wrap: {
      const int64_t r = i % n;
      return r < 0 ? r + n : r;
    }
    default: {  // reflect: period 2n, the second half mirrored
      int64_t r = i % (2 * n);
      if (r < 0) r += 2 * n;
      return r < n ? r : 2 * n - 1 - r;
    }
  }
}

// The input pixels one output pixel reads and their weights: index = row * W + column within the
// plane, or -1 for the constant fill. Unused taps have weight 0.
struct Taps {
  int64_t index[4];
  float weight[4];
  int count;
};
inline CONVNET_HOST_DEVICE int64_t tap_index(int64_t row, int64_t col, int64_t h, int64_t w, ops::FillMode mode) {
  const int64_t r = extend_index(row, h, mode), c = extend_index(col, w, mode);
  return r < 0 || c < 0 ? -1 : r * w + c;
}
inline CONVNET_HOST_DEVICE Taps sample_taps(const Affine2& m, int64_t i, int64_t j, int64_t h, int64_t w,
                                            const ops::AffineParams& p) {
  const float cx = 0.5f * static_cast<float>(w - 1), cy = 0.5f * static_cast<float>(h - 1);
  const float dx = static_cast<float>(j) - cx, dy = static_cast<float>(i) - cy;
  const float px = cx + (m.m00 * dx + m.m01 * dy), py = cy + (m.m10 * dx + m.m11 * dy);
  Taps t;
  if (p.interpolation == ops::Interpolation::Nearest) {
    t.index[0] = tap_index(static_cast<int64_t>(floorf(py + 0.5f)), static_cast<int64_t>(floorf(px + 0.5f)), h, w,
                           p.fill_mode);
    t.weight[0] = 1.0f;
    t.count = 1;
    return t;
  }
  const float fx = floorf(px), fy = floorf(py);
  const float ax = px - fx, ay = py - fy;
  const int64_t c0 = static_cast<int64_t>(fx), r0 = static_cast<int64_t>(fy);
  for (int k = 0; k < 4; ++k) {
    const int dr = k >> 1, dc = k & 1;
    t.index[k] = tap_index(r0 + dr, c0 + dc, h, w, p.fill_mode);
    t.weight[k] = (dr ? ay : 1.0f - ay) * (dc ? ax : 1.0f - ax);
  }
  t.count = 4;
  return t;
}

// The window's corner of sample n.
inline CONVNET_HOST_DEVICE void crop_offset(uint64_t seed, int64_t n, int64_t h, int64_t w, const ops::CropParams& p,
                                            int64_t& oy, int64_t& ox) {
  if (!p.random) {
    oy = (h - p.height) / 2;
    ox = (w - p.width) / 2;
    return;
  }
  oy = uniform_int(seed, 2 * static_cast<uint64_t>(n), 0, static_cast<int>(h - p.height));
  ox = uniform_int(seed, 2 * static_cast<uint64_t>(n) + 1, 0, static_cast<int>(w - p.width));
}

// Kernels: valid arguments assumed. x, y (N, C, H, W); crop: y (N, C, height, width).
namespace cpu_kernels {
void affine_forward(float* y, const float* x, int64_t n, int64_t c, int64_t h, int64_t w, const ops::AffineParams& p,
                    const int64_t* seed);
void affine_backward(float* dx, const float* dy, int64_t n, int64_t c, int64_t h, int64_t w,
                     const ops::AffineParams& p, const int64_t* seed);
// transpose=false: y = the window of x; true: x = dy placed in the window, zeros elsewhere
void crop(float* out, const float* in, int64_t n, int64_t c, int64_t h, int64_t w, const ops::CropParams& p,
          const int64_t* seed, bool transpose);
}
namespace cuda_kernels {
void affine_forward(float* y, const float* x, int64_t n, int64_t c, int64_t h, int64_t w, const ops::AffineParams& p,
                    const int64_t* seed);
void affine_backward(float* dx, const float* dy, int64_t n, int64_t c, int64_t h, int64_t w,
                     const ops::AffineParams& p, const int64_t* seed);
void crop(float* out, const float* in, int64_t n, int64_t c, int64_t h, int64_t w, const ops::CropParams& p,
          const int64_t* seed, bool transpose);
}

}  // namespace convnet
