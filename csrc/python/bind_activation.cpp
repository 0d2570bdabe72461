// Bindings of ops/activation.h.
#include "ops/activation.h"

#include "core/checks.h"
#include "python/common.h"

namespace convnet {

using bindings::as_tensor;

// NAME(x, [param]) and NAME_backward(grad_out, x, [param]); backward recomputes y when the kind needs it.
static void def_activation(py::module_& ops, ops::Activation kind, const char* param, float default_alpha,
                           const char* doc, const char* backward_doc) {
  const std::string name = ops::activation_name(kind);
  const std::string backward_name = name + "_backward";
  auto forward = [kind, name](py::object x, float alpha) {
    Tensor tx = as_tensor(x, name.c_str(), "x");
    py::gil_scoped_release nogil;
    return ops::activation(tx, kind, alpha);
  };
  auto backward = [kind, backward_name](py::object grad_out, py::object x, float alpha) {
    const char* op = backward_name.c_str();
    Tensor dy = as_tensor(grad_out, op, "grad_out");
    Tensor tx = as_tensor(x, op, "x");
    const Shape shape = ops::activation_contract(op, "x", tx, kind, alpha);
    check_dtype(op, "grad_out", dy, DType::Float32);
    check_same_shape(op, "grad_out", dy, "x", tx);
    // sigmoid and tanh need the output y: recompute it; the others read x only.
    const bool uses_y = kind == ops::Activation::Sigmoid || kind == ops::Activation::Tanh;
    Tensor y = uses_y ? Tensor::empty(shape, DType::Float32, tx.device()) : Tensor();
    Tensor dx = Tensor::empty(shape, DType::Float32, tx.device());
    {
      py::gil_scoped_release nogil;
      if (uses_y) ops::activation_forward(y, tx, kind, alpha);
      ops::activation_backward(dx, dy, tx, y, kind, alpha);
    }
    return dx;
  };
  if (param) {
    ops.def(name.c_str(), forward, py::arg("x"), py::arg(param) = default_alpha, doc);
    ops.def(backward_name.c_str(), backward, py::arg("grad_out"), py::arg("x"), py::arg(param) = default_alpha,
            backward_doc);
  } else {
    ops.def(name.c_str(), [forward](py::object x) { return forward(x, 0.0f); }, py::arg("x"), doc);
    ops.def(backward_name.c_str(), [backward](py::object grad_out, py::object x) { return backward(grad_out, x, 0.0f); },
            py::arg("grad_out"), py::arg("x"), backward_doc);
  }
}

static void def_softmax(py::module_& ops, bool log, const char* doc, const char* backward_doc) {
  const std::string name = log ? "log_softmax" : "softmax";
  const std::string backward_name = name + "_backward";
  ops.def(name.c_str(), [log, name](py::object x, py::object axis_obj) {
            Tensor tx = as_tensor(x, name.c_str(), "x");
            const int axis = static_cast<int>(bindings::as_int(axis_obj, name.c_str(), "axis", INT_MIN, INT_MAX));
            py::gil_scoped_release nogil;
            return log ? ops::log_softmax(tx, axis) : ops::softmax(tx, axis);
          }, py::arg("x"), py::arg("axis") = -1, doc);
  ops.def(backward_name.c_str(), [log, backward_name](py::object grad_out, py::object x, py::object axis_obj) {
            const char* op = backward_name.c_str();
            const int axis = static_cast<int>(bindings::as_int(axis_obj, op, "axis", INT_MIN, INT_MAX));
            Tensor dy = as_tensor(grad_out, op, "grad_out");
            Tensor tx = as_tensor(x, op, "x");
            const Shape shape = ops::softmax_contract(op, "x", tx, axis);
            check_dtype(op, "grad_out", dy, DType::Float32);
            check_same_shape(op, "grad_out", dy, "x", tx);
            Tensor y = Tensor::empty(shape, DType::Float32, tx.device());
            Tensor dx = Tensor::empty(shape, DType::Float32, tx.device());
            {
              py::gil_scoped_release nogil;
              if (log) {
                ops::log_softmax_forward(y, tx, axis);
                ops::log_softmax_backward(dx, dy, y, axis);
              } else {
                ops::softmax_forward(y, tx, axis);
                ops::softmax_backward(dx, dy, y, axis);
              }
            }
            return dx;
          }, py::arg("grad_out"), py::arg("x"), py::arg("axis") = -1, backward_doc);
}

void bind_activation(py::module_& ops) {
  def_activation(ops, ops::Activation::ReLU, nullptr, 0.0f, "y = max(x, 0), elementwise, any shape",
                 "grad_x of relu: grad_out where x > 0, else 0 (0 at x == 0, like PyTorch)");
  def_activation(ops, ops::Activation::LeakyReLU, "negative_slope", 0.01f,
                 "y = x if x > 0 else negative_slope * x, elementwise",
                 "grad_x of leaky_relu: grad_out * (1 if x > 0 else negative_slope)");
  def_activation(ops, ops::Activation::ELU, "alpha", 1.0f, "y = x if x > 0 else alpha * (exp(x) - 1), elementwise",
                 "grad_x of elu: grad_out * (1 if x > 0 else alpha * exp(x))");
  def_activation(ops, ops::Activation::Sigmoid, nullptr, 0.0f, "y = 1 / (1 + exp(-x)), elementwise",
                 "grad_x of sigmoid: grad_out * y * (1 - y)");
  def_activation(ops, ops::Activation::Tanh, nullptr, 0.0f, "y = tanh(x), elementwise",
                 "grad_x of tanh: grad_out * (1 - y^2)");
  def_softmax(ops, false,
              "softmax along axis (negative counts from the end), numerically stable.\n\n"
              ">>> ops.softmax(np.zeros((1, 4), np.float32)).numpy()\n"
              "array([[0.25, 0.25, 0.25, 0.25]], dtype=float32)",
              "grad_x of softmax: y * (grad_out - sum(grad_out * y)) along axis");
  def_softmax(ops, true, "log_softmax along axis: x - logsumexp(x), numerically stable",
              "grad_x of log_softmax: grad_out - exp(y) * sum(grad_out) along axis");
}

}  // namespace convnet
