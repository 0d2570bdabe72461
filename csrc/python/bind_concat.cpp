// Bindings of ops/concat.h.
#include "ops/concat.h"

#include <string>
#include <vector>

#include "core/checks.h"
#include "python/common.h"

namespace convnet {

using bindings::as_tensor;

namespace {

// A Python sequence of objects (a list or tuple, not an array), TypeError otherwise.
py::sequence as_list(py::handle obj, const char* op, const char* arg) {
  if (!py::isinstance<py::list>(obj) && !py::isinstance<py::tuple>(obj))
    throw TypeError(arg_message(op, arg, "a list of tensors or arrays",
                                std::string("an object of type ") + Py_TYPE(obj.ptr())->tp_name));
  return obj.cast<py::sequence>();
}

// A forward input's shape: a tuple or list of ints, or the shape of a Tensor or array.
Shape as_shape(py::handle obj, const char* op, const std::string& arg) {
  if (py::isinstance<Tensor>(obj)) return obj.cast<Tensor>().shape();
  if (py::isinstance<py::tuple>(obj) || py::isinstance<py::list>(obj)) {
    py::sequence seq = obj.cast<py::sequence>();
    bool ints = true;
    for (py::handle d : seq) ints = ints && py::isinstance<py::int_>(d) && !py::isinstance<py::bool_>(d);
    if (ints) {
      Shape shape;
      for (py::handle d : seq) shape.push_back(d.cast<int64_t>());
      return shape;
    }
  }
  py::array array;
  try {
    array = py::array::ensure(obj);
  } catch (py::error_already_set&) {
  }
  if (!array || array.dtype().kind() == 'O')  // not an array of numbers
    throw TypeError(arg_message(op, arg, "a shape, Tensor or array",
                                std::string("an object of type ") + Py_TYPE(obj.ptr())->tp_name));
  return Shape(array.shape(), array.shape() + array.ndim());
}

}  // namespace

void bind_concat(py::module_& ops) {
  ops.def("concat", [](py::object inputs) {
            py::sequence seq = as_list(inputs, "concat", "inputs");
            std::vector<Tensor> xs;
            for (size_t i = 0; i < seq.size(); ++i)
              xs.push_back(as_tensor(seq[i], "concat", ("inputs[" + std::to_string(i) + "]").c_str()));
            std::vector<const Tensor*> ptrs;
            for (const Tensor& x : xs) ptrs.push_back(&x);
            const Shape y_shape = ops::concat_output_shape(ptrs);  // checks there are inputs
            Tensor y = Tensor::empty(y_shape, DType::Float32, xs[0].device());
            py::gil_scoped_release nogil;
            ops::concat_forward(y, ptrs);
            return y;
          }, py::arg("inputs"),
          "Concatenation along axis 1 (channels), like torch.cat(inputs, dim=1): 2 or more float32 tensors\n"
          "(N, C_i, ...) with the same N and trailing dims -> (N, sum C_i, ...).");
  ops.def("concat_backward", [](py::object grad_out, py::object inputs) {
            const char* op = "concat_backward";
            Tensor dy = as_tensor(grad_out, op, "grad_out");
            py::sequence seq = as_list(inputs, op, "inputs");
            std::vector<Shape> shapes;
            for (size_t i = 0; i < seq.size(); ++i)
              shapes.push_back(as_shape(seq[i], op, "inputs[" + std::to_string(i) + "]"));
            // No gradient asked for: the contract checks the arguments, copying nothing, before any allocation.
            ops::concat_backward(std::vector<Tensor*>(shapes.size(), nullptr), dy, shapes);
            std::vector<Tensor> grads;
            for (const Shape& s : shapes) grads.push_back(Tensor::empty(s, DType::Float32, dy.device()));
            std::vector<Tensor*> ptrs;
            for (Tensor& g : grads) ptrs.push_back(&g);
            {
              py::gil_scoped_release nogil;
              ops::concat_backward(ptrs, dy, shapes);
            }
            return py::cast(grads);
          }, py::arg("grad_out"), py::arg("inputs"),
          "[grad of each input] of concat: the channel slices of grad_out; inputs are the forward inputs or\n"
          "their shapes (only the shapes are read).");
}

}  // namespace convnet
