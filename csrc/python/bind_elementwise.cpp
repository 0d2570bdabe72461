// Bindings of ops/elementwise.h.
#include "ops/elementwise.h"

#include "core/checks.h"
#include "python/common.h"

namespace convnet {

using bindings::as_seed;
using bindings::as_tensor;

void bind_elementwise(py::module_& ops) {
  ops.def("add", [](py::object a, py::object b) {
            Tensor ta = as_tensor(a, "add", "a"), tb = as_tensor(b, "add", "b");
            py::gil_scoped_release nogil;
            return ops::add(ta, tb);
          }, py::arg("a"), py::arg("b"), "y = a + b (same shapes): residual sums");
  ops.def("rescale", [](py::object x, float scale, float offset) {
            Tensor t = as_tensor(x, "rescale", "x");
            py::gil_scoped_release nogil;
            return ops::rescale(t, scale, offset);
          }, py::arg("x"), py::arg("scale"), py::arg("offset") = 0.0f, "y = scale * x + offset (Keras' Rescaling)");
  ops.def("rescale_backward", [](py::object grad_out, py::object x, float scale, float offset) {
            Tensor dy = as_tensor(grad_out, "rescale_backward", "grad_out");
            ops::rescale_output_shape(as_tensor(x, "rescale_backward", "x"), scale, offset);
            Tensor dx = Tensor::empty(dy.shape(), DType::Float32, dy.device());
            py::gil_scoped_release nogil;
            ops::rescale_backward(dx, dy, scale);
            return dx;
          }, py::arg("grad_out"), py::arg("x"), py::arg("scale"), py::arg("offset") = 0.0f,
          "grad of x of rescale: scale * grad_out");
  ops.def("add_backward", [](py::object grad_out, py::object a, py::object b) {
            Tensor dy = as_tensor(grad_out, "add_backward", "grad_out");
            Tensor ta = as_tensor(a, "add_backward", "a");
            ops::add_output_shape(ta, as_tensor(b, "add_backward", "b"));
            check_same_shape("add_backward", "grad_out", dy, "a", ta);
            Tensor da = Tensor::empty(dy.shape(), DType::Float32, dy.device());
            Tensor db = Tensor::empty(dy.shape(), DType::Float32, dy.device());
            {
              py::gil_scoped_release nogil;
              ops::add_backward(&da, &db, dy);
            }
            return py::make_tuple(da, db);
          }, py::arg("grad_out"), py::arg("a"), py::arg("b"), "(grad_a, grad_b) of add");

  ops.def("dropout", [](py::object x, float p, py::object seed) {
            Tensor tx = as_tensor(x, "dropout", "x");
            uint64_t s = as_seed(seed, "dropout");
            Tensor y = Tensor::empty(ops::dropout_output_shape(tx, p), DType::Float32, tx.device());
            py::gil_scoped_release nogil;
            ops::dropout_forward(y, tx, p, s);
            return y;
          }, py::arg("x"), py::arg("p") = 0.5f, py::arg("seed") = 0,
          "Inverted dropout: keeps x[i] (scaled by 1/(1-p)) iff a hash of (seed, i) mapped to [0, 1) is >= p.\n"
          "The mask is a pure function of (seed, i): the same seed gives the same mask on the CPU and GPU,\n"
          "and dropout_backward regenerates it. p in [0, 1).");
  ops.def("dropout_backward", [](py::object grad_out, py::object x, float p, py::object seed) {
            Tensor dy = as_tensor(grad_out, "dropout_backward", "grad_out");
            Tensor tx = as_tensor(x, "dropout_backward", "x");
            uint64_t s = as_seed(seed, "dropout_backward");
            check_dtype("dropout_backward", "x", tx, DType::Float32);
            check_same_shape("dropout_backward", "grad_out", dy, "x", tx);
            check_same_device("dropout_backward", "grad_out", dy, "x", tx);
            Tensor dx = Tensor::empty(dy.shape(), DType::Float32, dy.device());
            py::gil_scoped_release nogil;
            ops::dropout_backward(dx, dy, p, s);
            return dx;
          }, py::arg("grad_out"), py::arg("x"), py::arg("p") = 0.5f, py::arg("seed") = 0,
          "grad_x of dropout: grad_out * mask / (1 - p), the mask regenerated from the seed");
  ops.def("flatten", [](py::object x) {
            Tensor tx = as_tensor(x, "flatten", "x");
            return ops::flatten(tx);
          }, py::arg("x"), "(N, d1, d2, ...) -> (N, d1*d2*...), sharing memory with x");
  ops.def("flatten_backward", [](py::object grad_out, py::object x) {
            Tensor dy = as_tensor(grad_out, "flatten_backward", "grad_out");
            Tensor tx = as_tensor(x, "flatten_backward", "x");
            check_shape("flatten_backward", "grad_out", dy, ops::flatten_output_shape(tx));
            check_same_device("flatten_backward", "grad_out", dy, "x", tx);
            Tensor dx = Tensor::empty(tx.shape(), DType::Float32, dy.device());
            py::gil_scoped_release nogil;
            ops::flatten_backward(dx, dy);
            return dx;
          }, py::arg("grad_out"), py::arg("x"), "grad_x of flatten: grad_out reshaped to x's shape");
}

}  // namespace convnet
