// Losses (softmax and binary cross-entropy, mean squared error): contracts, dispatch and CPU kernels
// (OpenMP over rows).
#include "ops/loss.h"

#include <cmath>
#include <cstring>
#include <sstream>
#include <string>

#include "core/checks.h"
#include "kernels/cpu_simd.h"
#include "ops/dispatch.h"

namespace convnet {

namespace cpu_kernels {

using loss_detail::row_argmax;
using loss_detail::row_grad;
using loss_detail::row_loss;
using loss_detail::row_weight;

CONVNET_CPU_KERNEL
void cross_entropy_forward(float* loss, const float* logits, const int64_t* labels, const float* probs, int64_t N,
                           int64_t C, float label_smoothing, const float* weight) {
  double total = 0.0;
#pragma omp parallel for reduction(+ : total) schedule(static) if (N * C > 32768)
  for (int64_t n = 0; n < N; ++n)
    total += row_weight(weight, n) *
             row_loss(logits + n * C, C, labels ? labels[n] : 0, labels ? nullptr : probs + n * C, label_smoothing);
  loss[0] = float(total / double(N));
}

CONVNET_CPU_KERNEL
void cross_entropy_backward(float* dlogits, float grad_scale, const float* logits, const int64_t* labels,
                            const float* probs, int64_t N, int64_t C, float label_smoothing, const float* weight) {
  const double scale = double(grad_scale) / double(N);
#pragma omp parallel for schedule(static) if (N * C > 32768)
  for (int64_t n = 0; n < N; ++n)
    row_grad(dlogits + n * C, logits + n * C, C, labels ? labels[n] : 0, labels ? nullptr : probs + n * C,
             label_smoothing, scale * row_weight(weight, n));
}

CONVNET_CPU_KERNEL
void count_correct(int64_t* correct, const float* logits, const int64_t* labels, const float* probs, int64_t N,
                   int64_t C) {
  int64_t count = 0;
#pragma omp parallel for reduction(+ : count) schedule(static) if (N * C > 32768)
  for (int64_t n = 0; n < N; ++n) {
    const int64_t want = labels ? labels[n] : row_argmax(probs + n * C, C);
    count += row_argmax(logits + n * C, C) == want;
  }
  correct[0] += count;
}

CONVNET_CPU_KERNEL
void count_in_top_k(int64_t* correct, const float* logits, const int64_t* labels, const float* probs, int64_t N,
                    int64_t C, int64_t k) {
  int64_t count = 0;
#pragma omp parallel for reduction(+ : count) schedule(static) if (N * C > 32768)
  for (int64_t n = 0; n < N; ++n) {
    const int64_t want = labels ? labels[n] : row_argmax(probs + n * C, C);
    count += loss_detail::row_in_top_k(logits + n * C, C, want, k);
  }
  correct[0] += count;
}

CONVNET_CPU_KERNEL
void binary_cross_entropy_with_logits_forward(float* loss, const float* logits, const float* target, int64_t N,
                                              float label_smoothing, const float* weight) {
  double total = 0.0;
#pragma omp parallel for reduction(+ : total) schedule(static) if (N > 32768)
  for (int64_t n = 0; n < N; ++n)
    total += row_weight(weight, n) * loss_detail::binary_row_loss(logits[n], target[n], label_smoothing);
  loss[0] = float(total / double(N));
}

CONVNET_CPU_KERNEL
void binary_cross_entropy_with_logits_backward(float* dlogits, float grad_scale, const float* logits,
                                               const float* target, int64_t N, float label_smoothing,
                                               const float* weight) {
  const double scale = double(grad_scale) / double(N);
#pragma omp parallel for schedule(static) if (N > 32768)
  for (int64_t n = 0; n < N; ++n)
    dlogits[n] = loss_detail::binary_row_grad(logits[n], target[n], label_smoothing, scale * row_weight(weight, n));
}

void count_correct_binary(int64_t* correct, const float* logits, const float* target, int64_t N) {
  int64_t count = 0;
  for (int64_t n = 0; n < N; ++n) count += loss_detail::binary_row_correct(logits[n], target[n]);
  correct[0] += count;
}

CONVNET_CPU_KERNEL
void mse_loss_forward(float* loss, const float* pred, const float* target, int64_t M, int64_t K, const float* weight) {
  double total = 0.0;
#pragma omp parallel for reduction(+ : total) schedule(static) if (M > 32768)
  for (int64_t i = 0; i < M; ++i) total += row_weight(weight, i / K) * loss_detail::squared_error(pred[i], target[i]);
  loss[0] = float(total / double(M));
}

CONVNET_CPU_KERNEL
void mse_loss_backward(float* dpred, float grad_scale, const float* pred, const float* target, int64_t M, int64_t K,
                       const float* weight) {
  const double scale = double(grad_scale) / double(M);
#pragma omp parallel for schedule(static) if (M > 32768)
  for (int64_t i = 0; i < M; ++i)
    dpred[i] = loss_detail::squared_error_grad(pred[i], target[i], scale * row_weight(weight, i / K));
}

void track_loss(ops::LossTotals* totals, const float* loss, int64_t batch) {
  loss_detail::track_loss_update(totals, *loss, batch);
}

}  // namespace cpu_kernels

namespace ops {

// Checks logits (N, C) and target (int64 (N,) or float32 (N, C)); on the CPU every label is in [0, C).
static void check_logits_target(const char* op, const Tensor& logits, const Tensor& target) {
  check_float_input(op, "logits", logits, 2, "(N, C)");
  const int64_t N = logits.size(0), C = logits.size(1);
  CONVNET_CHECK_VALUE(target.defined(), op, "target", "a tensor", "None");
  CONVNET_CHECK_TYPE(target.dtype() == DType::Int64 || target.dtype() == DType::Float32, op, "target",
                     "int64 class indices (N,) or float32 probabilities (N, C)",
                     std::string("dtype ") + dtype_name(target.dtype()));
  check_same_device(op, "target", target, "logits", logits);
  if (target.dtype() == DType::Int64) {
    CONVNET_CHECK_VALUE(target.shape() == Shape({N}), op, "target",
                        "class indices of shape " + shape_str({N}) + " (one per row of logits)",
                        "shape " + shape_str(target.shape()));
    if (!target.is_cuda()) {
      const int64_t* labels = target.data<int64_t>();
      for (int64_t n = 0; n < N; ++n) {
        if (labels[n] < 0 || labels[n] >= C)
          throw ValueError(arg_message(op, "target", "class indices in [0, " + std::to_string(C) + ")",
                                       "label " + std::to_string(labels[n]) + " at index " + std::to_string(n)));
      }
    }
  } else {
    CONVNET_CHECK_VALUE(target.shape() == Shape({N, C}), op, "target",
                        "probabilities of shape " + shape_str({N, C}) + " like logits",
                        "shape " + shape_str(target.shape()));
  }
}

static void check_label_smoothing(const char* op, float s) {
  CONVNET_CHECK_VALUE(s >= 0.0f && s <= 1.0f, op, "label_smoothing", "a value in [0, 1]", std::to_string(s));
}

Shape cross_entropy_output_shape(const Tensor& logits, const Tensor& target, float label_smoothing) {
  check_logits_target("cross_entropy", logits, target);
  check_label_smoothing("cross_entropy", label_smoothing);
  return {};
}

// A loss output: a 0-d or 1-element float32 tensor on the device of `like`.
static void check_loss_output(const char* op, const Tensor& loss, const char* like_arg, const Tensor& like) {
  check_dtype(op, "loss", loss, DType::Float32);
  CONVNET_CHECK_VALUE(loss.numel() == 1, op, "loss", "a 0-d or 1-element tensor", "shape " + shape_str(loss.shape()));
  check_same_device(op, "loss", loss, like_arg, like);
}

// count_correct's counter: a 1-element int64 tensor on the device of logits.
static void check_correct_counter(const char* op, const Tensor& correct, const Tensor& logits) {
  check_dtype(op, "correct", correct, DType::Int64);
  CONVNET_CHECK_VALUE(correct.numel() == 1, op, "correct", "a 1-element int64 tensor",
                      "shape " + shape_str(correct.shape()));
  check_same_device(op, "correct", correct, "logits", logits);
}

static void check_grad_scale(const char* op, float grad_scale) {
  CONVNET_CHECK_VALUE(std::isfinite(grad_scale), op, "grad_out", "a finite value", std::to_string(grad_scale));
}

// An optional row weight: float32 (N,) on the device of `like` (the loss input); its data or nullptr.
static const float* checked_weight(const char* op, const Tensor* weight, int64_t N, const char* like_arg,
                                   const Tensor& like) {
  if (!weight) return nullptr;
  check_dtype(op, "weight", *weight, DType::Float32);
  check_shape(op, "weight", *weight, {N});
  check_same_device(op, "weight", *weight, like_arg, like);
  return weight->data<float>();
}

static const int64_t* labels_of(const Tensor& t) { return t.dtype() == DType::Int64 ? t.data<int64_t>() : nullptr; }
static const float* probs_of(const Tensor& t) { return t.dtype() == DType::Float32 ? t.data<float>() : nullptr; }

void cross_entropy_forward(Tensor& loss, const Tensor& logits, const Tensor& target, float label_smoothing,
                           const Tensor* weight) {
  cross_entropy_output_shape(logits, target, label_smoothing);
  check_loss_output("cross_entropy", loss, "logits", logits);
  const float* w = checked_weight("cross_entropy", weight, logits.size(0), "logits", logits);
  CONVNET_DISPATCH(logits, cross_entropy_forward, loss.data<float>(), logits.data<float>(), labels_of(target),
                   probs_of(target), logits.size(0), logits.size(1), label_smoothing, w);
}

void cross_entropy_backward(Tensor& dlogits, float grad_scale, const Tensor& logits, const Tensor& target,
                            float label_smoothing, const Tensor* weight) {
  const char* op = "cross_entropy_backward";
  check_logits_target(op, logits, target);
  check_label_smoothing(op, label_smoothing);
  check_grad_scale(op, grad_scale);
  check_output(op, "grad_logits", dlogits, logits.shape(), logits);
  const float* w = checked_weight(op, weight, logits.size(0), "logits", logits);
  CONVNET_DISPATCH(logits, cross_entropy_backward, dlogits.data<float>(), grad_scale, logits.data<float>(),
                   labels_of(target), probs_of(target), logits.size(0), logits.size(1), label_smoothing, w);
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, float label_smoothing) {
  Tensor loss = Tensor::empty(cross_entropy_output_shape(logits, target, label_smoothing), DType::Float32,
                              logits.device());
  cross_entropy_forward(loss, logits, target, label_smoothing);
  return loss;
}

void count_correct(Tensor& correct, const Tensor& logits, const Tensor& target) {
  check_logits_target("count_correct", logits, target);
  check_correct_counter("count_correct", correct, logits);
  CONVNET_DISPATCH(logits, count_correct, correct.data<int64_t>(), logits.data<float>(), labels_of(target),
                   probs_of(target), logits.size(0), logits.size(1));
}

void count_in_top_k(Tensor& correct, const Tensor& logits, const Tensor& target, int64_t k) {
  check_logits_target("count_in_top_k", logits, target);
  check_correct_counter("count_in_top_k", correct, logits);
  CONVNET_CHECK_VALUE(k >= 1, "count_in_top_k", "k", "a positive number of classes", std::to_string(k));
  CONVNET_DISPATCH(logits, count_in_top_k, correct.data<int64_t>(), logits.data<float>(), labels_of(target),
                   probs_of(target), logits.size(0), logits.size(1), k);
}

// ---- binary cross-entropy from logits ----

// Checks logits (N,) or (N, 1) and target float32 (N,) or (N, 1); on the CPU every target is in [0, 1].
static void check_binary_logits_target(const char* op, const Tensor& logits, const Tensor& target) {
  check_dtype(op, "logits", logits, DType::Float32);
  const bool column = logits.dim() == 1 || (logits.dim() == 2 && logits.size(1) == 1);
  CONVNET_CHECK_VALUE(column, op, "logits", "a tensor (N,) or (N, 1): one logit per row",
                      std::to_string(logits.dim()) + "-D tensor of shape " + shape_str(logits.shape()));
  check_nonempty(op, "logits", logits);
  const int64_t N = logits.size(0);
  check_dtype(op, "target", target, DType::Float32);
  check_same_device(op, "target", target, "logits", logits);
  CONVNET_CHECK_VALUE(target.shape() == Shape({N}) || target.shape() == Shape({N, 1}), op, "target",
                      "targets of shape " + shape_str({N}) + " or " + shape_str({N, 1}) + " (one per row of logits)",
                      "shape " + shape_str(target.shape()));
  if (!target.is_cuda()) {
    const float* t = target.data<float>();
    for (int64_t n = 0; n < N; ++n) {
      if (!loss_detail::binary_target_ok(t[n])) {
        std::ostringstream value;  // shortest form: 1.5, -0.25, nan
        value << t[n];
        throw ValueError(arg_message(op, "target", "values in [0, 1]",
                                     "target " + value.str() + " at index " + std::to_string(n)));
      }
    }
  }
}

Shape binary_cross_entropy_with_logits_output_shape(const Tensor& logits, const Tensor& target,
                                                    float label_smoothing) {
  check_binary_logits_target("binary_cross_entropy_with_logits", logits, target);
  check_label_smoothing("binary_cross_entropy_with_logits", label_smoothing);
  return {};
}

void binary_cross_entropy_with_logits_forward(Tensor& loss, const Tensor& logits, const Tensor& target,
                                              float label_smoothing, const Tensor* weight) {
  const char* op = "binary_cross_entropy_with_logits";
  binary_cross_entropy_with_logits_output_shape(logits, target, label_smoothing);
  check_loss_output(op, loss, "logits", logits);
  const float* w = checked_weight(op, weight, logits.size(0), "logits", logits);
  CONVNET_DISPATCH(logits, binary_cross_entropy_with_logits_forward, loss.data<float>(), logits.data<float>(),
                   target.data<float>(), logits.size(0), label_smoothing, w);
}

void binary_cross_entropy_with_logits_backward(Tensor& dlogits, float grad_scale, const Tensor& logits,
                                               const Tensor& target, float label_smoothing, const Tensor* weight) {
  const char* op = "binary_cross_entropy_with_logits_backward";
  check_binary_logits_target(op, logits, target);
  check_label_smoothing(op, label_smoothing);
  check_grad_scale(op, grad_scale);
  check_output(op, "grad_logits", dlogits, logits.shape(), logits);
  const float* w = checked_weight(op, weight, logits.size(0), "logits", logits);
  CONVNET_DISPATCH(logits, binary_cross_entropy_with_logits_backward, dlogits.data<float>(), grad_scale,
                   logits.data<float>(), target.data<float>(), logits.size(0), label_smoothing, w);
}

Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target, float label_smoothing) {
  Tensor loss = Tensor::empty(binary_cross_entropy_with_logits_output_shape(logits, target, label_smoothing),
                              DType::Float32, logits.device());
  binary_cross_entropy_with_logits_forward(loss, logits, target, label_smoothing);
  return loss;
}

void count_correct_binary(Tensor& correct, const Tensor& logits, const Tensor& target) {
  check_binary_logits_target("count_correct_binary", logits, target);
  check_correct_counter("count_correct_binary", correct, logits);
  CONVNET_DISPATCH(logits, count_correct_binary, correct.data<int64_t>(), logits.data<float>(), target.data<float>(),
                   logits.size(0));
}

// ---- mean squared error ----

static void check_pred_target(const char* op, const Tensor& pred, const Tensor& target) {
  check_dtype(op, "pred", pred, DType::Float32);
  CONVNET_CHECK_VALUE(pred.dim() >= 1, op, "pred", "a tensor of rank >= 1 (N, ...)", "a 0-d tensor");
  check_nonempty(op, "pred", pred);
  check_dtype(op, "target", target, DType::Float32);
  check_same_shape(op, "target", target, "pred", pred);
  check_same_device(op, "target", target, "pred", pred);
}

Shape mse_loss_output_shape(const Tensor& pred, const Tensor& target) {
  check_pred_target("mse_loss", pred, target);
  return {};
}

void mse_loss_forward(Tensor& loss, const Tensor& pred, const Tensor& target, const Tensor* weight) {
  mse_loss_output_shape(pred, target);
  check_loss_output("mse_loss", loss, "pred", pred);
  const float* w = checked_weight("mse_loss", weight, pred.size(0), "pred", pred);
  CONVNET_DISPATCH(pred, mse_loss_forward, loss.data<float>(), pred.data<float>(), target.data<float>(), pred.numel(),
                   pred.numel() / pred.size(0), w);
}

void mse_loss_backward(Tensor& dpred, float grad_scale, const Tensor& pred, const Tensor& target,
                       const Tensor* weight) {
  const char* op = "mse_loss_backward";
  check_pred_target(op, pred, target);
  check_grad_scale(op, grad_scale);
  check_output(op, "grad_pred", dpred, pred.shape(), pred);
  const float* w = checked_weight(op, weight, pred.size(0), "pred", pred);
  CONVNET_DISPATCH(pred, mse_loss_backward, dpred.data<float>(), grad_scale, pred.data<float>(), target.data<float>(),
                   pred.numel(), pred.numel() / pred.size(0), w);
}

Tensor mse_loss(const Tensor& pred, const Tensor& target) {
  Tensor loss = Tensor::empty(mse_loss_output_shape(pred, target), DType::Float32, pred.device());
  mse_loss_forward(loss, pred, target);
  return loss;
}

Tensor new_loss_totals(Device device) {
  const LossTotals start = LossTotals::start();
  std::vector<int64_t> slots(LossTotals::size());
  std::memcpy(slots.data(), &start, sizeof(start));
  return Tensor::from_values(slots, device);
}

static LossTotals* totals_of(const char* op, const Tensor& totals, const Tensor& like) {
  check_step_value(op, "totals", totals, DType::Int64, LossTotals::size(), like);
  return reinterpret_cast<LossTotals*>(totals.data<int64_t>());
}

void track_loss(Tensor& totals, const Tensor& loss, int64_t batch) {
  check_float_input("track_loss", "loss", loss, loss.dim(), "a 1-element loss");
  CONVNET_CHECK_VALUE(loss.numel() == 1, "track_loss", "loss", "1 element", shape_str(loss.shape()));
  CONVNET_CHECK_VALUE(batch >= 1, "track_loss", "batch", "a batch size >= 1", std::to_string(batch));
  CONVNET_DISPATCH(loss, track_loss, totals_of("track_loss", totals, loss), loss.data<float>(), batch);
}

LossTotals read_loss_totals(const Tensor& totals) {
  check_dtype("read_loss_totals", "totals", totals, DType::Int64);
  check_shape("read_loss_totals", "totals", totals, {LossTotals::size()});
  const Tensor host = totals.to(Device::cpu());
  LossTotals t;
  std::memcpy(&t, host.raw_data(), sizeof(t));
  return t;
}

}  // namespace ops
}  // namespace convnet
