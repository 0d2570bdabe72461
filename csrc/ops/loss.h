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
//   count_in_top_k: correct += the number of rows whose target class (the label, or the argmax of a
//   probability row) is among the k largest logits: fewer than k classes have a strictly larger logit,
//   so ties at the boundary count as in (TensorFlow's in_top_k, Keras' top_k_categorical_accuracy); a
//   NaN logit of the target class never counts. k >= 1.
//   count_correct: correct (int64, 1 element) += the number of rows n with argmax(logits_n) ==
//   label_n (for a probability target, argmax of target_n); the first maximum wins ties.
// Binary cross-entropy from logits (PyTorch's F.binary_cross_entropy_with_logits, reduction='mean';
// Keras' binary_crossentropy(from_logits=True)).
//   logits (N,) or (N, 1) float32; target float32 (N,) or (N, 1), values in [0, 1];
//   t' = t * (1 - s) + 0.5 * s (s = label_smoothing in [0, 1], as Keras smooths binary targets)
//   loss = (1/N) * sum_n max(z_n, 0) - z_n * t'_n + log1p(exp(-|z_n|))  (= -t' log sigmoid(z) -
//          (1 - t') log(1 - sigmoid(z)), in a form that never overflows), summed in double.
//   Backward: dlogits = grad_scale * (sigmoid(logits) - t') / N.
//   count_correct_binary: correct (int64, 1 element) += the number of rows with (z_n > 0) == (t_n >= 0.5).
//   Out-of-range targets (outside [0, 1], or NaN): as labels above, a ValueError naming the value and
//   its row on the CPU; on CUDA a NaN loss, a zero gradient and never counted correct.
// Mean squared error (PyTorch's F.mse_loss, reduction='mean'; Keras' mean_squared_error averaged over
// the batch, its rows being of equal width):
//   pred (N, ...) float32, target float32 of pred's shape; M = N * K elements in all;
//   loss = (1/M) * sum_i (pred_i - target_i)^2, summed in double.
//   Backward: dpred = grad_scale * 2 * (pred - target) / M.
// Row weights (Keras' sample_weight and class_weight): each loss and its backward take an optional
//   `weight`, float32 (N,) on the device of the loss input (nullptr: every weight 1). The loss becomes
//   (1/N) * sum_n weight_n * loss_n (Keras' sum_over_batch_size: divided by the rows, not by the weights'
//   sum) and row n's gradient is scaled by weight_n; for the squared error row n is the K = M / N elements
//   n*K .. n*K + K - 1 of pred. Weights are not checked (a NaN one makes the loss NaN).
// Every loss is written to a 0-d or 1-element float32 tensor, and nothing waits for the device.
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
void cross_entropy_forward(Tensor& loss, const Tensor& logits, const Tensor& target, float label_smoothing,
                           const Tensor* weight = nullptr);  // loss: 0-d or 1-element
void cross_entropy_backward(Tensor& dlogits, float grad_scale, const Tensor& logits, const Tensor& target,
                            float label_smoothing, const Tensor* weight = nullptr);
Tensor cross_entropy(const Tensor& logits, const Tensor& target, float label_smoothing);  // 0-d
void count_correct(Tensor& correct, const Tensor& logits, const Tensor& target);
void count_in_top_k(Tensor& correct, const Tensor& logits, const Tensor& target, int64_t k);

Shape binary_cross_entropy_with_logits_output_shape(const Tensor& logits, const Tensor& target,
                                                    float label_smoothing);  // {} (scalar)
void binary_cross_entropy_with_logits_forward(Tensor& loss, const Tensor& logits, const Tensor& target,
                                              float label_smoothing, const Tensor* weight = nullptr);  // loss: 0-d or 1-element
void binary_cross_entropy_with_logits_backward(Tensor& dlogits, float grad_scale, const Tensor& logits,
                                               const Tensor& target, float label_smoothing,
                                               const Tensor* weight = nullptr);
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target, float label_smoothing);  // 0-d
void count_correct_binary(Tensor& correct, const Tensor& logits, const Tensor& target);

Shape mse_loss_output_shape(const Tensor& pred, const Tensor& target);  // {} (scalar)
void mse_loss_forward(Tensor& loss, const Tensor& pred, const Tensor& target,
                      const Tensor* weight = nullptr);  // loss: 0-d or 1-element
void mse_loss_backward(Tensor& dpred, float grad_scale, const Tensor& pred, const Tensor& target,
                       const Tensor* weight = nullptr);
Tensor mse_loss(const Tensor& pred, const Tensor& target);  // 0-d

// The totals' memory image: an int64 tensor of 6 elements (LossTotals::size()). `correct` is
// count_correct's counter (given the slot as a 1-element view), so one copy reads everything;
// `bad_order` is the position of an index outside the data that ops::check_order found (-1: none).
struct LossTotals {
  double loss_sum;
  int64_t count, steps, nonfinite_step, correct, bad_order, top_k_correct;
  static constexpr int64_t size() { return 7; }
  static constexpr int64_t nonfinite_index() { return 3; }  // the element optimizers read as `halt`
  static constexpr int64_t correct_index() { return 4; }
  static constexpr int64_t top_k_index() { return 6; }  // count_in_top_k's counter
  static constexpr LossTotals start() { return {0.0, 0, 0, -1, 0, -1, 0}; }  // before any batch
};
static_assert(sizeof(LossTotals) == 7 * sizeof(int64_t), "LossTotals is 7 int64 slots");
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

// Whether class `target` of the row is in the k largest of z: fewer than k classes strictly larger.
CONVNET_HOST_DEVICE inline bool row_in_top_k(const float* z, int64_t C, int64_t target, int64_t k) {
  const float zt = z[target];
  if (!(zt == zt)) return false;  // NaN
  int64_t larger = 0;
  for (int64_t c = 0; c < C; ++c) larger += z[c] > zt;
  return larger < k;
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
// Binary cross-entropy of one row: logit z, target t (checked by binary_target_ok), smoothing s.
CONVNET_HOST_DEVICE inline bool binary_target_ok(float t) { return t >= 0.0f && t <= 1.0f; }  // NaN fails
CONVNET_HOST_DEVICE inline double smooth_binary_target(float t, double s) { return double(t) * (1.0 - s) + 0.5 * s; }
// max(z, 0) - z t' + log1p(exp(-|z|))
CONVNET_HOST_DEVICE inline double binary_row_loss(float z, float t, double s) {
  const double zd = z;
  return (zd > 0.0 ? zd : 0.0) - zd * smooth_binary_target(t, s) + ::log1p(::exp(-::fabs(zd)));
}
// scale * (sigmoid(z) - t'), the sigmoid from exp(-|z|) so that it never overflows
CONVNET_HOST_DEVICE inline float binary_row_grad(float z, float t, double s, double scale) {
  const double e = ::exp(-::fabs(double(z))), sigmoid = z >= 0.0f ? 1.0 / (1.0 + e) : e / (1.0 + e);
  return float(scale * (sigmoid - smooth_binary_target(t, s)));
}
// Row n's weight (1 without weights).
CONVNET_HOST_DEVICE inline double row_weight(const float* weight, int64_t n) { return weight ? double(weight[n]) : 1.0; }
CONVNET_HOST_DEVICE inline bool binary_row_correct(float z, float t) { return (z > 0.0f) == (t >= 0.5f); }

// Squared error of one element and its gradient, scale * 2 (p - t).
CONVNET_HOST_DEVICE inline double squared_error(float p, float t) {
  const double d = double(p) - double(t);
  return d * d;
}
CONVNET_HOST_DEVICE inline float squared_error_grad(float p, float t, double scale) {
  return float(scale * 2.0 * (double(p) - double(t)));
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

// Kernels: valid arguments assumed, except labels and binary targets on CUDA (see above). logits, probs, dlogits: (N, C);
// labels: (N); exactly one of labels / probs is non-null.
namespace cpu_kernels {
void cross_entropy_forward(float* loss, const float* logits, const int64_t* labels, const float* probs, int64_t N,
                           int64_t C, float label_smoothing, const float* weight);
void cross_entropy_backward(float* dlogits, float grad_scale, const float* logits, const int64_t* labels,
                            const float* probs, int64_t N, int64_t C, float label_smoothing, const float* weight);
void count_correct(int64_t* correct, const float* logits, const int64_t* labels, const float* probs, int64_t N,
                   int64_t C);
void count_in_top_k(int64_t* correct, const float* logits, const int64_t* labels, const float* probs, int64_t N,
                    int64_t C, int64_t k);
void track_loss(ops::LossTotals* totals, const float* loss, int64_t batch);
// logits, target, dlogits: (N) (a (N, 1) tensor's memory); pred, target, dpred: M = N * K elements.
// weight: (N) or nullptr.
void binary_cross_entropy_with_logits_forward(float* loss, const float* logits, const float* target, int64_t N,
                                              float label_smoothing, const float* weight);
void binary_cross_entropy_with_logits_backward(float* dlogits, float grad_scale, const float* logits,
                                               const float* target, int64_t N, float label_smoothing,
                                               const float* weight);
void count_correct_binary(int64_t* correct, const float* logits, const float* target, int64_t N);
void mse_loss_forward(float* loss, const float* pred, const float* target, int64_t M, int64_t K, const float* weight);
void mse_loss_backward(float* dpred, float grad_scale, const float* pred, const float* target, int64_t M, int64_t K,
                       const float* weight);
}  // namespace cpu_kernels
namespace cuda_kernels {
void cross_entropy_forward(float* loss, const float* logits, const int64_t* labels, const float* probs, int64_t N,
                           int64_t C, float label_smoothing, const float* weight);
void cross_entropy_backward(float* dlogits, float grad_scale, const float* logits, const int64_t* labels,
                            const float* probs, int64_t N, int64_t C, float label_smoothing, const float* weight);
void count_correct(int64_t* correct, const float* logits, const int64_t* labels, const float* probs, int64_t N,
                   int64_t C);
void count_in_top_k(int64_t* correct, const float* logits, const int64_t* labels, const float* probs, int64_t N,
                    int64_t C, int64_t k);
void track_loss(ops::LossTotals* totals, const float* loss, int64_t batch);
// logits, target, dlogits: (N) (a (N, 1) tensor's memory); pred, target, dpred: M = N * K elements.
// weight: (N) or nullptr.
void binary_cross_entropy_with_logits_forward(float* loss, const float* logits, const float* target, int64_t N,
                                              float label_smoothing, const float* weight);
void binary_cross_entropy_with_logits_backward(float* dlogits, float grad_scale, const float* logits,
                                               const float* target, int64_t N, float label_smoothing,
                                               const float* weight);
void count_correct_binary(int64_t* correct, const float* logits, const float* target, int64_t N);
void mse_loss_forward(float* loss, const float* pred, const float* target, int64_t M, int64_t K, const float* weight);
void mse_loss_backward(float* dpred, float grad_scale, const float* pred, const float* target, int64_t M, int64_t K,
                       const float* weight);
}  // namespace cuda_kernels

}  // namespace convnet
