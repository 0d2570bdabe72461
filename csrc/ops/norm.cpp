// Batch normalisation: contract, dispatch and CPU kernels (one OpenMP task per channel).
#include "ops/norm.h"

#include <cmath>
#include <string>

#include "core/checks.h"
#include "kernels/cpu_simd.h"
#include "ops/dispatch.h"

namespace convnet {

namespace cpu_kernels {

CONVNET_CPU_KERNEL
void batch_norm_forward(float* y, float* saved_mean, float* saved_invstd, float* running_mean, float* running_var,
                        const float* x, const float* gamma, const float* beta, int64_t N, int64_t C, int64_t HW,
                        bool training, float momentum, float eps, const int64_t* halt) {
  const int64_t M = N * HW;
  const bool update_running = !(halt && *halt >= 0);  // not after a non-finite loss
#pragma omp parallel for schedule(static) if (N * C * HW > 32768)
  for (int64_t c = 0; c < C; ++c) {
    double mean, var;
    if (training) {
      // Two passes, each summing a plane in float (vectorised) and the planes in double: the mean,
      // then the biased variance sum((x - mean)^2) / M.
      double sum = 0.0;
      for (int64_t n = 0; n < N; ++n) {
        const float* xc = x + (n * C + c) * HW;
        float part = 0.0f;
#pragma omp simd reduction(+ : part)
        for (int64_t i = 0; i < HW; ++i) part += xc[i];
        sum += part;
      }
      mean = sum / double(M);
      const float mean_f = static_cast<float>(mean);
      double sq = 0.0;
      for (int64_t n = 0; n < N; ++n) {
        const float* xc = x + (n * C + c) * HW;
        float part = 0.0f;
#pragma omp simd reduction(+ : part)
        for (int64_t i = 0; i < HW; ++i) part += (xc[i] - mean_f) * (xc[i] - mean_f);
        sq += part;
      }
      var = sq / double(M);
      if (running_mean && update_running) running_mean[c] = float((1.0 - momentum) * running_mean[c] + momentum * mean);
      if (running_var && update_running)
        running_var[c] = float((1.0 - momentum) * running_var[c] + momentum * sq / double(M - 1));
    } else {
      mean = running_mean[c];
      var = running_var[c];
    }
    const float invstd = float(1.0 / std::sqrt(var + double(eps)));
    saved_mean[c] = float(mean);
    saved_invstd[c] = invstd;
    // y = x * scale + shift with scale = gamma * invstd, shift = beta - mean * scale.
    const float scale = (gamma ? gamma[c] : 1.0f) * invstd;
    const float shift = (beta ? beta[c] : 0.0f) - float(mean) * scale;
    for (int64_t n = 0; n < N; ++n) {
      const float* xc = x + (n * C + c) * HW;
      float* yc = y + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) yc[i] = xc[i] * scale + shift;
    }
  }
}

CONVNET_CPU_KERNEL
void batch_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* gamma,
                         const float* saved_mean, const float* saved_invstd, int64_t N, int64_t C, int64_t HW,
                         bool training) {
  const int64_t M = N * HW;
#pragma omp parallel for schedule(static) if (N * C * HW > 32768)
  for (int64_t c = 0; c < C; ++c) {
    const float mean = saved_mean[c], invstd = saved_invstd[c];
    // sum_dy = sum dy, sum_dy_xhat = sum dy * xhat: each plane in float (vectorised), the planes in double
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      const float* xc = x + (n * C + c) * HW;
      const float* dyc = dy + (n * C + c) * HW;
      float part_dy = 0.0f, part_dy_xc = 0.0f;
#pragma omp simd reduction(+ : part_dy, part_dy_xc)
      for (int64_t i = 0; i < HW; ++i) {
        part_dy += dyc[i];
        part_dy_xc += dyc[i] * (xc[i] - mean);
      }
      sum_dy += part_dy;
      sum_dy_xhat += double(part_dy_xc) * invstd;
    }
    if (dbeta) dbeta[c] = float(sum_dy);
    if (dgamma) dgamma[c] = float(sum_dy_xhat);
    if (!dx) continue;
    const float g = (gamma ? gamma[c] : 1.0f) * invstd;
    // training: dx = g * (dy - mean(dy) - xhat * mean(dy * xhat)); inference: dx = g * dy
    const float mean_dy = training ? float(sum_dy / double(M)) : 0.0f;
    const float mean_dy_xhat = training ? float(sum_dy_xhat / double(M)) : 0.0f;
    for (int64_t n = 0; n < N; ++n) {
      const float* xc = x + (n * C + c) * HW;
      const float* dyc = dy + (n * C + c) * HW;
      float* dxc = dx + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) {
        const float xhat = (xc[i] - mean) * invstd;
        dxc[i] = g * (dyc[i] - mean_dy - xhat * mean_dy_xhat);
      }
    }
  }
}

}  // namespace cpu_kernels

namespace ops {

static const char* kLayout = "(N, C) or (N, C, H, W)";

// C and HW of x (N, C) or (N, C, H, W).
static void bn_dims(const Tensor& x, int64_t& N, int64_t& C, int64_t& HW) {
  N = x.size(0);
  C = x.size(1);
  HW = x.dim() == 4 ? x.size(2) * x.size(3) : 1;
}

// x: float32, (N, C) or (N, C, H, W), not empty.
static void check_bn_input(const char* op, const Tensor& x) {
  check_dtype(op, "x", x, DType::Float32);
  CONVNET_CHECK_VALUE(x.dim() == 2 || x.dim() == 4, op, "x", std::string("a 2-D or 4-D tensor ") + kLayout,
                      std::to_string(x.dim()) + "-D tensor of shape " + shape_str(x.shape()));
  check_nonempty(op, "x", x);
}

static void check_channel_vector(const char* op, const char* arg, const Tensor& t, int64_t C, const Tensor& x) {
  check_dtype(op, arg, t, DType::Float32);
  check_shape(op, arg, t, {C});
  check_same_device(op, arg, t, "x", x);
}

Shape batch_norm_output_shape(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                              const Tensor& running_var, const BatchNormParams& p) {
  const char* op = "batch_norm";
  check_bn_input(op, x);
  int64_t N, C, HW;
  bn_dims(x, N, C, HW);
  if (gamma.defined()) check_channel_vector(op, "weight", gamma, C, x);
  if (beta.defined()) check_channel_vector(op, "bias", beta, C, x);
  CONVNET_CHECK_VALUE(running_mean.defined() == running_var.defined(), op, "running_var",
                      "to be given together with 'running_mean'", running_var.defined() ? "a tensor" : "None");
  if (!p.training) {
    CONVNET_CHECK_VALUE(running_mean.defined(), op, "running_mean", "a tensor of shape " + shape_str({C}) +
                        " in inference mode (training=False)", "None");
  }
  if (running_mean.defined()) {
    check_channel_vector(op, "running_mean", running_mean, C, x);
    check_channel_vector(op, "running_var", running_var, C, x);
  }
  if (p.training) {
    CONVNET_CHECK_VALUE(N * HW > 1, op, "x", "more than 1 value per channel when training",
                        "shape " + shape_str(x.shape()));
  }
  CONVNET_CHECK_VALUE(p.momentum >= 0.0f && p.momentum <= 1.0f, op, "momentum", "a value in [0, 1]",
                      std::to_string(p.momentum));
  CONVNET_CHECK_VALUE(p.eps > 0.0f && std::isfinite(p.eps), op, "eps", "a finite value > 0", std::to_string(p.eps));
  return x.shape();
}

static float* ptr_or_null(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

void batch_norm_forward(Tensor& y, Tensor& saved_mean, Tensor& saved_invstd, const Tensor& x, const Tensor& gamma,
                        const Tensor& beta, Tensor& running_mean, Tensor& running_var, const BatchNormParams& p,
                        const Tensor* halt) {
  const Shape shape = batch_norm_output_shape(x, gamma, beta, running_mean, running_var, p);
  int64_t N, C, HW;
  bn_dims(x, N, C, HW);
  check_output("batch_norm", "y", y, shape, x);
  check_output("batch_norm", "saved_mean", saved_mean, {C}, x);
  check_output("batch_norm", "saved_invstd", saved_invstd, {C}, x);
  if (halt) check_step_value("batch_norm", "halt", *halt, DType::Int64, 1, x);
  CONVNET_DISPATCH(x, batch_norm_forward, y.data<float>(), saved_mean.data<float>(), saved_invstd.data<float>(),
                   ptr_or_null(running_mean), ptr_or_null(running_var), x.data<float>(), ptr_or_null(gamma),
                   ptr_or_null(beta), N, C, HW, p.training, p.momentum, p.eps, halt ? halt->data<int64_t>() : nullptr);
}

void batch_norm_backward(Tensor* dx, Tensor* dgamma, Tensor* dbeta, const Tensor& dy, const Tensor& x,
                         const Tensor& gamma, const Tensor& saved_mean, const Tensor& saved_invstd, bool training) {
  const char* op = "batch_norm_backward";
  check_bn_input(op, x);
  int64_t N, C, HW;
  bn_dims(x, N, C, HW);
  check_dtype(op, "grad_out", dy, DType::Float32);
  check_same_shape(op, "grad_out", dy, "x", x);
  check_same_device(op, "grad_out", dy, "x", x);
  if (gamma.defined()) check_channel_vector(op, "weight", gamma, C, x);
  check_channel_vector(op, "saved_mean", saved_mean, C, x);
  check_channel_vector(op, "saved_invstd", saved_invstd, C, x);
  if (dx) check_output(op, "grad_x", *dx, x.shape(), x);
  if (dgamma) check_output(op, "grad_weight", *dgamma, {C}, x);
  if (dbeta) check_output(op, "grad_bias", *dbeta, {C}, x);
  CONVNET_DISPATCH(x, batch_norm_backward, dx ? dx->data<float>() : nullptr, dgamma ? dgamma->data<float>() : nullptr,
                   dbeta ? dbeta->data<float>() : nullptr, dy.data<float>(), x.data<float>(), ptr_or_null(gamma),
                   saved_mean.data<float>(), saved_invstd.data<float>(), N, C, HW, training);
}

}  // namespace ops
}  // namespace convnet
