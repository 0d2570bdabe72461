// Bindings of ops/resample.h.
#include "ops/resample.h"

#include "python/common.h"

namespace convnet {

using bindings::as_tensor;
using bindings::int_pair;
using bindings::padding_sides;

static ops::ZeroPad2dParams pad_params(py::handle padding, const char* op) {
  const auto s = padding_sides(padding, op, "padding");
  ops::ZeroPad2dParams p;
  p.top = s[0];
  p.bottom = s[1];
  p.left = s[2];
  p.right = s[3];
  return p;
}

static ops::Upsample2dParams upsample_params(py::handle size, const char* op) {
  ops::Upsample2dParams p;
  std::tie(p.scale_h, p.scale_w) = int_pair(size, op, "size");
  return p;
}

void bind_resample(py::module_& ops) {
  ops.def("zero_pad2d", [](py::object x, py::object padding) {
            const char* op = "zero_pad2d";
            const ops::ZeroPad2dParams p = pad_params(padding, op);
            Tensor t = as_tensor(x, op, "x");
            Tensor y = Tensor::empty(ops::zero_pad2d_output_shape(t, p), DType::Float32, t.device());
            py::gil_scoped_release nogil;
            ops::zero_pad2d_forward(y, t, p);
            return y;
          }, py::arg("x"), py::arg("padding"),
          "Zero padding of x (N, C, H, W) -> (N, C, top + H + bottom, left + W + right), Keras' ZeroPadding2D.\n"
          "padding: an int, (h, w) (symmetric) or ((top, bottom), (left, right)), all >= 0; like\n"
          "torch.nn.functional.pad(x, (left, right, top, bottom)).\n\n"
          ">>> convnet.ops.zero_pad2d(np.ones((1, 1, 2, 2), np.float32), ((1, 0), (0, 2))).shape\n"
          "(1, 1, 3, 4)");
  ops.def("zero_pad2d_backward", [](py::object grad_out, py::object x, py::object padding) {
            const char* op = "zero_pad2d_backward";
            const ops::ZeroPad2dParams p = pad_params(padding, op);
            Tensor dy = as_tensor(grad_out, op, "grad_out");
            Tensor t = as_tensor(x, op, "x");
            Tensor dx = Tensor::empty(t.shape(), DType::Float32, dy.device());
            py::gil_scoped_release nogil;
            ops::zero_pad2d_backward(dx, dy, p);
            return dx;
          }, py::arg("grad_out"), py::arg("x"), py::arg("padding"),
          "grad_x of zero_pad2d: the crop of grad_out to x's rows and columns.");
  ops.def("upsample_nearest2d", [](py::object x, py::object size) {
            const char* op = "upsample_nearest2d";
            const ops::Upsample2dParams p = upsample_params(size, op);
            Tensor t = as_tensor(x, op, "x");
            Tensor y = Tensor::empty(ops::upsample_nearest2d_output_shape(t, p), DType::Float32, t.device());
            py::gil_scoped_release nogil;
            ops::upsample_nearest2d_forward(y, t, p);
            return y;
          }, py::arg("x"), py::arg("size"),
          "Nearest-neighbour upsampling of x (N, C, H, W) -> (N, C, H * sh, W * sw) by integer factors\n"
          "size = s or (sh, sw) >= 1: each element repeated over an sh x sw block (Keras' UpSampling2D,\n"
          "torch.nn.functional.interpolate(x, scale_factor=(sh, sw), mode='nearest')).\n\n"
          ">>> convnet.ops.upsample_nearest2d(np.ones((1, 1, 2, 3), np.float32), (2, 1)).shape\n"
          "(1, 1, 4, 3)");
  ops.def("upsample_nearest2d_backward", [](py::object grad_out, py::object x, py::object size) {
            const char* op = "upsample_nearest2d_backward";
            const ops::Upsample2dParams p = upsample_params(size, op);
            Tensor dy = as_tensor(grad_out, op, "grad_out");
            Tensor t = as_tensor(x, op, "x");
            Tensor dx = Tensor::empty(t.shape(), DType::Float32, dy.device());
            py::gil_scoped_release nogil;
            ops::upsample_nearest2d_backward(dx, dy, p);
            return dx;
          }, py::arg("grad_out"), py::arg("x"), py::arg("size"),
          "grad_x of upsample_nearest2d: the sum of grad_out over each sh x sw block (deterministic).");
}

}  // namespace convnet
