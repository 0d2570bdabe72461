// Launching kernels and checking every CUDA call: a failure becomes a DeviceError (RuntimeError in
// Python) naming the call or kernel, never an abort.
#pragma once
#include <cuda_runtime.h>

#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/device.h"
#include "core/errors.h"

namespace convnet {
namespace cuda {

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    cudaGetLastError();
    throw DeviceError(std::string(what) + ": CUDA error: " + cudaGetErrorString(err));
  }
}

// The stream all of convnet's device work runs on: kernels, copies and memsets, in order. It is
// created on first use for the current device and blocks with the legacy default stream, so
// work of other libraries on that stream stays ordered with ours. One stream is also what lets
// a whole training step be captured as a CUDA graph.
cudaStream_t stream();

// The host waits for the work queued on `s` (counted in host_waits(), core/device.h); an error
// names `what`.
void wait(cudaStream_t s, const char* what);

// A grow-only device buffer of at least `floats` floats for kernels' temporary results (one per
// device), valid until the next call. Growing frees the old buffer (cudaFree waits for the work
// queued on it) and counts in workspace_generation() (core/device.h), so that a captured CUDA
// graph, which holds the buffer's address, can tell it is stale.
float* workspace(size_t floats);

// A grid of enough 256-thread blocks for n elements (kernels loop grid-stride, so this is capped).
inline unsigned grid_for(long long n, int block = 256) {
  long long g = (n + block - 1) / block;
  if (g < 1) g = 1;
  if (g > 65535 * 8) g = 65535 * 8;
  return static_cast<unsigned>(g);
}

// kernel<<<grid, block, 0, stream()>>>(args...), then a check of the launch that names the kernel
// (and of the kernel itself under launch_blocking(), core/device.h).
// (With the CPU emulator of csrc/emulator, the same call runs the kernel there.)
template <class... Params, class... Args>
void launch(const char* kernel_name, void (*kernel)(Params...), dim3 grid, dim3 block, Args&&... args) {
#ifdef CONVNET_CUDA_EMULATOR
  std::tuple<std::decay_t<Params>...> values(std::forward<Args>(args)...);
  // the pointer arguments, which the emulator checks are memory of the current device
  std::vector<const void*> pointers;
  std::apply([&](const auto&... v) { (cuda_emulator::collect_pointer(pointers, v), ...); }, values);
  cuda_emulator::launch(grid, block, stream(), [kernel, values] { std::apply(kernel, values); }, pointers);
#else
  kernel<<<grid, block, 0, stream()>>>(std::forward<Args>(args)...);
#endif
  check(cudaGetLastError(), kernel_name);
  if (launch_blocking()) wait(stream(), kernel_name);
}

}  // namespace cuda
}  // namespace convnet
