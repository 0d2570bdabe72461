// The machine's FP32 peak, measured: what benchmarks divide achieved GFLOP/s by.
#pragma once

namespace convnet {
namespace cpu_kernels {
// GFLOP/s of independent FMA chains (10 per thread, enough to hide the FMA latency behind its two
// pipes) in the widest vector ISA the GEMM uses (sgemm_isa), run by `threads` OpenMP threads for
// about `seconds`. Each FMA counts 2 flops per lane.
double measured_fma_peak_gflops(int threads, double seconds);
}  // namespace cpu_kernels
}  // namespace convnet
