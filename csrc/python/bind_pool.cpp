// Bindings of ops/pool.h.
#include "ops/pool.h"

#include "core/checks.h"
#include "python/common.h"

namespace convnet {

using bindings::as_tensor;
using bindings::int_pair;

// PyTorch's arguments -> Pool2dParams; stride None means stride = kernel_size; padding 'same' is
// Keras' (resolved against x's size), 'valid' none.
static ops::Pool2dParams pool_params(ops::PoolMode mode, const char* op, const Tensor& x, py::handle kernel_size,
                                     py::handle stride, py::handle padding) {
  ops::Pool2dParams p;
  p.mode = mode;
  std::tie(p.kernel_h, p.kernel_w) = int_pair(kernel_size, op, "kernel_size");
  if (stride.is_none()) {
    p.stride_h = p.kernel_h;
    p.stride_w = p.kernel_w;
  } else {
    std::tie(p.stride_h, p.stride_w) = int_pair(stride, op, "stride");
  }
  if (!py::isinstance<py::str>(padding)) {
    std::tie(p.pad_h, p.pad_w) = int_pair(padding, op, "padding");
    return p;
  }
  const std::string mode_name = padding.cast<std::string>();
  if (mode_name != "same" && mode_name != "valid")
    throw ValueError(arg_message(op, "padding", "'same', 'valid', an int or a pair of ints", "'" + mode_name + "'"));
  if (mode_name == "same" && x.dim() == 4) p = ops::pool2d_same_padding(p, x.size(2), x.size(3));
  return p;
}

static void def_pool(py::module_& ops, ops::PoolMode mode, const char* doc, const char* backward_doc) {
  const std::string name = ops::pool2d_name(mode);
  const std::string backward_name = name + "_backward";
  ops.def(name.c_str(), [mode, name](py::object x, py::object kernel_size, py::object stride, py::object padding) {
            Tensor tx = as_tensor(x, name.c_str(), "x");
            ops::Pool2dParams p = pool_params(mode, name.c_str(), tx, kernel_size, stride, padding);
            Tensor y = Tensor::empty(ops::pool2d_output_shape(tx, p), DType::Float32, tx.device());
            {
              py::gil_scoped_release nogil;
              ops::pool2d_forward(y, nullptr, tx, p);
            }
            return y;
          }, py::arg("x"), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0, doc);
  ops.def(backward_name.c_str(),
          [mode, backward_name](py::object grad_out, py::object x, py::object kernel_size, py::object stride,
                                py::object padding) {
            const char* op = backward_name.c_str();
            Tensor dy = as_tensor(grad_out, op, "grad_out");
            Tensor tx = as_tensor(x, op, "x");
            ops::Pool2dParams p = pool_params(mode, op, tx, kernel_size, stride, padding);
            const Shape ys = ops::pool2d_contract(op, tx, p);
            check_dtype(op, "grad_out", dy, DType::Float32);
            check_shape(op, "grad_out", dy, ys);
            check_same_device(op, "grad_out", dy, "x", tx);
            // Max / min: recompute the index from x (the forward is cheap), then route dy there.
            const bool needs_index = mode != ops::PoolMode::Avg;
            Tensor y = needs_index ? Tensor::empty(ys, DType::Float32, tx.device()) : Tensor();
            Tensor index = needs_index ? Tensor::empty(ys, DType::Int64, tx.device()) : Tensor();
            Tensor dx = Tensor::empty(tx.shape(), DType::Float32, tx.device());
            {
              py::gil_scoped_release nogil;
              if (needs_index) ops::pool2d_forward(y, &index, tx, p);
              ops::pool2d_backward(dx, dy, &index, p);
            }
            return dx;
          }, py::arg("grad_out"), py::arg("x"), py::arg("kernel_size"), py::arg("stride") = py::none(),
          py::arg("padding") = 0, backward_doc);
}

void bind_pool(py::module_& ops) {
  def_pool(ops, ops::PoolMode::Max,
           "2-D max pooling of x (N, C, H, W) -> (N, C, H_out, W_out), like torch.nn.functional.max_pool2d.\n"
           "kernel_size, stride (default: kernel_size) and padding are ints or (h, w) pairs; padding counts as\n"
           "-inf and must be at most half the kernel. padding='same' is Keras': ceil(H / stride) outputs, the odd\n"
           "pad at the bottom/right. Ties pick the first element of the window.\n\n"
           ">>> ops.max_pool2d(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4), 2).numpy().ravel()\n"
           "array([ 5.,  7., 13., 15.], dtype=float32)",
           "grad_x of max_pool2d: grad_out goes to the (first) maximum of each window");
  def_pool(ops, ops::PoolMode::Avg,
           "2-D average pooling of x (N, C, H, W) -> (N, C, H_out, W_out), like torch.nn.functional.avg_pool2d\n"
           "(count_include_pad=True: padding counts as zeros in the mean). Same arguments as max_pool2d; with\n"
           "padding='same' (Keras') the mean is over the window's real elements only.",
           "grad_x of avg_pool2d: grad_out / (kernel_h * kernel_w) spread over each window");
  def_pool(ops, ops::PoolMode::Min,
           "2-D min pooling of x (N, C, H, W) -> (N, C, H_out, W_out): -max_pool2d(-x), padding counts as +inf.\n"
           "Same arguments as max_pool2d; ties pick the first element of the window.",
           "grad_x of min_pool2d: grad_out goes to the (first) minimum of each window");

  ops.def("global_avg_pool2d", [](py::object x) {
            Tensor tx = as_tensor(x, "global_avg_pool2d", "x");
            py::gil_scoped_release nogil;
            return ops::global_avg_pool2d(tx);
          }, py::arg("x"), "Mean over H and W: x (N, C, H, W) -> (N, C)");
  ops.def("global_avg_pool2d_backward", [](py::object grad_out, py::object x) {
            const char* op = "global_avg_pool2d_backward";
            Tensor dy = as_tensor(grad_out, op, "grad_out");
            Tensor tx = as_tensor(x, op, "x");
            check_float_input(op, "x", tx, 4, "(N, C, H, W)");
            Tensor dx = Tensor::empty(tx.shape(), DType::Float32, tx.device());
            {
              py::gil_scoped_release nogil;
              ops::global_avg_pool2d_backward(dx, dy);
            }
            return dx;
          }, py::arg("grad_out"), py::arg("x"), "grad_x of global_avg_pool2d: grad_out / (H*W) broadcast over H, W");
}

}  // namespace convnet
