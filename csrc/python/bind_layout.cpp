// Bindings of ops/layout.h.
#include "ops/layout.h"

#include "python/common.h"

namespace convnet {

using bindings::as_tensor;

void bind_layout(py::module_& ops) {
  ops.def("layout", [](py::object x, bool to_last) {
            Tensor t = as_tensor(x, "layout", "x");
            Tensor y = Tensor::empty(ops::layout_output_shape(t, to_last), DType::Float32, t.device());
            py::gil_scoped_release nogil;
            ops::layout_forward(y, t, to_last);
            return y;
          }, py::arg("x"), py::arg("to_last"),
          "(N, C, H, W) -> (N, H, W, C) when to_last, else (N, H, W, C) -> (N, C, H, W): the transposes of a\n"
          "channels-last model's edges.");
  ops.def("layout_backward", [](py::object grad_out, py::object x, bool to_last) {
            Tensor dy = as_tensor(grad_out, "layout_backward", "grad_out");
            Tensor t = as_tensor(x, "layout_backward", "x");
            Tensor dx = Tensor::empty(t.shape(), DType::Float32, dy.device());
            py::gil_scoped_release nogil;
            ops::layout_backward(dx, dy, to_last);
            return dx;
          }, py::arg("grad_out"), py::arg("x"), py::arg("to_last"),
          "grad of x of layout: the inverse permutation of grad_out.");
}

}  // namespace convnet
