// The CUDA emulator's runtime (see cuda_runtime.h beside this file for what it is and is not).
//
// Kernels: the blocks of a grid run one after another. A block's threads are fibers on the calling
// CPU thread: the scheduler runs every ready fiber (in ascending or, to expose races, descending
// order) until it finishes or waits at a barrier
// (__syncthreads, or the two warp barriers of a shuffle), then releases a barrier once every live
// thread it concerns has reached it (threads that returned count as arrived). Waits that can never
// all be released (part of a warp in a shuffle, the rest at a block barrier) fail the launch.
// A fiber is entered once with setcontext and then switched with _setjmp/_longjmp (no signal-mask
// system call per switch); it loops, running the current kernel for its coordinates each time
// it is resumed after finishing, so fibers live across blocks and launches.
// Streams run their work at once, except while captured into a graph: then launches, copies and
// memsets are recorded and run at each cudaGraphLaunch. Calls that would synchronise or allocate
// during a capture fail it, as they do on a GPU.
#undef _FORTIFY_SOURCE  // its longjmp check rejects jumps between fiber stacks
#include <setjmp.h>
#include <ucontext.h>

#if defined(__SANITIZE_ADDRESS__)  // AddressSanitizer is told of every stack switch
#include <sanitizer/common_interface_defs.h>
#define EMULATOR_SWITCH_STACK(save, bottom, size) __sanitizer_start_switch_fiber(save, bottom, size)
#define EMULATOR_ON_STACK(saved, old_bottom, old_size) __sanitizer_finish_switch_fiber(saved, old_bottom, old_size)
#else
#define EMULATOR_SWITCH_STACK(save, bottom, size) ((void)0)
#define EMULATOR_ON_STACK(saved, old_bottom, old_size) ((void)0)
#endif

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cuda_runtime.h"

struct CUstream_st {
  int device = 0;                                          // the device current at its creation
  std::vector<std::function<void()>>* capture = nullptr;  // the graph being recorded, or null
};
struct CUgraph_st {
  std::vector<std::function<void()>> work;
};
struct CUgraphExec_st {
  std::vector<std::function<void()>> work;
};

namespace cuda_emulator {
namespace {

constexpr size_t kStackBytes = 128 * 1024;
constexpr size_t kDeviceBytes = size_t(16) << 30;  // each emulated GPU's memory
constexpr int kMaxDevices = 8;
constexpr int kWarp = 32;

enum class State { Ready, AtBlockBarrier, AtWarpBarrier, Done };

struct Fiber {
  ucontext_t entry;  // where a fresh fiber starts
  jmp_buf resume;    // where a started fiber continues
  bool started = false;
  void* sanitizer_stack = nullptr;  // AddressSanitizer's state of this stack while switched away
  std::unique_ptr<char[]> stack{new char[kStackBytes]};
  ThreadCoordinates coords;
  State state = State::Done;
};

struct Allocation {
  size_t bytes;
  int device;
};

int device_count_from_environment() {
  const char* text = std::getenv("CONVNET_EMULATOR_DEVICES");
  const int n = text ? std::atoi(text) : 1;
  return std::clamp(n, 1, kMaxDevices);
}

bool reverse_order_from_environment() {
  const char* text = std::getenv("CONVNET_EMULATOR_ORDER");
  return text && std::string(text) == "reverse";
}

struct Emulator {
  std::recursive_mutex mutex;  // one launch (and one runtime call) at a time
  cudaError_t last_error = cudaSuccess;
  const int devices = device_count_from_environment();
  std::map<const void*, Allocation> allocations;  // by first byte
  size_t allocated[kMaxDevices] = {};
  int capturing = 0;  // streams being captured
  // Grows to the largest block seen. A deque: growing never moves a fiber, whose suspended frames
  // hold its address (wait's `self`).
  std::deque<Fiber> fibers;
  std::vector<uint64_t> lanes;  // the shuffle exchange: one slot per thread of the block
  jmp_buf scheduler;
  void* scheduler_sanitizer_stack = nullptr;
  const void* scheduler_stack_bottom = nullptr;  // the calling thread's stack (for AddressSanitizer)
  size_t scheduler_stack_size = 0;
  Fiber* running = nullptr;
  int block_threads = 0;
  const std::function<void()>* kernel = nullptr;
  bool reverse_order = reverse_order_from_environment();  // threads and blocks in descending order
};

Emulator& emu() {
  static Emulator e;
  return e;
}

thread_local int current_device = 0;  // as cudaSetDevice: per host thread

// The device whose memory holds p, or -1 for host memory.
int device_of(const void* p) {
  const auto& allocations = emu().allocations;
  auto it = allocations.upper_bound(p);
  if (it == allocations.begin()) return -1;
  --it;
  const char* first = static_cast<const char*>(it->first);
  return static_cast<const char*>(p) < first + std::max<size_t>(it->second.bytes, 1) ? it->second.device : -1;
}

int device_of(cudaStream_t stream) { return stream ? stream->device : current_device; }

// convnet's rule for copies and memsets (CUDA itself allows more): they run on the stream of a
// device they touch, or they would not be ordered with that device's kernels.
bool on_a_device_it_touches(cudaStream_t stream, const void* dst, const void* src) {
  const int d = device_of(dst), s = device_of(src);
  return (d < 0 && s < 0) || d == device_of(stream) || s == device_of(stream);
}

cudaError_t fail(cudaError_t err) {
  emu().last_error = err;
  return err;
}

// A call that is illegal while a stream is captured: fails, and fails the capture with it.
bool refused_during_capture() {
  return emu().capturing > 0;
}

// The running fiber stops at `at` and control returns to the scheduler.
void wait(State at) {
  Emulator& e = emu();
  Fiber* self = e.running;
  self->state = at;
  if (!_setjmp(self->resume)) {
    EMULATOR_SWITCH_STACK(&self->sanitizer_stack, e.scheduler_stack_bottom, e.scheduler_stack_size);
    _longjmp(e.scheduler, 1);
  }
  EMULATOR_ON_STACK(self->sanitizer_stack, nullptr, nullptr);
}

void fiber_main() {
  Emulator& e = emu();
  EMULATOR_ON_STACK(nullptr, &e.scheduler_stack_bottom, &e.scheduler_stack_size);
  for (;;) {
    (*e.kernel)();
    wait(State::Done);
  }
}

// Runs fiber f until it finishes or waits.
void resume(Fiber& f) {
  Emulator& e = emu();
  e.running = &f;
  if (_setjmp(e.scheduler)) {
    EMULATOR_ON_STACK(e.scheduler_sanitizer_stack, nullptr, nullptr);
    return;
  }
  EMULATOR_SWITCH_STACK(&e.scheduler_sanitizer_stack, f.stack.get(), kStackBytes);
  if (f.started) _longjmp(f.resume, 1);
  f.started = true;
  getcontext(&f.entry);
  f.entry.uc_stack.ss_sp = f.stack.get();
  f.entry.uc_stack.ss_size = kStackBytes;
  f.entry.uc_link = nullptr;  // fiber_main never returns
  makecontext(&f.entry, fiber_main, 0);
  setcontext(&f.entry);
}

int linear_thread(const ThreadCoordinates& c) {
  return int(c.thread.x + c.block_dim.x * (c.thread.y + c.block_dim.y * c.thread.z));
}

// Runs one block to completion. A block that cannot go on fails the launch, its fibers abandoned
// mid-kernel (they start afresh at the next launch): a barrier that can never be released
// (cudaErrorIllegalInstruction), or a warp shuffle while lanes of its warp have exited, which a
// full-mask shuffle leaves undefined on a GPU (cudaErrorLaunchFailure).
cudaError_t run_block(int threads) {
  Emulator& e = emu();
  auto abandon = [&](cudaError_t err) {
    for (int t = 0; t < threads; ++t) e.fibers[t].started = false;
    return err;
  };
  for (int t = 0; t < threads; ++t) e.fibers[t].state = State::Ready;
  for (;;) {
    for (int i = 0; i < threads; ++i) {
      Fiber& f = e.fibers[e.reverse_order ? threads - 1 - i : i];
      if (f.state == State::Ready) resume(f);
    }
    int done = 0, at_block = 0;
    for (int t = 0; t < threads; ++t) {
      done += e.fibers[t].state == State::Done;
      at_block += e.fibers[t].state == State::AtBlockBarrier;
    }
    if (done == threads) return cudaSuccess;
    bool released = false;
    for (int w0 = 0; w0 < threads; w0 += kWarp) {  // a warp barrier opens when every lane is there
      const int w1 = std::min(threads, w0 + kWarp);
      bool any = false, all = true, exited = false;
      for (int t = w0; t < w1; ++t) {
        const State s = e.fibers[t].state;
        any |= s == State::AtWarpBarrier;
        all &= s == State::AtWarpBarrier || s == State::Done;
        exited |= s == State::Done;
      }
      if (any && all && exited) return abandon(cudaErrorLaunchFailure);
      if (any && all) {
        for (int t = w0; t < w1; ++t) e.fibers[t].state = State::Ready;
        released = true;
      }
    }
    if (!released && at_block + done == threads) {  // threads that returned do not hold a block barrier up
      for (int t = 0; t < threads; ++t)
        if (e.fibers[t].state == State::AtBlockBarrier) e.fibers[t].state = State::Ready;
      released = true;
    }
    if (!released) return abandon(cudaErrorIllegalInstruction);
  }
}

bool valid_configuration(dim3 grid, dim3 block) {
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  return grid.x >= 1 && grid.y >= 1 && grid.z >= 1 && grid.x <= 2147483647u && grid.y <= 65535 && grid.z <= 65535 &&
         threads >= 1 && threads <= 1024 && block.x <= 1024 && block.y <= 1024 && block.z <= 64;
}

void run_grid(dim3 grid, dim3 block, const std::function<void()>& kernel) {
  Emulator& e = emu();
  const int threads = int(block.x * block.y * block.z);
  if (int(e.fibers.size()) < threads) e.fibers.resize(threads);
  e.lanes.assign(threads, 0);
  e.block_threads = threads;
  e.kernel = &kernel;
  const uint64_t blocks = uint64_t(grid.x) * grid.y * grid.z;
  for (uint64_t i = 0; i < blocks; ++i) {
    const uint64_t b = e.reverse_order ? blocks - 1 - i : i;
    const dim3 block_index(unsigned(b % grid.x), unsigned(b / grid.x % grid.y), unsigned(b / (uint64_t(grid.x) * grid.y)));
    for (int t = 0; t < threads; ++t) {
      ThreadCoordinates& c = e.fibers[t].coords;
      c.thread = dim3(t % block.x, (t / block.x) % block.y, t / (block.x * block.y));
      c.block = block_index;
      c.block_dim = block;
      c.grid_dim = grid;
    }
    const cudaError_t err = run_block(threads);
    if (err != cudaSuccess) {  // a GPU would hang, trap or compute garbage
      e.last_error = err;
      return;
    }
  }
}

// Runs `work` now, or records it when `stream` is being captured.
void submit(cudaStream_t stream, std::function<void()> work) {
  if (stream && stream->capture)
    stream->capture->push_back(std::move(work));
  else
    work();
}

}  // namespace

const ThreadCoordinates& current() { return emu().running->coords; }

void syncthreads() { wait(State::AtBlockBarrier); }

uint64_t shuffle_down(uint64_t bits, unsigned delta, int width) {
  Emulator& e = emu();
  const int t = linear_thread(e.running->coords);
  e.lanes[t] = bits;
  wait(State::AtWarpBarrier);  // every lane has published its value
  const int lane_in_segment = (t % kWarp) % width;
  const int source = lane_in_segment + int(delta) < width ? t + int(delta) : t;
  const uint64_t value = e.lanes[source < e.block_threads ? source : t];
  wait(State::AtWarpBarrier);  // every lane has read before the slots are reused
  return value;
}

void set_reverse_order(bool reverse) {
  std::lock_guard<std::recursive_mutex> lock(emu().mutex);
  emu().reverse_order = reverse;
}

void launch(dim3 grid, dim3 block, cudaStream_t stream, std::function<void()> kernel,
            const std::vector<const void*>& pointers) {
  std::lock_guard<std::recursive_mutex> lock(emu().mutex);
  if (!valid_configuration(grid, block)) {
    fail(cudaErrorInvalidConfiguration);
    return;
  }
  if (device_of(stream) != current_device) {
    fail(cudaErrorInvalidResourceHandle);
    return;
  }
  for (const void* p : pointers)
    if (p && device_of(p) != current_device) {  // host memory, or another device's
      fail(cudaErrorIllegalAddress);
      return;
    }
  submit(stream, [grid, block, kernel = std::move(kernel)] { run_grid(grid, block, kernel); });
}

}  // namespace cuda_emulator

using cuda_emulator::emu;
using cuda_emulator::fail;

const char* cudaGetErrorString(cudaError_t err) {
  switch (err) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle:
      return "invalid resource handle (emulator: a stream of another device than the current one, or a copy on a "
             "stream of a device it does not touch)";
    case cudaErrorIllegalAddress:
      return "an illegal memory access was encountered (emulator: a kernel argument points into host memory or "
             "another device's memory)";
    case cudaErrorLaunchFailure:
      return "unspecified launch failure (emulator: a warp shuffle while lanes of its warp have exited, undefined "
             "on a GPU)";
    case cudaErrorIllegalInstruction:
      return "an illegal instruction was encountered (emulator: threads wait at barriers that can never all be passed)";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    default: return "unknown error";
  }
}

cudaError_t cudaGetLastError() {
  std::lock_guard<std::recursive_mutex> lock(emu().mutex);
  const cudaError_t err = emu().last_error;
  emu().last_error = cudaSuccess;
  return err;
}

cudaError_t cudaPeekAtLastError() { return emu().last_error; }

cudaError_t cudaGetDeviceCount(int* count) {
  *count = emu().devices;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (device < 0 || device >= emu().devices) return fail(cudaErrorInvalidDevice);
  cuda_emulator::current_device = device;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  *device = cuda_emulator::current_device;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device < 0 || device >= emu().devices) return fail(cudaErrorInvalidDevice);
  std::memset(prop, 0, sizeof(*prop));
  std::strcpy(prop->name, "convnet CUDA emulator (CPU)");
  prop->totalGlobalMem = cuda_emulator::kDeviceBytes;
  prop->major = 9;
  prop->multiProcessorCount = 1;
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int* version) {
  *version = 0;  // no driver: the emulator
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** ptr, size_t nbytes) {
  auto& e = emu();
  std::lock_guard<std::recursive_mutex> lock(e.mutex);
  *ptr = nullptr;
  if (cuda_emulator::refused_during_capture()) return fail(cudaErrorStreamCaptureUnsupported);
  size_t& allocated = e.allocated[cuda_emulator::current_device];
  if (nbytes > cuda_emulator::kDeviceBytes - allocated) return fail(cudaErrorMemoryAllocation);
  const size_t rounded = (nbytes + 255) / 256 * 256;
  void* p = std::aligned_alloc(256, rounded ? rounded : 256);
  if (!p) return fail(cudaErrorMemoryAllocation);
  // cudaMalloc leaves memory uninitialised: all bits set (NaN as float, -1 as an integer) makes a
  // kernel that reads memory no one wrote give results the tests notice.
  std::memset(p, 0xFF, rounded ? rounded : 256);
  e.allocations[p] = {nbytes, cuda_emulator::current_device};
  allocated += nbytes;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  auto& e = emu();
  std::lock_guard<std::recursive_mutex> lock(e.mutex);
  if (!ptr) return cudaSuccess;
  if (cuda_emulator::refused_during_capture()) return fail(cudaErrorStreamCaptureUnsupported);
  auto it = e.allocations.find(ptr);
  if (it == e.allocations.end()) return fail(cudaErrorInvalidValue);
  e.allocated[it->second.device] -= it->second.bytes;
  e.allocations.erase(it);
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t nbytes, cudaMemcpyKind) {
  std::lock_guard<std::recursive_mutex> lock(emu().mutex);
  if (cuda_emulator::refused_during_capture()) return fail(cudaErrorStreamCaptureUnsupported);
  if (nbytes) std::memmove(dst, src, nbytes);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t nbytes, cudaMemcpyKind, cudaStream_t stream) {
  std::lock_guard<std::recursive_mutex> lock(emu().mutex);
  if (!stream && cuda_emulator::refused_during_capture()) return fail(cudaErrorStreamCaptureUnsupported);
  if (!cuda_emulator::on_a_device_it_touches(stream, dst, src)) return fail(cudaErrorInvalidResourceHandle);
  cuda_emulator::submit(stream, [=] {
    if (nbytes) std::memmove(dst, src, nbytes);
  });
  return cudaSuccess;
}

cudaError_t cudaMemset(void* ptr, int value, size_t nbytes) {
  std::lock_guard<std::recursive_mutex> lock(emu().mutex);
  if (cuda_emulator::refused_during_capture()) return fail(cudaErrorStreamCaptureUnsupported);
  std::memset(ptr, value, nbytes);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* ptr, int value, size_t nbytes, cudaStream_t stream) {
  std::lock_guard<std::recursive_mutex> lock(emu().mutex);
  if (!stream && cuda_emulator::refused_during_capture()) return fail(cudaErrorStreamCaptureUnsupported);
  if (!cuda_emulator::on_a_device_it_touches(stream, ptr, ptr)) return fail(cudaErrorInvalidResourceHandle);
  cuda_emulator::submit(stream, [=] { std::memset(ptr, value, nbytes); });
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() {
  if (cuda_emulator::refused_during_capture()) return fail(cudaErrorStreamCaptureUnsupported);
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned) {
  *stream = new CUstream_st;
  (*stream)->device = cuda_emulator::current_device;
  return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  delete stream;
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (stream && stream->capture) return fail(cudaErrorStreamCaptureUnsupported);
  return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode) {
  std::lock_guard<std::recursive_mutex> lock(emu().mutex);
  if (!stream || stream->capture) return fail(cudaErrorInvalidValue);  // the legacy stream cannot be captured
  stream->capture = new std::vector<std::function<void()>>;
  ++emu().capturing;
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  std::lock_guard<std::recursive_mutex> lock(emu().mutex);
  if (!stream || !stream->capture) return fail(cudaErrorInvalidValue);
  std::unique_ptr<std::vector<std::function<void()>>> work(stream->capture);
  stream->capture = nullptr;
  --emu().capturing;
  // Any call refused during the capture left its error behind: the capture is invalid.
  if (emu().last_error != cudaSuccess) {
    *graph = nullptr;
    return fail(cudaErrorStreamCaptureInvalidated);
  }
  *graph = new CUgraph_st{std::move(*work)};
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  if (!graph) return fail(cudaErrorInvalidValue);
  *exec = new CUgraphExec_st{graph->work};
  return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  std::lock_guard<std::recursive_mutex> lock(emu().mutex);
  if (!exec) return fail(cudaErrorInvalidValue);
  if (cuda_emulator::device_of(stream) != cuda_emulator::current_device) return fail(cudaErrorInvalidResourceHandle);
  for (const auto& work : exec->work) cuda_emulator::submit(stream, work);
  return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}
