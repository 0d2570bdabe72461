// The CUDA runtime behind core/device.h. The runtime is linked statically, so this file loads
// on machines without a driver: cudaGetDeviceCount then fails and CUDA reports unavailable.
#include <cuda_runtime.h>

#include <mutex>

#include "core/cuda_check.h"
#include "core/device.h"
#include "core/errors.h"

namespace convnet {
namespace cuda {

bool compiled() { return true; }

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver"/"no device" error
    return 0;
  }
  return n;
}

bool is_available() { return device_count() > 0; }

void require(const Device& device, const std::string& what) {
  int n = device_count();
  if (n == 0)
    throw DeviceError(what + ": CUDA is not available (no NVIDIA GPU or driver found); use device='cpu'");
  if (device.index < 0 || device.index >= n)
    throw DeviceError(what + ": CUDA device " + std::to_string(device.index) + " requested but only " +
                      std::to_string(n) + " device(s) are visible");
}

std::string device_name(int index) {
  require(Device::cuda(index), "cuda.get_device_name");
  cudaDeviceProp prop;
  check(cudaGetDeviceProperties(&prop, index), "cudaGetDeviceProperties");
  return prop.name;
}

void* malloc(size_t nbytes, int index) {
  check(cudaSetDevice(index), "cudaSetDevice");
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, nbytes);
  if (err != cudaSuccess) {
    cudaGetLastError();
    throw DeviceError("cuda: out of memory allocating " + std::to_string(nbytes) + " bytes on cuda:" +
                      std::to_string(index) + " (" + cudaGetErrorString(err) + ")");
  }
  return p;
}

void free(void* ptr, int index) {
  cudaSetDevice(index);
  cudaFree(ptr);  // never throws: called from destructors
}

cudaStream_t stream() {
  constexpr int kMaxDevices = 64;
  static cudaStream_t streams[kMaxDevices] = {};
  static std::mutex mutex;
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  std::lock_guard<std::mutex> lock(mutex);
  if (!streams[device]) check(cudaStreamCreateWithFlags(&streams[device], cudaStreamDefault), "cudaStreamCreate");
  return streams[device];
}

void memcpy(void* dst, const void* src, size_t nbytes) {
  check(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDefault, stream()), "cudaMemcpyAsync");
  check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize (after a copy)");
}

void memset_zero(void* ptr, size_t nbytes) {
  check(cudaMemsetAsync(ptr, 0, nbytes, stream()), "cudaMemsetAsync");
}

void synchronize() { check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize"); }

}  // namespace cuda
}  // namespace convnet
