// DLPack (https://dmlc.github.io/dlpack/latest/python_spec.html): Tensor.__dlpack__ and
// __dlpack_device__ lend a Tensor's memory to another library (torch, numpy, cupy, jax) without a
// copy, and from_dlpack borrows theirs. Conversion only; ownership travels with the capsule:
//   - out: the capsule's DLManagedTensor[Versioned] holds a Tensor sharing the storage, so the
//     memory lives until the consumer calls its deleter (or an unconsumed capsule is collected);
//   - in: the Tensor's storage, once its last Tensor is gone, calls the producer's deleter.
// Errors follow the spec where it names them: __dlpack__ raises BufferError for what it cannot
// export (as numpy does); from_dlpack raises TypeError for a dtype convnet lacks and ValueError
// for a layout it cannot share.
#include <dlpack/dlpack.h>

#include "core/checks.h"
#include "python/common.h"

namespace convnet {
namespace {

constexpr const char* kCapsule = "dltensor";
constexpr const char* kVersionedCapsule = "dltensor_versioned";
constexpr const char* kUsedCapsule = "used_dltensor";
constexpr const char* kUsedVersionedCapsule = "used_dltensor_versioned";

// ---- out: Tensor -> capsule ----

DLDataType dl_dtype(DType dtype) {
  switch (dtype) {
    case DType::Float32: return {kDLFloat, 32, 1};
    case DType::Int64: return {kDLInt, 64, 1};
    case DType::UInt8: return {kDLUInt, 8, 1};
  }
  return {kDLFloat, 32, 1};
}

DLDevice dl_device(const Device& d) {
  if (d.type == DeviceType::CUDA) return {kDLCUDA, d.index};
  return {kDLCPU, 0};
}

// What an exported capsule owns: a Tensor sharing the storage (the memory's lifetime) and the
// shape and strides arrays its DLTensor points at. One of `managed` / `versioned` is handed out.
struct Export {
  Tensor tensor;
  std::vector<int64_t> shape, strides;
  DLManagedTensor managed{};
  DLManagedTensorVersioned versioned{};
};

void fill_dltensor(DLTensor& dl, Export& e) {
  dl.data = e.tensor.raw_data();
  dl.device = dl_device(e.tensor.device());
  dl.ndim = static_cast<int32_t>(e.tensor.dim());
  dl.dtype = dl_dtype(e.tensor.dtype());
  dl.shape = e.shape.data();
  dl.strides = e.strides.data();  // explicit (contiguous, row-major), as the spec recommends since v1.0
  dl.byte_offset = 0;             // raw_data() already includes a view's offset
}

// The deleters the consumer calls (from any thread; freeing a Tensor takes the GIL itself where
// its memory belongs to a Python object, see tensor_from_numpy).
void delete_export(DLManagedTensor* m) { delete static_cast<Export*>(m->manager_ctx); }
void delete_export_versioned(DLManagedTensorVersioned* m) { delete static_cast<Export*>(m->manager_ctx); }

// A capsule no consumer took (still named "dltensor[_versioned]"): its tensor is released here.
void capsule_destructor(PyObject* capsule) {
  if (PyCapsule_IsValid(capsule, kCapsule)) {
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, kCapsule));
    if (m->deleter) m->deleter(m);
  } else if (PyCapsule_IsValid(capsule, kVersionedCapsule)) {
    auto* m = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(capsule, kVersionedCapsule));
    if (m->deleter) m->deleter(m);
  }
}

// copy=None / True / False (any truth value, as Python's bool() reads it) -> (always, never).
std::pair<bool, bool> copy_mode(py::handle copy) {
  if (copy.is_none()) return {false, false};
  const bool yes = PyObject_IsTrue(copy.ptr()) == 1;
  return {yes, !yes};
}

[[noreturn]] void buffer_error(const std::string& arg, const std::string& expected, const std::string& got) {
  throw py::buffer_error(arg_message("Tensor.__dlpack__", arg, expected, got));
}

// max_version (major, minor) -> whether the consumer takes a versioned capsule (major >= 1).
bool wants_versioned(py::handle max_version) {
  if (max_version.is_none()) return false;
  const Shape v = bindings::as_int_list(max_version, "Tensor.__dlpack__", "max_version");
  CONVNET_CHECK_VALUE(v.size() == 2, "Tensor.__dlpack__", "max_version", "a pair (major, minor)",
                      std::to_string(v.size()) + " numbers");
  return v[0] >= 1;
}

// dl_device (device_type, device_id) -> the Device asked for; `current` when None.
Device requested_device(py::handle device, const Device& current) {
  if (device.is_none()) return current;
  const Shape d = bindings::as_int_list(device, "Tensor.__dlpack__", "dl_device");
  CONVNET_CHECK_VALUE(d.size() == 2, "Tensor.__dlpack__", "dl_device", "a pair (device_type, device_id)",
                      std::to_string(d.size()) + " numbers");
  if (d[0] == kDLCPU) return Device::cpu();
  if (d[0] == kDLCUDA) return Device::cuda(static_cast<int>(d[1]));
  buffer_error("dl_device", "kDLCPU (1) or kDLCUDA (2)", "device type " + std::to_string(d[0]));
}

// The consumer's stream waits for convnet's work on the tensor (CUDA). The spec's values: None is
// the legacy default stream (1), -1 asks for no synchronisation, 0 is ambiguous and not allowed.
void sync_consumer_stream(py::handle stream, const Tensor& t) {
  if (!t.is_cuda()) {
    CONVNET_CHECK_VALUE(stream.is_none(), "Tensor.__dlpack__", "stream", "None for a cpu tensor",
                        std::string(py::str(stream)));
    return;
  }
  const int64_t s = stream.is_none() ? 1 : bindings::as_int(stream, "Tensor.__dlpack__", "stream", -1);
  CONVNET_CHECK_VALUE(s != 0, "Tensor.__dlpack__", "stream",
                      "None, -1, 1 (legacy default), 2 (per-thread default) or a stream handle", "0");
  if (s == -1) return;
  cuda::stream_wait(static_cast<uintptr_t>(s), t.device().index);
}

py::object dlpack(const Tensor& self, py::handle stream, py::handle max_version, py::handle device,
                  py::handle copy) {
  const bool versioned = wants_versioned(max_version);
  const Device target = requested_device(device, self.device());
  const auto [copy_always, copy_never] = copy_mode(copy);
  const bool moves = target != self.device();
  if (moves && copy_never)
    buffer_error("copy", "True or None to copy a " + self.device().str() + " tensor to " + target.str(), "False");
  // An unversioned capsule cannot say "read-only": lend such memory only through a copy (numpy's rule).
  if (self.read_only() && !versioned && !copy_always && !moves)
    buffer_error("max_version", "(1, 0) or later (or copy=True) to export a read-only tensor, which only a "
                 "versioned DLPack capsule can mark read-only", std::string(py::str(max_version)));
  const bool copied = copy_always || moves;
  auto* e = new Export{copied ? (moves ? self.to(target) : self.clone()) : self, {}, {}, {}, {}};
  e->shape = e->tensor.shape();
  e->strides = e->tensor.strides();
  try {
    sync_consumer_stream(stream, e->tensor);
  } catch (...) {
    delete e;
    throw;
  }
  void* pointer = nullptr;
  if (versioned) {
    e->versioned.version = {DLPACK_MAJOR_VERSION, DLPACK_MINOR_VERSION};
    e->versioned.manager_ctx = e;
    e->versioned.deleter = delete_export_versioned;
    e->versioned.flags = (e->tensor.read_only() ? DLPACK_FLAG_BITMASK_READ_ONLY : 0) |
                         (copied ? DLPACK_FLAG_BITMASK_IS_COPIED : 0);
    fill_dltensor(e->versioned.dl_tensor, *e);
    pointer = &e->versioned;
  } else {
    e->managed.manager_ctx = e;
    e->managed.deleter = delete_export;
    fill_dltensor(e->managed.dl_tensor, *e);
    pointer = &e->managed;
  }
  PyObject* capsule = PyCapsule_New(pointer, versioned ? kVersionedCapsule : kCapsule, capsule_destructor);
  if (!capsule) {
    delete e;
    throw py::error_already_set();
  }
  return py::reinterpret_steal<py::object>(capsule);
}

// ---- in: capsule (or an object with __dlpack__) -> Tensor ----

std::string dl_dtype_name(const DLDataType& t) {
  std::string lanes = t.lanes == 1 ? "" : "x" + std::to_string(t.lanes);
  switch (t.code) {
    case kDLFloat: return "float" + std::to_string(t.bits) + lanes;
    case kDLInt: return "int" + std::to_string(t.bits) + lanes;
    case kDLUInt: return "uint" + std::to_string(t.bits) + lanes;
    case kDLBfloat: return "bfloat" + std::to_string(t.bits) + lanes;
    case kDLComplex: return "complex" + std::to_string(t.bits) + lanes;
    case kDLBool: return "bool" + lanes;
    default: return "DLPack type code " + std::to_string(t.code) + " of " + std::to_string(t.bits) + " bits" + lanes;
  }
}

DType convnet_dtype(const DLDataType& t) {
  if (t.lanes == 1 && t.code == kDLFloat && t.bits == 32) return DType::Float32;
  if (t.lanes == 1 && t.code == kDLInt && t.bits == 64) return DType::Int64;
  if (t.lanes == 1 && t.code == kDLUInt && t.bits == 8) return DType::UInt8;
  throw TypeError(arg_message("from_dlpack", "x", "dtype float32, int64 or uint8", dl_dtype_name(t)));
}

Device convnet_device(const DLDevice& d) {
  if (d.device_type == kDLCPU) return Device::cpu();
  if (d.device_type == kDLCUDA) {
    cuda::require(Device::cuda(d.device_id), "from_dlpack");
    return Device::cuda(d.device_id);
  }
  throw ValueError(arg_message("from_dlpack", "x", "memory of the cpu (kDLCPU) or a cuda device (kDLCUDA)",
                               "DLPack device type " + std::to_string(d.device_type)));
}

// Row-major contiguous: NULL strides, or the compact ones (any stride where a size is 1, any
// strides when there are no elements, as torch and numpy allow).
bool contiguous(const DLTensor& dl, const Shape& shape) {
  if (!dl.strides) return true;
  if (shape_numel(shape) == 0) return true;
  int64_t expected = 1;
  for (int i = dl.ndim - 1; i >= 0; --i) {
    if (shape[i] != 1 && dl.strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

// The capsule of `x`: x itself, or x.__dlpack__() asked for a versioned capsule (older producers
// without max_version get asked again without it) and, for a CUDA producer, to order its work
// before the legacy default stream (1), which convnet's stream waits for (core/cuda_check.h).
py::object capsule_of(py::handle x) {
  if (PyCapsule_CheckExact(x.ptr())) return py::reinterpret_borrow<py::object>(x);
  if (!py::hasattr(x, "__dlpack__"))
    throw TypeError(arg_message("from_dlpack", "x",
                                "an object with __dlpack__ (a torch, numpy or cupy array) or a DLPack capsule",
                                std::string(py::str(py::type::handle_of(x).attr("__name__")))));
  py::dict kwargs;
  if (py::hasattr(x, "__dlpack_device__")) {
    py::tuple device = x.attr("__dlpack_device__")();
    if (device.size() == 2 && device[0].cast<int64_t>() == kDLCUDA) kwargs["stream"] = 1;
  }
  kwargs["max_version"] = py::make_tuple(DLPACK_MAJOR_VERSION, DLPACK_MINOR_VERSION);
  try {
    return x.attr("__dlpack__")(**kwargs);
  } catch (py::error_already_set& e) {
    if (!e.matches(PyExc_TypeError)) throw;
    PyDict_DelItemString(kwargs.ptr(), "max_version");
    return x.attr("__dlpack__")(**kwargs);
  }
}

// The Tensor viewing a DLTensor's memory; `release` runs once its storage is freed.
Tensor wrap(const DLTensor& dl, const Shape& shape, DType dtype, Device device, bool read_only,
            std::function<void(void*)> release) {
  void* data = static_cast<char*>(dl.data) + dl.byte_offset;
  return Tensor::from_blob(data, shape, dtype, device, std::move(release), read_only);
}

// A contiguous CPU copy of a strided DLTensor, through a numpy view kept alive by `capsule` (which
// stays unconsumed, so its destructor releases the producer's memory once the view is gone).
Tensor strided_copy(const DLTensor& dl, const Shape& shape, DType dtype, py::object capsule) {
  Shape byte_strides(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) byte_strides[i] = dl.strides[i] * static_cast<int64_t>(dtype_size(dtype));
  py::array view(bindings::numpy_dtype(dtype), shape, byte_strides, static_cast<char*>(dl.data) + dl.byte_offset,
                 capsule);
  py::array copy = py::module_::import("numpy").attr("array")(view, py::arg("order") = "C");
  return bindings::tensor_from_numpy(copy);
}

Tensor from_dlpack(py::handle x, py::handle copy) {
  const auto [copy_always, copy_never] = copy_mode(copy);
  py::object capsule = capsule_of(x);
  PyObject* c = capsule.ptr();
  const bool versioned = PyCapsule_IsValid(c, kVersionedCapsule);
  if (!versioned && !PyCapsule_IsValid(c, kCapsule)) {
    const char* name = PyCapsule_GetName(c);
    PyErr_Clear();
    const std::string got = name ? std::string("a capsule named '") + name + "'" : "an unnamed capsule";
    throw ValueError(arg_message("from_dlpack", "x", "a DLPack capsule named 'dltensor' or 'dltensor_versioned' "
                                 "(a used one cannot be consumed twice)", got));
  }
  DLManagedTensor* managed = nullptr;
  DLManagedTensorVersioned* managed_v = nullptr;
  const DLTensor* dl = nullptr;
  bool read_only = false;
  if (versioned) {
    managed_v = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(c, kVersionedCapsule));
    CONVNET_CHECK_VALUE(managed_v->version.major == DLPACK_MAJOR_VERSION, "from_dlpack", "x",
                        "a DLPack " + std::to_string(DLPACK_MAJOR_VERSION) + ".x capsule",
                        "version " + std::to_string(managed_v->version.major) + "." +
                            std::to_string(managed_v->version.minor));
    dl = &managed_v->dl_tensor;
    read_only = (managed_v->flags & DLPACK_FLAG_BITMASK_READ_ONLY) != 0;
  } else {
    managed = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(c, kCapsule));
    dl = &managed->dl_tensor;
  }
  // Every check before the capsule is consumed: on an error its destructor still frees the memory.
  const DType dtype = convnet_dtype(dl->dtype);
  const Device device = convnet_device(dl->device);
  CONVNET_CHECK_VALUE(dl->ndim >= 0, "from_dlpack", "x", "ndim >= 0", std::to_string(dl->ndim));
  const Shape shape(dl->shape, dl->shape + dl->ndim);
  if (!contiguous(*dl, shape)) {
    Shape strides(dl->strides, dl->strides + dl->ndim);
    const std::string got = "strides " + shape_str(strides) + " for shape " + shape_str(shape);
    CONVNET_CHECK_VALUE(!copy_never, "from_dlpack", "x",
                        "a contiguous (row-major) array with copy=False (convnet tensors are contiguous)", got);
    CONVNET_CHECK_VALUE(device.type == DeviceType::CPU, "from_dlpack", "x",
                        "a contiguous (row-major) cuda array (call .contiguous() on it first)", got);
    return strided_copy(*dl, shape, dtype, capsule);
  }
  std::function<void(void*)> release;
  if (versioned) release = [managed_v](void*) { if (managed_v->deleter) managed_v->deleter(managed_v); };
  else release = [managed](void*) { if (managed->deleter) managed->deleter(managed); };
  Tensor t = wrap(*dl, shape, dtype, device, read_only, std::move(release));
  PyCapsule_SetName(c, versioned ? kUsedVersionedCapsule : kUsedCapsule);  // ours now, as the spec requires
  if (copy_always) {
    py::gil_scoped_release nogil;
    return t.clone();
  }
  return t;
}

}  // namespace

void bind_dlpack(py::module_& m) {
  py::class_<Tensor> tensor = py::reinterpret_borrow<py::class_<Tensor>>(m.attr("Tensor"));
  tensor.def("__dlpack__", &dlpack, py::kw_only(), py::arg("stream") = py::none(),
             py::arg("max_version") = py::none(), py::arg("dl_device") = py::none(), py::arg("copy") = py::none(),
             "A DLPack capsule sharing this tensor's memory (the Python array API protocol): 'dltensor', or\n"
             "'dltensor_versioned' (read-only flag set for read-only memory) when max_version >= (1, 0).\n"
             "stream: the consumer's CUDA stream, made to wait for convnet's work (None: the legacy default\n"
             "stream; -1: no wait). dl_device / copy: a copy on another device, or always (copy=True).\n"
             "BufferError when the tensor cannot be exported as asked (e.g. read-only and unversioned).");
  tensor.def("__dlpack_device__", [](const Tensor& t) {
               const DLDevice d = dl_device(t.device());
               return py::make_tuple(static_cast<int>(d.device_type), d.device_id);
             }, "(device_type, device_id): (1, 0) for the cpu (kDLCPU), (2, N) for cuda:N (kDLCUDA)");
  m.def("from_dlpack", &from_dlpack, py::arg("x"), py::kw_only(), py::arg("copy") = py::none(),
        "A Tensor sharing the memory of `x`: any object with __dlpack__ (torch, numpy, cupy, a Tensor)\n"
        "or a DLPack capsule, on the cpu or a cuda device convnet has; float32, int64 or uint8\n"
        "(TypeError otherwise). A strided (non-contiguous) cpu array is copied, as from_numpy does\n"
        "(ValueError with copy=False, and for cuda arrays); copy=True always copies.");
}

}  // namespace convnet
