// Bindings of ops/norm.h. From Python nothing is modified in place: the running statistics are
// copied and the updated copies returned.
#include "ops/norm.h"

#include "core/checks.h"
#include "python/common.h"

namespace convnet {

using bindings::as_optional_tensor;
using bindings::as_tensor;

namespace {

struct BatchNormArgs {
  Tensor x, weight, bias, running_mean, running_var;  // undefined where None
};

BatchNormArgs convert(const char* op, py::handle x, py::handle weight, py::handle bias, py::handle running_mean,
                      py::handle running_var) {
  BatchNormArgs a;
  a.x = as_tensor(x, op, "x");
  a.weight = as_optional_tensor(weight, op, "weight").value_or(Tensor());
  a.bias = as_optional_tensor(bias, op, "bias").value_or(Tensor());
  // Copies: the caller's running statistics are left as they were.
  if (auto t = as_optional_tensor(running_mean, op, "running_mean")) a.running_mean = t->clone();
  if (auto t = as_optional_tensor(running_var, op, "running_var")) a.running_var = t->clone();
  return a;
}

py::object or_none(const Tensor& t) { return t.defined() ? py::cast(t) : py::none(); }

}  // namespace

void bind_norm(py::module_& ops) {
  ops.def("batch_norm", [](py::object x, py::object weight, py::object bias, py::object running_mean,
                           py::object running_var, bool training, float momentum, float eps) {
            BatchNormArgs a = convert("batch_norm", x, weight, bias, running_mean, running_var);
            ops::BatchNormParams p{training, momentum, eps};
            Shape shape = ops::batch_norm_output_shape(a.x, a.weight, a.bias, a.running_mean, a.running_var, p);
            const int64_t C = a.x.size(1);
            Tensor y = Tensor::empty(shape, DType::Float32, a.x.device());
            Tensor mean = Tensor::empty({C}, DType::Float32, a.x.device());
            Tensor invstd = Tensor::empty({C}, DType::Float32, a.x.device());
            {
              py::gil_scoped_release nogil;
              ops::batch_norm_forward(y, mean, invstd, a.x, a.weight, a.bias, a.running_mean, a.running_var, p);
            }
            return py::make_tuple(y, or_none(a.running_mean), or_none(a.running_var));
          }, py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("running_mean"), py::arg("running_var"),
          py::arg("training") = true, py::arg("momentum") = 0.1f, py::arg("eps") = 1e-5f,
          "Batch normalisation of x (N, C) or (N, C, H, W) per channel, like torch.nn.functional.batch_norm.\n"
          "Returns (y, new_running_mean, new_running_var): the running statistics are copied, updated\n"
          "(training) and returned; the arguments are not modified. weight/bias may be None (1 and 0);\n"
          "running statistics may be None when training (then None is returned for them).");
  ops.def("batch_norm_backward", [](py::object grad_out, py::object x, py::object weight, py::object bias,
                                    py::object running_mean, py::object running_var, bool training, float momentum,
                                    float eps) {
            const char* op = "batch_norm_backward";
            Tensor dy = as_tensor(grad_out, op, "grad_out");
            BatchNormArgs a = convert(op, x, weight, bias, running_mean, running_var);
            ops::BatchNormParams p{training, momentum, eps};
            Shape shape = ops::batch_norm_output_shape(a.x, a.weight, a.bias, a.running_mean, a.running_var, p);
            check_same_shape(op, "grad_out", dy, "x", a.x);
            check_same_device(op, "grad_out", dy, "x", a.x);
            const int64_t C = a.x.size(1);
            Device dev = a.x.device();
            Tensor y = Tensor::empty(shape, DType::Float32, dev);
            Tensor mean = Tensor::empty({C}, DType::Float32, dev), invstd = Tensor::empty({C}, DType::Float32, dev);
            Tensor dx = Tensor::empty(shape, DType::Float32, dev);
            Tensor dw = a.weight.defined() ? Tensor::empty({C}, DType::Float32, dev) : Tensor();
            Tensor db = a.bias.defined() ? Tensor::empty({C}, DType::Float32, dev) : Tensor();
            {
              py::gil_scoped_release nogil;
              // The forward pass recomputes the statistics the gradient needs (on copies of the running stats).
              ops::batch_norm_forward(y, mean, invstd, a.x, a.weight, a.bias, a.running_mean, a.running_var, p);
              ops::batch_norm_backward(&dx, dw.defined() ? &dw : nullptr, db.defined() ? &db : nullptr, dy, a.x,
                                       a.weight, mean, invstd, training);
            }
            return py::make_tuple(dx, or_none(dw), or_none(db));
          }, py::arg("grad_out"), py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("running_mean"),
          py::arg("running_var"), py::arg("training") = true, py::arg("momentum") = 0.1f, py::arg("eps") = 1e-5f,
          "(grad_x, grad_weight, grad_bias) of batch_norm (None for a weight or bias given as None)");
}

}  // namespace convnet
