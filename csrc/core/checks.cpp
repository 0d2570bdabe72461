#include "core/checks.h"

namespace convnet {

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
}

void check_step_value(const std::string& op, const std::string& arg, const Tensor& t, DType dtype, int64_t numel,
                      const Tensor& like) {
  check_dtype(op, arg, t, dtype);
  check_shape(op, arg, t, {numel});
  check_same_device(op, arg, t, "x", like);
}

}  // namespace convnet
