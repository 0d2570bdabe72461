// Bindings of core/distributed.h: convnet._core.distributed, which python/convnet/distributed.py wraps.
#include "core/distributed.h"

#include "python/common.h"

namespace convnet {

void bind_distributed(py::module_& m) {
  py::module_ d = m.def_submodule("distributed", "MPI for data-parallel training (core/distributed.h)");
  d.def("available", &distributed::available, "Whether convnet was built with MPI");
  d.def("init", &distributed::init, "MPI_Init_thread unless MPI is initialised (idempotent)");
  d.def("initialized", &distributed::initialized);
  d.def("rank", &distributed::rank);
  d.def("size", &distributed::size);
  d.def("barrier", [] {
    py::gil_scoped_release nogil;
    distributed::barrier();
  });
  d.def("allreduce_sum", [](Tensor& t, float scale) {
          py::gil_scoped_release nogil;
          distributed::allreduce_sum(t, scale);
        }, py::arg("t"), py::arg("scale") = 1.0f,
        "In place: the sum over the ranks of a float32 or int64 tensor, times scale (float32)");
  d.def("allreduce_values", [](std::vector<double> values) {
          {
            py::gil_scoped_release nogil;
            distributed::allreduce_sum(values);
          }
          return values;
        }, py::arg("values"), "The sum over the ranks of a list of numbers (in double precision)");
  d.def("allgather_rows", [](const Tensor& t) {
          py::gil_scoped_release nogil;
          return distributed::allgather_rows(t);
        }, py::arg("t"), "Every rank's rows of a float32 CPU tensor (n_r, ...), concatenated in rank order");
  d.def("abort", [](int code) { distributed::abort(code); }, py::arg("code"),
        "MPI_Abort: ends every rank of the job with this exit code");
  d.def("finalize", &distributed::finalize);
}

}  // namespace convnet
