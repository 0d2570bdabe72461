// Softmax cross-entropy: contract, dispatch and CPU kernels (OpenMP over rows).
#include "ops/loss.h"

#include <cmath>
#include <cstring>
#include <string>

#include "core/checks.h"
#include "kernels/cpu_simd.h"
#include "ops/dispatch.h"

namespace convnet {

namespace cpu_kernels {

using loss_detail::row_argmax;
using loss_detail::row_grad;
using loss_detail::row_loss;

CONVNET_CPU_KERNEL
void cross_entropy_forward(float* loss, const float* logits, const int64_t* labels, const float* probs, int64_t N,
                           int64_t C, float label_smoothing) {
  double total = 0.0;
#pragma omp parallel for reduction(+ : total) schedule(static) if (N * C > 32768)
  for (int64_t n = 0; n < N; ++n)
    total += row_loss(logits + n * C, C, labels ? labels[n] : 0, labels ? nullptr : probs + n * C, label_smoothing);
  loss[0] = float(total / double(N));
}

CONVNET_CPU_KERNEL
void cross_entropy_backward(float* dlogits, float grad_scale, const float* logits, const int64_t* labels,
                            const float* probs, int64_t N, int64_t C, float label_smoothing) {
  const double scale = double(grad_scale) / double(N);
#pragma omp parallel for schedule(static) if (N * C > 32768)
  for (int64_t n = 0; n < N; ++n)
    row_grad(dlogits + n * C, logits + n * C, C, labels ? labels[n] : 0, labels ? nullptr : probs + n * C,
             label_smoothing, scale);
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

static const int64_t* labels_of(const Tensor& t) { return t.dtype() == DType::Int64 ? t.data<int64_t>() : nullptr; }
static const float* probs_of(const Tensor& t) { return t.dtype() == DType::Float32 ? t.data<float>() : nullptr; }

void cross_entropy_forward(Tensor& loss, const Tensor& logits, const Tensor& target, float label_smoothing) {
  cross_entropy_output_shape(logits, target, label_smoothing);
  check_dtype("cross_entropy", "loss", loss, DType::Float32);
  CONVNET_CHECK_VALUE(loss.numel() == 1, "cross_entropy", "loss", "a 0-d or 1-element tensor",
                      "shape " + shape_str(loss.shape()));
  check_same_device("cross_entropy", "loss", loss, "logits", logits);
  CONVNET_DISPATCH(logits, cross_entropy_forward, loss.data<float>(), logits.data<float>(), labels_of(target),
                   probs_of(target), logits.size(0), logits.size(1), label_smoothing);
}

void cross_entropy_backward(Tensor& dlogits, float grad_scale, const Tensor& logits, const Tensor& target,
                            float label_smoothing) {
  check_logits_target("cross_entropy_backward", logits, target);
  check_label_smoothing("cross_entropy_backward", label_smoothing);
  CONVNET_CHECK_VALUE(std::isfinite(grad_scale), "cross_entropy_backward", "grad_out", "a finite value",
                      std::to_string(grad_scale));
  check_output("cross_entropy_backward", "grad_logits", dlogits, logits.shape(), logits);
  CONVNET_DISPATCH(logits, cross_entropy_backward, dlogits.data<float>(), grad_scale, logits.data<float>(),
                   labels_of(target), probs_of(target), logits.size(0), logits.size(1), label_smoothing);
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, float label_smoothing) {
  Tensor loss = Tensor::empty(cross_entropy_output_shape(logits, target, label_smoothing), DType::Float32,
                              logits.device());
  cross_entropy_forward(loss, logits, target, label_smoothing);
  return loss;
}

void count_correct(Tensor& correct, const Tensor& logits, const Tensor& target) {
  check_logits_target("count_correct", logits, target);
  check_dtype("count_correct", "correct", correct, DType::Int64);
  CONVNET_CHECK_VALUE(correct.numel() == 1, "count_correct", "correct", "a 1-element int64 tensor",
                      "shape " + shape_str(correct.shape()));
  check_same_device("count_correct", "correct", correct, "logits", logits);
  CONVNET_DISPATCH(logits, count_correct, correct.data<int64_t>(), logits.data<float>(), labels_of(target),
                   probs_of(target), logits.size(0), logits.size(1));
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
