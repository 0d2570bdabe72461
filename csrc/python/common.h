// Conversions shared by the bindings: Python objects -> Tensors and parameters, with errors
// that name the op and the argument. No op logic here.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <climits>
#include <optional>
#include <string>
#include <utility>

#include "core/tensor.h"

namespace py = pybind11;

namespace convnet {
namespace bindings {

// A Tensor from a Tensor or anything numpy can read. Tensors must already have dtype `want`
// (TypeError otherwise). numpy input is shared without a copy when it is C-contiguous, aligned
// and of the right dtype; otherwise it is converted (floating -> float32, integer -> int64),
// and anything else (bool, object, complex, strings) is a TypeError.
Tensor as_tensor(py::handle obj, const char* op, const char* arg, DType want = DType::Float32);
std::optional<Tensor> as_optional_tensor(py::handle obj, const char* op, const char* arg,
                                         DType want = DType::Float32);
// A CPU tensor sharing the memory of a numpy array of a supported dtype (float32, int64, uint8),
// keeping the array alive.
Tensor tensor_from_numpy(py::array array);
// Every integer argument from Python goes through as_int: a Python int (or numpy integer; not a
// bool, float or str: TypeError) in [lo, hi] (ValueError otherwise), each naming op and arg.
int64_t as_int(py::handle obj, const char* op, const char* arg, int64_t lo = INT64_MIN, int64_t hi = INT64_MAX);
// A shape: a sequence of ints (any size here; checked by the op, e.g. >= 0).
Shape as_int_list(py::handle obj, const char* op, const char* arg);
// int or pair of ints (32 bits each) -> (h, w); TypeError / ValueError naming op and arg otherwise.
std::pair<int, int> int_pair(py::handle obj, const char* op, const char* arg);
// Padding of the four sides of an image: an int (all sides), a pair (h, w) (top = bottom = h, left =
// right = w) or a pair of pairs ((top, bottom), (left, right)), as Keras' ZeroPadding2D takes it ->
// {top, bottom, left, right}; TypeError / ValueError naming op and arg otherwise (signs: the op checks).
std::array<int, 4> padding_sides(py::handle obj, const char* op, const char* arg);
// A random seed: a Python int in [0, 2^64) (TypeError / ValueError naming op and 'seed' otherwise).
uint64_t as_seed(py::handle obj, const char* op);
// A numpy dtype name for a DType.
py::dtype numpy_dtype(DType dtype);

}  // namespace bindings

// One function per op family, each in its own bind_*.cpp, called by module.cpp.
void bind_tensor(py::module_& m);
void bind_dlpack(py::module_& m);  // Tensor.__dlpack__ and from_dlpack: after bind_tensor
void bind_elementwise(py::module_& ops);
void bind_conv(py::module_& ops);
void bind_linear(py::module_& ops);
void bind_pool(py::module_& ops);
void bind_activation(py::module_& ops);
void bind_norm(py::module_& ops);
void bind_loss(py::module_& ops);
void bind_optim(py::module_& ops);
void bind_augment(py::module_& ops);
void bind_concat(py::module_& ops);
void bind_layout(py::module_& ops);
void bind_resample(py::module_& ops);
void bind_conv_transpose(py::module_& ops);
void bind_nn(py::module_& m);
void bind_distributed(py::module_& m);

}  // namespace convnet
