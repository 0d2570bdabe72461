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
void sgd_step(float* param, const float* grad, float* momentum_buffer, int64_t n, const ops::SGDScalars* s,
              bool nesterov, const int64_t* halt) {
  if (halt && *halt >= 0) return;
  const ops::SGDScalars c = *s;
#pragma omp parallel if (n > kParallelGrain)
  {
    const auto [begin, end] = thread_chunk(n);
    for (int64_t i = begin; i < end; ++i)
      optim_detail::sgd_update(i, param, grad, momentum_buffer, c.lr, c.momentum, c.one_minus_dampening,
                               c.weight_decay, nesterov, c.first_step != 0.0f);
  }
}

CONVNET_CPU_KERNEL
void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
               const ops::AdamScalars* s, const int64_t* halt) {
  if (halt && *halt >= 0) return;
  const ops::AdamScalars c = *s;
#pragma omp parallel if (n > kParallelGrain)
  {
    const auto [begin, end] = thread_chunk(n);
    for (int64_t i = begin; i < end; ++i)
      optim_detail::adam_update(i, param, grad, exp_avg, exp_avg_sq, c.one_minus_beta1, c.beta2, c.one_minus_beta2,
                                c.eps, c.weight_decay, c.decay, c.step_size, c.bias_correction2_sqrt);
  }
}

CONVNET_CPU_KERNEL
void rmsprop_step(float* param, const float* grad, float* square_avg, float* momentum_buffer, float* grad_avg,
                  int64_t n, const ops::RMSpropScalars* s, bool centered, const int64_t* halt) {
  if (halt && *halt >= 0) return;
  const ops::RMSpropScalars c = *s;
#pragma omp parallel if (n > kParallelGrain)
  {
    const auto [begin, end] = thread_chunk(n);
    for (int64_t i = begin; i < end; ++i)
      optim_detail::rmsprop_update(i, param, grad, square_avg, momentum_buffer, grad_avg, c.lr, c.alpha,
                                   c.one_minus_alpha, c.eps, c.weight_decay, c.momentum, centered);
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

// param: float32; grad and every state buffer: float32, param's shape and device; param and the
// state (updated in place) writable.
void check_param_grad(const char* op, const Tensor& param, const Tensor& grad) {
  check_dtype(op, "param", param, DType::Float32);
  check_writable(op, "param", param);
  check_dtype(op, "grad", grad, DType::Float32);
  check_same_shape(op, "grad", grad, "param", param);
  check_same_device(op, "grad", grad, "param", param);
}

void check_state(const char* op, const char* arg, const Tensor* state, const Tensor& param, const char* when) {
  CONVNET_CHECK_VALUE(state && state->defined(), op, arg,
                      "a float32 tensor of shape " + shape_str(param.shape()) + " " + when, "None");
  check_dtype(op, arg, *state, DType::Float32);
  check_writable(op, arg, *state);
  check_same_shape(op, arg, *state, "param", param);
  check_same_device(op, arg, *state, "param", param);
}

void check_range(const char* op, const char* arg, double v, bool ok, const char* expected) {
  CONVNET_CHECK_VALUE(ok && std::isfinite(v), op, arg, expected, num(v));
}

float* data_or_null(Tensor* t) { return t && t->defined() ? t->data<float>() : nullptr; }

void check_step(const char* op, int64_t step) {
  CONVNET_CHECK_VALUE(step >= 1, op, "step", "an update number >= 1", std::to_string(step));
}

// scalars: the step's constants, a float32 tensor of sizeof(S)/4 elements on param's device.
template <class S>
const S* scalars_of(const char* op, const Tensor& scalars, const Tensor& param) {
  check_step_value(op, "scalars", scalars, DType::Float32, sizeof(S) / sizeof(float), param);
  return reinterpret_cast<const S*>(scalars.data<float>());
}

const int64_t* halt_of(const char* op, const Tensor* halt, const Tensor& param) {
  if (!halt) return nullptr;
  check_step_value(op, "halt", *halt, DType::Int64, 1, param);
  return halt->data<int64_t>();
}

template <class S>
Tensor scalars_tensor(const S& s, const Tensor& param) {
  return Tensor::from_values(scalar_floats(s), param.device());
}

}  // namespace

SGDScalars sgd_scalars(int64_t step, const SGDParams& p) {
  const char* op = "sgd_step";
  check_step(op, step);
  check_range(op, "lr", p.lr, p.lr >= 0, "a value >= 0");
  check_range(op, "momentum", p.momentum, p.momentum >= 0, "a value >= 0");
  check_range(op, "dampening", p.dampening, p.dampening >= 0 && p.dampening <= 1, "a value in [0, 1]");
  check_range(op, "weight_decay", p.weight_decay, p.weight_decay >= 0, "a value >= 0");
  if (p.nesterov) {
    CONVNET_CHECK_VALUE(p.momentum > 0 && p.dampening == 0, op, "nesterov",
                        "momentum > 0 and dampening = 0 (Nesterov momentum)",
                        "momentum=" + num(p.momentum) + ", dampening=" + num(p.dampening));
  }
  return {float(p.lr), float(p.momentum), float(1.0 - p.dampening), float(p.weight_decay), step == 1 ? 1.0f : 0.0f};
}

AdamScalars adam_scalars(int64_t step, const AdamParams& p) {
  const char* op = p.decoupled_weight_decay ? "adamw_step" : "adam_step";
  check_step(op, step);
  check_range(op, "lr", p.lr, p.lr >= 0, "a value >= 0");
  check_range(op, "beta1", p.beta1, p.beta1 >= 0 && p.beta1 < 1, "a value in [0, 1)");
  check_range(op, "beta2", p.beta2, p.beta2 >= 0 && p.beta2 < 1, "a value in [0, 1)");
  check_range(op, "eps", p.eps, p.eps > 0, "a value > 0");
  check_range(op, "weight_decay", p.weight_decay, p.weight_decay >= 0, "a value >= 0");
  // The scalars in double on the host, as PyTorch computes them in Python floats.
  const double lr = p.lr, beta1 = p.beta1, beta2 = p.beta2, wd = p.weight_decay;
  AdamScalars s;
  s.one_minus_beta1 = float(1.0 - beta1);
  s.beta2 = float(beta2);
  s.one_minus_beta2 = float(1.0 - beta2);
  s.eps = float(p.eps);
  s.weight_decay = p.decoupled_weight_decay ? 0.0f : float(wd);
  s.decay = p.decoupled_weight_decay ? float(1.0 - lr * wd) : 1.0f;
  s.step_size = float(lr / (1.0 - std::pow(beta1, double(step))));
  s.bias_correction2_sqrt = float(std::sqrt(1.0 - std::pow(beta2, double(step))));
  return s;
}

RMSpropScalars rmsprop_scalars(int64_t step, const RMSpropParams& p) {
  const char* op = "rmsprop_step";
  check_step(op, step);
  check_range(op, "lr", p.lr, p.lr >= 0, "a value >= 0");
  check_range(op, "alpha", p.alpha, p.alpha >= 0 && p.alpha < 1, "a value in [0, 1)");
  check_range(op, "eps", p.eps, p.eps > 0, "a value > 0");
  check_range(op, "weight_decay", p.weight_decay, p.weight_decay >= 0, "a value >= 0");
  check_range(op, "momentum", p.momentum, p.momentum >= 0, "a value >= 0");
  return {float(p.lr), float(p.alpha), float(1.0 - p.alpha), float(p.eps), float(p.weight_decay), float(p.momentum)};
}

void sgd_step(Tensor& param, const Tensor& grad, Tensor* momentum_buffer, const Tensor& scalars, const SGDParams& p,
              const Tensor* halt) {
  const char* op = "sgd_step";
  check_param_grad(op, param, grad);
  if (p.momentum > 0) check_state(op, "momentum_buffer", momentum_buffer, param, "when momentum > 0");
  else if (momentum_buffer && momentum_buffer->defined()) check_state(op, "momentum_buffer", momentum_buffer, param, "");
  CONVNET_DISPATCH(param, sgd_step, param.data<float>(), grad.data<float>(),
                   p.momentum > 0 ? momentum_buffer->data<float>() : nullptr, param.numel(),
                   scalars_of<SGDScalars>(op, scalars, param), p.nesterov, halt_of(op, halt, param));
}

void adam_step(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, const Tensor& scalars,
               const AdamParams& p, const Tensor* halt) {
  const char* op = p.decoupled_weight_decay ? "adamw_step" : "adam_step";
  check_param_grad(op, param, grad);
  check_state(op, "exp_avg", &exp_avg, param, "");
  check_state(op, "exp_avg_sq", &exp_avg_sq, param, "");
  CONVNET_DISPATCH(param, adam_step, param.data<float>(), grad.data<float>(), exp_avg.data<float>(),
                   exp_avg_sq.data<float>(), param.numel(), scalars_of<AdamScalars>(op, scalars, param),
                   halt_of(op, halt, param));
}

void rmsprop_step(Tensor& param, const Tensor& grad, Tensor& square_avg, Tensor* momentum_buffer, Tensor* grad_avg,
                  const Tensor& scalars, const RMSpropParams& p, const Tensor* halt) {
  const char* op = "rmsprop_step";
  check_param_grad(op, param, grad);
  check_state(op, "square_avg", &square_avg, param, "");
  if (p.momentum > 0 || (momentum_buffer && momentum_buffer->defined()))
    check_state(op, "momentum_buffer", momentum_buffer, param, "when momentum > 0");
  if (p.centered || (grad_avg && grad_avg->defined()))
    check_state(op, "grad_avg", grad_avg, param, "when centered=True");
  CONVNET_DISPATCH(param, rmsprop_step, param.data<float>(), grad.data<float>(), square_avg.data<float>(),
                   p.momentum > 0 ? data_or_null(momentum_buffer) : nullptr, p.centered ? data_or_null(grad_avg) : nullptr,
                   param.numel(), scalars_of<RMSpropScalars>(op, scalars, param), p.centered,
                   halt_of(op, halt, param));
}

void sgd_step(Tensor& param, const Tensor& grad, Tensor* momentum_buffer, int64_t step, const SGDParams& p) {
  sgd_step(param, grad, momentum_buffer, scalars_tensor(sgd_scalars(step, p), param), p);
}

void adam_step(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, int64_t step,
               const AdamParams& p) {
  adam_step(param, grad, exp_avg, exp_avg_sq, scalars_tensor(adam_scalars(step, p), param), p);
}

void rmsprop_step(Tensor& param, const Tensor& grad, Tensor& square_avg, Tensor* momentum_buffer, Tensor* grad_avg,
                  int64_t step, const RMSpropParams& p) {
  rmsprop_step(param, grad, square_avg, momentum_buffer, grad_avg, scalars_tensor(rmsprop_scalars(step, p), param),
               p);
}

}  // namespace ops
}  // namespace convnet
