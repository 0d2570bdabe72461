// Channel concatenation: contract, dispatch and the CPU kernel (a row copy, OpenMP over rows).
#include "ops/concat.h"

#include <cstring>
#include <string>

#include "core/checks.h"
#include "ops/dispatch.h"

namespace convnet {

namespace cpu_kernels {
void concat_copy(float* dst, int64_t dst_stride, const float* src, int64_t src_stride, int64_t rows, int64_t width) {
#pragma omp parallel for schedule(static) if (rows * width > 32768)
  for (int64_t n = 0; n < rows; ++n)
    std::memcpy(dst + n * dst_stride, src + n * src_stride, static_cast<size_t>(width) * sizeof(float));
}
}  // namespace cpu_kernels

namespace ops {

static std::string input_name(const char* base, size_t i) { return std::string(base) + "[" + std::to_string(i) + "]"; }

// The shape rules, shared by forward (the inputs' shapes) and backward (the shapes it is given): at
// least 2 non-empty shapes of rank >= 2 with the N and trailing dims of the first. Returns y's shape.
static Shape concat_shape(const char* op, const char* arg, const std::vector<Shape>& shapes) {
  CONVNET_CHECK_VALUE(shapes.size() >= 2, op, arg, "at least 2 tensors to concatenate",
                      std::to_string(shapes.size()));
  Shape out;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const Shape& s = shapes[i];
    CONVNET_CHECK_VALUE(s.size() >= 2, op, input_name(arg, i), "a tensor of rank >= 2 (N, C, ...)",
                        std::to_string(s.size()) + "-D tensor of shape " + shape_str(s));
    bool positive = true;
    for (int64_t d : s) positive = positive && d > 0;
    CONVNET_CHECK_VALUE(positive, op, input_name(arg, i), "a non-empty tensor", "shape " + shape_str(s));
    if (i == 0) {
      out = s;
      continue;
    }
    bool same = s.size() == out.size() && s[0] == out[0];
    for (size_t d = 2; same && d < s.size(); ++d) same = s[d] == out[d];
    if (!same) {
      std::string want = "(" + std::to_string(out[0]) + ", C";
      for (size_t d = 2; d < out.size(); ++d) want += ", " + std::to_string(out[d]);
      throw ValueError(arg_message(op, input_name(arg, i),
                                   "shape " + want + "): the N and trailing dims of '" + arg + "[0]'",
                                   "shape " + shape_str(s)));
    }
    out[1] = checked_add(out[1], s[1], op, "the output channels");
  }
  return checked_output_shape(op, out, "the inputs' shapes");
}

Shape concat_output_shape(const std::vector<const Tensor*>& inputs) {
  std::vector<Shape> shapes;
  shapes.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    CONVNET_CHECK_VALUE(inputs[i] != nullptr, "concat", input_name("inputs", i), "a tensor", "None");
    check_dtype("concat", input_name("inputs", i), *inputs[i], DType::Float32);
    if (i > 0) check_same_device("concat", input_name("inputs", i), *inputs[i], "inputs[0]", *inputs[0]);
    shapes.push_back(inputs[i]->shape());
  }
  return concat_shape("concat", "inputs", shapes);
}

// Elements per channel S = d2 * d3 * ... of a (N, C, d2, ...) shape.
static int64_t channel_size(const Shape& s) { return checked_numel("concat", "shape", s) / (s[0] * s[1]); }

void concat_forward(Tensor& y, const std::vector<const Tensor*>& inputs) {
  const Shape y_shape = concat_output_shape(inputs);  // first: it checks there are inputs
  check_output("concat", "y", y, y_shape, *inputs[0]);
  const int64_t N = y.size(0), row = y.numel() / N;
  int64_t offset = 0;  // o_i * S
  for (const Tensor* x : inputs) {
    const int64_t width = x->numel() / N;  // C_i * S
    CONVNET_DISPATCH(y, concat_copy, y.data<float>() + offset, row, x->data<float>(), width, N, width);
    offset += width;
  }
}

void concat_backward(const std::vector<Tensor*>& grad_inputs, const Tensor& dy,
                     const std::vector<Shape>& input_shapes) {
  const Shape y_shape = concat_shape("concat_backward", "input_shapes", input_shapes);
  check_dtype("concat_backward", "grad_out", dy, DType::Float32);
  check_shape("concat_backward", "grad_out", dy, y_shape);
  CONVNET_CHECK_VALUE(grad_inputs.size() == input_shapes.size(), "concat_backward", "grad_inputs",
                      std::to_string(input_shapes.size()) + " gradients (null where not needed), one per input",
                      std::to_string(grad_inputs.size()));
  for (size_t i = 0; i < grad_inputs.size(); ++i)
    if (grad_inputs[i]) check_output("concat_backward", input_name("grad_inputs", i), *grad_inputs[i], input_shapes[i], dy);
  const int64_t N = y_shape[0], S = channel_size(y_shape), row = y_shape[1] * S;
  int64_t offset = 0;
  for (size_t i = 0; i < grad_inputs.size(); ++i) {
    const int64_t width = input_shapes[i][1] * S;
    if (Tensor* dx = grad_inputs[i])
      CONVNET_DISPATCH(dy, concat_copy, dx->data<float>(), width, dy.data<float>() + offset, row, N, width);
    offset += width;
  }
}

Tensor concat(const std::vector<const Tensor*>& inputs) {
  const Shape y_shape = concat_output_shape(inputs);
  Tensor y = Tensor::empty(y_shape, DType::Float32, inputs[0]->device());
  concat_forward(y, inputs);
  return y;
}

}  // namespace ops
}  // namespace convnet
