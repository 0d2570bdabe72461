// The CUDA emulator: runs convnet's CUDA kernels on the CPU, for machines without a GPU.
//
// Built only with CONVNET_CUDA=EMULATE (a test build, never a release): the .cu files are then
// compiled as C++ with this directory first on the include path, so `#include <cuda_runtime.h>`
// lands here. It provides the part of the CUDA runtime and device language convnet uses:
//   - devices: one, or CONVNET_EMULATOR_DEVICES of them (up to 8), each with its memory, streams
//     and current-device state per host thread, as in CUDA;
//   - memory: cudaMalloc/cudaFree (host memory, with a fixed emulated capacity so out-of-memory
//     can be tested, and filled with NaN bits so that reading memory no kernel wrote shows),
//     cudaMemcpy[Async], cudaMemset[Async], streams and events (work runs at once);
//   - kernels: launched through cuda::launch (core/cuda_check.h), which calls
//     cuda_emulator::launch here. Each block's threads run as fibers on one CPU thread; a fiber
//     switches only at __syncthreads() or a warp shuffle, so barriers, shared memory and warp
//     reductions behave as on the GPU. Blocks run one after another, which makes
//     `__shared__` (defined as `static`) one array per block, as on the GPU;
//   - CUDA graphs: capture records the launches and copies of a stream; a replay runs them again.
// Warp matrix functions (tensor cores) are emulated in mma.h beside this file.
// Races: threads never run concurrently, so a missing __syncthreads shows only as a result that
// depends on the order in which threads run between barriers. CONVNET_EMULATOR_ORDER=reverse runs
// the threads of a block, and the blocks of a grid, in descending order (the default is
// ascending); CI runs the GPU tests in both orders, so a shared-memory read that no barrier
// separates from another thread's write (in either direction) gives a wrong result in one of them.
// What it cannot show: speed, races within a warp (warp-synchronous code without __syncwarp),
// and host code that dereferences a device pointer (device memory is host memory).
// The emulator checks what a GPU would reject: launch configurations, kernels given host memory
// or another device's memory or stream, calls not allowed during a graph capture, waits that can never end
// (say half a warp in a shuffle while the other half waits at __syncthreads: an error instead of
// a hang), and a warp shuffle some of whose lanes have returned (undefined for a full-mask
// shuffle). As on a GPU, threads that have returned do not hold a block barrier up.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <type_traits>
#include <vector>

#define __global__
#define __device__
#define __launch_bounds__(...)  // a register budget for nvcc: nothing to the emulator
#define __host__
#define __forceinline__ inline
#define __shared__ static  // one block runs at a time: a static is that block's shared memory
#define __align__(n) __attribute__((aligned(n)))

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorIllegalAddress = 700,
  cudaErrorIllegalInstruction = 715,
  cudaErrorLaunchFailure = 719,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorStreamCaptureInvalidated = 901,
};
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};
enum cudaStreamCaptureMode { cudaStreamCaptureModeGlobal = 0, cudaStreamCaptureModeThreadLocal = 1, cudaStreamCaptureModeRelaxed = 2 };
constexpr unsigned cudaStreamDefault = 0, cudaStreamNonBlocking = 1;

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  int major, minor, multiProcessorCount;
};

struct CUstream_st;  // opaque, as in CUDA
typedef CUstream_st* cudaStream_t;
struct CUevent_st;
typedef CUevent_st* cudaEvent_t;
struct CUgraph_st;
typedef CUgraph_st* cudaGraph_t;
struct CUgraphExec_st;
typedef CUgraphExec_st* cudaGraphExec_t;

const char* cudaGetErrorString(cudaError_t err);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDriverGetVersion(int* version);
cudaError_t cudaMalloc(void** ptr, size_t nbytes);
template <class T>
cudaError_t cudaMalloc(T** ptr, size_t nbytes) {
  return cudaMalloc(reinterpret_cast<void**>(ptr), nbytes);
}
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t nbytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t nbytes, cudaMemcpyKind kind, cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* ptr, int value, size_t nbytes);
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t nbytes, cudaStream_t stream = nullptr);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags = 0);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);

namespace cuda_emulator {

// The running thread's coordinates.
struct ThreadCoordinates {
  dim3 thread, block, block_dim, grid_dim;
};
const ThreadCoordinates& current();
void syncthreads();
// The value `delta` lanes up the warp (within segments of `width` lanes), or the caller's own.
uint64_t shuffle_down(uint64_t bits, unsigned delta, int width);
// Runs `kernel` on every thread of the grid (or records it while `stream` is being captured).
// A bad configuration sets the error that cudaGetLastError returns, as a real launch does, and
// so do a stream of another device and a pointer argument into host memory or another device's
// memory (a GPU without peer access faults on it).
void launch(dim3 grid, dim3 block, cudaStream_t stream, std::function<void()> kernel,
            const std::vector<const void*>& pointers);
template <class T>
void collect_pointer(std::vector<const void*>& pointers, const T& value) {
  if constexpr (std::is_pointer_v<T>) pointers.push_back(value);
}
// The order threads and blocks run in; starts as CONVNET_EMULATOR_ORDER says (tests switch it).
void set_reverse_order(bool reverse);

}  // namespace cuda_emulator

#define threadIdx (::cuda_emulator::current().thread)
#define blockIdx (::cuda_emulator::current().block)
#define blockDim (::cuda_emulator::current().block_dim)
#define gridDim (::cuda_emulator::current().grid_dim)

// CUDA's min/max of device code (the overloads of one type that convnet's kernels use).
using std::max;
using std::min;

inline void __syncthreads() { cuda_emulator::syncthreads(); }

template <class T>
T __shfl_down_sync(unsigned /*mask*/, T value, unsigned delta, int width = 32) {
  static_assert(sizeof(T) <= sizeof(uint64_t), "__shfl_down_sync: values of at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits = cuda_emulator::shuffle_down(bits, delta, width);
  std::memcpy(&value, &bits, sizeof(T));
  return value;
}

// Threads never run at the same time, so an atomic is a plain read-modify-write.
template <class T>
T atomicAdd(T* address, T value) {
  const T old = *address;
  *address = old + value;
  return old;
}
