// Checking every CUDA call and kernel launch: a failure becomes a DeviceError (RuntimeError in
// Python) naming the call or kernel, never an abort.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "core/errors.h"

namespace convnet {
namespace cuda {

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    cudaGetLastError();
    throw DeviceError(std::string(what) + ": CUDA error: " + cudaGetErrorString(err));
  }
}

// Call right after a <<<...>>> launch, naming the kernel.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

// A grid of enough 256-thread blocks for n elements (kernels loop grid-stride, so this is capped).
inline unsigned grid_for(long long n, int block = 256) {
  long long g = (n + block - 1) / block;
  if (g < 1) g = 1;
  if (g > 65535 * 8) g = 65535 * 8;
  return static_cast<unsigned>(g);
}

}  // namespace cuda
}  // namespace convnet
