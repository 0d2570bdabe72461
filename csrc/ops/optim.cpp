// Optimizer updates: contracts, dispatch and CPU kernels (one OpenMP loop over the flat buffer;
// the per-element math is shared with the CUDA kernels in optim.h).
#include "ops/optim.h"

#include <cmath>
#include <sstream>
#include <string>

#include "core/checks.h"
#include "kernels/cpu_simd.h"
#include "ops/dispatch.h"

namespace convnet {

namespace cpu_kernels {

CONVNET_CPU_KERNEL
void sgd_step(float* param, const float* grad, float* momentum_buffer, int64_t n, float lr, float momentum,
              float one_minus_dampening, float weight_decay, bool nesterov, bool first_step) {
#pragma omp parallel if (n > kParallelGrain)
  {
    const auto [begin, end] = thread_chunk(n);
    for (int64_t i = begin; i < end; ++i)
      optim_detail::sgd_update(i, param, grad, momentum_buffer, lr, momentum, one_minus_dampening, weight_decay,
                               nesterov, first_step);
  }
}

CONVNET_CPU_KERNEL
void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n, float one_minus_beta1,
               float beta2, float one_minus_beta2, float eps, float weight_decay, float decay, float step_size,
               float bias_correction2_sqrt) {
#pragma omp parallel if (n > kParallelGrain)
  {
    const auto [begin, end] = thread_chunk(n);
    for (int64_t i = begin; i < end; ++i)
      optim_detail::adam_update(i, param, grad, exp_avg, exp_avg_sq, one_minus_beta1, beta2, one_minus_beta2, eps,
                                weight_decay, decay, step_size, bias_correction2_sqrt);
  }
}

CONVNET_CPU_KERNEL
void rmsprop_step(float* param, const float* grad, float* square_avg, float* momentum_buffer, float* grad_avg,
                  int64_t n, float lr, float alpha, float one_minus_alpha, float eps, float weight_decay,
                  float momentum, bool centered) {
#pragma omp parallel if (n > kParallelGrain)
  {
    const auto [begin, end] = thread_chunk(n);
    for (int64_t i = begin; i < end; ++i)
      optim_detail::rmsprop_update(i, param, grad, square_avg, momentum_buffer, grad_avg, lr, alpha,
                                   one_minus_alpha, eps, weight_decay, momentum, centered);
  }
}

}  // namespace cpu_kernels

namespace ops {

namespace {

std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// param: float32; grad and every state buffer: float32, param's shape and device.
void check_param_grad(const char* op, const Tensor& param, const Tensor& grad, int64_t step) {
  check_dtype(op, "param", param, DType::Float32);
  check_dtype(op, "grad", grad, DType::Float32);
  check_same_shape(op, "grad", grad, "param", param);
  check_same_device(op, "grad", grad, "param", param);
  CONVNET_CHECK_VALUE(step >= 1, op, "step", "an update number >= 1", std::to_string(step));
}

void check_state(const char* op, const char* arg, const Tensor* state, const Tensor& param, const char* when) {
  CONVNET_CHECK_VALUE(state && state->defined(), op, arg,
                      "a float32 tensor of shape " + shape_str(param.shape()) + " " + when, "None");
  check_dtype(op, arg, *state, DType::Float32);
  check_same_shape(op, arg, *state, "param", param);
  check_same_device(op, arg, *state, "param", param);
}

void check_range(const char* op, const char* arg, double v, bool ok, const char* expected) {
  CONVNET_CHECK_VALUE(ok && std::isfinite(v), op, arg, expected, num(v));
}

float* data_or_null(Tensor* t) { return t && t->defined() ? t->data<float>() : nullptr; }

}  // namespace

void sgd_step(Tensor& param, const Tensor& grad, Tensor* momentum_buffer, int64_t step, const SGDParams& p) {
  const char* op = "sgd_step";
  check_param_grad(op, param, grad, step);
  check_range(op, "lr", p.lr, p.lr >= 0, "a value >= 0");
  check_range(op, "momentum", p.momentum, p.momentum >= 0, "a value >= 0");
  check_range(op, "dampening", p.dampening, p.dampening >= 0 && p.dampening <= 1, "a value in [0, 1]");
  check_range(op, "weight_decay", p.weight_decay, p.weight_decay >= 0, "a value >= 0");
  if (p.nesterov) {
    CONVNET_CHECK_VALUE(p.momentum > 0 && p.dampening == 0, op, "nesterov",
                        "momentum > 0 and dampening = 0 (Nesterov momentum)",
                        "momentum=" + num(p.momentum) + ", dampening=" + num(p.dampening));
  }
  if (p.momentum > 0) check_state(op, "momentum_buffer", momentum_buffer, param, "when momentum > 0");
  else if (momentum_buffer && momentum_buffer->defined()) check_state(op, "momentum_buffer", momentum_buffer, param, "");
  const float one_minus_dampening = float(1.0 - p.dampening);
  CONVNET_DISPATCH(param, sgd_step, param.data<float>(), grad.data<float>(),
                   p.momentum > 0 ? momentum_buffer->data<float>() : nullptr, param.numel(), float(p.lr),
                   float(p.momentum), one_minus_dampening, float(p.weight_decay), p.nesterov, step == 1);
}

void adam_step(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, int64_t step,
               const AdamParams& p) {
  const char* op = p.decoupled_weight_decay ? "adamw_step" : "adam_step";
  check_param_grad(op, param, grad, step);
  check_state(op, "exp_avg", &exp_avg, param, "");
  check_state(op, "exp_avg_sq", &exp_avg_sq, param, "");
  check_range(op, "lr", p.lr, p.lr >= 0, "a value >= 0");
  check_range(op, "beta1", p.beta1, p.beta1 >= 0 && p.beta1 < 1, "a value in [0, 1)");
  check_range(op, "beta2", p.beta2, p.beta2 >= 0 && p.beta2 < 1, "a value in [0, 1)");
  check_range(op, "eps", p.eps, p.eps > 0, "a value > 0");
  check_range(op, "weight_decay", p.weight_decay, p.weight_decay >= 0, "a value >= 0");
  // The scalars in double on the host, as PyTorch computes them in Python floats.
  const double lr = p.lr, beta1 = p.beta1, beta2 = p.beta2, wd = p.weight_decay;
  const float step_size = float(lr / (1.0 - std::pow(beta1, double(step))));
  const float bc2_sqrt = float(std::sqrt(1.0 - std::pow(beta2, double(step))));
  const float decay = p.decoupled_weight_decay ? float(1.0 - lr * wd) : 1.0f;
  const float coupled_wd = p.decoupled_weight_decay ? 0.0f : float(p.weight_decay);
  CONVNET_DISPATCH(param, adam_step, param.data<float>(), grad.data<float>(), exp_avg.data<float>(),
                   exp_avg_sq.data<float>(), param.numel(), float(1.0 - beta1), float(beta2), float(1.0 - beta2),
                   float(p.eps),
                   coupled_wd, decay, step_size, bc2_sqrt);
}
void rmsprop_step(Tensor& param, const Tensor& grad, Tensor& square_avg, Tensor* momentum_buffer, Tensor* grad_avg,
                  int64_t step, const RMSpropParams& p) {
  const char* op = "rmsprop_step";
  check_param_grad(op, param, grad, step);
  check_state(op, "square_avg", &square_avg, param, "");
  check_range(op, "lr", p.lr, p.lr >= 0, "a value >= 0");
  check_range(op, "alpha", p.alpha, p.alpha >= 0 && p.alpha < 1, "a value in [0, 1)");
  check_range(op, "eps", p.eps, p.eps > 0, "a value > 0");
  check_range(op, "weight_decay", p.weight_decay, p.weight_decay >= 0, "a value >= 0");
  check_range(op, "momentum", p.momentum, p.momentum >= 0, "a value >= 0");
  if (p.momentum > 0 || (momentum_buffer && momentum_buffer->defined()))
    check_state(op, "momentum_buffer", momentum_buffer, param, "when momentum > 0");
  if (p.centered || (grad_avg && grad_avg->defined()))
    check_state(op, "grad_avg", grad_avg, param, "when centered=True");
  CONVNET_DISPATCH(param, rmsprop_step, param.data<float>(), grad.data<float>(), square_avg.data<float>(),
                   p.momentum > 0 ? data_or_null(momentum_buffer) : nullptr, p.centered ? data_or_null(grad_avg) : nullptr,
                   param.numel(), float(p.lr), float(p.alpha), float(1.0 - p.alpha), float(p.eps),
                   float(p.weight_decay), float(p.momentum), p.centered);
}

}  // namespace ops
}  // namespace convnet
