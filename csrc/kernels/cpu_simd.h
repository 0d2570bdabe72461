// What makes the CPU elementwise kernels vectorize on any x86-64 without -march=native:
//
// CONVNET_CPU_KERNEL compiles a kernel three times, for AVX-512 (x86-64-v4), AVX2+FMA (x86-64-v3)
// and the baseline; the dynamic loader picks the best one for the CPU it runs on (GCC function
// multiversioning, glibc ifunc). OpenMP regions inside the kernel are cloned with it.
//
// thread_chunk gives each OpenMP thread one contiguous share of n elements: its loop is a plain
// loop the compiler vectorizes (GCC 12 does not vectorize `omp parallel for simd` around our
// inline update functions), and the static split keeps results identical from run to run.
#pragma once
#include <omp.h>

#include <cstdint>
#include <utility>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__) && \
    !defined(CONVNET_NATIVE_BUILD)
#define CONVNET_CPU_KERNEL __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CONVNET_CPU_KERNEL
#endif

// A helper called from a CONVNET_CPU_KERNEL: always inlined, so it is compiled for the ISA of the
// kernel's clone instead of the baseline.
#if defined(__GNUC__)
#define CONVNET_KERNEL_HELPER __attribute__((always_inline)) inline
#else
#define CONVNET_KERNEL_HELPER inline
#endif

namespace convnet {
namespace cpu_kernels {

// Below this many elements a kernel runs on one thread: starting the team costs more.
constexpr int64_t kParallelGrain = 32768;

// [begin, end) of the calling OpenMP thread's share of n elements.
inline std::pair<int64_t, int64_t> thread_chunk(int64_t n) {
  const int64_t T = omp_get_num_threads(), t = omp_get_thread_num();
  return {n * t / T, n * (t + 1) / T};
}

}  // namespace cpu_kernels
}  // namespace convnet
