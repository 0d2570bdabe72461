// The CUDA runtime behind core/device.h. The runtime is linked statically, so this file loads
// on machines without a driver: cudaGetDeviceCount then fails and CUDA reports unavailable.
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <mutex>

#include "core/cuda_check.h"
#include "core/device.h"
#include "core/errors.h"

namespace convnet {
namespace cuda {

constexpr int kMaxDevices = 64;  // per-device state below is kept for the first 64 devices

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

void use_device(int index) {
  int current = 0;
  check(cudaGetDevice(&current), "cudaGetDevice");
  if (current != index) check(cudaSetDevice(index), "cudaSetDevice");
}

namespace {
struct MemoryCounts {
  size_t now = 0, peak = 0;
};
MemoryCounts memory_counts[kMaxDevices];
std::mutex memory_mutex;

// The index of a device whose state convnet keeps (streams, workspaces, memory counts).
int supported(int index) {
  if (index < 0 || index >= kMaxDevices)
    throw DeviceError("cuda: device " + std::to_string(index) + " is beyond the " + std::to_string(kMaxDevices) +
                      " devices convnet supports");
  return index;
}

MemoryCounts& counts_of(int index) { return memory_counts[supported(index)]; }
}  // namespace

size_t memory_allocated(int index) {
  require(Device::cuda(index), "cuda.memory_allocated");
  std::lock_guard<std::mutex> lock(memory_mutex);
  return counts_of(index).now;
}

size_t max_memory_allocated(int index) {
  require(Device::cuda(index), "cuda.max_memory_allocated");
  std::lock_guard<std::mutex> lock(memory_mutex);
  return counts_of(index).peak;
}

void reset_peak_memory(int index) {
  require(Device::cuda(index), "cuda.reset_peak_memory_stats");
  std::lock_guard<std::mutex> lock(memory_mutex);
  MemoryCounts& c = counts_of(index);
  c.peak = c.now;
}

void* malloc(size_t nbytes, int index) {
  use_device(index);
  MemoryCounts& counts = counts_of(index);
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, nbytes);
  if (err != cudaSuccess) {
    cudaGetLastError();
    const std::string message = std::string(err == cudaErrorMemoryAllocation ? "cuda: out of memory allocating "
                                                                             : "cuda: cannot allocate ") +
                                std::to_string(nbytes) + " bytes on cuda:" + std::to_string(index) + " (" +
                                cudaGetErrorString(err) + ")";
    if (err == cudaErrorMemoryAllocation) throw OutOfMemoryError(message);
    throw DeviceError(message);
  }
  std::lock_guard<std::mutex> lock(memory_mutex);
  counts.now += nbytes;
  counts.peak = std::max(counts.peak, counts.now);
  return p;
}

void free(void* ptr, size_t nbytes, int index) {  // never throws: called from destructors
  int current = 0;
  cudaGetDevice(&current);
  if (current != index) cudaSetDevice(index);
  cudaFree(ptr);
  if (current != index) cudaSetDevice(current);
  std::lock_guard<std::mutex> lock(memory_mutex);
  memory_counts[index].now -= nbytes;
}

namespace {
int current_device() {
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  return supported(device);
}
}  // namespace

namespace {
cudaStream_t streams[kMaxDevices] = {};  // created on first use
std::mutex streams_mutex;
}  // namespace

cudaStream_t stream() {
  const int device = current_device();
  std::lock_guard<std::mutex> lock(streams_mutex);
  if (!streams[device]) check(cudaStreamCreateWithFlags(&streams[device], cudaStreamDefault), "cudaStreamCreate");
  return streams[device];
}

namespace {
struct Workspace {
  float* data = nullptr;
  size_t floats = 0;
};
Workspace workspaces[kMaxDevices];
unsigned long long workspace_growths = 0;
std::mutex workspace_mutex;
}  // namespace

float* workspace(size_t floats) {
  const int device = current_device();
  std::lock_guard<std::mutex> lock(workspace_mutex);
  Workspace& w = workspaces[device];
  if (floats > w.floats) {
    if (w.data) free(w.data, w.floats * sizeof(float), device);
    w.data = nullptr;
    w.floats = 0;
    w.data = static_cast<float*>(malloc(floats * sizeof(float), device));
    w.floats = floats;
    ++workspace_growths;
  }
  return w.data;
}

unsigned long long workspace_generation() {
  std::lock_guard<std::mutex> lock(workspace_mutex);
  return workspace_growths;
}

namespace {
std::atomic<unsigned long long> waits{0};
}  // namespace

void wait(cudaStream_t s, const char* what) {
  ++waits;
  check(cudaStreamSynchronize(s), what);
}

unsigned long long host_waits() { return waits.load(); }

void memcpy(void* dst, const Device& dst_device, const void* src, const Device& src_device, size_t nbytes) {
  const bool one_device = dst_device == src_device;
  const bool between_gpus = !one_device && dst_device.type == DeviceType::CUDA && src_device.type == DeviceType::CUDA;
  if (between_gpus) {  // the source's pending work first: the copy runs on the destination's stream
    use_device(src_device.index);
    wait(stream(), "cudaStreamSynchronize (before a copy between devices)");
  }
  use_device(dst_device.type == DeviceType::CUDA ? dst_device.index : src_device.index);
  check(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDefault, stream()), "cudaMemcpyAsync");
  if (!one_device) wait(stream(), "cudaStreamSynchronize (after a copy)");
}

void upload(void* dst, const void* src, size_t nbytes, int index) {
  use_device(index);
  check(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, stream()), "cudaMemcpyAsync (upload)");
}

void memset_zero(void* ptr, size_t nbytes, int index) {
  use_device(index);
  check(cudaMemsetAsync(ptr, 0, nbytes, stream()), "cudaMemsetAsync");
}

void synchronize() {
  int current = 0;
  check(cudaGetDevice(&current), "cudaGetDevice");
  std::lock_guard<std::mutex> lock(streams_mutex);
  for (int device = 0; device < kMaxDevices; ++device)
    if (streams[device]) {
      check(cudaSetDevice(device), "cudaSetDevice");
      wait(streams[device], "cudaStreamSynchronize");
    }
  check(cudaSetDevice(current), "cudaSetDevice");
}

void stream_wait(uintptr_t consumer, int index) {
  use_device(index);
#ifndef CONVNET_CUDA_EMULATOR
  cudaEvent_t done = nullptr;
  check(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), "cudaEventCreateWithFlags (stream_wait)");
  cudaError_t err = cudaEventRecord(done, stream());
  if (err == cudaSuccess) err = cudaStreamWaitEvent(reinterpret_cast<cudaStream_t>(consumer), done, 0);
  cudaEventDestroy(done);  // safe while the wait is pending: CUDA releases the event once it completes
  check(err, "cudaStreamWaitEvent (stream_wait: the consumer's stream waits for convnet's)");
#endif
}

CapturedGraph::~CapturedGraph() { reset(); }

void CapturedGraph::begin() {
  reset();
  device_ = current_device();
  check(cudaStreamBeginCapture(stream(), cudaStreamCaptureModeGlobal), "cudaStreamBeginCapture");
}

void CapturedGraph::end(bool keep) {
  use_device(device_);
  cudaGraph_t graph = nullptr;
  const cudaError_t err = cudaStreamEndCapture(stream(), &graph);
  if (!keep) {  // unwinding from an error inside the capture: drop it, keep that first error
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();
    return;
  }
  check(err, "cudaStreamEndCapture (a call inside the captured step is not allowed in a CUDA graph)");
  cudaGraphExec_t exec = nullptr;
  const cudaError_t inst = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  check(inst, "cudaGraphInstantiate");
  exec_ = exec;
}

void CapturedGraph::launch() const {
  use_device(device_);
  check(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), stream()), "cudaGraphLaunch");
}

void CapturedGraph::reset() {
  if (exec_) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
  exec_ = nullptr;
}

}  // namespace cuda
}  // namespace convnet
