// Softmax cross-entropy with label smoothing (PyTorch's F.cross_entropy, reduction='mean').
//   logits (N, C) float32; target either int64 (N,) class indices in [0, C), or float32 (N, C)
//   class probabilities / one-hot rows.
//   q = (1 - s) * target + s / C (target one-hot for indices; s = label_smoothing in [0, 1])
//   loss = (1/N) * sum_n sum_c -q_nc * log softmax(logits_n)_c, with log softmax = z - logsumexp(z)
//   Backward: dlogits = grad_scale * (softmax(logits) - q) / N. Exactly, dlogits_nc =
//             grad_scale * (softmax_nc * sum_k q_nk - q_nc) / N, which is that whenever the target
//             row sums to 1 (always for indices) and stays the true gradient (as in PyTorch) when not.
// Out-of-range labels: on the CPU the contract throws ValueError naming the label and its row.
// On CUDA tensors the labels are not copied back to be checked (that would synchronise every
// step); the kernels check them instead: a row with a bad label makes the loss NaN, gets a zero
// gradient row, and never counts as correct. No memory outside the buffers is ever touched.
//   count_correct: correct (int64, 1 element) += the number of rows n with argmax(logits_n) ==
//   label_n (for a probability target, argmax of target_n); the first maximum wins ties.
#pragma once
#include "core/tensor.h"

namespace convnet {
namespace ops {

Shape cross_entropy_output_shape(const Tensor& logits, const Tensor& target, float label_smoothing);  // {} (scalar)
void cross_entropy_forward(Tensor& loss, const Tensor& logits, const Tensor& target, float label_smoothing);  // loss: 0-d or 1-element
void cross_entropy_backward(Tensor& dlogits, float grad_scale, const Tensor& logits, const Tensor& target,
                            float label_smoothing);
Tensor cross_entropy(const Tensor& logits, const Tensor& target, float label_smoothing);  // 0-d
void count_correct(Tensor& correct, const Tensor& logits, const Tensor& target);

}  // namespace ops

// Kernels: valid arguments assumed, except labels on CUDA (see above). logits, probs, dlogits: (N, C);
// labels: (N); exactly one of labels / probs is non-null.
namespace cpu_kernels {
void cross_entropy_forward(float* loss, const float* logits, const int64_t* labels, const float* probs, int64_t N,
                           int64_t C, float label_smoothing);
void cross_entropy_backward(float* dlogits, float grad_scale, const float* logits, const int64_t* labels,
                            const float* probs, int64_t N, int64_t C, float label_smoothing);
void count_correct(int64_t* correct, const float* logits, const int64_t* labels, const float* probs, int64_t N,
                   int64_t C);
}  // namespace cpu_kernels
namespace cuda_kernels {
void cross_entropy_forward(float* loss, const float* logits, const int64_t* labels, const float* probs, int64_t N,
                           int64_t C, float label_smoothing);
void cross_entropy_backward(float* dlogits, float grad_scale, const float* logits, const int64_t* labels,
                            const float* probs, int64_t N, int64_t C, float label_smoothing);
void count_correct(int64_t* correct, const float* logits, const int64_t* labels, const float* probs, int64_t N,
                   int64_t C);
}  // namespace cuda_kernels

}  // namespace convnet
