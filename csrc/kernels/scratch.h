// Scratch: a grow-only, 64-byte aligned float buffer, meant to be thread_local. Kernels that need
// workspace (GEMM packing, im2col-free padding, partial sums) reuse it across calls, so the
// steady state of training allocates nothing once the largest size has been seen.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <string>

#include "core/errors.h"

namespace convnet {
namespace cpu_kernels {

struct Scratch {
  float* data = nullptr;
  size_t capacity = 0;  // in floats
  float* get(size_t n) {
    if (n > capacity) {
      std::free(data);
      const size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
      data = static_cast<float*>(std::aligned_alloc(64, bytes));
      capacity = data ? bytes / sizeof(float) : 0;
      if (!data)
        throw OutOfMemoryError("out of memory allocating " + std::to_string(bytes) + " bytes of kernel workspace on cpu");
    }
    return data;
  }
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { std::free(data); }
};

}  // namespace cpu_kernels
}  // namespace convnet
