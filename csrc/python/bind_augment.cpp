// Bindings of ops/augment.h.
#include "ops/augment.h"

#include "core/checks.h"
#include "python/common.h"

namespace convnet {

using bindings::as_seed;
using bindings::as_tensor;

// A shift range in pixels: an int k means [-k, k], a pair (lo, hi) means [lo, hi].
static std::pair<int, int> shift_range(py::handle obj, const char* op, const char* arg) {
  auto [lo, hi] = bindings::int_pair(obj, op, arg);
  if (!py::isinstance<py::tuple>(obj) && !py::isinstance<py::list>(obj)) {
    CONVNET_CHECK_VALUE(hi >= 0, op, arg, "an int k >= 0 (the range [-k, k]) or a pair (lo, hi)", std::to_string(hi));
    lo = -hi;
  }
  return {lo, hi};
}

static ops::AugmentParams augment_params(bool flip_horizontal, bool flip_vertical, py::handle shift_height,
                                         py::handle shift_width, const char* op) {
  ops::AugmentParams p;
  p.flip_horizontal = flip_horizontal;
  p.flip_vertical = flip_vertical;
  std::tie(p.min_shift_h, p.max_shift_h) = shift_range(shift_height, op, "shift_height");
  std::tie(p.min_shift_w, p.max_shift_w) = shift_range(shift_width, op, "shift_width");
  return p;
}

void bind_augment(py::module_& ops) {
  ops.def("random_flip_translate",
          [](py::object x, bool flip_horizontal, bool flip_vertical, py::object shift_height, py::object shift_width,
             py::object seed) {
            const char* op = "random_flip_translate";
            Tensor tx = as_tensor(x, op, "x");
            ops::AugmentParams p = augment_params(flip_horizontal, flip_vertical, shift_height, shift_width, op);
            uint64_t s = as_seed(seed, op);
            py::gil_scoped_release nogil;
            return ops::random_flip_translate(tx, p, s);
          },
          py::arg("x"), py::arg("flip_horizontal") = false, py::arg("flip_vertical") = false,
          py::arg("shift_height") = 0, py::arg("shift_width") = 0, py::arg("seed") = 0,
          "Data augmentation of (N, C, H, W) images: each image is mirrored left-right (flip_horizontal) and/or\n"
          "upside-down (flip_vertical) with probability 1/2, then moved by a whole number of pixels drawn\n"
          "uniformly from shift_height / shift_width (an int k: [-k, k]; a pair: [lo, hi]), the uncovered\n"
          "pixels filled with 0. Draws are a pure function of (seed, image index), the same on CPU and GPU.");
  ops.def("random_flip_translate_backward",
          [](py::object grad_out, py::object x, bool flip_horizontal, bool flip_vertical, py::object shift_height,
             py::object shift_width, py::object seed) {
            const char* op = "random_flip_translate_backward";
            Tensor dy = as_tensor(grad_out, op, "grad_out"), tx = as_tensor(x, op, "x");
            ops::AugmentParams p = augment_params(flip_horizontal, flip_vertical, shift_height, shift_width, op);
            uint64_t s = as_seed(seed, op);
            check_same_shape(op, "grad_out", dy, "x", tx);
            check_same_device(op, "grad_out", dy, "x", tx);
            Tensor dx = Tensor::empty(dy.shape(), DType::Float32, dy.device());
            py::gil_scoped_release nogil;
            ops::random_flip_translate_backward(dx, dy, p, s);
            return dx;
          },
          py::arg("grad_out"), py::arg("x"), py::arg("flip_horizontal") = false, py::arg("flip_vertical") = false,
          py::arg("shift_height") = 0, py::arg("shift_width") = 0, py::arg("seed") = 0,
          "grad_x of random_flip_translate: grad_out mapped back through the same transforms");
}

}  // namespace convnet
