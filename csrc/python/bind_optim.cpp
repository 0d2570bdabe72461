// Bindings of ops/optim.h. The updates happen in place, so every buffer that is written (param
// and the optimizer state) must be a Tensor or a float32, C-contiguous, aligned, writeable numpy
// array, shared without a copy; anything that would need a copy is a TypeError (a silent copy
// would lose the update). grad is read only and converted like any input.
#include "ops/optim.h"

#include "core/checks.h"
#include "python/common.h"

namespace convnet {

using bindings::as_tensor;

namespace {

Tensor as_inplace(py::handle obj, const char* op, const char* arg) {
  const std::string expected = "a Tensor or a float32 C-contiguous writeable numpy array (updated in place)";
  if (obj.is_none()) throw ValueError(arg_message(op, arg, expected, "None"));
  if (py::isinstance<Tensor>(obj)) {
    Tensor t = obj.cast<Tensor>();
    CONVNET_CHECK_TYPE(t.dtype() == DType::Float32, op, arg, "a float32 Tensor (updated in place)",
                       std::string("dtype ") + dtype_name(t.dtype()));
    return t;
  }
  if (!py::isinstance<py::array>(obj))
    throw TypeError(arg_message(op, arg, expected, std::string("an object of type ") + Py_TYPE(obj.ptr())->tp_name +
                                                       " (a copy would lose the update)"));
  py::array a = py::reinterpret_borrow<py::array>(obj);
  std::string problem;
  if (!a.dtype().equal(py::dtype::of<float>())) problem = "an array of dtype " + std::string(py::str(a.dtype()));
  else if (!(a.flags() & py::array::c_style)) problem = "a non-contiguous array";
  else if (!(a.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_)) problem = "an unaligned array";
  if (!problem.empty()) throw TypeError(arg_message(op, arg, expected, problem + " (a copy would lose the update)"));
  return bindings::tensor_from_numpy(a);
}

// Optional in-place state: None -> undefined.
Tensor as_inplace_optional(py::handle obj, const char* op, const char* arg) {
  return obj.is_none() ? Tensor() : as_inplace(obj, op, arg);
}

std::pair<double, double> as_betas(py::handle obj, const char* op) {
  if (!(py::isinstance<py::tuple>(obj) || py::isinstance<py::list>(obj)) || py::len(obj) != 2)
    throw TypeError(arg_message(op, "betas", "a pair of floats (beta1, beta2)", std::string(py::str(py::repr(obj)))));
  py::sequence s = obj.cast<py::sequence>();
  for (py::handle b : s)
    if (py::isinstance<py::bool_>(b) || !(py::isinstance<py::float_>(b) || PyIndex_Check(b.ptr())))
      throw TypeError(arg_message(op, "betas", "a pair of floats (beta1, beta2)", std::string(py::str(py::repr(obj)))));
  return {s[0].cast<double>(), s[1].cast<double>()};
}

Tensor* ptr(Tensor& t) { return t.defined() ? &t : nullptr; }

void bind_adam(py::module_& ops, const char* name, bool decoupled, double default_wd, const char* doc) {
  ops.def(name, [name, decoupled](py::object param, py::object grad, py::object exp_avg, py::object exp_avg_sq,
                                  py::object step, double lr, py::object betas, double eps, double weight_decay) {
            Tensor p = as_inplace(param, name, "param");
            Tensor g = as_tensor(grad, name, "grad");
            Tensor m = as_inplace(exp_avg, name, "exp_avg");
            Tensor v = as_inplace(exp_avg_sq, name, "exp_avg_sq");
            auto b = as_betas(betas, name);
            ops::AdamParams hp{lr, b.first, b.second, eps, weight_decay, decoupled};
            const int64_t t = bindings::as_int(step, name, "step");
            py::gil_scoped_release nogil;
            ops::adam_step(p, g, m, v, t, hp);
          }, py::arg("param"), py::arg("grad"), py::arg("exp_avg"), py::arg("exp_avg_sq"), py::kw_only(),
          py::arg("step"), py::arg("lr") = 1e-3f, py::arg("betas") = py::make_tuple(0.9, 0.999),
          py::arg("eps") = 1e-8f, py::arg("weight_decay") = default_wd, doc);
}

}  // namespace

void bind_optim(py::module_& ops) {
  ops.def("sgd_step", [](py::object param, py::object grad, py::object momentum_buffer, double lr, double momentum,
                         double dampening, double weight_decay, bool nesterov, py::object step) {
            const char* op = "sgd_step";
            Tensor p = as_inplace(param, op, "param");
            Tensor g = as_tensor(grad, op, "grad");
            Tensor buf = as_inplace_optional(momentum_buffer, op, "momentum_buffer");
            ops::SGDParams hp{lr, momentum, dampening, weight_decay, nesterov};
            const int64_t t = bindings::as_int(step, op, "step");
            py::gil_scoped_release nogil;
            ops::sgd_step(p, g, ptr(buf), t, hp);
          }, py::arg("param"), py::arg("grad"), py::arg("momentum_buffer") = py::none(), py::kw_only(), py::arg("lr"),
          py::arg("momentum") = 0.0f, py::arg("dampening") = 0.0f, py::arg("weight_decay") = 0.0f,
          py::arg("nesterov") = false, py::arg("step") = 1,
          "One torch.optim.SGD update, in place on param (and momentum_buffer, needed when momentum > 0;\n"
          "step=1 initialises it from the gradient). param and the buffer must be Tensors or float32\n"
          "C-contiguous numpy arrays (a copy would lose the update).");
  bind_adam(ops, "adam_step", false, 0.0f,
            "One torch.optim.Adam update, in place on param, exp_avg and exp_avg_sq (zero before step 1).\n"
            "step is the 1-based number of this update. In-place arguments: Tensors or float32 C-contiguous arrays.");
  bind_adam(ops, "adamw_step", true, 0.01f,
            "One torch.optim.AdamW update (decoupled weight decay), in place like adam_step.");
  ops.def("rmsprop_step", [](py::object param, py::object grad, py::object square_avg, py::object momentum_buffer,
                             py::object grad_avg, py::object step, double lr, double alpha, double eps,
                             double weight_decay,
                             double momentum, bool centered) {
            const char* op = "rmsprop_step";
            Tensor p = as_inplace(param, op, "param");
            Tensor g = as_tensor(grad, op, "grad");
            Tensor sa = as_inplace(square_avg, op, "square_avg");
            Tensor buf = as_inplace_optional(momentum_buffer, op, "momentum_buffer");
            Tensor ga = as_inplace_optional(grad_avg, op, "grad_avg");
            ops::RMSpropParams hp{lr, alpha, eps, weight_decay, momentum, centered};
            const int64_t t = bindings::as_int(step, op, "step");
            py::gil_scoped_release nogil;
            ops::rmsprop_step(p, g, sa, ptr(buf), ptr(ga), t, hp);
          }, py::arg("param"), py::arg("grad"), py::arg("square_avg"), py::arg("momentum_buffer") = py::none(),
          py::arg("grad_avg") = py::none(), py::kw_only(), py::arg("step"), py::arg("lr") = 0.01f,
          py::arg("alpha") = 0.99f, py::arg("eps") = 1e-8f, py::arg("weight_decay") = 0.0f, py::arg("momentum") = 0.0f,
          py::arg("centered") = false,
          "One torch.optim.RMSprop update, in place on param, square_avg, momentum_buffer (momentum > 0) and\n"
          "grad_avg (centered); the state starts at zero. In-place arguments: Tensors or float32 C-contiguous arrays.");
}

}  // namespace convnet
