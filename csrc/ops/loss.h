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
//   track_loss: the running totals of a pass over batches, kept in the model's memory so that no
//   training step waits for the host (the executor reads them, with the count of correct rows kept
//   beside them, in one copy per chunk of steps). After a
//   batch of `batch` rows with mean loss `loss` (1 element): unless a non-finite loss was seen
//   before, loss_sum += loss * batch and count += batch; then a non-finite loss sets
//   nonfinite_step = steps (the good steps before it; the optimizers skip their updates from then
//   on, given it as `halt`), a finite one steps += 1.
#pragma once
#include <cmath>

#include "core/host_device.h"
#include "core/tensor.h"

namespace convnet {
namespace ops {

Shape cross_entropy_output_shape(const Tensor& logits, const Tensor& target, float label_smoothing);  // {} (scalar)
void cross_entropy_forward(Tensor& loss, const Tensor& logits, const Tensor& target, float label_smoothing);  // loss: 0-d or 1-element
void cross_entropy_backward(Tensor& dlogits, float grad_scale, const Tensor& logits, const Tensor& target,
                            float label_smoothing);
Tensor cross_entropy(const Tensor& logits, const Tensor& target, float label_smoothing);  // 0-d
void count_correct(Tensor& correct, const Tensor& logits, const Tensor& target);

// The totals' memory image: an int64 tensor of 5 elements (LossTotals::size()). `correct` is
// count_correct's counter (given the slot as a 1-element view), so one copy reads everything.
struct LossTotals {
  double loss_sum;
  int64_t count, steps, nonfinite_step, correct;
  static constexpr int64_t size() { return 5; }
  static constexpr int64_t nonfinite_index() { return 3; }  // the element optimizers read as `halt`
  static constexpr int64_t correct_index() { return 4; }
  static constexpr LossTotals start() { return {0.0, 0, 0, -1, 0}; }  // before any batch
};
static_assert(sizeof(LossTotals) == 5 * sizeof(int64_t), "LossTotals is 5 int64 slots");
Tensor new_loss_totals(Device device);  // LossTotals::start() in memory
void track_loss(Tensor& totals, const Tensor& loss, int64_t batch);
LossTotals read_loss_totals(const Tensor& totals);  // a copy on the host (waits for the device)

}  // namespace ops

// The math of one row (z = logits[n], C classes, smoothing s), shared by the CPU kernels and their
// CUDA twins so both compute the same operations. A row's target is either a class index `label`
// (probs == nullptr) or a probability row `probs`; q_c = (1 - s) * target_c + s / C.
namespace loss_detail {
CONVNET_HOST_DEVICE inline double row_logsumexp(const float* z, int64_t C) {  // max-shifted
  float m = z[0];
  for (int64_t c = 1; c < C; ++c) m = z[c] > m ? z[c] : m;
  double sum = 0.0;
  for (int64_t c = 0; c < C; ++c) sum += ::exp(double(z[c]) - m);
  return m + ::log(sum);
}

CONVNET_HOST_DEVICE inline int64_t row_argmax(const float* v, int64_t C) {  // first maximum
  int64_t best = 0;
  for (int64_t c = 1; c < C; ++c)
    if (v[c] > v[best]) best = c;
  return best;
}

// sum_c q_c (lse - z_c)
CONVNET_HOST_DEVICE inline double row_loss(const float* z, int64_t C, int64_t label, const float* probs, double s) {
  const double lse = row_logsumexp(z, C), smooth = s / double(C);
  double row = 0.0;
  if (!probs) {
    double sum_z = 0.0;
    for (int64_t c = 0; c < C; ++c) sum_z += z[c];
    row = lse - (1.0 - s) * z[label] - smooth * sum_z;
  } else {
    for (int64_t c = 0; c < C; ++c) row += ((1.0 - s) * probs[c] + smooth) * (lse - z[c]);
  }
  return row;
}

// dz_c = scale * (softmax(z)_c * sum(q) - q_c): the exact gradient even when a probability row does
// not sum to 1 (sum(q) = 1 for class indices).
CONVNET_HOST_DEVICE inline void row_grad(float* dz, const float* z, int64_t C, int64_t label, const float* probs,
                                         double s, double scale) {
  const double lse = row_logsumexp(z, C), smooth = s / double(C);
  double q_sum = 1.0;
  if (probs) {
    q_sum = 0.0;
    for (int64_t c = 0; c < C; ++c) q_sum += (1.0 - s) * probs[c] + smooth;
  }
  for (int64_t c = 0; c < C; ++c) {
    const double q = probs ? (1.0 - s) * probs[c] + smooth : (1.0 - s) * (c == label) + smooth;
    dz[c] = float(scale * (::exp(double(z[c]) - lse) * q_sum - q));
  }
}
// One track_loss update (a single thread runs it).
CONVNET_HOST_DEVICE inline void track_loss_update(ops::LossTotals* t, float loss, int64_t batch) {
  if (t->nonfinite_step >= 0) return;
  t->loss_sum += double(loss) * double(batch);
  t->count += batch;
  if (loss - loss == 0.0f)  // finite (NaN - NaN and inf - inf are NaN)
    t->steps += 1;
  else
    t->nonfinite_step = t->steps;
}
}  // namespace loss_detail

// Kernels: valid arguments assumed, except labels on CUDA (see above). logits, probs, dlogits: (N, C);
// labels: (N); exactly one of labels / probs is non-null.
namespace cpu_kernels {
void cross_entropy_forward(float* loss, const float* logits, const int64_t* labels, const float* probs, int64_t N,
                           int64_t C, float label_smoothing);
void cross_entropy_backward(float* dlogits, float grad_scale, const float* logits, const int64_t* labels,
                            const float* probs, int64_t N, int64_t C, float label_smoothing);
void count_correct(int64_t* correct, const float* logits, const int64_t* labels, const float* probs, int64_t N,
                   int64_t C);
void track_loss(ops::LossTotals* totals, const float* loss, int64_t batch);
}  // namespace cpu_kernels
namespace cuda_kernels {
void cross_entropy_forward(float* loss, const float* logits, const int64_t* labels, const float* probs, int64_t N,
                           int64_t C, float label_smoothing);
void cross_entropy_backward(float* dlogits, float grad_scale, const float* logits, const int64_t* labels,
                            const float* probs, int64_t N, int64_t C, float label_smoothing);
void count_correct(int64_t* correct, const float* logits, const int64_t* labels, const float* probs, int64_t N,
                   int64_t C);
void track_loss(ops::LossTotals* totals, const float* loss, int64_t batch);
}  // namespace cuda_kernels

}  // namespace convnet
