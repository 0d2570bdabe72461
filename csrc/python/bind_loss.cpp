// Bindings of ops/loss.h.
#include "ops/loss.h"

#include "core/checks.h"
#include "python/common.h"

namespace convnet {

using bindings::as_optional_tensor;
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

// A binary target: float32 values in [0, 1] (integer 0/1 arrays are converted).
Tensor as_float_target(py::handle obj, const char* op) { return as_tensor(obj, op, "target"); }

// A classification loss of (logits, target, label_smoothing, weight) as its contract declares it (loss.h),
// bound as NAME(logits, target, label_smoothing=0.0, weight=None) -> 0-d loss, NAME_backward(grad_out, logits,
// target, label_smoothing=0.0, weight=None) -> grad_logits, and COUNT(logits, target) -> the number of correct
// rows. weight: one per row (Keras' sample_weight), None for all 1.
struct ClassificationLoss {
  const char *name, *backward_name, *count_name;
  Tensor (*as_target)(py::handle, const char* op);
  Shape (*output_shape)(const Tensor& logits, const Tensor& target, float label_smoothing);
  void (*forward)(Tensor& loss, const Tensor& logits, const Tensor& target, float label_smoothing,
                  const Tensor* weight);
  void (*backward)(Tensor& dlogits, float grad_scale, const Tensor& logits, const Tensor& target,
                   float label_smoothing, const Tensor* weight);
  void (*count)(Tensor& correct, const Tensor& logits, const Tensor& target);
  const char *doc, *backward_doc, *count_doc;
};

void def_classification_loss(py::module_& ops, const ClassificationLoss& f) {
  ops.def(f.name, [f](py::object logits, py::object target, py::object label_smoothing, py::object weight) {
            Tensor z = as_tensor(logits, f.name, "logits");
            Tensor t = f.as_target(target, f.name);
            float s = as_smoothing(label_smoothing, f.name);
            auto w = as_optional_tensor(weight, f.name, "weight");
            Tensor loss = Tensor::empty(f.output_shape(z, t, s), DType::Float32, z.device());
            py::gil_scoped_release nogil;
            f.forward(loss, z, t, s, w ? &*w : nullptr);
            return loss;
          }, py::arg("logits"), py::arg("target"), py::arg("label_smoothing") = 0.0, py::arg("weight") = py::none(),
          f.doc);
  ops.def(f.backward_name, [f](py::object grad_out, py::object logits, py::object target, py::object label_smoothing,
                               py::object weight) {
            float g = as_grad_scale(grad_out, f.backward_name);
            Tensor z = as_tensor(logits, f.backward_name, "logits");
            Tensor t = f.as_target(target, f.backward_name);
            float s = as_smoothing(label_smoothing, f.backward_name);
            auto w = as_optional_tensor(weight, f.backward_name, "weight");
            Tensor dz = Tensor::empty(z.shape(), DType::Float32, z.device());
            py::gil_scoped_release nogil;
            f.backward(dz, g, z, t, s, w ? &*w : nullptr);
            return dz;
          }, py::arg("grad_out"), py::arg("logits"), py::arg("target"), py::arg("label_smoothing") = 0.0,
          py::arg("weight") = py::none(), f.backward_doc);
  ops.def(f.count_name, [f](py::object logits, py::object target) {
            Tensor z = as_tensor(logits, f.count_name, "logits");
            Tensor t = f.as_target(target, f.count_name);
            Tensor correct = Tensor::zeros({1}, DType::Int64, z.device());
            {
              py::gil_scoped_release nogil;
              f.count(correct, z, t);
            }
            return correct.to(Device::cpu()).data<int64_t>()[0];
          }, py::arg("logits"), py::arg("target"), f.count_doc);
}

}  // namespace

void bind_loss(py::module_& ops) {
  def_classification_loss(ops, {
      "cross_entropy", "cross_entropy_backward", "count_correct", as_target, ops::cross_entropy_output_shape,
      ops::cross_entropy_forward, ops::cross_entropy_backward, ops::count_correct,
      "Mean softmax cross-entropy of logits (N, C), like torch.nn.functional.cross_entropy: target is\n"
      "int64 class indices (N,) or float32 probabilities (N, C); q = (1 - s) * target + s / C.\n"
      "weight (N,): each row's loss scaled by it, the sum still divided by N (Keras' sample_weight).\n"
      "Returns a 0-d Tensor. Out-of-range labels raise ValueError (CPU); on CUDA they give a NaN loss.",
      "grad_logits of cross_entropy: grad_out * (softmax(logits) - q) / N (grad_out a number or 1-element tensor)",
      "Number of rows whose argmax(logits) equals the label (or the argmax of a probability target)"});
  def_classification_loss(ops, {
      "binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_backward", "count_correct_binary",
      as_float_target, ops::binary_cross_entropy_with_logits_output_shape, ops::binary_cross_entropy_with_logits_forward,
      ops::binary_cross_entropy_with_logits_backward, ops::count_correct_binary,
      "Mean binary cross-entropy of logits (N,) or (N, 1), like torch.nn.functional.binary_cross_entropy_with_logits\n"
      "and Keras' binary_crossentropy(from_logits=True): target float32 in [0, 1], (N,) or (N, 1);\n"
      "t' = t * (1 - s) + 0.5 * s; weight (N,) as in cross_entropy. Returns a 0-d Tensor. Targets outside [0, 1]\n"
      "raise ValueError (CPU); on CUDA\n"
      "they give a NaN loss.",
      "grad_logits of binary_cross_entropy_with_logits: grad_out * (sigmoid(logits) - t') / N (grad_out a number or\n"
      "1-element tensor)",
      "Number of rows with (logits > 0) == (target >= 0.5)"});

  ops.def("count_in_top_k", [](py::object logits, py::object target, py::object k) {
            const char* op = "count_in_top_k";
            Tensor z = as_tensor(logits, op, "logits");
            Tensor t = as_target(target, op);
            const int64_t kk = bindings::as_int(k, op, "k", 1);
            Tensor correct = Tensor::zeros({1}, DType::Int64, z.device());
            {
              py::gil_scoped_release nogil;
              ops::count_in_top_k(correct, z, t, kk);
            }
            return correct.to(Device::cpu()).data<int64_t>()[0];
          }, py::arg("logits"), py::arg("target"), py::arg("k"),
          "Number of rows whose class (the label, or the argmax of a probability target) is among the k largest\n"
          "logits; ties at the k-th place count as in (Keras' top_k_categorical_accuracy, TensorFlow's in_top_k)");
  ops.def("mse_loss", [](py::object pred, py::object target, py::object weight) {
            Tensor p = as_tensor(pred, "mse_loss", "pred");
            Tensor t = as_tensor(target, "mse_loss", "target");
            auto w = as_optional_tensor(weight, "mse_loss", "weight");
            Tensor loss = Tensor::empty(ops::mse_loss_output_shape(p, t), DType::Float32, p.device());
            py::gil_scoped_release nogil;
            ops::mse_loss_forward(loss, p, t, w ? &*w : nullptr);
            return loss;
          }, py::arg("pred"), py::arg("target"), py::arg("weight") = py::none(),
          "Mean squared error over all elements, like torch.nn.functional.mse_loss (reduction='mean'):\n"
          "pred and target float32 of one shape (N, ...); weight (N,) scales each row's squared errors (Keras'\n"
          "sample_weight), the sum still divided by pred.size. Returns a 0-d Tensor.");
  ops.def("mse_loss_backward", [](py::object grad_out, py::object pred, py::object target, py::object weight) {
            float g = as_grad_scale(grad_out, "mse_loss_backward");
            Tensor p = as_tensor(pred, "mse_loss_backward", "pred");
            Tensor t = as_tensor(target, "mse_loss_backward", "target");
            auto w = as_optional_tensor(weight, "mse_loss_backward", "weight");
            Tensor dp = Tensor::empty(p.shape(), DType::Float32, p.device());
            py::gil_scoped_release nogil;
            ops::mse_loss_backward(dp, g, p, t, w ? &*w : nullptr);
            return dp;
          }, py::arg("grad_out"), py::arg("pred"), py::arg("target"), py::arg("weight") = py::none(),
          "grad_pred of mse_loss: grad_out * 2 * (pred - target) / pred.size");
}

}  // namespace convnet
