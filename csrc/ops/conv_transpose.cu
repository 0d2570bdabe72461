// Transposed convolution: the CUDA twin of conv_transpose.cpp's one kernel (the convolutions are
// conv.cu's). A grid-stride loop over y.
#include "core/cuda_check.h"
#include "ops/conv_transpose.h"

namespace convnet {
namespace cuda_kernels {

namespace {

__global__ void add_channel_bias_kernel(float* y, const float* b, int64_t N, int64_t C, int64_t P) {
  const int64_t total = N * C * P;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x)
    y[i] += b[(i / P) % C];
}

}  // namespace

void add_channel_bias(float* y, const float* b, int64_t N, int64_t C, int64_t P) {
  cuda::launch("add_channel_bias_kernel", add_channel_bias_kernel, dim3(cuda::grid_for(N * C * P)), dim3(256), y, b, N,
               C, P);
}

}  // namespace cuda_kernels
}  // namespace convnet
