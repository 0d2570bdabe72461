// Geometric augmentation: contracts, dispatch and CPU kernels (see geometric.h).
#include "ops/geometric.h"

#include <string>

#include "core/checks.h"
#include "kernels/cpu_simd.h"
#include "ops/dispatch.h"

namespace convnet {

namespace cpu_kernels {
CONVNET_CPU_KERNEL
void affine_forward(float* y, const float* x, int64_t n, int64_t c, int64_t h, int64_t w, const ops::AffineParams& p,
                    const int64_t* seed_in) {
  const uint64_t seed = static_cast<uint64_t>(*seed_in);
#pragma omp parallel for schedule(static) if (n * c * h * w > 16384)
  for (int64_t s = 0; s < n; ++s) {
    const Affine2 m = draw_affine(seed, s, p);
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < w; ++j) {
        const Taps t = sample_taps(m, i, j, h, w, p);
        for (int64_t ch = 0; ch < c; ++ch) {
          const float* src = x + (s * c + ch) * h * w;
          float v = 0.0f;
          for (int k = 0; k < t.count; ++k) v += t.weight[k] * (t.index[k] >= 0 ? src[t.index[k]] : p.fill_value);
          y[((s * c + ch) * h + i) * w + j] = v;
        }
      }
  }
}

CONVNET_CPU_KERNEL
void affine_backward(float* dx, const float* dy, int64_t n, int64_t c, int64_t h, int64_t w,
                     const ops::AffineParams& p, const int64_t* seed_in) {
  const uint64_t seed = static_cast<uint64_t>(*seed_in);
  // Planes in parallel, each summed serially in output order, as the CUDA twin does.
#pragma omp parallel for schedule(static) if (n * c * h * w > 16384)
  for (int64_t plane = 0; plane < n * c; ++plane) {
    const Affine2 m = draw_affine(seed, plane / c, p);
    float* d = dx + plane * h * w;
    const float* g = dy + plane * h * w;
    for (int64_t k = 0; k < h * w; ++k) d[k] = 0.0f;
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < w; ++j) {
        const Taps t = sample_taps(m, i, j, h, w, p);
        for (int k = 0; k < t.count; ++k)
          if (t.index[k] >= 0) d[t.index[k]] += t.weight[k] * g[i * w + j];
      }
  }
}

CONVNET_CPU_KERNEL
void crop(float* out, const float* in, int64_t n, int64_t c, int64_t h, int64_t w, const ops::CropParams& p,
          const int64_t* seed_in, bool transpose) {
  const uint64_t seed = static_cast<uint64_t>(*seed_in);
  const int64_t ch = p.height, cw = p.width;
#pragma omp parallel for schedule(static) if (n * c * h * w > 65536)
  for (int64_t plane = 0; plane < n * c; ++plane) {
    int64_t oy, ox;
    crop_offset(seed, plane / c, h, w, p, oy, ox);
    const float* window = transpose ? in + plane * ch * cw : nullptr;
    if (transpose) {
      float* d = out + plane * h * w;
      for (int64_t k = 0; k < h * w; ++k) d[k] = 0.0f;
      for (int64_t i = 0; i < ch; ++i)
        for (int64_t j = 0; j < cw; ++j) d[(oy + i) * w + ox + j] = window[i * cw + j];
    } else {
      const float* src = in + plane * h * w;
      float* d = out + plane * ch * cw;
      for (int64_t i = 0; i < ch; ++i)
        for (int64_t j = 0; j < cw; ++j) d[i * cw + j] = src[(oy + i) * w + ox + j];
    }
  }
}
}  // namespace cpu_kernels

namespace ops {

FillMode fill_mode_from_name(const std::string& name, const char* op) {
  if (name == "reflect") return FillMode::Reflect;
  if (name == "wrap") return FillMode::Wrap;
  if (name == "nearest") return FillMode::Nearest;
  CONVNET_CHECK_VALUE(name == "constant", op, "fill_mode", "'reflect', 'wrap', 'nearest' or 'constant'",
                      "'" + name + "'");
  return FillMode::Constant;
}

Interpolation interpolation_from_name(const std::string& name, const char* op) {
  if (name == "bilinear") return Interpolation::Bilinear;
  CONVNET_CHECK_VALUE(name == "nearest", op, "interpolation", "'bilinear' or 'nearest'", "'" + name + "'");
  return Interpolation::Nearest;
}

static void check_range(const char* op, const char* arg, float lo, float hi) {
  CONVNET_CHECK_VALUE(lo <= hi && lo >= -1.0f && hi <= 1.0f, op, arg, "a range -1 <= lo <= hi <= 1",
                      "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

static void check_image(const char* op, const char* arg, const Tensor& x) {
  check_dtype(op, arg, x, DType::Float32);
  check_rank(op, arg, x, 4, "(N, C, H, W)");
}

Shape random_affine_output_shape(const Tensor& x, const AffineParams& p) {
  const char* op = "random_affine";
  check_image(op, "x", x);
  check_range(op, "rotation", p.rotation_lo, p.rotation_hi);
  check_range(op, "zoom_height", p.zoom_h_lo, p.zoom_h_hi);
  if (!p.keep_aspect) check_range(op, "zoom_width", p.zoom_w_lo, p.zoom_w_hi);
  CONVNET_CHECK_VALUE(std::isfinite(p.fill_value), op, "fill_value", "a finite number", std::to_string(p.fill_value));
  return x.shape();
}

void random_affine_forward(Tensor& y, const Tensor& x, const AffineParams& p, const Tensor& seed) {
  check_output("random_affine", "y", y, random_affine_output_shape(x, p), x);
  check_step_value("random_affine", "seed", seed, DType::Int64, 1, x);
  CONVNET_DISPATCH(x, affine_forward, y.data<float>(), x.data<float>(), x.size(0), x.size(1), x.size(2), x.size(3), p,
                   seed.data<int64_t>());
}

void random_affine_backward(Tensor& dx, const Tensor& dy, const AffineParams& p, const Tensor& seed) {
  const char* op = "random_affine_backward";
  random_affine_output_shape(dy, p);
  check_output(op, "grad_x", dx, dy.shape(), dy);
  check_step_value(op, "seed", seed, DType::Int64, 1, dy);
  CONVNET_DISPATCH(dy, affine_backward, dx.data<float>(), dy.data<float>(), dy.size(0), dy.size(1), dy.size(2),
                   dy.size(3), p, seed.data<int64_t>());
}

Tensor random_affine(const Tensor& x, const AffineParams& p, uint64_t seed) {
  Tensor y = Tensor::empty(random_affine_output_shape(x, p), DType::Float32, x.device());
  random_affine_forward(y, x, p, seed_tensor(seed, x.device()));
  return y;
}

Shape random_crop_output_shape(const Tensor& x, const CropParams& p) {
  const char* op = "random_crop";
  check_image(op, "x", x);
  CONVNET_CHECK_VALUE(p.height >= 1 && p.height <= x.size(2), op, "height",
                      "a crop height in [1, " + std::to_string(x.size(2)) + "] (the input's height)",
                      std::to_string(p.height));
  CONVNET_CHECK_VALUE(p.width >= 1 && p.width <= x.size(3), op, "width",
                      "a crop width in [1, " + std::to_string(x.size(3)) + "] (the input's width)",
                      std::to_string(p.width));
  return {x.size(0), x.size(1), p.height, p.width};
}

void random_crop_forward(Tensor& y, const Tensor& x, const CropParams& p, const Tensor& seed) {
  check_output("random_crop", "y", y, random_crop_output_shape(x, p), x);
  check_step_value("random_crop", "seed", seed, DType::Int64, 1, x);
  CONVNET_DISPATCH(x, crop, y.data<float>(), x.data<float>(), x.size(0), x.size(1), x.size(2), x.size(3), p,
                   seed.data<int64_t>(), false);
}

void random_crop_backward(Tensor& dx, const Tensor& dy, const CropParams& p, const Tensor& seed) {
  const char* op = "random_crop_backward";
  check_image(op, "grad_out", dy);
  check_shape(op, "grad_out", dy, random_crop_output_shape(dx, p));
  check_output(op, "grad_x", dx, dx.shape(), dy);
  check_step_value(op, "seed", seed, DType::Int64, 1, dy);
  CONVNET_DISPATCH(dy, crop, dx.data<float>(), dy.data<float>(), dx.size(0), dx.size(1), dx.size(2), dx.size(3), p,
                   seed.data<int64_t>(), true);
}

Tensor random_crop(const Tensor& x, const CropParams& p, uint64_t seed) {
  Tensor y = Tensor::empty(random_crop_output_shape(x, p), DType::Float32, x.device());
  random_crop_forward(y, x, p, seed_tensor(seed, x.device()));
  return y;
}

}  // namespace ops
}  // namespace convnet
