// Batch normalisation: CUDA twins of norm.cpp (same signatures). One 1024-thread block per channel
// reduces that channel's statistics (in double, shared memory) and then writes its outputs, so no
// scratch memory and no second launch are needed.
#include "core/cuda_check.h"
#include "core/errors.h"
#include "core/int_divider.h"
#include "ops/norm.h"

namespace convnet {
namespace cuda_kernels {

namespace {

constexpr int kBlock = 1024;  // a channel is one block, so it needs many loads in flight

// Sum of v over the block, returned to every thread. `shared` holds kBlock doubles.
__device__ double block_sum(double v, double* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int s = kBlock / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
    __syncthreads();
  }
  const double total = shared[0];
  __syncthreads();  // everyone has read shared[0] before it is reused
  return total;
}

__global__ void __launch_bounds__(kBlock)
    batch_norm_forward_kernel(float* y, float* saved_mean, float* saved_invstd, float* running_mean, float* running_var,
                              const float* x, const float* gamma, const float* beta, ChannelValues values, int M,
                              bool training, float momentum, float eps, const int64_t* halt) {
  __shared__ double shared[kBlock];
  const int64_t c = blockIdx.x;
  if (c >= values.channels) return;
  double mean, var;
  if (training) {
    double s = 0.0;
    for (int64_t j = threadIdx.x; j < M; j += kBlock) s += x[values.offset(c, j)];
    mean = block_sum(s, shared) / double(M);
    double sq = 0.0;
    for (int64_t j = threadIdx.x; j < M; j += kBlock) {
      const double d = x[values.offset(c, j)] - mean;
      sq += d * d;
    }
    sq = block_sum(sq, shared);
    var = sq / double(M);
    if (threadIdx.x == 0 && !(halt && *halt >= 0)) {  // not after a non-finite loss
      if (running_mean) running_mean[c] = float((1.0 - momentum) * running_mean[c] + momentum * mean);
      if (running_var) running_var[c] = float((1.0 - momentum) * running_var[c] + momentum * sq / double(M - 1));
    }
  } else {
    mean = running_mean[c];
    var = running_var[c];
  }
  const float invstd = float(1.0 / sqrt(var + double(eps)));
  if (threadIdx.x == 0) {
    saved_mean[c] = float(mean);
    saved_invstd[c] = invstd;
  }
  const float scale = (gamma ? gamma[c] : 1.0f) * invstd;
  const float shift = (beta ? beta[c] : 0.0f) - float(mean) * scale;
  for (int64_t j = threadIdx.x; j < M; j += kBlock) {
    const int64_t o = values.offset(c, j);
    y[o] = x[o] * scale + shift;
  }
}

__global__ void __launch_bounds__(kBlock)
    batch_norm_backward_kernel(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                               const float* gamma, const float* saved_mean, const float* saved_invstd,
                               ChannelValues values, int M, bool training) {
  __shared__ double shared[kBlock];
  const int64_t c = blockIdx.x;
  if (c >= values.channels) return;
  const float mean = saved_mean[c], invstd = saved_invstd[c];
  double s_dy = 0.0, s_dy_xhat = 0.0;
  for (int64_t j = threadIdx.x; j < M; j += kBlock) {
    const int64_t o = values.offset(c, j);
    s_dy += dy[o];
    s_dy_xhat += double(dy[o]) * (double(x[o]) - mean) * invstd;
  }
  const double sum_dy = block_sum(s_dy, shared);
  const double sum_dy_xhat = block_sum(s_dy_xhat, shared);
  if (threadIdx.x == 0) {
    if (dbeta) dbeta[c] = float(sum_dy);
    if (dgamma) dgamma[c] = float(sum_dy_xhat);
  }
  if (!dx) return;
  const float g = (gamma ? gamma[c] : 1.0f) * invstd;
  const float mean_dy = training ? float(sum_dy / double(M)) : 0.0f;
  const float mean_dy_xhat = training ? float(sum_dy_xhat / double(M)) : 0.0f;
  for (int64_t j = threadIdx.x; j < M; j += kBlock) {
    const int64_t o = values.offset(c, j);
    const float xhat = (x[o] - mean) * invstd;
    dx[o] = g * (dy[o] - mean_dy - xhat * mean_dy_xhat);
  }
}

// The kernels index a channel's values in 32 bits.
ChannelValues channel_values(int64_t N, int64_t C, int64_t HW) {
  CONVNET_CHECK_VALUE(fits_int32(N * HW), "batch_norm", "x", "fewer than 2^31 values per channel on the GPU",
                      std::to_string(N * HW));
  return ChannelValues(HW, C);
}

}  // namespace

void batch_norm_forward(float* y, float* saved_mean, float* saved_invstd, float* running_mean, float* running_var,
                        const float* x, const float* gamma, const float* beta, int64_t N, int64_t C, int64_t HW,
                        bool training, float momentum, float eps, const int64_t* halt) {
  if (C == 0) return;
  cuda::launch("batch_norm_forward_kernel", batch_norm_forward_kernel, static_cast<unsigned>(C), kBlock, y, saved_mean,
               saved_invstd, running_mean, running_var, x, gamma, beta, channel_values(N, C, HW), int(N * HW), training,
               momentum, eps, halt);
}

void batch_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* gamma,
                         const float* saved_mean, const float* saved_invstd, int64_t N, int64_t C, int64_t HW,
                         bool training) {
  if (C == 0) return;
  cuda::launch("batch_norm_backward_kernel", batch_norm_backward_kernel, static_cast<unsigned>(C), kBlock, dx, dgamma,
               dbeta, dy, x, gamma, saved_mean, saved_invstd, channel_values(N, C, HW), int(N * HW), training);
}

}  // namespace cuda_kernels
}  // namespace convnet
