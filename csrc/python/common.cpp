#include "python/common.h"

#include <cstdint>

namespace convnet {
namespace bindings {

py::dtype numpy_dtype(DType dtype) {
  switch (dtype) {
    case DType::Float32: return py::dtype::of<float>();
    case DType::Int64: return py::dtype::of<int64_t>();
    case DType::UInt8: return py::dtype::of<uint8_t>();
  }
  return py::dtype::of<float>();
}

static std::optional<DType> dtype_of(const py::dtype& dt) {
  if (dt.is(py::dtype::of<float>())) return DType::Float32;
  if (dt.is(py::dtype::of<int64_t>())) return DType::Int64;
  if (dt.is(py::dtype::of<uint8_t>())) return DType::UInt8;
  // `is` compares identity; equal dtypes from other sources compare by value:
  if (dt.equal(py::dtype::of<float>())) return DType::Float32;
  if (dt.equal(py::dtype::of<int64_t>())) return DType::Int64;
  if (dt.equal(py::dtype::of<uint8_t>())) return DType::UInt8;
  return std::nullopt;
}

Tensor tensor_from_numpy(py::array array) {
  auto dt = dtype_of(array.dtype());
  if (!dt) throw TypeError("tensor: numpy dtype " + std::string(py::str(array.dtype())) +
                           " is not supported (float32, int64 or uint8)");
  const bool contiguous = (array.flags() & py::array::c_style) != 0;
  const bool aligned = (array.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_) != 0;
  // A copy (np.require: ascontiguousarray alone keeps a contiguous array misaligned); numpy's own
  // errors (a MemoryError for a huge broadcast view) propagate.
  if (!contiguous || !aligned)
    array = py::array(py::module_::import("numpy").attr("require")(array, py::none(), py::make_tuple("C", "A")));
  Shape shape(array.shape(), array.shape() + array.ndim());
  // The Tensor keeps a reference to the array; releasing it needs the GIL, which a kernel
  // running with the GIL released may not hold.
  auto* owner = new py::object(array);
  // A read-only array (flags.writeable False, a memory map opened with mode 'r') stays read-only.
  return Tensor::from_blob(const_cast<void*>(array.data()), shape, *dt, Device::cpu(), [owner](void*) {
    py::gil_scoped_acquire gil;
    delete owner;
  }, !array.writeable());
}

Tensor as_tensor(py::handle obj, const char* op, const char* arg, DType want) {
  if (obj.is_none()) throw ValueError(arg_message(op, arg, std::string("a ") + dtype_name(want) + " tensor or array", "None"));
  if (py::isinstance<Tensor>(obj)) {
    Tensor t = obj.cast<Tensor>();
    CONVNET_CHECK_TYPE(t.dtype() == want, op, arg, std::string("dtype ") + dtype_name(want),
                       std::string("dtype ") + dtype_name(t.dtype()));
    return t;
  }
  py::array array;
  try {
    array = py::array::ensure(obj);
  } catch (py::error_already_set&) {
  }
  if (!array) {
    throw TypeError(arg_message(op, arg, "a Tensor or numpy array",
                                std::string("an object of type ") + std::string(Py_TYPE(obj.ptr())->tp_name)));
  }
  const char kind = array.dtype().kind();
  bool ok = false;
  switch (want) {
    case DType::Float32: ok = kind == 'f' || kind == 'i' || kind == 'u'; break;
    case DType::Int64: ok = kind == 'i' || kind == 'u'; break;
    case DType::UInt8: ok = array.dtype().equal(py::dtype::of<uint8_t>()); break;
  }
  if (!ok) {
    throw TypeError(arg_message(op, arg, std::string("a numeric array convertible to ") + dtype_name(want),
                                "an array of dtype " + std::string(py::str(array.dtype()))));
  }
  if (!array.dtype().equal(numpy_dtype(want)))
    array = py::array(py::module_::import("numpy").attr("ascontiguousarray")(array, numpy_dtype(want)));
  return tensor_from_numpy(array);
}

std::optional<Tensor> as_optional_tensor(py::handle obj, const char* op, const char* arg, DType want) {
  if (obj.is_none()) return std::nullopt;
  return as_tensor(obj, op, arg, want);
}

static std::string repr_of(py::handle obj) { return std::string(py::str(py::repr(obj))); }

int64_t as_int(py::handle obj, const char* op, const char* arg, int64_t lo, int64_t hi) {
  const std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  if (py::isinstance<py::bool_>(obj) || !PyIndex_Check(obj.ptr()))
    throw TypeError(arg_message(op, arg, "an int in " + range,
                                repr_of(obj) + " of type " + std::string(Py_TYPE(obj.ptr())->tp_name)));
  py::int_ v = py::reinterpret_steal<py::int_>(PyNumber_Index(obj.ptr()));
  if (!v) throw py::error_already_set();
  int overflow = 0;
  const long long x = PyLong_AsLongLongAndOverflow(v.ptr(), &overflow);
  if (overflow || x < lo || x > hi) throw ValueError(arg_message(op, arg, "an int in " + range, repr_of(v)));
  return x;
}

Shape as_int_list(py::handle obj, const char* op, const char* arg) {
  if (!py::isinstance<py::sequence>(obj) || py::isinstance<py::str>(obj))
    throw TypeError(arg_message(op, arg, "a sequence of ints", repr_of(obj)));
  Shape out;
  for (py::handle v : obj.cast<py::sequence>()) out.push_back(as_int(v, op, arg));
  return out;
}

std::pair<int, int> int_pair(py::handle obj, const char* op, const char* arg) {
  const char* expected = "an int or a pair of ints";
  auto one = [&](py::handle v) {
    if (py::isinstance<py::bool_>(v) || !PyIndex_Check(v.ptr()))
      throw TypeError(arg_message(op, arg, expected, repr_of(obj)));
    return static_cast<int>(as_int(v, op, arg, INT_MIN, INT_MAX));
  };
  if (py::isinstance<py::tuple>(obj) || py::isinstance<py::list>(obj)) {
    py::sequence seq = obj.cast<py::sequence>();
    if (seq.size() != 2) throw ValueError(arg_message(op, arg, expected, repr_of(obj)));
    return {one(seq[0]), one(seq[1])};
  }
  const int v = one(obj);
  return {v, v};
}

std::array<int, 4> padding_sides(py::handle obj, const char* op, const char* arg) {
  const bool nested = (py::isinstance<py::tuple>(obj) || py::isinstance<py::list>(obj)) && py::len(obj) == 2 &&
                      (py::isinstance<py::tuple>(obj[py::int_(0)]) || py::isinstance<py::list>(obj[py::int_(0)]));
  if (!nested) {
    const auto [h, w] = int_pair(obj, op, arg);
    return {h, h, w, w};
  }
  py::sequence seq = obj.cast<py::sequence>();
  const auto [top, bottom] = int_pair(seq[0], op, arg);
  const auto [left, right] = int_pair(seq[1], op, arg);
  if (!(py::isinstance<py::tuple>(seq[1]) || py::isinstance<py::list>(seq[1])))
    throw TypeError(arg_message(op, arg, "an int, a pair (h, w) or a pair of pairs ((top, bottom), (left, right))",
                                repr_of(obj)));
  return {top, bottom, left, right};
}

uint64_t as_seed(py::handle obj, const char* op) {
  if (py::isinstance<py::bool_>(obj) || !py::isinstance<py::int_>(obj))
    throw TypeError(arg_message(op, "seed", "an int", std::string(py::str(py::repr(obj)))));
  py::int_ v = obj.cast<py::int_>();
  if (v < py::int_(0) || v >= py::int_(1).attr("__lshift__")(64))
    throw ValueError(arg_message(op, "seed", "an int in [0, 2**64)", std::string(py::str(v))));
  return PyLong_AsUnsignedLongLong(v.ptr());
}

}  // namespace bindings
}  // namespace convnet
