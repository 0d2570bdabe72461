// Data augmentation: the CUDA twin of augment.cpp, one thread per output element.
#include "core/cuda_check.h"
#include "ops/augment.h"

namespace convnet {
namespace cuda_kernels {

__global__ void flip_translate_kernel(float* out, const float* in, int64_t n, int64_t c, int64_t h, int64_t w,
                                      ops::AugmentParams p, const int64_t* seed_in, bool transpose) {
  const uint64_t seed = static_cast<uint64_t>(*seed_in);
  const int64_t total = n * c * h * w;
  for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < total; k += (int64_t)gridDim.x * blockDim.x) {
    const int64_t j = k % w, i = (k / w) % h, plane = k / (h * w), s = plane / c;
    const SampleTransform t = draw_transform(seed, s, p);
    const int64_t si = source_index(i, h, t.flip_v, t.shift_h, transpose);
    const int64_t sj = source_index(j, w, t.flip_h, t.shift_w, transpose);
    out[k] = si >= 0 && si < h && sj >= 0 && sj < w ? in[plane * h * w + si * w + sj] : 0.0f;
  }
}

void flip_translate(float* out, const float* in, int64_t n, int64_t c, int64_t h, int64_t w,
                    const ops::AugmentParams& p, const int64_t* seed, bool transpose) {
  const int64_t total = n * c * h * w;
  if (total == 0) return;
  cuda::launch("flip_translate_kernel", flip_translate_kernel, cuda::grid_for(total), 256, out, in, n, c, h, w, p, seed, transpose);
}

}  // namespace cuda_kernels
}  // namespace convnet
