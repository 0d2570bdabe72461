// Channel concatenation: the CUDA twin of concat.cpp (same signature). A 2-D grid-stride copy:
// threadIdx.x / blockIdx.x walk the columns of a row, threadIdx.y / blockIdx.y the rows, so no
// index is divided and a narrow row (a few features) still keeps most threads busy.
#include "core/cuda_check.h"
#include "ops/concat.h"

namespace convnet {
namespace cuda_kernels {

namespace {

constexpr int kBlockX = 32, kBlockY = 8;
constexpr long long kMaxBlocksX = 512, kMaxBlocksY = 1024;  // the loops cover the rest

__global__ void concat_copy_kernel(float* dst, int64_t dst_stride, const float* src, int64_t src_stride, int64_t rows,
                                   int64_t width) {
  for (int64_t n = blockIdx.y * (int64_t)blockDim.y + threadIdx.y; n < rows; n += (int64_t)gridDim.y * blockDim.y)
    for (int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; j < width; j += (int64_t)gridDim.x * blockDim.x)
      dst[n * dst_stride + j] = src[n * src_stride + j];
}

long long blocks(long long n, long long per_block, long long most) {
  const long long b = (n + per_block - 1) / per_block;
  return b < 1 ? 1 : b > most ? most : b;
}

}  // namespace

void concat_copy(float* dst, int64_t dst_stride, const float* src, int64_t src_stride, int64_t rows, int64_t width) {
  const dim3 grid(static_cast<unsigned>(blocks(width, kBlockX, kMaxBlocksX)),
                  static_cast<unsigned>(blocks(rows, kBlockY, kMaxBlocksY)));
  cuda::launch("concat_copy_kernel", concat_copy_kernel, grid, dim3(kBlockX, kBlockY), dst, dst_stride, src,
               src_stride, rows, width);
}

}  // namespace cuda_kernels
}  // namespace convnet
