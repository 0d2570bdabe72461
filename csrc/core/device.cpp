#include "core/device.h"

#include <atomic>
#include <cstdlib>

#include "core/errors.h"

namespace convnet {

Device Device::parse(const std::string& text, const std::string& what) {
  if (text == "cpu") return cpu();
  if (text == "cuda") return cuda(0);
  if (text.rfind("cuda:", 0) == 0) {
    const std::string idx = text.substr(5);
    bool digits = !idx.empty() && idx.size() < 4 && idx.find_first_not_of("0123456789") == std::string::npos;
    if (digits) return cuda(std::stoi(idx));
  }
  throw ValueError(arg_message(what, "device", "'cpu', 'cuda' or 'cuda:N'", "'" + text + "'"));
}

std::string Device::str() const {
  return type == DeviceType::CPU ? "cpu" : "cuda:" + std::to_string(index);
}

namespace cuda {
static std::atomic<bool> tf32_enabled{false};
bool allow_tf32() { return tf32_enabled.load(); }
void set_allow_tf32(bool enabled) { tf32_enabled.store(enabled); }

static bool blocking_from_environment() {
  const char* text = std::getenv("CONVNET_LAUNCH_BLOCKING");
  return text && std::string(text) == "1";
}
static std::atomic<bool> blocking{blocking_from_environment()};
bool launch_blocking() { return blocking.load(); }
void set_launch_blocking(bool enabled) { blocking.store(enabled); }
}  // namespace cuda

#ifndef CONVNET_WITH_CUDA
// Built without the CUDA kernels: CUDA is never available.
namespace cuda {
bool compiled() { return false; }
bool is_available() { return false; }
int device_count() { return 0; }
std::string device_name(int) {
  throw DeviceError("cuda.get_device_name: convnet was built without CUDA (CONVNET_CUDA=OFF or no nvcc)");
}
void require(const Device&, const std::string& what) {
  throw DeviceError(what + ": CUDA is not available: convnet was built without CUDA kernels "
                           "(rebuild where nvcc is found, or with CONVNET_CUDA=ON)");
}
void use_device(int) { require(Device::cuda(), "cuda.use_device"); }
void* malloc(size_t, int) { require(Device::cuda(), "cuda.malloc"); return nullptr; }
void free(void*, size_t, int) {}
size_t memory_allocated(int) { require(Device::cuda(), "cuda.memory_allocated"); return 0; }
size_t max_memory_allocated(int) { require(Device::cuda(), "cuda.max_memory_allocated"); return 0; }
void reset_peak_memory(int) { require(Device::cuda(), "cuda.reset_peak_memory_stats"); }
void memcpy(void*, const Device&, const void*, const Device&, size_t) { require(Device::cuda(), "cuda.memcpy"); }
void upload(void*, const void*, size_t, int) { require(Device::cuda(), "cuda.upload"); }
void memset_zero(void*, size_t, int) { require(Device::cuda(), "cuda.memset"); }
void synchronize() {}
void stream_wait(uintptr_t, int) { require(Device::cuda(), "cuda.stream_wait"); }
unsigned long long host_waits() { return 0; }
unsigned long long workspace_generation() { return 0; }
CapturedGraph::~CapturedGraph() {}
void CapturedGraph::launch() const { require(Device::cuda(), "cuda.graph_launch"); }
void CapturedGraph::reset() {}
void CapturedGraph::begin() { require(Device::cuda(), "cuda.graph_capture"); }
void CapturedGraph::end(bool) {}
}  // namespace cuda
#endif

}  // namespace convnet
