// Data augmentation: contracts, dispatch and CPU kernels (see augment.h).
#include "ops/augment.h"

#include <string>

#include "core/checks.h"
#include "kernels/cpu_simd.h"
#include "ops/dispatch.h"

namespace convnet {

namespace cpu_kernels {
CONVNET_CPU_KERNEL
void flip_translate(float* out, const float* in, int64_t n, int64_t c, int64_t h, int64_t w,
                    const ops::AugmentParams& p, const int64_t* seed_in, bool transpose) {
  const uint64_t seed = static_cast<uint64_t>(*seed_in);
#pragma omp parallel for schedule(static) if (n * c * h * w > 65536)
  for (int64_t s = 0; s < n; ++s) {
    const SampleTransform t = draw_transform(seed, s, p);
    for (int64_t ch = 0; ch < c; ++ch) {
      const float* src = in + (s * c + ch) * h * w;
      float* dst = out + (s * c + ch) * h * w;
      for (int64_t i = 0; i < h; ++i) {
        const int64_t si = source_index(i, h, t.flip_v, t.shift_h, transpose);
        for (int64_t j = 0; j < w; ++j) {
          const int64_t sj = source_index(j, w, t.flip_h, t.shift_w, transpose);
          dst[i * w + j] = si >= 0 && si < h && sj >= 0 && sj < w ? src[si * w + sj] : 0.0f;
        }
      }
    }
  }
}
}  // namespace cpu_kernels

namespace ops {

static void check_shift(const char* op, const char* arg, int lo, int hi, int64_t size) {
  CONVNET_CHECK_VALUE(lo <= hi && lo >= -size && hi <= size, op, arg,
                      "a range lo <= hi within [-" + std::to_string(size) + ", " + std::to_string(size) + "] pixels",
                      "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

static void check_augment(const char* op, const char* arg, const Tensor& x, const AugmentParams& p) {
  check_dtype(op, arg, x, DType::Float32);
  check_rank(op, arg, x, 4, "(N, C, H, W)");
  check_shift(op, "shift_height", p.min_shift_h, p.max_shift_h, x.size(2));
  check_shift(op, "shift_width", p.min_shift_w, p.max_shift_w, x.size(3));
}

static void apply(const char* op, const Tensor& in, Tensor& out, const AugmentParams& p, const Tensor& seed,
                  bool transpose) {
  check_step_value(op, "seed", seed, DType::Int64, 1, in);
  CONVNET_DISPATCH(in, flip_translate, out.data<float>(), in.data<float>(), in.size(0), in.size(1), in.size(2),
                   in.size(3), p, seed.data<int64_t>(), transpose);
}


Shape random_flip_translate_output_shape(const Tensor& x, const AugmentParams& p) {
  check_augment("random_flip_translate", "x", x, p);
  return x.shape();
}

void random_flip_translate_forward(Tensor& y, const Tensor& x, const AugmentParams& p, const Tensor& seed) {
  check_output("random_flip_translate", "y", y, random_flip_translate_output_shape(x, p), x);
  apply("random_flip_translate", x, y, p, seed, false);
}

void random_flip_translate_backward(Tensor& dx, const Tensor& dy, const AugmentParams& p, const Tensor& seed) {
  check_augment("random_flip_translate_backward", "grad_out", dy, p);
  check_output("random_flip_translate_backward", "grad_x", dx, dy.shape(), dy);
  apply("random_flip_translate_backward", dy, dx, p, seed, true);
}

void random_flip_translate_forward(Tensor& y, const Tensor& x, const AugmentParams& p, uint64_t seed) {
  random_flip_translate_forward(y, x, p, seed_tensor(seed, x.device()));
}

void random_flip_translate_backward(Tensor& dx, const Tensor& dy, const AugmentParams& p, uint64_t seed) {
  random_flip_translate_backward(dx, dy, p, seed_tensor(seed, dy.device()));
}

Tensor random_flip_translate(const Tensor& x, const AugmentParams& p, uint64_t seed) {
  Tensor y = Tensor::empty(random_flip_translate_output_shape(x, p), DType::Float32, x.device());
  random_flip_translate_forward(y, x, p, seed);
  return y;
}

}  // namespace ops
}  // namespace convnet
