// Bindings of ops/conv.h.
#include "ops/conv.h"

#include "core/checks.h"
#include "python/common.h"

namespace convnet {

using bindings::as_optional_tensor;
using bindings::as_tensor;
using bindings::int_pair;

// stride, padding (int, pair, 'same' or 'valid'), dilation, groups -> Conv2dParams, resolved
// against the kernel and input sizes for 'same'.
static ops::Conv2dParams conv_params(const char* op, const Tensor& x, const Tensor& w, py::handle stride, py::handle padding,
                                     py::handle dilation, py::handle groups) {
  ops::Conv2dParams p;
  std::tie(p.stride_h, p.stride_w) = int_pair(stride, op, "stride");
  std::tie(p.dilation_h, p.dilation_w) = int_pair(dilation, op, "dilation");
  if (py::isinstance<py::bool_>(groups) || !py::isinstance<py::int_>(groups))
    throw TypeError(arg_message(op, "groups", "an int", std::string(py::str(py::repr(groups)))));
  p.groups = std::get<0>(int_pair(groups, op, "groups"));
  if (py::isinstance<py::str>(padding)) {
    const std::string mode = padding.cast<std::string>();
    if (mode == "same") {
      if (w.dim() == 4 && x.dim() == 4)
        p = ops::conv2d_same_padding(p, static_cast<int>(w.size(2)), static_cast<int>(w.size(3)), x.size(2), x.size(3));
    } else if (mode != "valid") {
      throw ValueError(arg_message(op, "padding", "'same', 'valid', an int or a pair of ints", "'" + mode + "'"));
    }
  } else {
    int ph, pw;
    std::tie(ph, pw) = int_pair(padding, op, "padding");
    p.pad_top = p.pad_bottom = ph;
    p.pad_left = p.pad_right = pw;
  }
  return p;
}

void bind_conv(py::module_& ops) {
  ops.def("conv2d",
          [](py::object x, py::object w, py::object b, py::object stride, py::object padding, py::object dilation,
             py::object groups) {
            Tensor tx = as_tensor(x, "conv2d", "x"), tw = as_tensor(w, "conv2d", "w");
            auto tb = as_optional_tensor(b, "conv2d", "b");
            ops::Conv2dParams p = conv_params("conv2d", tx, tw, stride, padding, dilation, groups);
            const Tensor* pb = tb ? &*tb : nullptr;
            Tensor y = Tensor::empty(ops::conv2d_output_shape(tx, tw, pb, p), DType::Float32, tx.device());
            {
              py::gil_scoped_release nogil;
              ops::conv2d_forward(y, tx, tw, pb, p);
            }
            return y;
          },
          py::arg("x"), py::arg("w"), py::arg("b") = py::none(), py::arg("stride") = 1, py::arg("padding") = 0,
          py::arg("dilation") = 1, py::arg("groups") = 1,
          "2-D convolution (cross-correlation) like torch.nn.functional.conv2d.\n\n"
          "x (N, C_in, H, W), w (C_out, C_in/groups, kH, kW), b (C_out) or None -> (N, C_out, H_out, W_out).\n"
          "stride, dilation: int or pair; padding: int, pair, 'same' (TensorFlow's split where stride > 1: the odd pad at the bottom/right) or 'valid'.\n\n"
          ">>> convnet.ops.conv2d(np.ones((1, 1, 3, 3), np.float32), np.ones((1, 1, 2, 2), np.float32)).shape\n"
          "(1, 1, 2, 2)");
  ops.def("conv2d_backward",
          [](py::object grad_out, py::object x, py::object w, py::object b, py::object stride, py::object padding,
             py::object dilation, py::object groups) {
            const char* op = "conv2d_backward";
            Tensor dy = as_tensor(grad_out, op, "grad_out");
            Tensor tx = as_tensor(x, op, "x"), tw = as_tensor(w, op, "w");
            auto tb = as_optional_tensor(b, op, "b");
            ops::Conv2dParams p = conv_params(op, tx, tw, stride, padding, dilation, groups);
            ops::conv2d_output_shape(tx, tw, tb ? &*tb : nullptr, p);  // checks b too
            Tensor dx = Tensor::empty(tx.shape(), DType::Float32, tx.device());
            Tensor dw = Tensor::empty(tw.shape(), DType::Float32, tx.device());
            Tensor db;
            if (tb) db = Tensor::empty({tw.size(0)}, DType::Float32, tx.device());
            {
              py::gil_scoped_release nogil;
              ops::conv2d_backward(&dx, &dw, tb ? &db : nullptr, dy, tx, tw, p);
            }
            return py::make_tuple(dx, dw, tb ? py::cast(db) : py::none());
          },
          py::arg("grad_out"), py::arg("x"), py::arg("w"), py::arg("b") = py::none(), py::arg("stride") = 1,
          py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1,
          "(grad_x, grad_w, grad_b) of conv2d; grad_b is None when b is None.");
}

}  // namespace convnet
