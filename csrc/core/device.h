// Devices and the memory functions of each. The CPU is always there; CUDA entries are filled
// in by core/cuda.cu when the CUDA kernels are compiled in (CONVNET_WITH_CUDA), and report
// "not available" otherwise, so the same binary runs on machines with and without a GPU.
#pragma once
#include <cstddef>
#include <cstdint>
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
// The current CUDA device of the calling thread is the one kernels launch on, and whose
// convnet stream (stream(), core/cuda_check.h) and workspace they use. Every entry point selects
// it from the memory it works on: ops from their tensors (CONVNET_DISPATCH), the functions below
// from their `device` argument, the graph executor from its device. So tensors on several GPUs
// mix in one program, and each device's work stays in order on its own stream.
void use_device(int index);
void* malloc(size_t nbytes, int index);
void free(void* ptr, size_t nbytes, int index);  // leaves the current device as it was (it runs in destructors)
// Bytes of device `index` held by convnet's allocations now, and the most held at once since the
// start or the last reset_peak_memory (PyTorch's memory_allocated / max_memory_allocated).
size_t memory_allocated(int index);
size_t max_memory_allocated(int index);
void reset_peak_memory(int index);
// Copies in any direction (cudaMemcpyDefault), in order on the stream of the CUDA side (the
// destination's when both are). Returns once the host may use the result: it waits for the copy
// unless both sides are memory of one device, so such copies can be captured into a CUDA graph.
// Between two devices it first waits for the source's stream, then for the copy.
void memcpy(void* dst, const Device& dst_device, const void* src, const Device& src_device, size_t nbytes);
// Host to device `index` without waiting: the source (pageable host memory) may be reused on
// return, as CUDA stages it before returning; the copy lands in stream order, before work queued
// after it.
void upload(void* dst, const void* src, size_t nbytes, int index);
void memset_zero(void* ptr, size_t nbytes, int index);
void synchronize();  // waits for the work queued on every device's convnet stream
// Makes another library's stream on device `index` wait for the work queued so far on convnet's
// stream there, without the host waiting: an event recorded on ours that theirs waits for (how
// DLPack's __dlpack__(stream=) hands a CUDA tensor over). `consumer` is the cudaStream_t as an
// integer, as DLPack passes it (1: the legacy default stream, 2: the per-thread default stream).
// The emulator runs work at once and has no events: nothing is pending, so there it only checks
// the device.
void stream_wait(uintptr_t consumer, int index);
// How many times the host has waited for a GPU (copies to the host, synchronize(), ...): a GPU
// training step waits for none, so this grows by chunks of steps, not by steps.
unsigned long long host_waits();
// How many times the kernels' shared workspace has been reallocated (see cuda_check.h).
unsigned long long workspace_generation();
// TF32 tensor cores for the GEMMs of convolution and linear layers (off by default: exact FP32).
// With it on, the GEMM inputs are rounded to TF32 (10 mantissa bits, as PyTorch's allow_tf32)
// and summed in float, on GPUs of compute capability 8.0 and later.
bool allow_tf32();
void set_allow_tf32(bool enabled);
// Launch blocking (CONVNET_LAUNCH_BLOCKING=1 at start-up, as PyTorch's CUDA_LAUNCH_BLOCKING): each
// kernel launch waits for the kernel, so an error inside a kernel is reported with that kernel's
// name instead of at a later call; training steps then run op by op, not as a CUDA graph. For
// debugging: it is slow.
bool launch_blocking();
void set_launch_blocking(bool enabled);

// A CUDA graph: the device work queued on the current device's convnet stream while `work` runs
// is recorded (not run), instantiated, and run again by each launch() with the same arguments and addresses.
// Host code inside `work` runs only once, at capture: per-step values must come from device
// memory. A failed capture throws DeviceError naming the call that broke it.
class CapturedGraph {
 public:
  CapturedGraph() = default;
  ~CapturedGraph();
  CapturedGraph(const CapturedGraph&) = delete;
  CapturedGraph& operator=(const CapturedGraph&) = delete;
  template <class Work>
  void capture(Work&& work) {
    begin();
    try {
      work();
    } catch (...) {
      end(false);
      throw;
    }
    end(true);
  }
  void launch() const;
  bool ready() const { return exec_ != nullptr; }
  void reset();

 private:
  void begin();
  void end(bool keep);
  void* exec_ = nullptr;  // cudaGraphExec_t
  int device_ = 0;        // the device current at capture, whose stream the graph runs on
};
}  // namespace cuda

}  // namespace convnet
