// Elementwise ops: contracts, dispatch and CPU kernels.
#include "ops/elementwise.h"

#include <cmath>
#include <string>

#include "core/checks.h"
#include "kernels/cpu_simd.h"
#include "ops/dispatch.h"

namespace convnet {

namespace cpu_kernels {
CONVNET_CPU_KERNEL
void add_forward(float* y, const float* a, const float* b, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

void rescale(float* y, const float* x, int64_t n, float scale, float offset) {
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) y[i] = scale * x[i] + offset;
}

CONVNET_CPU_KERNEL
void dropout_apply(float* y, const float* x, int64_t n, float p, float scale, const int64_t* seed_in) {
  const uint64_t seed = static_cast<uint64_t>(*seed_in);
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) y[i] = dropout_uniform(seed, static_cast<uint64_t>(i)) >= p ? x[i] * scale : 0.0f;
}
}  // namespace cpu_kernels

namespace ops {

Shape add_output_shape(const Tensor& a, const Tensor& b) {
  check_dtype("add", "a", a, DType::Float32);
  check_dtype("add", "b", b, DType::Float32);
  check_nonempty("add", "a", a);
  check_same_shape("add", "b", b, "a", a);
  check_same_device("add", "b", b, "a", a);
  return a.shape();
}

void add_forward(Tensor& y, const Tensor& a, const Tensor& b) {
  check_output("add", "y", y, add_output_shape(a, b), a);
  CONVNET_DISPATCH(a, add_forward, y.data<float>(), a.data<float>(), b.data<float>(), a.numel());
}

void add_backward(Tensor* da, Tensor* db, const Tensor& dy) {
  check_dtype("add_backward", "grad_out", dy, DType::Float32);
  // The gradient of a sum flows unchanged to both operands.
  if (da) { check_output("add_backward", "grad_a", *da, dy.shape(), dy); da->copy_from(dy); }
  if (db) { check_output("add_backward", "grad_b", *db, dy.shape(), dy); db->copy_from(dy); }
}

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor y = Tensor::empty(add_output_shape(a, b), DType::Float32, a.device());
  add_forward(y, a, b);
  return y;
}

// ---- rescale ----

Shape rescale_output_shape(const Tensor& x, float scale, float offset) {
  check_dtype("rescale", "x", x, DType::Float32);
  CONVNET_CHECK_VALUE(std::isfinite(scale) && std::isfinite(offset), "rescale", "scale/offset", "finite numbers",
                      std::to_string(scale) + ", " + std::to_string(offset));
  return x.shape();
}

void rescale_forward(Tensor& y, const Tensor& x, float scale, float offset) {
  check_output("rescale", "y", y, rescale_output_shape(x, scale, offset), x);
  CONVNET_DISPATCH(x, rescale, y.data<float>(), x.data<float>(), x.numel(), scale, offset);
}

void rescale_backward(Tensor& dx, const Tensor& dy, float scale) {
  check_output("rescale_backward", "grad_x", dx, rescale_output_shape(dy, scale, 0.0f), dy);
  CONVNET_DISPATCH(dy, rescale, dx.data<float>(), dy.data<float>(), dy.numel(), scale, 0.0f);
}

Tensor rescale(const Tensor& x, float scale, float offset) {
  Tensor y = Tensor::empty(rescale_output_shape(x, scale, offset), DType::Float32, x.device());
  rescale_forward(y, x, scale, offset);
  return y;
}

// ---- dropout ----

static void check_dropout_p(const char* op, float p) {
  CONVNET_CHECK_VALUE(p >= 0.0f && p < 1.0f, op, "p", "a probability in [0, 1)", std::to_string(p));
}

Shape dropout_output_shape(const Tensor& x, float p) {
  check_dtype("dropout", "x", x, DType::Float32);
  check_dropout_p("dropout", p);
  return x.shape();
}

void dropout_forward(Tensor& y, const Tensor& x, float p, const Tensor& seed) {
  check_output("dropout", "y", y, dropout_output_shape(x, p), x);
  check_step_value("dropout", "seed", seed, DType::Int64, 1, x);
  const float scale = 1.0f / (1.0f - p);
  CONVNET_DISPATCH(x, dropout_apply, y.data<float>(), x.data<float>(), x.numel(), p, scale, seed.data<int64_t>());
}

void dropout_backward(Tensor& dx, const Tensor& dy, float p, const Tensor& seed) {
  check_dtype("dropout_backward", "grad_out", dy, DType::Float32);
  check_dropout_p("dropout_backward", p);
  check_output("dropout_backward", "grad_x", dx, dy.shape(), dy);
  check_step_value("dropout_backward", "seed", seed, DType::Int64, 1, dy);
  // The same mask (regenerated from the seed) and the same scale as the forward pass.
  const float scale = 1.0f / (1.0f - p);
  CONVNET_DISPATCH(dy, dropout_apply, dx.data<float>(), dy.data<float>(), dy.numel(), p, scale,
                   seed.data<int64_t>());
}

Tensor seed_tensor(uint64_t seed, Device device) {
  return Tensor::from_values(std::vector<int64_t>{static_cast<int64_t>(seed)}, device);
}

void dropout_forward(Tensor& y, const Tensor& x, float p, uint64_t seed) {
  dropout_forward(y, x, p, seed_tensor(seed, x.device()));
}

void dropout_backward(Tensor& dx, const Tensor& dy, float p, uint64_t seed) {
  dropout_backward(dx, dy, p, seed_tensor(seed, dy.device()));
}

Tensor dropout(const Tensor& x, float p, uint64_t seed) {
  Tensor y = Tensor::empty(dropout_output_shape(x, p), DType::Float32, x.device());
  dropout_forward(y, x, p, seed);
  return y;
}

// ---- flatten ----

Shape flatten_output_shape(const Tensor& x) {
  check_dtype("flatten", "x", x, DType::Float32);
  CONVNET_CHECK_VALUE(x.dim() >= 1, "flatten", "x", "a tensor of rank >= 1 (N, ...)",
                      "a 0-d tensor");
  int64_t rest = 1;
  for (int64_t d = 1; d < x.dim(); ++d) rest *= x.size(d);
  return {x.size(0), rest};
}

void flatten_forward(Tensor& y, const Tensor& x) {
  check_output("flatten", "y", y, flatten_output_shape(x), x);
  y.copy_from(x);
}

void flatten_backward(Tensor& dx, const Tensor& dy) {
  check_dtype("flatten_backward", "grad_out", dy, DType::Float32);
  check_dtype("flatten_backward", "grad_x", dx, DType::Float32);
  check_output("flatten_backward", "grad_out", dy, flatten_output_shape(dx), dx);
  dx.copy_from(dy);
}

Tensor flatten(const Tensor& x) { return x.reshape(flatten_output_shape(x)); }

}  // namespace ops
}  // namespace convnet
