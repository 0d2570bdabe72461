// Augmentation of pixel values: contracts, dispatch and CPU kernels (see intensity.h).
#include "ops/intensity.h"

#include <string>

#include "core/checks.h"
#include "kernels/cpu_simd.h"
#include "ops/dispatch.h"

namespace convnet {

namespace cpu_kernels {
CONVNET_CPU_KERNEL
void contrast_forward(float* y, const float* x, int64_t n, int64_t c, int64_t hw, const ops::ContrastParams& p,
                      const int64_t* seed_in) {
  const uint64_t seed = static_cast<uint64_t>(*seed_in);
#pragma omp parallel for schedule(static) if (n * c * hw > 65536)
  for (int64_t plane = 0; plane < n * c; ++plane) {
    const float f = draw_contrast(seed, plane / c, p);
    const float* src = x + plane * hw;
    const float mean = plane_mean(src, hw);
    for (int64_t k = 0; k < hw; ++k) {
      const float z = contrast_z(src[k], mean, f);
      y[plane * hw + k] = z < p.value_lo ? p.value_lo : z > p.value_hi ? p.value_hi : z;
    }
  }
}

CONVNET_CPU_KERNEL
void contrast_backward(float* dx, const float* dy, const float* x, int64_t n, int64_t c, int64_t hw,
                       const ops::ContrastParams& p, const int64_t* seed_in) {
  const uint64_t seed = static_cast<uint64_t>(*seed_in);
#pragma omp parallel for schedule(static) if (n * c * hw > 65536)
  for (int64_t plane = 0; plane < n * c; ++plane) {
    const float f = draw_contrast(seed, plane / c, p);
    const float* xs = x + plane * hw;
    const float* g = dy + plane * hw;
    const float mean = plane_mean(xs, hw);
    const float shift = (1.0f - f) * contrast_grad_mean(g, xs, mean, f, hw, p);
    for (int64_t k = 0; k < hw; ++k)
      dx[plane * hw + k] = (contrast_passes(contrast_z(xs[k], mean, f), p) ? f * g[k] : 0.0f) + shift;
  }
}

CONVNET_CPU_KERNEL
void erasing(float* out, const float* in, int64_t n, int64_t c, int64_t h, int64_t w, const ops::ErasingParams& p,
             const int64_t* seed_in, bool transpose) {
  const uint64_t seed = static_cast<uint64_t>(*seed_in);
#pragma omp parallel for schedule(static) if (n * c * h * w > 65536)
  for (int64_t s = 0; s < n; ++s) {
    const EraseBox box = draw_erase(seed, s, h, w, p);
    for (int64_t e = s * c * h * w; e < (s + 1) * c * h * w; ++e) {
      const int64_t i = (e / w) % h, j = e % w;
      out[e] = !box.contains(i, j) ? in[e] : transpose ? 0.0f : erase_fill(seed, e, p);
    }
  }
}
}  // namespace cpu_kernels

namespace ops {

static void check_image(const char* op, const char* arg, const Tensor& x) {
  check_dtype(op, arg, x, DType::Float32);
  check_rank(op, arg, x, 4, "(N, C, H, W)");
}

static std::string range_str(float lo, float hi) { return "(" + std::to_string(lo) + ", " + std::to_string(hi) + ")"; }

static void check_value_range(const char* op, float lo, float hi) {
  CONVNET_CHECK_VALUE(std::isfinite(lo) && std::isfinite(hi) && lo < hi, op, "value_range",
                      "finite (low, high) with low < high", range_str(lo, hi));
}

Shape random_contrast_output_shape(const Tensor& x, const ContrastParams& p) {
  const char* op = "random_contrast";
  check_image(op, "x", x);
  CONVNET_CHECK_VALUE(p.lower >= 0.0f && p.lower <= 1.0f && p.upper >= 0.0f && p.upper <= 1.0f, op, "factor",
                      "(lower, upper) each in [0, 1]", range_str(p.lower, p.upper));
  check_value_range(op, p.value_lo, p.value_hi);
  return x.shape();
}

void random_contrast_forward(Tensor& y, const Tensor& x, const ContrastParams& p, const Tensor& seed) {
  check_output("random_contrast", "y", y, random_contrast_output_shape(x, p), x);
  check_step_value("random_contrast", "seed", seed, DType::Int64, 1, x);
  CONVNET_DISPATCH(x, contrast_forward, y.data<float>(), x.data<float>(), x.size(0), x.size(1), x.size(2) * x.size(3),
                   p, seed.data<int64_t>());
}

void random_contrast_backward(Tensor& dx, const Tensor& dy, const Tensor& x, const ContrastParams& p,
                              const Tensor& seed) {
  const char* op = "random_contrast_backward";
  random_contrast_output_shape(x, p);
  check_dtype(op, "grad_out", dy, DType::Float32);
  check_same_shape(op, "grad_out", dy, "x", x);
  check_same_device(op, "grad_out", dy, "x", x);
  check_output(op, "grad_x", dx, x.shape(), x);
  check_step_value(op, "seed", seed, DType::Int64, 1, x);
  CONVNET_DISPATCH(x, contrast_backward, dx.data<float>(), dy.data<float>(), x.data<float>(), x.size(0), x.size(1),
                   x.size(2) * x.size(3), p, seed.data<int64_t>());
}

Tensor random_contrast(const Tensor& x, const ContrastParams& p, uint64_t seed) {
  Tensor y = Tensor::empty(random_contrast_output_shape(x, p), DType::Float32, x.device());
  random_contrast_forward(y, x, p, seed_tensor(seed, x.device()));
  return y;
}

Shape random_erasing_output_shape(const Tensor& x, const ErasingParams& p) {
  const char* op = "random_erasing";
  check_image(op, "x", x);
  CONVNET_CHECK_VALUE(p.prob_lo >= 0.0f && p.prob_lo <= p.prob_hi && p.prob_hi <= 1.0f, op, "factor",
                      "a probability in [0, 1] or a range 0 <= lo <= hi <= 1", range_str(p.prob_lo, p.prob_hi));
  CONVNET_CHECK_VALUE(p.scale_lo > 0.0f && p.scale_lo <= p.scale_hi && p.scale_hi <= 1.0f, op, "scale",
                      "area fractions 0 < lo <= hi <= 1", range_str(p.scale_lo, p.scale_hi));
  CONVNET_CHECK_VALUE(p.ratio_lo > 0.0f && p.ratio_lo <= p.ratio_hi && std::isfinite(p.ratio_hi), op, "ratio",
                      "aspect ratios 0 < lo <= hi", range_str(p.ratio_lo, p.ratio_hi));
  CONVNET_CHECK_VALUE(std::isfinite(p.fill_value), op, "fill_value", "a finite number or None",
                      std::to_string(p.fill_value));
  check_value_range(op, p.value_lo, p.value_hi);
  return x.shape();
}

void random_erasing_forward(Tensor& y, const Tensor& x, const ErasingParams& p, const Tensor& seed) {
  check_output("random_erasing", "y", y, random_erasing_output_shape(x, p), x);
  check_step_value("random_erasing", "seed", seed, DType::Int64, 1, x);
  CONVNET_DISPATCH(x, erasing, y.data<float>(), x.data<float>(), x.size(0), x.size(1), x.size(2), x.size(3), p,
                   seed.data<int64_t>(), false);
}

void random_erasing_backward(Tensor& dx, const Tensor& dy, const ErasingParams& p, const Tensor& seed) {
  const char* op = "random_erasing_backward";
  check_image(op, "grad_out", dy);
  random_erasing_output_shape(dy, p);
  check_output(op, "grad_x", dx, dy.shape(), dy);
  check_step_value(op, "seed", seed, DType::Int64, 1, dy);
  CONVNET_DISPATCH(dy, erasing, dx.data<float>(), dy.data<float>(), dy.size(0), dy.size(1), dy.size(2), dy.size(3), p,
                   seed.data<int64_t>(), true);
}

Tensor random_erasing(const Tensor& x, const ErasingParams& p, uint64_t seed) {
  Tensor y = Tensor::empty(random_erasing_output_shape(x, p), DType::Float32, x.device());
  random_erasing_forward(y, x, p, seed_tensor(seed, x.device()));
  return y;
}

}  // namespace ops
}  // namespace convnet
