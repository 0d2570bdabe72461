// Optimizer updates: CUDA twins of optim.cpp (same signatures): one grid-stride kernel over the
// whole flat buffer per call, the per-element math shared with the CPU (optim.h).
#include "core/cuda_check.h"
#include "ops/optim.h"

namespace convnet {
namespace cuda_kernels {

namespace {

#define CONVNET_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

// Every thread reads the step's constants (and the skip mark) from device memory.
__global__ void sgd_step_kernel(float* param, const float* grad, float* buf, int64_t n, const ops::SGDScalars* s,
                                bool nesterov, const int64_t* halt) {
  if (halt && *halt >= 0) return;
  const ops::SGDScalars c = *s;
  CONVNET_GRID_STRIDE(i, n)
  optim_detail::sgd_update(i, param, grad, buf, c.lr, c.momentum, c.one_minus_dampening, c.weight_decay, nesterov,
                           c.first_step != 0.0f);
}

__global__ void adam_step_kernel(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
                                 const ops::AdamScalars* s, const int64_t* halt) {
  if (halt && *halt >= 0) return;
  const ops::AdamScalars c = *s;
  CONVNET_GRID_STRIDE(i, n)
  optim_detail::adam_update(i, param, grad, exp_avg, exp_avg_sq, c.one_minus_beta1, c.beta2, c.one_minus_beta2, c.eps,
                            c.weight_decay, c.decay, c.step_size, c.bias_correction2_sqrt);
}

__global__ void rmsprop_step_kernel(float* param, const float* grad, float* square_avg, float* buf, float* grad_avg,
                                    int64_t n, const ops::RMSpropScalars* s, bool centered, const int64_t* halt) {
  if (halt && *halt >= 0) return;
  const ops::RMSpropScalars c = *s;
  CONVNET_GRID_STRIDE(i, n)
  optim_detail::rmsprop_update(i, param, grad, square_avg, buf, grad_avg, c.lr, c.alpha, c.one_minus_alpha, c.eps,
                               c.weight_decay, c.momentum, centered);
}

#undef CONVNET_GRID_STRIDE

}  // namespace

void sgd_step(float* param, const float* grad, float* momentum_buffer, int64_t n, const ops::SGDScalars* s,
              bool nesterov, const int64_t* halt) {
  if (n == 0) return;
  cuda::launch("sgd_step_kernel", sgd_step_kernel, cuda::grid_for(n), 256, param, grad, momentum_buffer, n, s,
               nesterov, halt);
}

void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
               const ops::AdamScalars* s, const int64_t* halt) {
  if (n == 0) return;
  cuda::launch("adam_step_kernel", adam_step_kernel, cuda::grid_for(n), 256, param, grad, exp_avg, exp_avg_sq, n, s,
               halt);
}

void rmsprop_step(float* param, const float* grad, float* square_avg, float* momentum_buffer, float* grad_avg,
                  int64_t n, const ops::RMSpropScalars* s, bool centered, const int64_t* halt) {
  if (n == 0) return;
  cuda::launch("rmsprop_step_kernel", rmsprop_step_kernel, cuda::grid_for(n), 256, param, grad, square_avg,
               momentum_buffer, grad_avg, n, s, centered, halt);
}

}  // namespace cuda_kernels
}  // namespace convnet
