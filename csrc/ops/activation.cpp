// Activations and softmax: contracts, dispatch and CPU kernels.
#include "ops/activation.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/checks.h"
#include "kernels/cpu_simd.h"
#include "ops/dispatch.h"

namespace convnet {

namespace cpu_kernels {

// One loop per kind, so each is a plain vectorisable loop over each thread's share of the n elements.
#define CONVNET_ELEMENTWISE(body)                      \
  _Pragma("omp parallel if (n > kParallelGrain)") {    \
    const auto [begin, end] = thread_chunk(n);         \
    for (int64_t i = begin; i < end; ++i) body         \
  }

CONVNET_CPU_KERNEL
void activation_forward(float* y, const float* x, int64_t n, ops::Activation kind, float alpha) {
  switch (kind) {
    case ops::Activation::ReLU:
      CONVNET_ELEMENTWISE({ y[i] = x[i] < 0.0f ? 0.0f : x[i]; });  // NaN stays NaN
      break;
    case ops::Activation::LeakyReLU:
      CONVNET_ELEMENTWISE({ y[i] = x[i] > 0.0f ? x[i] : alpha * x[i]; });
      break;
    case ops::Activation::ELU:
      CONVNET_ELEMENTWISE({ y[i] = x[i] > 0.0f ? x[i] : alpha * std::expm1(x[i]); });
      break;
    case ops::Activation::Sigmoid:  // exp(-x) -> inf gives 0, -> 0 gives 1: no NaN at the extremes
      CONVNET_ELEMENTWISE({ y[i] = 1.0f / (1.0f + std::exp(-x[i])); });
      break;
    case ops::Activation::Tanh:
      CONVNET_ELEMENTWISE({ y[i] = std::tanh(x[i]); });
      break;
  }
}

CONVNET_CPU_KERNEL
void activation_backward(float* dx, const float* dy, const float* x, const float* y, int64_t n, ops::Activation kind,
                         float alpha) {
  switch (kind) {
    case ops::Activation::ReLU:  // 0 at x == 0, like PyTorch
      CONVNET_ELEMENTWISE({ dx[i] = x[i] > 0.0f ? dy[i] : 0.0f; });
      break;
    case ops::Activation::LeakyReLU:
      CONVNET_ELEMENTWISE({ dx[i] = x[i] > 0.0f ? dy[i] : alpha * dy[i]; });
      break;
    case ops::Activation::ELU:  // d/dx alpha (e^x - 1) = alpha e^x
      CONVNET_ELEMENTWISE({ dx[i] = x[i] > 0.0f ? dy[i] : dy[i] * alpha * std::exp(x[i]); });
      break;
    case ops::Activation::Sigmoid:
      CONVNET_ELEMENTWISE({ dx[i] = dy[i] * y[i] * (1.0f - y[i]); });
      break;
    case ops::Activation::Tanh:
      CONVNET_ELEMENTWISE({ dx[i] = dy[i] * (1.0f - y[i] * y[i]); });
      break;
  }
}
#undef CONVNET_ELEMENTWISE

// x is (outer, D, inner); softmax runs along D. Each `o` block is handled whole, with its inner
// positions as contiguous vectors (per-position running max and sum in scratch rows), so the loops
// stay unit-stride whatever the axis; inner == 1 is the usual (N, K) logits case.
CONVNET_CPU_KERNEL
void softmax_forward(float* y, const float* x, int64_t outer, int64_t D, int64_t inner, bool log) {
#pragma omp parallel if (outer * D * inner > 16384)
  {
    std::vector<float> m(inner), s(inner);
#pragma omp for schedule(static)
    for (int64_t o = 0; o < outer; ++o) {
      const float* xo = x + o * D * inner;
      float* yo = y + o * D * inner;
      if (inner == 1) {  // one contiguous row of D
        const float mx = *std::max_element(xo, xo + D);
        float sum = 0.0f;
        if (log) {  // y may alias x: x is read again below, so e^(x - max) is not stored
          for (int64_t d = 0; d < D; ++d) sum += std::exp(xo[d] - mx);
          const float lse = mx + std::log(sum);
          for (int64_t d = 0; d < D; ++d) yo[d] = xo[d] - lse;
        } else {
          for (int64_t d = 0; d < D; ++d) sum += (yo[d] = std::exp(xo[d] - mx));
          const float inv = 1.0f / sum;
          for (int64_t d = 0; d < D; ++d) yo[d] *= inv;
        }
        continue;
      }
      std::copy(xo, xo + inner, m.begin());
      for (int64_t d = 1; d < D; ++d)
        for (int64_t i = 0; i < inner; ++i) m[i] = std::max(m[i], xo[d * inner + i]);
      std::fill(s.begin(), s.end(), 0.0f);
      if (log) {  // y = x - max - log(sum); y may alias x, so e^(x - max) is not stored
        for (int64_t d = 0; d < D; ++d)
          for (int64_t i = 0; i < inner; ++i) s[i] += std::exp(xo[d * inner + i] - m[i]);
        for (int64_t i = 0; i < inner; ++i) m[i] += std::log(s[i]);
        for (int64_t d = 0; d < D; ++d)
          for (int64_t i = 0; i < inner; ++i) yo[d * inner + i] = xo[d * inner + i] - m[i];
      } else {  // y = e^(x - max) / sum
        for (int64_t d = 0; d < D; ++d)
          for (int64_t i = 0; i < inner; ++i) s[i] += (yo[d * inner + i] = std::exp(xo[d * inner + i] - m[i]));
        for (int64_t i = 0; i < inner; ++i) s[i] = 1.0f / s[i];
        for (int64_t d = 0; d < D; ++d)
          for (int64_t i = 0; i < inner; ++i) yo[d * inner + i] *= s[i];
      }
    }
  }
}

CONVNET_CPU_KERNEL
void softmax_backward(float* dx, const float* dy, const float* y, int64_t outer, int64_t D, int64_t inner, bool log) {
#pragma omp parallel if (outer * D * inner > 16384)
  {
    std::vector<float> s(inner);
#pragma omp for schedule(static)
    for (int64_t o = 0; o < outer; ++o) {
      const int64_t base = o * D * inner;
      const float *dyo = dy + base, *yo = y + base;
      float* dxo = dx + base;
      if (inner == 1) {  // one contiguous row of D
        float sum = 0.0f;
        if (log) {
          for (int64_t d = 0; d < D; ++d) sum += dyo[d];
          for (int64_t d = 0; d < D; ++d) dxo[d] = dyo[d] - std::exp(yo[d]) * sum;
        } else {
          for (int64_t d = 0; d < D; ++d) sum += dyo[d] * yo[d];
          for (int64_t d = 0; d < D; ++d) dxo[d] = yo[d] * (dyo[d] - sum);
        }
        continue;
      }
      std::fill(s.begin(), s.end(), 0.0f);
      if (log) {  // dx = dy - e^y * sum(dy)
        for (int64_t d = 0; d < D; ++d)
          for (int64_t i = 0; i < inner; ++i) s[i] += dyo[d * inner + i];
        for (int64_t d = 0; d < D; ++d)
          for (int64_t i = 0; i < inner; ++i) dxo[d * inner + i] = dyo[d * inner + i] - std::exp(yo[d * inner + i]) * s[i];
      } else {  // dx = y * (dy - sum(dy * y))
        for (int64_t d = 0; d < D; ++d)
          for (int64_t i = 0; i < inner; ++i) s[i] += dyo[d * inner + i] * yo[d * inner + i];
        for (int64_t d = 0; d < D; ++d)
          for (int64_t i = 0; i < inner; ++i) dxo[d * inner + i] = yo[d * inner + i] * (dyo[d * inner + i] - s[i]);
      }
    }
  }
}

}  // namespace cpu_kernels

namespace ops {

static const char* const kActivationNames[] = {"relu", "leaky_relu", "elu", "sigmoid", "tanh"};

Activation parse_activation(const std::string& name) {
  for (int k = 0; k < 5; ++k)
    if (name == kActivationNames[k]) return static_cast<Activation>(k);
  throw ValueError(arg_message("activation", "name", "one of 'relu', 'leaky_relu', 'elu', 'sigmoid', 'tanh'",
                               "'" + name + "'"));
}

const char* activation_name(Activation kind) {
  const int k = static_cast<int>(kind);
  return k >= 0 && k < 5 ? kActivationNames[k] : "activation";
}

// Checks a tensor the activation reads (x, or the saved y in backward), kind and alpha.
Shape activation_contract(const std::string& op, const std::string& arg, const Tensor& t, Activation kind,
                          float alpha) {
  const int k = static_cast<int>(kind);
  CONVNET_CHECK_VALUE(k >= 0 && k < 5, op, "kind", "ReLU, LeakyReLU, ELU, Sigmoid or Tanh", std::to_string(k));
  check_dtype(op, arg, t, DType::Float32);
  check_nonempty(op, arg, t);
  if (kind == Activation::LeakyReLU || kind == Activation::ELU)
    CONVNET_CHECK_VALUE(std::isfinite(alpha), op, kind == Activation::ELU ? "alpha" : "negative_slope",
                        "a finite number", std::to_string(alpha));
  return t.shape();
}

Shape activation_output_shape(const Tensor& x, Activation kind, float alpha) {
  return activation_contract(activation_name(kind), "x", x, kind, alpha);
}

void activation_forward(Tensor& y, const Tensor& x, Activation kind, float alpha) {
  check_output(activation_name(kind), "y", y, activation_output_shape(x, kind, alpha), x);
  CONVNET_DISPATCH(x, activation_forward, y.data<float>(), x.data<float>(), x.numel(), kind, alpha);
}

void activation_backward(Tensor& dx, const Tensor& dy, const Tensor& x, const Tensor& y, Activation kind,
                         float alpha) {
  const std::string op = std::string(activation_name(kind)) + "_backward";
  // sigmoid and tanh read the saved output y, the others the saved input x.
  const bool uses_y = kind == Activation::Sigmoid || kind == Activation::Tanh;
  const Tensor& saved = uses_y ? y : x;
  const char* saved_arg = uses_y ? "y" : "x";
  activation_contract(op, saved_arg, saved, kind, alpha);
  check_dtype(op, "grad_out", dy, DType::Float32);
  check_same_shape(op, "grad_out", dy, saved_arg, saved);
  check_same_device(op, "grad_out", dy, saved_arg, saved);
  check_output(op, "grad_x", dx, saved.shape(), saved);
  CONVNET_DISPATCH(dy, activation_backward, dx.data<float>(), dy.data<float>(), uses_y ? nullptr : x.data<float>(),
                   uses_y ? y.data<float>() : nullptr, dy.numel(), kind, alpha);
}

Tensor activation(const Tensor& x, Activation kind, float alpha) {
  Tensor y = Tensor::empty(activation_output_shape(x, kind, alpha), DType::Float32, x.device());
  activation_forward(y, x, kind, alpha);
  return y;
}

// (outer, D, inner) of x around `axis` (already checked).
struct Rows {
  int64_t outer = 1, D = 1, inner = 1;
};
static Rows rows_of(const Shape& shape, int axis) {
  const int64_t a = axis < 0 ? axis + int64_t(shape.size()) : axis;
  Rows r;
  for (int64_t k = 0; k < int64_t(shape.size()); ++k) {
    if (k < a) r.outer *= shape[k];
    else if (k == a) r.D = shape[k];
    else r.inner *= shape[k];
  }
  return r;
}

Shape softmax_contract(const std::string& op, const std::string& arg, const Tensor& x, int axis) {
  check_dtype(op, arg, x, DType::Float32);
  check_nonempty(op, arg, x);
  const int64_t rank = x.dim();
  CONVNET_CHECK_VALUE(rank >= 1 && axis >= -rank && axis < rank, op, "axis",
                      "an axis in [" + std::to_string(-rank) + ", " + std::to_string(rank) + ") for a " +
                          std::to_string(rank) + "-D tensor of shape " + shape_str(x.shape()),
                      std::to_string(axis));
  return x.shape();
}

Shape softmax_output_shape(const Tensor& x, int axis) { return softmax_contract("softmax", "x", x, axis); }

static void softmax_forward_op(const char* op, Tensor& y, const Tensor& x, int axis, bool log) {
  check_output(op, "y", y, softmax_contract(op, "x", x, axis), x);
  const Rows r = rows_of(x.shape(), axis);
  CONVNET_DISPATCH(x, softmax_forward, y.data<float>(), x.data<float>(), r.outer, r.D, r.inner, log);
}

static void softmax_backward_op(const char* op, Tensor& dx, const Tensor& dy, const Tensor& y, int axis, bool log) {
  softmax_contract(op, "y", y, axis);
  check_dtype(op, "grad_out", dy, DType::Float32);
  check_same_shape(op, "grad_out", dy, "y", y);
  check_same_device(op, "grad_out", dy, "y", y);
  check_output(op, "grad_x", dx, y.shape(), y);
  const Rows r = rows_of(y.shape(), axis);
  CONVNET_DISPATCH(y, softmax_backward, dx.data<float>(), dy.data<float>(), y.data<float>(), r.outer, r.D, r.inner,
                   log);
}

void softmax_forward(Tensor& y, const Tensor& x, int axis) { softmax_forward_op("softmax", y, x, axis, false); }
void softmax_backward(Tensor& dx, const Tensor& dy, const Tensor& y, int axis) {
  softmax_backward_op("softmax_backward", dx, dy, y, axis, false);
}
void log_softmax_forward(Tensor& y, const Tensor& x, int axis) { softmax_forward_op("log_softmax", y, x, axis, true); }
void log_softmax_backward(Tensor& dx, const Tensor& dy, const Tensor& y, int axis) {
  softmax_backward_op("log_softmax_backward", dx, dy, y, axis, true);
}

Tensor softmax(const Tensor& x, int axis) {
  Tensor y = Tensor::empty(softmax_contract("softmax", "x", x, axis), DType::Float32, x.device());
  softmax_forward(y, x, axis);
  return y;
}

Tensor log_softmax(const Tensor& x, int axis) {
  Tensor y = Tensor::empty(softmax_contract("log_softmax", "x", x, axis), DType::Float32, x.device());
  log_softmax_forward(y, x, axis);
  return y;
}

}  // namespace ops
}  // namespace convnet
