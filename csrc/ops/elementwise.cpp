// Elementwise ops: contracts, dispatch and CPU kernels.
#include "ops/elementwise.h"

#include "core/checks.h"
#include "ops/dispatch.h"

namespace convnet {

namespace cpu_kernels {
void add_forward(float* y, const float* a, const float* b, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
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

}  // namespace ops
}  // namespace convnet
