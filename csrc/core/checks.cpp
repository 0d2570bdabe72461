#include "core/checks.h"

#include <climits>

namespace convnet {

int64_t checked_mul(int64_t a, int64_t b, const std::string& op, const std::string& what) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r))
    throw ValueError(op + ": " + what + " is too large: " + std::to_string(a) + " * " + std::to_string(b) +
                     " does not fit in 64 bits");
  return r;
}

int64_t checked_add(int64_t a, int64_t b, const std::string& op, const std::string& what) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r))
    throw ValueError(op + ": " + what + " is too large: " + std::to_string(a) + " + " + std::to_string(b) +
                     " does not fit in 64 bits");
  return r;
}

int64_t checked_numel(const std::string& op, const std::string& what, const Shape& shape, size_t elem_size) {
  int64_t n = 1;
  for (int64_t s : shape) {
    CONVNET_CHECK_VALUE(s >= 0, op, what, "non-negative sizes", shape_str(shape));
    if (__builtin_mul_overflow(n, s, &n))
      throw ValueError(op + ": " + what + " " + shape_str(shape) +
                       " is too large: its element count does not fit in 64 bits");
  }
  int64_t bytes;
  if (__builtin_mul_overflow(n, static_cast<int64_t>(elem_size), &bytes))
    throw ValueError(op + ": " + what + " " + shape_str(shape) + " is too large: " + std::to_string(n) +
                     " elements of " + std::to_string(elem_size) + " bytes do not fit in 64 bits");
  return n;
}

int64_t checked_nbytes(const std::string& op, const std::string& what, const Shape& shape, DType dtype) {
  return checked_numel(op, what, shape, dtype_size(dtype)) * static_cast<int64_t>(dtype_size(dtype));
}

const Shape& checked_output_shape(const std::string& op, const Shape& shape, const std::string& from, DType dtype) {
  try {
    checked_nbytes(op, "output", shape, dtype);
  } catch (const ValueError& e) {
    throw ValueError(std::string(e.what()) + " (from " + from + ")");
  }
  return shape;
}

int checked_int(int64_t v, const std::string& op, const std::string& arg) {
  CONVNET_CHECK_VALUE(v >= INT_MIN && v <= INT_MAX, op, arg, "a value that fits in 32 bits", std::to_string(v));
  return static_cast<int>(v);
}

void check_writable(const std::string& op, const std::string& arg, const Tensor& t) {
  if (t.read_only())
    throw ValueError(op + ": argument '" + arg + "' is read-only (it views read-only memory, e.g. a numpy array "
                     "with flags.writeable False or a memory map opened with mode 'r'); pass a writable copy");
}

void check_dtype(const std::string& op, const std::string& arg, const Tensor& t, DType want) {
  CONVNET_CHECK_VALUE(t.defined(), op, arg, "a tensor", "None");
  CONVNET_CHECK_TYPE(t.dtype() == want, op, arg, std::string("dtype ") + dtype_name(want),
                     std::string("dtype ") + dtype_name(t.dtype()));
}

void check_rank(const std::string& op, const std::string& arg, const Tensor& t, int64_t rank,
                const std::string& layout) {
  CONVNET_CHECK_VALUE(t.dim() == rank, op, arg, std::to_string(rank) + "-D tensor " + layout,
                      std::to_string(t.dim()) + "-D tensor of shape " + shape_str(t.shape()));
}

void check_nonempty(const std::string& op, const std::string& arg, const Tensor& t) {
  CONVNET_CHECK_VALUE(t.numel() > 0, op, arg, "a non-empty tensor", "shape " + shape_str(t.shape()));
}

void check_float_input(const std::string& op, const std::string& arg, const Tensor& t, int64_t rank,
                       const std::string& layout) {
  check_dtype(op, arg, t, DType::Float32);
  check_rank(op, arg, t, rank, layout);
  check_nonempty(op, arg, t);
}

void check_same_shape(const std::string& op, const std::string& arg, const Tensor& t,
                      const std::string& other_arg, const Tensor& other) {
  CONVNET_CHECK_VALUE(t.shape() == other.shape(), op, arg,
                      "the shape of '" + other_arg + "' " + shape_str(other.shape()), shape_str(t.shape()));
}

void check_shape(const std::string& op, const std::string& arg, const Tensor& t, const Shape& want) {
  CONVNET_CHECK_VALUE(t.defined(), op, arg, "a tensor of shape " + shape_str(want), "None");
  CONVNET_CHECK_VALUE(t.shape() == want, op, arg, "shape " + shape_str(want), shape_str(t.shape()));
}

void check_same_device(const std::string& op, const std::string& arg, const Tensor& t,
                       const std::string& ref_arg, const Tensor& ref) {
  CONVNET_CHECK_VALUE(t.device() == ref.device(), op, arg,
                      "a tensor on " + ref.device().str() + " like '" + ref_arg + "'", "one on " + t.device().str());
}

void check_output(const std::string& op, const std::string& arg, const Tensor& t, const Shape& want,
                  const Tensor& ref, DType dtype) {
  check_dtype(op, arg, t, dtype);
  check_shape(op, arg, t, want);
  check_same_device(op, arg, t, "input", ref);
  check_writable(op, arg, t);
}

void check_step_value(const std::string& op, const std::string& arg, const Tensor& t, DType dtype, int64_t numel,
                      const Tensor& like) {
  check_dtype(op, arg, t, dtype);
  check_shape(op, arg, t, {numel});
  check_same_device(op, arg, t, "x", like);
}

}  // namespace convnet
