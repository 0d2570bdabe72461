// Optimizer updates: in place, elementwise over a flat parameter buffer of any shape and its state
// buffers (same shape), with PyTorch's torch.optim formulas (single-tensor, maximize=False,
// amsgrad=False). One fused loop (one kernel launch on the GPU) per call, so a model whose
// parameters, gradients and states live in flat buffers updates all its parameters at once.
// step is 1-based: the number of this update (the first call has step = 1).
//
// SGD:     g = grad + weight_decay * param
//          momentum > 0:  buf = g at step 1, else buf = momentum * buf + (1 - dampening) * g
//                         g = nesterov ? g + momentum * buf : buf
//          param -= lr * g
// Adam:    AdamW (decoupled_weight_decay): param *= 1 - lr * weight_decay; Adam: g = grad + weight_decay * param
//          m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g^2
//          param -= lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
// RMSprop: g = grad + weight_decay * param;  square_avg = alpha * square_avg + (1 - alpha) * g^2
//          centered: grad_avg = alpha * grad_avg + (1 - alpha) * g;  avg = sqrt(square_avg - grad_avg^2) + eps
//          else avg = sqrt(square_avg) + eps
//          momentum > 0: buf = momentum * buf + g / avg; param -= lr * buf.  else param -= lr * g / avg
// State buffers start at zero (the caller zero-fills them before step 1), except SGD's momentum
// buffer, which step 1 overwrites. Optional state (nullptr) is needed only where its feature is on.
#pragma once
#include <cmath>
#include <vector>

#include "core/host_device.h"
#include "core/tensor.h"


namespace convnet {
namespace ops {

// Hyper-parameters are doubles, as PyTorch's Python floats: 1 - beta2 and the bias corrections are
// computed on the host in double (1 - 0.999f would be 1.3e-5 off 0.001), the kernels get floats.
struct SGDParams {
  double lr = 0.01, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
};
struct AdamParams {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool decoupled_weight_decay = false;  // true: AdamW
};
struct RMSpropParams {
  double lr = 0.01, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0;
  bool centered = false;
};

// The float constants of update number `step` (>= 1), computed on the host in double; these
// check the hyper-parameters (ValueError naming the optimizer and the value).
struct SGDScalars {
  float lr, momentum, one_minus_dampening, weight_decay, first_step;  // first_step: 1 or 0
};
struct AdamScalars {  // Adam gets weight_decay = 0 when decoupled (AdamW) and decay = 1 when not
  float one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay, step_size, bias_correction2_sqrt;
};
struct RMSpropScalars {
  float lr, alpha, one_minus_alpha, eps, weight_decay, momentum;
};
SGDScalars sgd_scalars(int64_t step, const SGDParams& p);
AdamScalars adam_scalars(int64_t step, const AdamParams& p);
RMSpropScalars rmsprop_scalars(int64_t step, const RMSpropParams& p);
// Their memory image: a float32 tensor of sizeof(S) / 4 elements.
template <class S>
std::vector<float> scalar_floats(const S& s) {
  static_assert(sizeof(S) % sizeof(float) == 0, "scalars are floats");
  const float* f = reinterpret_cast<const float*>(&s);
  return std::vector<float>(f, f + sizeof(S) / sizeof(float));
}

// One update in place. `scalars` is the float32 tensor of the step's constants (scalar_floats of
// the *_scalars above) on param's device: the kernels read it where they run, so a training step
// captured as a CUDA graph applies each replay's own step. `halt`, when given, is a (1,) int64
// tensor on that device: a value >= 0 skips the update (the executor's mark of a non-finite loss).
// `p` supplies the switches (nesterov, centered) and which state buffers are needed.
void sgd_step(Tensor& param, const Tensor& grad, Tensor* momentum_buffer, const Tensor& scalars, const SGDParams& p,
              const Tensor* halt = nullptr);
void adam_step(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, const Tensor& scalars,
               const AdamParams& p, const Tensor* halt = nullptr);
void rmsprop_step(Tensor& param, const Tensor& grad, Tensor& square_avg, Tensor* momentum_buffer, Tensor* grad_avg,
                  const Tensor& scalars, const RMSpropParams& p, const Tensor* halt = nullptr);
// The same with the constants of update number `step`.
void sgd_step(Tensor& param, const Tensor& grad, Tensor* momentum_buffer, int64_t step, const SGDParams& p);
void adam_step(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, int64_t step,
               const AdamParams& p);
void rmsprop_step(Tensor& param, const Tensor& grad, Tensor& square_avg, Tensor* momentum_buffer, Tensor* grad_avg,
                  int64_t step, const RMSpropParams& p);

}  // namespace ops

// The update of element i, shared by the CPU and CUDA kernels so both compute the same float
// operations, in the order PyTorch's single-tensor implementations do.
namespace optim_detail {
inline CONVNET_HOST_DEVICE void sgd_update(int64_t i, float* param, const float* grad, float* buf, float lr,
                                           float momentum, float one_minus_dampening, float weight_decay,
                                           bool nesterov, bool first_step) {
  float g = grad[i];
  if (weight_decay != 0.0f) g = g + weight_decay * param[i];
  if (momentum != 0.0f) {
    const float b = first_step ? g : buf[i] * momentum + one_minus_dampening * g;
    buf[i] = b;
    g = nesterov ? g + momentum * b : b;
  }
  param[i] = param[i] + (-lr) * g;
}

inline CONVNET_HOST_DEVICE void adam_update(int64_t i, float* param, const float* grad, float* exp_avg,
                                            float* exp_avg_sq, float one_minus_beta1, float beta2,
                                            float one_minus_beta2, float eps, float weight_decay, float decay,
                                            float step_size, float bias_correction2_sqrt) {
  float p = param[i], g = grad[i];
  if (decay != 1.0f) p = p * decay;                        // AdamW: decay = 1 - lr * weight_decay
  if (weight_decay != 0.0f) g = g + weight_decay * p;      // Adam: L2 (weight_decay = 0 for AdamW)
  const float m = exp_avg[i] + one_minus_beta1 * (g - exp_avg[i]);  // lerp(m, g, 1 - beta1)
  const float v = exp_avg_sq[i] * beta2 + one_minus_beta2 * g * g;
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
  const float denom = sqrtf(v) / bias_correction2_sqrt + eps;
  param[i] = p + (-step_size) * (m / denom);
}

inline CONVNET_HOST_DEVICE void rmsprop_update(int64_t i, float* param, const float* grad, float* square_avg,
                                               float* buf, float* grad_avg, float lr, float alpha,
                                               float one_minus_alpha, float eps, float weight_decay, float momentum,
                                               bool centered) {
  float g = grad[i];
  if (weight_decay != 0.0f) g = g + weight_decay * param[i];
  const float sa = square_avg[i] * alpha + one_minus_alpha * g * g;
  square_avg[i] = sa;
  float avg;
  if (centered) {
    const float ga = grad_avg[i] + one_minus_alpha * (g - grad_avg[i]);  // lerp(grad_avg, g, 1 - alpha)
    grad_avg[i] = ga;
    avg = sqrtf(sa - ga * ga) + eps;
  } else {
    avg = sqrtf(sa) + eps;
  }
  if (momentum > 0.0f) {
    const float b = buf[i] * momentum + g / avg;
    buf[i] = b;
    param[i] = param[i] + (-lr) * b;
  } else {
    param[i] = param[i] + (-lr) * (g / avg);
  }
}
}  // namespace optim_detail

// Kernels: valid arguments assumed; every buffer holds n floats. Optional buffers may be null
// when their feature is off. `s` points at the step's constants and `halt` (may be null) at the
// skip mark, both in the memory of the device that runs the kernel.
namespace cpu_kernels {
void sgd_step(float* param, const float* grad, float* momentum_buffer, int64_t n, const ops::SGDScalars* s,
              bool nesterov, const int64_t* halt);
void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
               const ops::AdamScalars* s, const int64_t* halt);
void rmsprop_step(float* param, const float* grad, float* square_avg, float* momentum_buffer, float* grad_avg,
                  int64_t n, const ops::RMSpropScalars* s, bool centered, const int64_t* halt);
}  // namespace cpu_kernels
namespace cuda_kernels {
void sgd_step(float* param, const float* grad, float* momentum_buffer, int64_t n, const ops::SGDScalars* s,
              bool nesterov, const int64_t* halt);
void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
               const ops::AdamScalars* s, const int64_t* halt);
void rmsprop_step(float* param, const float* grad, float* square_avg, float* momentum_buffer, float* grad_avg,
                  int64_t n, const ops::RMSpropScalars* s, bool centered, const int64_t* halt);
}  // namespace cuda_kernels

}  // namespace convnet
