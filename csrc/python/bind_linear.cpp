// Bindings of ops/linear.h.
#include "ops/linear.h"

#include "core/checks.h"
#include "kernels/gemm.h"
#include "kernels/peak.h"
#include "python/common.h"

namespace convnet {

using bindings::as_optional_tensor;
using bindings::as_tensor;

void bind_linear(py::module_& ops) {
  ops.def("gemm_isa", [] { return std::string(cpu_kernels::sgemm_isa()); },
          "The CPU SGEMM micro-kernel in use: 'avx512', 'avx2' or 'generic' (CONVNET_GEMM_ISA forces a slower one).");
  ops.def("measured_fma_peak_gflops",
          [](py::handle threads, double seconds) {
            const int team = static_cast<int>(bindings::as_int(threads, "measured_fma_peak_gflops", "threads", 1, 1024));
            if (!(seconds > 0 && seconds <= 60))
              throw py::value_error("measured_fma_peak_gflops: argument 'seconds' expected a number in (0, 60], got " +
                                    std::to_string(seconds));
            py::gil_scoped_release nogil;
            return cpu_kernels::measured_fma_peak_gflops(team, seconds);
          },
          py::arg("threads") = 1, py::arg("seconds") = 0.5,
          "The FP32 peak of this CPU in GFLOP/s, measured: 10 independent FMA chains per thread in the "
          "GEMM's vector ISA (gemm_isa()), `threads` threads for about `seconds`. Benchmarks report "
          "achieved GFLOP/s as a fraction of it.");
  ops.def("linear",
          [](py::object x, py::object w, py::object b) {
            Tensor tx = as_tensor(x, "linear", "x"), tw = as_tensor(w, "linear", "w");
            auto tb = as_optional_tensor(b, "linear", "b");
            const Tensor* pb = tb ? &*tb : nullptr;
            Tensor y = Tensor::empty(ops::linear_output_shape(tx, tw, pb), DType::Float32, tx.device());
            {
              py::gil_scoped_release nogil;
              ops::linear_forward(y, tx, tw, pb);
            }
            return y;
          },
          py::arg("x"), py::arg("w"), py::arg("b") = py::none(),
          "Fully connected: x (N, in), w (out, in), b (out) or None -> y (N, out) = x w^T + b.");
  ops.def("linear_backward",
          [](py::object grad_out, py::object x, py::object w, py::object b) {
            const char* op = "linear_backward";
            Tensor dy = as_tensor(grad_out, op, "grad_out");
            Tensor tx = as_tensor(x, op, "x"), tw = as_tensor(w, op, "w");
            auto tb = as_optional_tensor(b, op, "b");
            ops::linear_output_shape(tx, tw, tb ? &*tb : nullptr);  // checks b too
            Tensor dx = Tensor::empty(tx.shape(), DType::Float32, tx.device());
            Tensor dw = Tensor::empty(tw.shape(), DType::Float32, tx.device());
            Tensor db;
            if (tb) db = Tensor::empty({tw.size(0)}, DType::Float32, tx.device());
            {
              py::gil_scoped_release nogil;
              ops::linear_backward(&dx, &dw, tb ? &db : nullptr, dy, tx, tw);
            }
            return py::make_tuple(dx, dw, tb ? py::cast(db) : py::none());
          },
          py::arg("grad_out"), py::arg("x"), py::arg("w"), py::arg("b") = py::none(),
          "(grad_x, grad_w, grad_b) of linear; grad_b is None when b is None.");
}

}  // namespace convnet
