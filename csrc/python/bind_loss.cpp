// Bindings of ops/loss.h.
#include "ops/loss.h"

#include "core/checks.h"
#include "python/common.h"

namespace convnet {

using bindings::as_tensor;

namespace {

// A target: int64 class indices (from any integer array) or float32 probabilities (from any
// floating array). Tensors pass as they are; the contract checks their dtype.
Tensor as_target(py::handle obj, const char* op) {
  if (obj.is_none() || py::isinstance<Tensor>(obj)) {
    if (obj.is_none()) throw ValueError(arg_message(op, "target", "int64 class indices or float32 probabilities", "None"));
    return obj.cast<Tensor>();
  }
  py::array array;
  try {
    array = py::array::ensure(obj);
  } catch (py::error_already_set&) {
  }
  const char kind = array ? array.dtype().kind() : '?';
  if (kind == 'i' || kind == 'u') return as_tensor(array, op, "target", DType::Int64);
  if (kind == 'f') return as_tensor(array, op, "target", DType::Float32);
  throw TypeError(arg_message(op, "target", "int64 class indices (N,) or float32 probabilities (N, C)",
                              array ? "an array of dtype " + std::string(py::str(array.dtype()))
                                    : std::string("an object of type ") + Py_TYPE(obj.ptr())->tp_name));
}

// grad_out of a scalar loss: a Python number, or a 0-d / 1-element tensor or array.
float as_grad_scale(py::handle obj, const char* op) {
  if (py::isinstance<py::float_>(obj) || (py::isinstance<py::int_>(obj) && !py::isinstance<py::bool_>(obj)))
    return obj.cast<float>();
  Tensor t = as_tensor(obj, op, "grad_out");
  CONVNET_CHECK_VALUE(t.numel() == 1, op, "grad_out", "a scalar or a 0-d/1-element tensor",
                      "shape " + shape_str(t.shape()));
  return t.to(Device::cpu()).data<float>()[0];
}

float as_smoothing(py::handle obj, const char* op) {
  if (py::isinstance<py::bool_>(obj) || !(py::isinstance<py::float_>(obj) || py::isinstance<py::int_>(obj)))
    throw TypeError(arg_message(op, "label_smoothing", "a float", std::string(py::str(py::repr(obj)))));
  return obj.cast<float>();
}

}  // namespace

void bind_loss(py::module_& ops) {
  ops.def("cross_entropy", [](py::object logits, py::object target, py::object label_smoothing) {
            Tensor z = as_tensor(logits, "cross_entropy", "logits");
            Tensor t = as_target(target, "cross_entropy");
            float s = as_smoothing(label_smoothing, "cross_entropy");
            Tensor loss = Tensor::empty(ops::cross_entropy_output_shape(z, t, s), DType::Float32, z.device());
            py::gil_scoped_release nogil;
            ops::cross_entropy_forward(loss, z, t, s);
            return loss;
          }, py::arg("logits"), py::arg("target"), py::arg("label_smoothing") = 0.0,
          "Mean softmax cross-entropy of logits (N, C), like torch.nn.functional.cross_entropy: target is\n"
          "int64 class indices (N,) or float32 probabilities (N, C); q = (1 - s) * target + s / C.\n"
          "Returns a 0-d Tensor. Out-of-range labels raise ValueError (CPU); on CUDA they give a NaN loss.");
  ops.def("cross_entropy_backward", [](py::object grad_out, py::object logits, py::object target,
                                       py::object label_smoothing) {
            const char* op = "cross_entropy_backward";
            float g = as_grad_scale(grad_out, op);
            Tensor z = as_tensor(logits, op, "logits");
            Tensor t = as_target(target, op);
            float s = as_smoothing(label_smoothing, op);
            Tensor dz = Tensor::empty(z.shape(), DType::Float32, z.device());
            py::gil_scoped_release nogil;
            ops::cross_entropy_backward(dz, g, z, t, s);
            return dz;
          }, py::arg("grad_out"), py::arg("logits"), py::arg("target"), py::arg("label_smoothing") = 0.0,
          "grad_logits of cross_entropy: grad_out * (softmax(logits) - q) / N (grad_out a number or 1-element tensor)");
  ops.def("count_correct", [](py::object logits, py::object target) {
            Tensor z = as_tensor(logits, "count_correct", "logits");
            Tensor t = as_target(target, "count_correct");
            Tensor correct = Tensor::zeros({1}, DType::Int64, z.device());
            {
              py::gil_scoped_release nogil;
              ops::count_correct(correct, z, t);
            }
            return correct.to(Device::cpu()).data<int64_t>()[0];
          }, py::arg("logits"), py::arg("target"),
          "Number of rows whose argmax(logits) equals the label (or the argmax of a probability target)");

  ops.def("binary_cross_entropy_with_logits", [](py::object logits, py::object target, py::object label_smoothing) {
            const char* op = "binary_cross_entropy_with_logits";
            Tensor z = as_tensor(logits, op, "logits");
            Tensor t = as_tensor(target, op, "target");
            float s = as_smoothing(label_smoothing, op);
            Tensor loss = Tensor::empty(ops::binary_cross_entropy_with_logits_output_shape(z, t, s), DType::Float32,
                                        z.device());
            py::gil_scoped_release nogil;
            ops::binary_cross_entropy_with_logits_forward(loss, z, t, s);
            return loss;
          }, py::arg("logits"), py::arg("target"), py::arg("label_smoothing") = 0.0,
          "Mean binary cross-entropy of logits (N,) or (N, 1), like torch.nn.functional.binary_cross_entropy_with_logits\n"
          "and Keras' binary_crossentropy(from_logits=True): target float32 in [0, 1] (N,) or (N, 1),\n"
          "t' = t * (1 - s) + 0.5 * s. Returns a 0-d Tensor. Targets outside [0, 1] raise ValueError (CPU); on CUDA\n"
          "they give a NaN loss.");
  ops.def("binary_cross_entropy_with_logits_backward", [](py::object grad_out, py::object logits, py::object target,
                                                          py::object label_smoothing) {
            const char* op = "binary_cross_entropy_with_logits_backward";
            float g = as_grad_scale(grad_out, op);
            Tensor z = as_tensor(logits, op, "logits");
            Tensor t = as_tensor(target, op, "target");
            float s = as_smoothing(label_smoothing, op);
            Tensor dz = Tensor::empty(z.shape(), DType::Float32, z.device());
            py::gil_scoped_release nogil;
            ops::binary_cross_entropy_with_logits_backward(dz, g, z, t, s);
            return dz;
          }, py::arg("grad_out"), py::arg("logits"), py::arg("target"), py::arg("label_smoothing") = 0.0,
          "grad_logits of binary_cross_entropy_with_logits: grad_out * (sigmoid(logits) - t') / N");
  ops.def("count_correct_binary", [](py::object logits, py::object target) {
            Tensor z = as_tensor(logits, "count_correct_binary", "logits");
            Tensor t = as_tensor(target, "count_correct_binary", "target");
            Tensor correct = Tensor::zeros({1}, DType::Int64, z.device());
            {
              py::gil_scoped_release nogil;
              ops::count_correct_binary(correct, z, t);
            }
            return correct.to(Device::cpu()).data<int64_t>()[0];
          }, py::arg("logits"), py::arg("target"), "Number of rows with (logits > 0) == (target >= 0.5)");

  ops.def("mse_loss", [](py::object pred, py::object target) {
            Tensor p = as_tensor(pred, "mse_loss", "pred");
            Tensor t = as_tensor(target, "mse_loss", "target");
            Tensor loss = Tensor::empty(ops::mse_loss_output_shape(p, t), DType::Float32, p.device());
            py::gil_scoped_release nogil;
            ops::mse_loss_forward(loss, p, t);
            return loss;
          }, py::arg("pred"), py::arg("target"),
          "Mean squared error over all elements, like torch.nn.functional.mse_loss (reduction='mean'):\n"
          "pred and target float32 of one shape (N, ...). Returns a 0-d Tensor.");
  ops.def("mse_loss_backward", [](py::object grad_out, py::object pred, py::object target) {
            float g = as_grad_scale(grad_out, "mse_loss_backward");
            Tensor p = as_tensor(pred, "mse_loss_backward", "pred");
            Tensor t = as_tensor(target, "mse_loss_backward", "target");
            Tensor dp = Tensor::empty(p.shape(), DType::Float32, p.device());
            py::gil_scoped_release nogil;
            ops::mse_loss_backward(dp, g, p, t);
            return dp;
          }, py::arg("grad_out"), py::arg("pred"), py::arg("target"),
          "grad_pred of mse_loss: grad_out * 2 * (pred - target) / pred.size");
}

}  // namespace convnet
