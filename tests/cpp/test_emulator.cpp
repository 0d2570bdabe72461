// The CUDA emulator itself (csrc/emulator; built with CONVNET_CUDA=EMULATE only): the GPU tests
// trust it to run kernels as a GPU would and to refuse what a GPU refuses, so both are checked here.
#ifdef CONVNET_CUDA_EMULATOR
#include <cstdlib>
#include <string>
#include <vector>

#include "check.h"
#include "core/cuda_check.h"
#include "core/device.h"
#include "core/tensor.h"
#include "kernels/gemm.h"
#include "ops/activation.h"
#include "ops/conv.h"
#include "ops/norm.h"

using namespace convnet;

namespace {

// out[block] = sum of in[block * 256 + t]: a shared-memory tree with a barrier per level.
__global__ void block_sum_kernel(float* out, const float* in) {
  __shared__ float part[256];
  part[threadIdx.x] = in[blockIdx.x * 256 + threadIdx.x];
  __syncthreads();
  for (int w = 128; w > 0; w /= 2) {
    if (threadIdx.x < unsigned(w)) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = part[0];
}

// out[warp] = sum over the warp's lanes of their lane number, by shuffles.
__global__ void warp_sum_kernel(int* out) {
  int v = threadIdx.x % 32;
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  if (threadIdx.x % 32 == 0) out[threadIdx.x / 32] = v;
}

// Half the warp waits at __syncthreads, the other half in a shuffle: neither wait can end (a GPU
// hangs), so the emulator fails the launch.
__global__ void divergent_barrier_kernel(float* out) {
  float v = 1.0f;
  if (threadIdx.x < 16)
    __syncthreads();
  else
    v = __shfl_down_sync(0xffffffffu, v, 1);
  out[threadIdx.x] = v;
}

// Each thread writes its slot, then reads its neighbour's: with `barrier` false nothing orders the
// neighbour's write before the read, a race whose result depends on which thread runs first.
__global__ void neighbour_kernel(int* out, bool barrier) {
  __shared__ int slot[64];
  slot[threadIdx.x] = 0;
  __syncthreads();
  slot[threadIdx.x] = int(threadIdx.x) + 1;
  if (barrier) __syncthreads();
  out[threadIdx.x] = slot[(threadIdx.x + 1) % 64];
}

// Half the warp returns, the other half shuffles with a full mask: undefined on a GPU.
__global__ void shuffle_after_exit_kernel(float* out) {
  if (threadIdx.x >= 16) return;
  out[threadIdx.x] = __shfl_down_sync(0xffffffffu, 1.0f, 1);
}

// out[t] = t + 1 after a barrier, so every thread of the block suspends once.
__global__ void thread_numbers_kernel(int64_t* out) {
  __syncthreads();
  out[threadIdx.x] = int64_t(threadIdx.x) + 1;
}

// out[0] += *step: the per-step value comes from memory, the increment from the arguments.
__global__ void add_step_kernel(float* out, const float* step, float scale) { out[0] += *step * scale; }

std::vector<float> host(const Tensor& t) {
  const Tensor h = t.to(Device::cpu());
  return std::vector<float>(h.data<float>(), h.data<float>() + h.numel());
}

}  // namespace

CONVNET_TEST(emulator_barriers_and_shared_memory) {
  std::vector<float> values(3 * 256);
  for (size_t i = 0; i < values.size(); ++i) values[i] = float(i % 7);
  Tensor in = Tensor::from_values(values, Device::cuda()), out = Tensor::zeros({3}, DType::Float32, Device::cuda());
  cuda::launch("block_sum_kernel", block_sum_kernel, 3, 256, out.data<float>(), in.data<float>());
  const std::vector<float> sums = host(out);
  bool ok = true;
  for (int b = 0; b < 3; ++b) {
    float want = 0.0f;
    for (int t = 0; t < 256; ++t) want += values[b * 256 + t];
    ok &= sums[b] == want;
  }
  EXPECT(ok, "a block's threads meet at each barrier and share one array per block");
}

// Fibers live across launches, suspended where their last kernel ended; a larger block adds fibers
// without moving the old ones (under AddressSanitizer, a move showed as a use after free).
CONVNET_TEST(emulator_blocks_of_every_size_in_turn) {
  Tensor out = Tensor::zeros({1024}, DType::Int64, Device::cuda());
  bool ok = true;
  for (int threads : {32, 1024, 64, 1024}) {
    cuda::launch("thread_numbers_kernel", thread_numbers_kernel, 1, threads, out.data<int64_t>());
    const Tensor h = out.to(Device::cpu());
    const int64_t* got = h.data<int64_t>();
    for (int t = 0; t < threads; ++t) ok &= got[t] == t + 1;
  }
  EXPECT(ok, "blocks of 32, 1024, 64 and 1024 threads each run every thread");
}

CONVNET_TEST(emulator_warp_shuffles) {
  Tensor out = Tensor::zeros({3}, DType::Int64, Device::cuda());  // 3 warps' sums as int32 pairs
  int* sums = static_cast<int*>(out.raw_data());
  cuda::launch("warp_sum_kernel", warp_sum_kernel, 1, 96, sums);
  const Tensor h = out.to(Device::cpu());
  const int* got = static_cast<const int*>(h.raw_data());
  EXPECT(got[0] == 496 && got[1] == 496 && got[2] == 496, "__shfl_down_sync sums each warp's lanes (0+...+31)");
}

CONVNET_TEST(emulator_thread_orders_expose_a_missing_barrier) {
  Tensor out = Tensor::zeros({32}, DType::Int64, Device::cuda());  // 64 int32
  auto run = [&](bool barrier, bool reverse) {
    cuda_emulator::set_reverse_order(reverse);
    cuda::launch("neighbour_kernel", neighbour_kernel, 1, 64, static_cast<int*>(out.raw_data()), barrier);
    const Tensor h = out.to(Device::cpu());
    const int* got = static_cast<const int*>(h.raw_data());
    return std::vector<int>(got, got + 64);
  };
  const char* order = std::getenv("CONVNET_EMULATOR_ORDER");
  const bool started_reversed = order && std::string(order) == "reverse";
  const std::vector<int> with_barrier = run(true, false), with_barrier_reversed = run(true, true);
  const std::vector<int> racy = run(false, false), racy_reversed = run(false, true);
  cuda_emulator::set_reverse_order(started_reversed);
  bool correct = true;
  for (int t = 0; t < 64; ++t) correct &= with_barrier[t] == (t + 1) % 64 + 1;
  EXPECT(correct && with_barrier_reversed == with_barrier, "with the barrier both orders give every neighbour's value");
  EXPECT(racy[0] == 0 && racy_reversed[0] == 2, "without it, ascending order reads before the neighbour writes");
  EXPECT(racy_reversed[63] == 0 && racy[63] == 1, "and descending order does the same to the last thread");
}

CONVNET_TEST(emulator_refuses_what_a_gpu_refuses) {
  Tensor out = Tensor::zeros({32}, DType::Float32, Device::cuda());
  EXPECT_THROWS(DeviceError, cuda::launch("divergent_barrier_kernel", divergent_barrier_kernel, 1, 32,
                                          out.data<float>()),
                "waits that can never end fail the launch", "divergent_barrier_kernel");
  float on_host[2] = {0.0f, 1.0f};
  EXPECT_THROWS(DeviceError, cuda::launch("add_step_kernel", add_step_kernel, 1, 1, &on_host[0], &on_host[1], 2.0f),
                "a kernel is refused host memory", "points into host memory");
  EXPECT_THROWS(DeviceError, cuda::launch("shuffle_after_exit_kernel", shuffle_after_exit_kernel, 1, 32,
                                          out.data<float>()),
                "a shuffle after lanes of its warp returned fails the launch", "lanes of its warp have exited");
  EXPECT_THROWS(DeviceError, cuda::launch("block_sum_kernel", block_sum_kernel, 1, 2048, out.data<float>(),
                                          out.data<float>()),
                "2048 threads per block is an invalid configuration", "invalid configuration");
  // Allocating inside a captured step is not allowed: the capture fails, naming the call.
  cuda::CapturedGraph graph;
  EXPECT_THROWS(DeviceError, graph.capture([] { Tensor::zeros({4}, DType::Float32, Device::cuda()); }),
                "no allocation inside a capture", "not permitted when stream is capturing");
  EXPECT(!graph.ready(), "a failed capture leaves no graph");
  Tensor ones = Tensor::from_values(std::vector<float>(256, 1.0f), Device::cuda());
  cuda::launch("block_sum_kernel", block_sum_kernel, 1, 256, out.data<float>(), ones.data<float>());
  EXPECT(host(out)[0] == 256.0f, "the stream works again after a failed capture");
}

CONVNET_TEST(emulator_keeps_devices_apart) {
  int devices = 0;
  cudaGetDeviceCount(&devices);
  if (devices < 2) return;  // run with CONVNET_EMULATOR_DEVICES=2 (CI's emulator stage)
  Tensor on_1 = Tensor::from_values(std::vector<float>(256, 1.0f), Device::cuda(1));
  Tensor sum_1 = Tensor::zeros({1}, DType::Float32, Device::cuda(1));
  cuda::use_device(0);
  EXPECT_THROWS(DeviceError, cuda::launch("block_sum_kernel", block_sum_kernel, 1, 256, sum_1.data<float>(),
                                          on_1.data<float>()),
                "a kernel on device 0 is refused device 1's memory", "illegal memory access");
  cuda::use_device(1);
  cuda::launch("block_sum_kernel", block_sum_kernel, 1, 256, sum_1.data<float>(), on_1.data<float>());
  EXPECT(host(sum_1)[0] == 256.0f, "on device 1 it runs");
  // An op on device 1's tensors runs there whatever the current device (CONVNET_DISPATCH selects it).
  Tensor x_1 = Tensor::from_values(std::vector<float>{-1.0f, 2.0f}, Device::cuda(1));
  Tensor y_1 = Tensor::empty({2}, DType::Float32, Device::cuda(1));
  cuda::use_device(0);
  ops::activation_forward(y_1, x_1, ops::parse_activation("relu"), 0.0f);
  EXPECT(host(y_1) == std::vector<float>({0.0f, 2.0f}), "an op runs on the device of its tensors");
  cuda::use_device(0);
  EXPECT_THROWS(DeviceError, cuda::check(cudaMemsetAsync(sum_1.raw_data(), 0, 4, cuda::stream()), "cudaMemsetAsync"),
                "a memset on device 0's stream of device 1's memory would not be ordered", "invalid resource handle");
  cuda::use_device(0);
}

CONVNET_TEST(emulator_graph_replays_with_fresh_memory) {
  Tensor out = Tensor::zeros({1}, DType::Float32, Device::cuda());
  Tensor step = Tensor::from_values(std::vector<float>{1.0f}, Device::cuda());
  cuda::CapturedGraph graph;
  graph.capture([&] { cuda::launch("add_step_kernel", add_step_kernel, 1, 1, out.data<float>(), step.data<float>(), 2.0f); });
  EXPECT(graph.ready() && host(out)[0] == 0.0f, "capturing records the work without running it");
  graph.launch();
  const std::vector<float> three{3.0f};
  cuda::upload(step.raw_data(), three.data(), sizeof(float), 0);
  graph.launch();
  EXPECT(host(out)[0] == 2.0f + 6.0f, "each replay reads memory afresh and keeps the captured arguments");
}
// The GPU kernels index in 32 bits (IntDivider): sizes past that are clear errors, raised before
// any launch (so null pointers are never touched here).
CONVNET_TEST(gpu_kernels_refuse_sizes_past_32_bit_indexing) {
  const int64_t big = int64_t(1) << 31;
  EXPECT_THROWS(ValueError,
                cuda_kernels::sgemm(false, false, 1, 1, big, nullptr, big, nullptr, 1, nullptr, 1, false),
                "a GEMM's reduction of 2^31", "over the 2^31 - 1 this GEMM indexes");
  EXPECT_THROWS(ValueError,
                cuda_kernels::batch_norm_forward(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                                 nullptr, big / 1024, 1, 1024, true, 0.1f, 1e-3f, nullptr),
                "batch norm over 2^31 values of a channel", "batch_norm: argument 'x'");
  float db = 0.0f;
  const Conv2dGeometry g{big / 1024, 1, 32, 32, 1, 1, 1, 32, 32, 1, 1, 0, 0, 1, 1, 1};
  EXPECT_THROWS(ValueError, cuda_kernels::conv2d_backward(nullptr, nullptr, &db, nullptr, nullptr, nullptr, g),
                "a conv bias gradient over 2^31 values", "fewer than 2^31 output values per channel");
}

#endif
