// convnet._core: the pybind11 module. Registers the exception mapping and calls each family's
// binding function; the bindings themselves live in bind_*.cpp.
#include "core/threads.h"
#include "python/common.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "convnet's C++ core: tensors, CNN ops (forward and backward) and the trainer";

  // convnet.OutOfMemoryError: a MemoryError (what Python raises when memory runs out) that is also
  // a RuntimeError (what device failures are), like torch.OutOfMemoryError.
  static PyObject* out_of_memory = PyErr_NewExceptionWithDoc(
      "convnet._core.OutOfMemoryError", "A tensor or buffer the device (cpu or cuda:N) could not allocate",
      py::make_tuple(py::handle(PyExc_MemoryError), py::handle(PyExc_RuntimeError)).release().ptr(), nullptr);
  m.attr("OutOfMemoryError") = py::handle(out_of_memory);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const convnet::OutOfMemoryError& e) {
      PyErr_SetString(out_of_memory, e.what());
    } catch (const convnet::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const convnet::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const convnet::DeviceError& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });

  m.def(
      "set_num_threads",
      [](py::handle threads) {
        convnet::set_num_threads(static_cast<int>(
            convnet::bindings::as_int(threads, "set_num_threads", "threads", 1, INT32_MAX)));
      },
      py::arg("threads"),
      "Sets how many threads the CPU kernels use in calls from this Python thread (OpenMP's "
      "omp_set_num_threads, as torch.set_num_threads); the default is OMP_NUM_THREADS or the core count.");
  m.def("get_num_threads", &convnet::get_num_threads,
        "How many threads the CPU kernels use in calls from this Python thread.");

  convnet::bind_tensor(m);
  convnet::bind_dlpack(m);
  py::module_ ops = m.def_submodule("ops", "CNN ops: NAME(...) computes the forward pass, "
                                           "NAME_backward(grad_out, <forward inputs>, <params>) the gradients");
  convnet::bind_elementwise(ops);
  convnet::bind_conv(ops);
  convnet::bind_linear(ops);
  convnet::bind_pool(ops);
  convnet::bind_activation(ops);
  convnet::bind_norm(ops);
  convnet::bind_loss(ops);
  convnet::bind_optim(ops);
  convnet::bind_augment(ops);
  convnet::bind_concat(ops);
  convnet::bind_layout(ops);
  convnet::bind_resample(ops);
  convnet::bind_conv_transpose(ops);
  convnet::bind_nn(m);
  convnet::bind_distributed(m);
}
