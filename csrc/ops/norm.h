// Batch normalisation (PyTorch's BatchNorm1d/2d), per channel c over the batch and spatial axes:
//   x (N, C, H, W) statistics over (N, H, W); x (N, C) statistics over N. M = N * H * W values per channel.
//   y = gamma_c * (x - mean_c) * invstd_c + beta_c,   invstd_c = 1 / sqrt(var_c + eps)
// training:  mean_c, var_c = the batch mean and biased variance (needs M > 1), and the running
//            statistics (when given) are updated in place like PyTorch:
//            running = (1 - momentum) * running + momentum * batch_stat, the variance term unbiased (* M/(M-1)).
// inference: mean_c, var_c = running_mean_c, running_var_c (required), which are not modified.
// saved_mean / saved_invstd (C) receive the statistics used, for the backward pass.
// gamma / beta (C) may be undefined Tensors: gamma = 1, beta = 0 (affine=False).
// running_mean / running_var (C) may be undefined in training (track_running_stats=False).
// halt, when given, is a (1,) int64 tensor on x's device read by the kernel: the running statistics
// are left alone once it is >= 0 (the step index of a non-finite loss; see ops::track_loss), so a
// GPU run that goes on past that step inside a chunk keeps the statistics the CPU run stops with.
// Backward, with xhat = (x - mean) * invstd and sums over the M values of channel c:
//   dbeta_c = sum dy,  dgamma_c = sum dy * xhat
//   training:  dx = gamma_c * invstd_c / M * (M * dy - dbeta_c - xhat * dgamma_c)
//   inference: dx = gamma_c * invstd_c * dy   (the statistics are constants)
// Gradients are written (=), never accumulated; a null pointer means "not needed".
#pragma once
#include "core/tensor.h"

namespace convnet {
namespace ops {

struct BatchNormParams {
  bool training = true;
  float momentum = 0.1f;
  float eps = 1e-5f;
};

// Checks every argument, returns x's shape.
Shape batch_norm_output_shape(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                              const Tensor& running_var, const BatchNormParams& p);
void batch_norm_forward(Tensor& y, Tensor& saved_mean, Tensor& saved_invstd, const Tensor& x, const Tensor& gamma,
                        const Tensor& beta, Tensor& running_mean, Tensor& running_var, const BatchNormParams& p,
                        const Tensor* halt = nullptr);
void batch_norm_backward(Tensor* dx, Tensor* dgamma, Tensor* dbeta, const Tensor& dy, const Tensor& x,
                         const Tensor& gamma, const Tensor& saved_mean, const Tensor& saved_invstd, bool training);

}  // namespace ops

// Kernels: valid arguments assumed. x, y, dy, dx: (N, C, HW); per-channel buffers: (C).
// gamma, beta, running_mean, running_var, dx, dgamma, dbeta may be null (see above).
namespace cpu_kernels {
void batch_norm_forward(float* y, float* saved_mean, float* saved_invstd, float* running_mean, float* running_var,
                        const float* x, const float* gamma, const float* beta, int64_t N, int64_t C, int64_t HW,
                        bool training, float momentum, float eps, const int64_t* halt);
void batch_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* gamma,
                         const float* saved_mean, const float* saved_invstd, int64_t N, int64_t C, int64_t HW,
                         bool training);
}  // namespace cpu_kernels
namespace cuda_kernels {
void batch_norm_forward(float* y, float* saved_mean, float* saved_invstd, float* running_mean, float* running_var,
                        const float* x, const float* gamma, const float* beta, int64_t N, int64_t C, int64_t HW,
                        bool training, float momentum, float eps, const int64_t* halt);
void batch_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* gamma,
                         const float* saved_mean, const float* saved_invstd, int64_t N, int64_t C, int64_t HW,
                         bool training);
}  // namespace cuda_kernels

}  // namespace convnet
