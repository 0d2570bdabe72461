// Tensor, devices and numpy interop.
#include "core/checks.h"
#include "python/common.h"

namespace convnet {

using bindings::numpy_dtype;

static py::tuple shape_tuple(const Shape& shape) {
  py::tuple t(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) t[i] = shape[i];
  return t;
}

static DType parse_dtype(py::handle obj) {
  if (obj.is_none()) return DType::Float32;
  std::string name = py::str(py::module_::import("numpy").attr("dtype")(obj).attr("name"));
  if (name == "float32") return DType::Float32;
  if (name == "int64") return DType::Int64;
  if (name == "uint8") return DType::UInt8;
  throw TypeError(arg_message("tensor", "dtype", "float32, int64 or uint8", name));
}

// torch.tensor's choice for data given without a dtype: integer data int64 (uint8 arrays stay
// uint8), anything else float32 (float64 narrowed).
static DType inferred_dtype(py::handle data) {
  py::array array = py::module_::import("numpy").attr("asarray")(data);
  const char kind = array.dtype().kind();
  if (array.dtype().equal(py::dtype::of<uint8_t>())) return DType::UInt8;
  return kind == 'i' || kind == 'u' ? DType::Int64 : DType::Float32;
}

// numpy array sharing the tensor's CPU memory; `base` keeps the tensor alive.
static py::array tensor_to_numpy(const Tensor& t, py::handle base) {
  Tensor host = t.to(Device::cpu());
  py::object owner = host.shares_storage(t) ? py::reinterpret_borrow<py::object>(base) : py::cast(host);
  Shape strides = host.strides();
  for (auto& s : strides) s *= static_cast<int64_t>(dtype_size(host.dtype()));
  py::array a(numpy_dtype(host.dtype()), host.shape(), strides, host.raw_data(), owner);
  if (host.read_only()) a.attr("flags").attr("writeable") = false;  // a view of read-only memory stays read-only
  return a;
}

void bind_tensor(py::module_& m) {
  py::class_<Tensor>(m, "Tensor", py::buffer_protocol(),
                     "A dense, contiguous n-d array (float32, int64 or uint8) on the CPU or a CUDA GPU.\n"
                     "np.asarray(t) and t.numpy() share its memory on the CPU.")
      .def_buffer([](Tensor& t) -> py::buffer_info {
        if (t.is_cuda()) throw TypeError("Tensor: a cuda tensor has no buffer; call .to('cpu') or .numpy() first");
        Shape strides = t.strides();
        for (auto& s : strides) s *= static_cast<int64_t>(dtype_size(t.dtype()));
        std::string format = t.dtype() == DType::Float32 ? py::format_descriptor<float>::format()
                             : t.dtype() == DType::Int64 ? py::format_descriptor<int64_t>::format()
                                                          : py::format_descriptor<uint8_t>::format();
        return py::buffer_info(t.raw_data(), static_cast<py::ssize_t>(dtype_size(t.dtype())), format, t.dim(),
                               t.shape(), strides, t.read_only());
      })
      .def_property_readonly("shape", [](const Tensor& t) { return shape_tuple(t.shape()); }, "The shape, a tuple")
      .def_property_readonly("dtype", [](const Tensor& t) { return std::string(dtype_name(t.dtype())); },
                             "'float32', 'int64' or 'uint8'")
      .def_property_readonly("device", [](const Tensor& t) { return t.device().str(); }, "'cpu' or 'cuda:N'")
      .def_property_readonly("strides", [](const Tensor& t) { return shape_tuple(t.strides()); },
                             "Row-major strides in elements (every Tensor is contiguous)")
      .def_property_readonly("ndim", &Tensor::dim)
      .def("numel", &Tensor::numel, "Number of elements")
      .def("__len__", [](const Tensor& t) {
        if (t.dim() == 0) throw TypeError("len() of a 0-d tensor");
        return t.shape()[0];
      })
      .def("numpy", [](py::object self) { return tensor_to_numpy(self.cast<const Tensor&>(), self); },
           "A numpy array: shares memory for CPU tensors, copies from the GPU")
      .def("__array__", [](py::object self, py::object dtype, py::object copy) {
             py::array a = tensor_to_numpy(self.cast<const Tensor&>(), self);
             return dtype.is_none() ? a : py::array(a.attr("astype")(dtype));
           }, py::arg("dtype") = py::none(), py::arg("copy") = py::none())
      .def("to", [](const Tensor& t, const std::string& device) {
             Device d = Device::parse(device, "Tensor.to");
             py::gil_scoped_release nogil;
             return t.to(d);
           }, py::arg("device"), "A copy on `device` ('cpu', 'cuda', 'cuda:N'); itself when already there")
      .def("reshape", [](const Tensor& t, py::args shape) {
             const bool one_sequence = shape.size() == 1 && py::isinstance<py::sequence>(shape[0]);
             return t.reshape(bindings::as_int_list(one_sequence ? shape[0] : shape, "reshape", "shape"));
           }, "Same memory, new shape (numpy's rules: sizes >= 0, at most one -1)")
      .def("clone", &Tensor::clone)
      .def("copy_", [](Tensor& t, py::object src) {
             Tensor s = bindings::as_tensor(src, "Tensor.copy_", "src", t.dtype());
             CONVNET_CHECK_VALUE(s.numel() == t.numel(), "Tensor.copy_", "src",
                                 std::to_string(t.numel()) + " elements " + shape_str(t.shape()), shape_str(s.shape()));
             py::gil_scoped_release nogil;
             t.copy_from(s);
           }, py::arg("src"), "Copies src's elements into this tensor in place (any device)")
      .def("__repr__", &Tensor::repr);

  m.def("from_numpy", [](py::array a) { return bindings::tensor_from_numpy(a); }, py::arg("array"),
        "A CPU Tensor sharing the memory of a float32, int64 or uint8 numpy array (copied when not contiguous)");
  m.def("tensor", [](py::object data, py::object dtype, const std::string& device) {
          DType dt = DType::Float32;
          if (!dtype.is_none()) {
            dt = parse_dtype(dtype);
            // Like numpy's astype: an explicit dtype converts whatever numeric data comes.
            if (!py::isinstance<Tensor>(data))
              data = py::module_::import("numpy").attr("asarray")(data).attr("astype")(bindings::numpy_dtype(dt));
          } else if (py::isinstance<Tensor>(data)) {
            dt = data.cast<Tensor>().dtype();
          } else {
            dt = inferred_dtype(data);
          }
          Tensor src = bindings::as_tensor(data, "tensor", "data", dt);
          Device d = Device::parse(device, "tensor");
          py::gil_scoped_release nogil;
          Tensor out = Tensor::empty(src.shape(), dt, d);
          out.copy_from(src);
          return out;
        }, py::arg("data"), py::arg("dtype") = py::none(), py::arg("device") = "cpu",
        "A new Tensor holding a copy of `data` (array-like or Tensor). Without dtype, as torch.tensor: "
        "integers become int64 (uint8 arrays stay uint8), anything else float32");
  m.def("zeros", [](py::object shape, py::object dtype, const std::string& device) {
          const Shape s = bindings::as_int_list(shape, "zeros", "shape");
          const DType dt = parse_dtype(dtype);
          checked_nbytes("zeros", "shape", s, dt);
          return Tensor::zeros(s, dt, Device::parse(device, "zeros"));
        }, py::arg("shape"), py::arg("dtype") = py::none(), py::arg("device") = "cpu");

  py::module_ cuda = m.def_submodule("cuda", "CUDA devices");
  cuda.def("is_available", &cuda::is_available, "True when convnet was built with CUDA and a GPU is visible");
  cuda.def("is_compiled", &cuda::compiled, "True when convnet was built with its CUDA kernels");
  cuda.def("device_count", &cuda::device_count);
  cuda.def("get_device_name", &cuda::device_name, py::arg("device") = 0);
  cuda.def("allow_tf32", &cuda::allow_tf32, "Whether convolution and linear GEMMs on CUDA use TF32 tensor cores");
  cuda.def("set_allow_tf32", &cuda::set_allow_tf32, py::arg("enabled"),
           "TF32 tensor cores for the CUDA GEMMs of convolution and linear layers (off by default: exact FP32).\n"
           "Their inputs are then rounded to 10 mantissa bits and summed in float, as with PyTorch's\n"
           "torch.backends.cuda.matmul.allow_tf32: about 1e-3 relative error instead of 1e-6.");
  cuda.def("synchronize", &cuda::synchronize, "Waits for the work queued on every GPU");
  cuda.def("host_waits", &cuda::host_waits,
           "How many times the host has waited for a GPU (copies to the host, synchronize, ...); a training\n"
           "step on a GPU waits for none: fit reads its numbers back once per chunk of steps");
  cuda.def("launch_blocking", &cuda::launch_blocking, "Whether each kernel launch waits for its kernel");
  cuda.def("set_launch_blocking", &cuda::set_launch_blocking, py::arg("enabled"),
           "Each kernel launch waits for its kernel, so a failing kernel is named in the error (as PyTorch's\n"
           "CUDA_LAUNCH_BLOCKING=1; the environment variable CONVNET_LAUNCH_BLOCKING=1 sets it at start-up).\n"
           "Training steps then run op by op instead of as a CUDA graph. Slow: for debugging.");
  cuda.def("memory_allocated", &cuda::memory_allocated, py::arg("device") = 0,
           "Bytes of the GPU's memory held by convnet's tensors and buffers now");
  cuda.def("max_memory_allocated", &cuda::max_memory_allocated, py::arg("device") = 0,
           "The most bytes held at once since the start or reset_peak_memory_stats(device)");
  cuda.def("reset_peak_memory_stats", &cuda::reset_peak_memory, py::arg("device") = 0);
}

}  // namespace convnet
