// Bindings of ops/elementwise.h.
#include "ops/elementwise.h"

#include "core/checks.h"
#include "python/common.h"

namespace convnet {

using bindings::as_tensor;

void bind_elementwise(py::module_& ops) {
  ops.def("add", [](py::object a, py::object b) {
            Tensor ta = as_tensor(a, "add", "a"), tb = as_tensor(b, "add", "b");
            py::gil_scoped_release nogil;
            return ops::add(ta, tb);
          }, py::arg("a"), py::arg("b"), "y = a + b (same shapes): residual sums");
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
}

}  // namespace convnet
