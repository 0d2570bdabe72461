// Bindings of ops/augment.h, ops/geometric.h and ops/intensity.h.
#include "ops/augment.h"
#include "ops/geometric.h"
#include "ops/intensity.h"

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

// A Python number (not a bool) as a float; TypeError naming op, arg and `expected` otherwise.
static float number(py::handle v, py::handle whole, const char* op, const char* arg, const char* expected) {
  if (py::isinstance<py::bool_>(v) || !PyNumber_Check(v.ptr()) || py::isinstance<py::str>(v))
    throw TypeError(arg_message(op, arg, expected, std::string(py::str(py::repr(whole)))));
  return v.cast<float>();
}

// A pair (lo, hi) of numbers.
static std::pair<float, float> number_pair(py::handle obj, const char* op, const char* arg) {
  const char* expected = "a pair (lo, hi) of numbers";
  if (!py::isinstance<py::tuple>(obj) && !py::isinstance<py::list>(obj))
    throw TypeError(arg_message(op, arg, expected, std::string(py::str(py::repr(obj)))));
  py::sequence seq = obj.cast<py::sequence>();
  if (seq.size() != 2) throw TypeError(arg_message(op, arg, expected, std::string(py::str(py::repr(obj)))));
  return {number(seq[0], obj, op, arg, expected), number(seq[1], obj, op, arg, expected)};
}

static ops::AffineParams affine_params(py::handle rotation, py::handle zoom_height, py::handle zoom_width,
                                       const std::string& fill_mode, const std::string& interpolation,
                                       double fill_value, const char* op) {
  ops::AffineParams p;
  std::tie(p.rotation_lo, p.rotation_hi) = number_pair(rotation, op, "rotation");
  std::tie(p.zoom_h_lo, p.zoom_h_hi) = number_pair(zoom_height, op, "zoom_height");
  p.keep_aspect = zoom_width.is_none();
  if (!p.keep_aspect) std::tie(p.zoom_w_lo, p.zoom_w_hi) = number_pair(zoom_width, op, "zoom_width");
  p.fill_mode = ops::fill_mode_from_name(fill_mode, op);
  p.interpolation = ops::interpolation_from_name(interpolation, op);
  p.fill_value = static_cast<float>(fill_value);
  return p;
}

static ops::ContrastParams contrast_params(py::handle factor, py::handle value_range, const char* op) {
  ops::ContrastParams p;
  std::tie(p.lower, p.upper) = number_pair(factor, op, "factor");
  std::tie(p.value_lo, p.value_hi) = number_pair(value_range, op, "value_range");
  return p;
}

static ops::ErasingParams erasing_params(py::handle factor, py::handle scale, py::handle ratio, py::handle fill_value,
                                         py::handle value_range, const char* op) {
  ops::ErasingParams p;
  std::tie(p.prob_lo, p.prob_hi) = number_pair(factor, op, "factor");
  std::tie(p.scale_lo, p.scale_hi) = number_pair(scale, op, "scale");
  std::tie(p.ratio_lo, p.ratio_hi) = number_pair(ratio, op, "ratio");
  p.random_fill = fill_value.is_none();
  if (!p.random_fill) p.fill_value = number(fill_value, fill_value, op, "fill_value", "a number or None");
  std::tie(p.value_lo, p.value_hi) = number_pair(value_range, op, "value_range");
  return p;
}

// grad_out and x of the same shape and device, and the gradient in x's shape.
static Tensor grad_like(const Tensor& dy, const Tensor& x, const char* op) {
  check_same_shape(op, "grad_out", dy, "x", x);
  check_same_device(op, "grad_out", dy, "x", x);
  return Tensor::empty(x.shape(), DType::Float32, x.device());
}

static void bind_geometric(py::module_& ops) {
  const auto pair0 = py::make_tuple(0.0, 0.0);
  ops.def("random_affine",
          [](py::object x, py::object rotation, py::object zoom_height, py::object zoom_width, std::string fill_mode,
             std::string interpolation, double fill_value, py::object seed) {
            const char* op = "random_affine";
            Tensor tx = as_tensor(x, op, "x");
            ops::AffineParams p = affine_params(rotation, zoom_height, zoom_width, fill_mode, interpolation,
                                                fill_value, op);
            uint64_t s = as_seed(seed, op);
            py::gil_scoped_release nogil;
            return ops::random_affine(tx, p, s);
          },
          py::arg("x"), py::arg("rotation") = pair0, py::arg("zoom_height") = pair0, py::arg("zoom_width") = py::none(),
          py::arg("fill_mode") = "reflect", py::arg("interpolation") = "bilinear", py::arg("fill_value") = 0.0,
          py::arg("seed") = 0,
          "Rotates and zooms each (N, C, H, W) image about its centre: a turn uniform in rotation = (lo, hi)\n"
          "(fractions of 2 pi; > 0 counter-clockwise), zooms 1 + U(zoom_height), 1 + U(zoom_width) (None: the\n"
          "height's; > 1 zooms out), resampled 'bilinear' or 'nearest' with fill_mode 'reflect', 'wrap',\n"
          "'nearest' or 'constant' (fill_value) outside. Draws are a pure function of (seed, image index).");
  ops.def("random_affine_backward",
          [](py::object grad_out, py::object x, py::object rotation, py::object zoom_height, py::object zoom_width,
             std::string fill_mode, std::string interpolation, double fill_value, py::object seed) {
            const char* op = "random_affine_backward";
            Tensor dy = as_tensor(grad_out, op, "grad_out"), tx = as_tensor(x, op, "x");
            ops::AffineParams p = affine_params(rotation, zoom_height, zoom_width, fill_mode, interpolation,
                                                fill_value, op);
            uint64_t s = as_seed(seed, op);
            Tensor dx = grad_like(dy, tx, op);
            py::gil_scoped_release nogil;
            ops::random_affine_backward(dx, dy, p, ops::seed_tensor(s, dy.device()));
            return dx;
          },
          py::arg("grad_out"), py::arg("x"), py::arg("rotation") = pair0, py::arg("zoom_height") = pair0,
          py::arg("zoom_width") = py::none(), py::arg("fill_mode") = "reflect", py::arg("interpolation") = "bilinear",
          py::arg("fill_value") = 0.0, py::arg("seed") = 0,
          "grad_x of random_affine: the transpose of its resampling applied to grad_out");
  ops.def("random_crop",
          [](py::object x, py::object height, py::object width, py::object seed, bool center) {
            const char* op = "random_crop";
            Tensor tx = as_tensor(x, op, "x");
            ops::CropParams p{bindings::as_int(height, op, "height"), bindings::as_int(width, op, "width"), !center};
            uint64_t s = as_seed(seed, op);
            py::gil_scoped_release nogil;
            return ops::random_crop(tx, p, s);
          },
          py::arg("x"), py::arg("height"), py::arg("width"), py::arg("seed") = 0, py::arg("center") = false,
          "(N, C, H, W) -> (N, C, height, width): a window of each image at a uniformly drawn offset, or the\n"
          "central window (floor((H - height) / 2), ...) when center.");
  ops.def("random_crop_backward",
          [](py::object grad_out, py::object x, py::object height, py::object width, py::object seed, bool center) {
            const char* op = "random_crop_backward";
            Tensor dy = as_tensor(grad_out, op, "grad_out"), tx = as_tensor(x, op, "x");
            ops::CropParams p{bindings::as_int(height, op, "height"), bindings::as_int(width, op, "width"), !center};
            uint64_t s = as_seed(seed, op);
            check_same_device(op, "grad_out", dy, "x", tx);
            Tensor dx = Tensor::empty(tx.shape(), DType::Float32, tx.device());
            py::gil_scoped_release nogil;
            ops::random_crop_backward(dx, dy, p, ops::seed_tensor(s, dy.device()));
            return dx;
          },
          py::arg("grad_out"), py::arg("x"), py::arg("height"), py::arg("width"), py::arg("seed") = 0,
          py::arg("center") = false, "grad_x of random_crop: grad_out placed in each image's window, zeros elsewhere");
}

static void bind_intensity(py::module_& ops) {
  const auto bytes = py::make_tuple(0.0, 255.0);
  ops.def("random_contrast",
          [](py::object x, py::object factor, py::object value_range, py::object seed) {
            const char* op = "random_contrast";
            Tensor tx = as_tensor(x, op, "x");
            ops::ContrastParams p = contrast_params(factor, value_range, op);
            uint64_t s = as_seed(seed, op);
            py::gil_scoped_release nogil;
            return ops::random_contrast(tx, p, s);
          },
          py::arg("x"), py::arg("factor"), py::arg("value_range") = bytes, py::arg("seed") = 0,
          "Scales each (N, C, H, W) image's deviations from its per-channel mean by c uniform in\n"
          "[1 - lower, 1 + upper] (factor = (lower, upper)), clipped to value_range.");
  ops.def("random_contrast_backward",
          [](py::object grad_out, py::object x, py::object factor, py::object value_range, py::object seed) {
            const char* op = "random_contrast_backward";
            Tensor dy = as_tensor(grad_out, op, "grad_out"), tx = as_tensor(x, op, "x");
            ops::ContrastParams p = contrast_params(factor, value_range, op);
            uint64_t s = as_seed(seed, op);
            Tensor dx = grad_like(dy, tx, op);
            py::gil_scoped_release nogil;
            ops::random_contrast_backward(dx, dy, tx, p, ops::seed_tensor(s, tx.device()));
            return dx;
          },
          py::arg("grad_out"), py::arg("x"), py::arg("factor"), py::arg("value_range") = bytes, py::arg("seed") = 0,
          "grad_x of random_contrast: c * dz + (1 - c) * mean(dz) per plane, dz = grad_out where not clipped");
  ops.def("random_erasing",
          [](py::object x, py::object factor, py::object scale, py::object ratio, py::object fill_value,
             py::object value_range, py::object seed) {
            const char* op = "random_erasing";
            Tensor tx = as_tensor(x, op, "x");
            ops::ErasingParams p = erasing_params(factor, scale, ratio, fill_value, value_range, op);
            uint64_t s = as_seed(seed, op);
            py::gil_scoped_release nogil;
            return ops::random_erasing(tx, p, s);
          },
          py::arg("x"), py::arg("factor") = py::make_tuple(1.0, 1.0), py::arg("scale") = py::make_tuple(0.02, 0.33),
          py::arg("ratio") = py::make_tuple(0.3, 3.3), py::arg("fill_value") = py::none(),
          py::arg("value_range") = bytes, py::arg("seed") = 0,
          "Erases one rectangle of each (N, C, H, W) image with probability U(factor): area fraction uniform\n"
          "in scale, aspect ratio (height / width) log-uniform in ratio, filled with fill_value (None:\n"
          "values uniform in value_range).");
  ops.def("random_erasing_backward",
          [](py::object grad_out, py::object x, py::object factor, py::object scale, py::object ratio,
             py::object fill_value, py::object value_range, py::object seed) {
            const char* op = "random_erasing_backward";
            Tensor dy = as_tensor(grad_out, op, "grad_out"), tx = as_tensor(x, op, "x");
            ops::ErasingParams p = erasing_params(factor, scale, ratio, fill_value, value_range, op);
            uint64_t s = as_seed(seed, op);
            Tensor dx = grad_like(dy, tx, op);
            py::gil_scoped_release nogil;
            ops::random_erasing_backward(dx, dy, p, ops::seed_tensor(s, dy.device()));
            return dx;
          },
          py::arg("grad_out"), py::arg("x"), py::arg("factor") = py::make_tuple(1.0, 1.0),
          py::arg("scale") = py::make_tuple(0.02, 0.33), py::arg("ratio") = py::make_tuple(0.3, 3.3),
          py::arg("fill_value") = py::none(), py::arg("value_range") = bytes, py::arg("seed") = 0,
          "grad_x of random_erasing: grad_out with each erased rectangle zeroed");
}

void bind_augment(py::module_& ops) {
  bind_geometric(ops);
  bind_intensity(ops);
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
