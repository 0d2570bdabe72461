// Bindings of ops/conv_transpose.h.
#include "ops/conv_transpose.h"

#include "core/checks.h"
#include "python/common.h"

namespace convnet {

using bindings::as_optional_tensor;
using bindings::as_tensor;
using bindings::int_pair;
using bindings::padding_sides;

// PyTorch's arguments (padding also as ((top, bottom), (left, right))) -> ConvTranspose2dParams.
static ops::ConvTranspose2dParams params(const char* op, py::handle stride, py::handle padding,
                                         py::handle output_padding, py::handle groups, py::handle dilation) {
  ops::ConvTranspose2dParams p;
  std::tie(p.conv.stride_h, p.conv.stride_w) = int_pair(stride, op, "stride");
  std::tie(p.conv.dilation_h, p.conv.dilation_w) = int_pair(dilation, op, "dilation");
  std::tie(p.output_padding_h, p.output_padding_w) = int_pair(output_padding, op, "output_padding");
  p.conv.groups = static_cast<int>(bindings::as_int(groups, op, "groups", INT32_MIN, INT32_MAX));
  const auto s = padding_sides(padding, op, "padding");
  p.conv.pad_top = s[0];
  p.conv.pad_bottom = s[1];
  p.conv.pad_left = s[2];
  p.conv.pad_right = s[3];
  return p;
}

void bind_conv_transpose(py::module_& ops) {
  ops.def("conv_transpose2d",
          [](py::object x, py::object w, py::object b, py::object stride, py::object padding, py::object output_padding,
             py::object groups, py::object dilation) {
            const char* op = "conv_transpose2d";
            Tensor tx = as_tensor(x, op, "x"), tw = as_tensor(w, op, "w");
            auto tb = as_optional_tensor(b, op, "b");
            const ops::ConvTranspose2dParams p = params(op, stride, padding, output_padding, groups, dilation);
            const Tensor* pb = tb ? &*tb : nullptr;
            Tensor y = Tensor::empty(ops::conv_transpose2d_output_shape(tx, tw, pb, p), DType::Float32, tx.device());
            {
              py::gil_scoped_release nogil;
              ops::conv_transpose2d_forward(y, tx, tw, pb, p);
            }
            return y;
          },
          py::arg("x"), py::arg("w"), py::arg("b") = py::none(), py::arg("stride") = 1, py::arg("padding") = 0,
          py::arg("output_padding") = 0, py::arg("groups") = 1, py::arg("dilation") = 1,
          "2-D transposed convolution like torch.nn.functional.conv_transpose2d (the adjoint of conv2d).\n\n"
          "x (N, C_in, H, W), w (C_in, C_out/groups, kH, kW) (PyTorch's ConvTranspose2d layout), b (C_out) or None\n"
          "-> (N, C_out, H_out, W_out), H_out = (H-1)*stride - pad_top - pad_bottom + dilation*(kH-1) + 1 +\n"
          "output_padding. padding: int, (h, w) or ((top, bottom), (left, right)); output_padding < stride.\n\n"
          ">>> convnet.ops.conv_transpose2d(np.ones((1, 1, 3, 3), np.float32), np.ones((1, 2, 2, 2), np.float32),\n"
          "...                              stride=2).shape\n"
          "(1, 2, 6, 6)");
  ops.def("conv_transpose2d_backward",
          [](py::object grad_out, py::object x, py::object w, py::object b, py::object stride, py::object padding,
             py::object output_padding, py::object groups, py::object dilation) {
            const char* op = "conv_transpose2d_backward";
            Tensor dy = as_tensor(grad_out, op, "grad_out");
            Tensor tx = as_tensor(x, op, "x"), tw = as_tensor(w, op, "w");
            auto tb = as_optional_tensor(b, op, "b");
            const ops::ConvTranspose2dParams p = params(op, stride, padding, output_padding, groups, dilation);
            const Shape out = ops::conv_transpose2d_output_shape(tx, tw, tb ? &*tb : nullptr, p);  // checks b too
            Tensor dx = Tensor::empty(tx.shape(), DType::Float32, tx.device());
            Tensor dw = Tensor::empty(tw.shape(), DType::Float32, tx.device());
            Tensor db;
            if (tb) db = Tensor::empty({out[1]}, DType::Float32, tx.device());
            {
              py::gil_scoped_release nogil;
              ops::conv_transpose2d_backward(&dx, &dw, tb ? &db : nullptr, dy, tx, tw, p);
            }
            return py::make_tuple(dx, dw, tb ? py::cast(db) : py::none());
          },
          py::arg("grad_out"), py::arg("x"), py::arg("w"), py::arg("b") = py::none(), py::arg("stride") = 1,
          py::arg("padding") = 0, py::arg("output_padding") = 0, py::arg("groups") = 1, py::arg("dilation") = 1,
          "(grad_x, grad_w, grad_b) of conv_transpose2d; grad_b is None when b is None.");
}

}  // namespace convnet
