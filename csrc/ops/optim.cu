// Optimizer updates: CUDA twins of optim.cpp (same signatures): one grid-stride kernel over the
// whole flat buffer per call, the per-element math shared with the CPU (optim.h).
#include "core/cuda_check.h"
#include "ops/optim.h"

namespace convnet {
namespace cuda_kernels {

namespace {

#define CONVNET_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

__global__ void sgd_step_kernel(float* param, const float* grad, float* buf, int64_t n, float lr, float momentum,
                                float one_minus_dampening, float weight_decay, bool nesterov, bool first_step) {
  CONVNET_GRID_STRIDE(i, n)
  optim_detail::sgd_update(i, param, grad, buf, lr, momentum, one_minus_dampening, weight_decay, nesterov, first_step);
}

__global__ void adam_step_kernel(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
                                 float one_minus_beta1, float beta2, float one_minus_beta2, float eps,
                                 float weight_decay, float decay, float step_size, float bias_correction2_sqrt) {
  CONVNET_GRID_STRIDE(i, n)
  optim_detail::adam_update(i, param, grad, exp_avg, exp_avg_sq, one_minus_beta1, beta2, one_minus_beta2, eps,
                            weight_decay, decay, step_size, bias_correction2_sqrt);
}

__global__ void rmsprop_step_kernel(float* param, const float* grad, float* square_avg, float* buf, float* grad_avg,
                                    int64_t n, float lr, float alpha, float one_minus_alpha, float eps,
                                    float weight_decay, float momentum, bool centered) {
  CONVNET_GRID_STRIDE(i, n)
  optim_detail::rmsprop_update(i, param, grad, square_avg, buf, grad_avg, lr, alpha, one_minus_alpha, eps,
                               weight_decay, momentum, centered);
}

#undef CONVNET_GRID_STRIDE

}  // namespace

void sgd_step(float* param, const float* grad, float* momentum_buffer, int64_t n, float lr, float momentum,
              float one_minus_dampening, float weight_decay, bool nesterov, bool first_step) {
  if (n == 0) return;
  cuda::launch("sgd_step_kernel", sgd_step_kernel, cuda::grid_for(n), 256, param, grad, momentum_buffer, n, lr, momentum, one_minus_dampening, weight_decay, nesterov, first_step);
}

void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n, float one_minus_beta1,
               float beta2, float one_minus_beta2, float eps, float weight_decay, float decay, float step_size,
               float bias_correction2_sqrt) {
  if (n == 0) return;
  cuda::launch("adam_step_kernel", adam_step_kernel, cuda::grid_for(n), 256, param, grad, exp_avg, exp_avg_sq, n, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay, step_size, bias_correction2_sqrt);
}

void rmsprop_step(float* param, const float* grad, float* square_avg, float* momentum_buffer, float* grad_avg,
                  int64_t n, float lr, float alpha, float one_minus_alpha, float eps, float weight_decay,
                  float momentum, bool centered) {
  if (n == 0) return;
  cuda::launch("rmsprop_step_kernel", rmsprop_step_kernel, cuda::grid_for(n), 256, param, grad, square_avg, momentum_buffer, grad_avg, n, lr, alpha, one_minus_alpha, eps, weight_decay, momentum, centered);
}

}  // namespace cuda_kernels
}  // namespace convnet
