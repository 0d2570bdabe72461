// Activations: elementwise, any shape (x and y have the same shape; buffers are flat).
//   relu:       y = max(x, 0)                       dx = dy * (x > 0)       (gradient 0 at x == 0, like PyTorch)
//   leaky_relu: y = x > 0 ? x : alpha * x           dx = dy * (x > 0 ? 1 : alpha)
//   elu:        y = x > 0 ? x : alpha * (e^x - 1)    dx = dy * (x > 0 ? 1 : alpha * e^x)
//   sigmoid:    y = 1 / (1 + e^-x)                  dx = dy * y * (1 - y)
//   tanh:       y = tanh(x)                         dx = dy * (1 - y^2)
// alpha: the leaky slope or the elu alpha (ignored by the others); must be finite.
// Backward reads the saved forward input x (relu, leaky_relu, elu) or output y (sigmoid, tanh); the one it
// does not read may be an undefined Tensor.
//
// Softmax over an axis (negative counts from the end), any rank >= 1, numerically stable
// (the row's max is subtracted before exp). The tensor is seen as (outer, D, inner) with D the axis size:
//   softmax:     y = e^(x - max) / sum(e^(x - max))           dx = y * (dy - sum(dy * y))
//   log_softmax: y = x - max - log(sum(e^(x - max)))           dx = dy - e^y * sum(dy)
// (sums along the axis). Backward takes the saved output y.
// In place is allowed everywhere in this file: y may be x (forward), dx may be dy (backward).
// Conventions: see elementwise.h (outputs are caller-owned, gradients are written (=), never accumulated).
#pragma once
#include <string>

#include "core/tensor.h"

namespace convnet {
namespace ops {

enum class Activation { ReLU, LeakyReLU, ELU, Sigmoid, Tanh };
// "relu", "leaky_relu", "elu", "sigmoid", "tanh" -> Activation; ValueError naming the choices otherwise.
Activation parse_activation(const std::string& name);
const char* activation_name(Activation kind);  // the inverse: "relu", ...

// The contract: checks x, kind and alpha; returns x's shape.
Shape activation_output_shape(const Tensor& x, Activation kind, float alpha);
// The same checks naming `op` and `arg` in errors (bindings of backward use it).
Shape activation_contract(const std::string& op, const std::string& arg, const Tensor& x, Activation kind, float alpha);
void activation_forward(Tensor& y, const Tensor& x, Activation kind, float alpha);
void activation_backward(Tensor& dx, const Tensor& dy, const Tensor& x, const Tensor& y, Activation kind, float alpha);
Tensor activation(const Tensor& x, Activation kind, float alpha);

// The contract: checks x and axis (in [-rank, rank)); returns x's shape.
Shape softmax_output_shape(const Tensor& x, int axis);
Shape softmax_contract(const std::string& op, const std::string& arg, const Tensor& x, int axis);  // naming op, arg
void softmax_forward(Tensor& y, const Tensor& x, int axis);
void softmax_backward(Tensor& dx, const Tensor& dy, const Tensor& y, int axis);
void log_softmax_forward(Tensor& y, const Tensor& x, int axis);
void log_softmax_backward(Tensor& dx, const Tensor& dy, const Tensor& y, int axis);
Tensor softmax(const Tensor& x, int axis);
Tensor log_softmax(const Tensor& x, int axis);

}  // namespace ops

// Kernels: valid arguments assumed. Activations: n elements (x or y may be nullptr where the kind does not
// read it). Softmax: (outer, D, inner) row-major; `log` selects log_softmax.
namespace cpu_kernels {
void activation_forward(float* y, const float* x, int64_t n, ops::Activation kind, float alpha);
void activation_backward(float* dx, const float* dy, const float* x, const float* y, int64_t n, ops::Activation kind,
                         float alpha);
void softmax_forward(float* y, const float* x, int64_t outer, int64_t D, int64_t inner, bool log);
void softmax_backward(float* dx, const float* dy, const float* y, int64_t outer, int64_t D, int64_t inner, bool log);
}  // namespace cpu_kernels
namespace cuda_kernels {
void activation_forward(float* y, const float* x, int64_t n, ops::Activation kind, float alpha);
void activation_backward(float* dx, const float* dy, const float* x, const float* y, int64_t n, ops::Activation kind,
                         float alpha);
void softmax_forward(float* y, const float* x, int64_t outer, int64_t D, int64_t inner, bool log);
void softmax_backward(float* dx, const float* dy, const float* y, int64_t outer, int64_t D, int64_t inner, bool log);
}  // namespace cuda_kernels

}  // namespace convnet
