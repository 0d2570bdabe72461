// Devices and the memory functions of each. The CPU is always there; CUDA entries are filled
// in by core/cuda.cu when the CUDA kernels are compiled in (CONVNET_WITH_CUDA), and report
// "not available" otherwise, so the same binary runs on machines with and without a GPU.
#pragma once
#include <cstddef>
#include <string>

namespace convnet {

enum class DeviceType { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  static Device cpu() { return {DeviceType::CPU, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::CUDA, index}; }
  // Parses "cpu", "cuda", "cuda:1"; throws ValueError naming `what` otherwise.
  static Device parse(const std::string& text, const std::string& what = "device");
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;  // "cpu", "cuda:0"
};

namespace cuda {
bool compiled();         // built with the CUDA kernels
bool is_available();     // compiled in, a driver present and at least one GPU visible
int device_count();      // 0 where none is available
std::string device_name(int index);
// Throws DeviceError (naming `what`) unless `device` can be used now.
void require(const Device& device, const std::string& what);
void* malloc(size_t nbytes, int index);
void free(void* ptr, int index);
// Any direction between host and device memory (cudaMemcpyDefault), then synchronises.
void memcpy(void* dst, const void* src, size_t nbytes);
void memset_zero(void* ptr, size_t nbytes);
void synchronize();
}  // namespace cuda

}  // namespace convnet
