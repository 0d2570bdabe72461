// Channel layout: contract, dispatch and the CPU kernel (a blocked transpose per sample, OpenMP
// over samples and row blocks).
#include "ops/layout.h"

#include <algorithm>

#include "core/checks.h"
#include "ops/dispatch.h"

namespace convnet {

namespace cpu_kernels {
void batched_transpose(float* dst, const float* src, int64_t N, int64_t A, int64_t B) {
  constexpr int64_t kBlock = 32;  // a 32 x 32 tile of floats (4 KiB) read and written within L1
  const int64_t a_blocks = (A + kBlock - 1) / kBlock;
#pragma omp parallel for collapse(2) schedule(static) if (N * A * B > 32768)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t ab = 0; ab < a_blocks; ++ab) {
      const float* s = src + n * A * B;
      float* d = dst + n * A * B;
      const int64_t a_end = std::min(A, (ab + 1) * kBlock);
      for (int64_t b0 = 0; b0 < B; b0 += kBlock) {
        const int64_t b_end = std::min(B, b0 + kBlock);
        for (int64_t a = ab * kBlock; a < a_end; ++a)
          for (int64_t b = b0; b < b_end; ++b) d[b * A + a] = s[a * B + b];
      }
    }
}
}  // namespace cpu_kernels

namespace ops {

Shape layout_output_shape(const Tensor& x, bool to_last) {
  const char* op = to_last ? "layout (to channels_last)" : "layout (to channels_first)";
  check_dtype(op, "x", x, DType::Float32);
  CONVNET_CHECK_VALUE(x.dim() == 4, op, "x", to_last ? "a 4-D (N, C, H, W) tensor" : "a 4-D (N, H, W, C) tensor",
                      shape_str(x.shape()));
  const Shape& s = x.shape();
  return to_last ? Shape{s[0], s[2], s[3], s[1]} : Shape{s[0], s[3], s[1], s[2]};
}

void layout_forward(Tensor& y, const Tensor& x, bool to_last) {
  check_output("layout", "y", y, layout_output_shape(x, to_last), x);
  const Shape& s = x.shape();
  const int64_t A = to_last ? s[1] : s[1] * s[2], B = to_last ? s[2] * s[3] : s[3];
  CONVNET_DISPATCH(x, batched_transpose, y.data<float>(), x.data<float>(), s[0], A, B);
}

void layout_backward(Tensor& dx, const Tensor& dy, bool to_last) { layout_forward(dx, dy, !to_last); }

Tensor layout(const Tensor& x, bool to_last) {
  Tensor y = Tensor::empty(layout_output_shape(x, to_last), DType::Float32, x.device());
  layout_forward(y, x, to_last);
  return y;
}

}  // namespace ops
}  // namespace convnet
