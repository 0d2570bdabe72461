// Losses: CUDA twins of loss.cpp (same signatures). Each loss is one block that sums the rows in a
// fixed order (deterministic); the gradients and the counts use a thread per row (per element for
// the squared error). Labels and binary targets are checked here, not by the contract (see loss.h):
// a bad one gives a NaN loss, a zero gradient and is never counted correct.
#include "core/cuda_check.h"
#include "ops/loss.h"

namespace convnet {
namespace cuda_kernels {

namespace {

constexpr int kBlock = 256;

using loss_detail::row_argmax;
using loss_detail::row_grad;
using loss_detail::row_loss;
using loss_detail::row_weight;

// The loss kernels run one block of kBlock threads, each summing its strided share of the rows in
// `total`; this sums the threads' totals in a fixed tree order and writes loss[0] = sum / count.
__device__ void write_mean(float* loss, double total, int64_t count) {
  __shared__ double shared[kBlock];
  shared[threadIdx.x] = total;
  __syncthreads();
  for (int k = kBlock / 2; k > 0; k >>= 1) {
    if (threadIdx.x < k) shared[threadIdx.x] += shared[threadIdx.x + k];
    __syncthreads();
  }
  if (threadIdx.x == 0) loss[0] = float(shared[0] / double(count));
}

__global__ void cross_entropy_forward_kernel(float* loss, const float* logits, const int64_t* labels,
                                             const float* probs, int64_t N, int64_t C, float label_smoothing,
                                             const float* weight) {
  double total = 0.0;
  for (int64_t n = threadIdx.x; n < N; n += kBlock) {
    const int64_t y = labels ? labels[n] : 0;
    const bool bad_label = labels && (y < 0 || y >= C);  // a NaN loss says so
    total += bad_label ? nan("")
                       : row_weight(weight, n) *
                             row_loss(logits + n * C, C, y, labels ? nullptr : probs + n * C, label_smoothing);
  }
  write_mean(loss, total, N);
}

__global__ void cross_entropy_backward_kernel(float* dlogits, float grad_scale, const float* logits,
                                              const int64_t* labels, const float* probs, int64_t N, int64_t C,
                                              float label_smoothing, const float* weight) {
  const double scale = double(grad_scale) / double(N);
  for (int64_t n = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; n < N; n += (int64_t)gridDim.x * blockDim.x) {
    float* dz = dlogits + n * C;
    if (labels && (labels[n] < 0 || labels[n] >= C)) {  // a bad label: no gradient
      for (int64_t c = 0; c < C; ++c) dz[c] = 0.0f;
      continue;
    }
    row_grad(dz, logits + n * C, C, labels ? labels[n] : 0, labels ? nullptr : probs + n * C, label_smoothing,
             scale * row_weight(weight, n));
  }
}

__global__ void count_correct_kernel(int64_t* correct, const float* logits, const int64_t* labels,
                                     const float* probs, int64_t N, int64_t C) {
  for (int64_t n = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; n < N; n += (int64_t)gridDim.x * blockDim.x) {
    const int64_t want = labels ? labels[n] : row_argmax(probs + n * C, C);
    if (row_argmax(logits + n * C, C) == want)  // a bad label (outside [0, C)) never matches
      atomicAdd(reinterpret_cast<unsigned long long*>(correct), 1ull);
  }
}

__global__ void count_in_top_k_kernel(int64_t* correct, const float* logits, const int64_t* labels,
                                      const float* probs, int64_t N, int64_t C, int64_t k) {
  for (int64_t n = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; n < N; n += (int64_t)gridDim.x * blockDim.x) {
    const int64_t want = labels ? labels[n] : row_argmax(probs + n * C, C);
    if (want >= 0 && want < C && loss_detail::row_in_top_k(logits + n * C, C, want, k))  // a bad label never counts
      atomicAdd(reinterpret_cast<unsigned long long*>(correct), 1ull);
  }
}

__global__ void binary_cross_entropy_with_logits_forward_kernel(float* loss, const float* logits, const float* target,
                                                                int64_t N, float label_smoothing, const float* weight) {
  double total = 0.0;
  for (int64_t n = threadIdx.x; n < N; n += kBlock)  // a bad target: a NaN loss says so
    total += loss_detail::binary_target_ok(target[n])
                 ? row_weight(weight, n) * loss_detail::binary_row_loss(logits[n], target[n], label_smoothing)
                 : nan("");
  write_mean(loss, total, N);
}

__global__ void binary_cross_entropy_with_logits_backward_kernel(float* dlogits, float grad_scale, const float* logits,
                                                                 const float* target, int64_t N,
                                                                 float label_smoothing, const float* weight) {
  const double scale = double(grad_scale) / double(N);
  for (int64_t n = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; n < N; n += (int64_t)gridDim.x * blockDim.x)
    dlogits[n] = loss_detail::binary_target_ok(target[n])  // a bad target: no gradient
                     ? loss_detail::binary_row_grad(logits[n], target[n], label_smoothing, scale * row_weight(weight, n))
                     : 0.0f;
}

__global__ void count_correct_binary_kernel(int64_t* correct, const float* logits, const float* target, int64_t N) {
  for (int64_t n = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; n < N; n += (int64_t)gridDim.x * blockDim.x) {
    if (loss_detail::binary_target_ok(target[n]) && loss_detail::binary_row_correct(logits[n], target[n]))
      atomicAdd(reinterpret_cast<unsigned long long*>(correct), 1ull);
  }
}

__global__ void mse_loss_forward_kernel(float* loss, const float* pred, const float* target, int64_t M, int64_t K,
                                        const float* weight) {
  double total = 0.0;
  for (int64_t i = threadIdx.x; i < M; i += kBlock)
    total += row_weight(weight, i / K) * loss_detail::squared_error(pred[i], target[i]);
  write_mean(loss, total, M);
}

__global__ void mse_loss_backward_kernel(float* dpred, float grad_scale, const float* pred, const float* target,
                                         int64_t M, int64_t K, const float* weight) {
  const double scale = double(grad_scale) / double(M);
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < M; i += (int64_t)gridDim.x * blockDim.x)
    dpred[i] = loss_detail::squared_error_grad(pred[i], target[i], scale * row_weight(weight, i / K));
}

// One thread: the totals of track_loss.
__global__ void track_loss_kernel(ops::LossTotals* totals, const float* loss, int64_t batch) {
  loss_detail::track_loss_update(totals, *loss, batch);
}

}  // namespace

void track_loss(ops::LossTotals* totals, const float* loss, int64_t batch) {
  cuda::launch("track_loss_kernel", track_loss_kernel, 1, 1, totals, loss, batch);
}

void cross_entropy_forward(float* loss, const float* logits, const int64_t* labels, const float* probs, int64_t N,
                           int64_t C, float label_smoothing, const float* weight) {
  cuda::launch("cross_entropy_forward_kernel", cross_entropy_forward_kernel, 1, kBlock, loss, logits, labels, probs, N, C,
               label_smoothing, weight);
}

void cross_entropy_backward(float* dlogits, float grad_scale, const float* logits, const int64_t* labels,
                            const float* probs, int64_t N, int64_t C, float label_smoothing, const float* weight) {
  cuda::launch("cross_entropy_backward_kernel", cross_entropy_backward_kernel, cuda::grid_for(N), kBlock, dlogits,
               grad_scale, logits, labels, probs, N, C, label_smoothing, weight);
}

void count_correct(int64_t* correct, const float* logits, const int64_t* labels, const float* probs, int64_t N,
                   int64_t C) {
  cuda::launch("count_correct_kernel", count_correct_kernel, cuda::grid_for(N), kBlock, correct, logits, labels, probs, N, C);
}

void count_in_top_k(int64_t* correct, const float* logits, const int64_t* labels, const float* probs, int64_t N,
                    int64_t C, int64_t k) {
  cuda::launch("count_in_top_k_kernel", count_in_top_k_kernel, cuda::grid_for(N), kBlock, correct, logits, labels, probs,
               N, C, k);
}

void binary_cross_entropy_with_logits_forward(float* loss, const float* logits, const float* target, int64_t N,
                                              float label_smoothing, const float* weight) {
  cuda::launch("binary_cross_entropy_with_logits_forward_kernel", binary_cross_entropy_with_logits_forward_kernel, 1,
               kBlock, loss, logits, target, N, label_smoothing, weight);
}

void binary_cross_entropy_with_logits_backward(float* dlogits, float grad_scale, const float* logits,
                                               const float* target, int64_t N, float label_smoothing,
                                               const float* weight) {
  cuda::launch("binary_cross_entropy_with_logits_backward_kernel", binary_cross_entropy_with_logits_backward_kernel,
               cuda::grid_for(N), kBlock, dlogits, grad_scale, logits, target, N, label_smoothing, weight);
}

void count_correct_binary(int64_t* correct, const float* logits, const float* target, int64_t N) {
  cuda::launch("count_correct_binary_kernel", count_correct_binary_kernel, cuda::grid_for(N), kBlock, correct, logits,
               target, N);
}

void mse_loss_forward(float* loss, const float* pred, const float* target, int64_t M, int64_t K, const float* weight) {
  cuda::launch("mse_loss_forward_kernel", mse_loss_forward_kernel, 1, kBlock, loss, pred, target, M, K, weight);
}

void mse_loss_backward(float* dpred, float grad_scale, const float* pred, const float* target, int64_t M, int64_t K,
                       const float* weight) {
  cuda::launch("mse_loss_backward_kernel", mse_loss_backward_kernel, cuda::grid_for(M), kBlock, dpred, grad_scale,
               pred, target, M, K, weight);
}

}  // namespace cuda_kernels
}  // namespace convnet
