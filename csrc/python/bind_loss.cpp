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
}

}  // namespace convnet
