// Activations and softmax: CUDA kernels, twins of activation.cpp (same signatures, same math).
#include "core/cuda_check.h"
#include "ops/activation.h"

namespace convnet {
namespace cuda_kernels {

__global__ void activation_forward_kernel(float* y, const float* x, int64_t n, ops::Activation kind, float alpha) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const float v = x[i];
    switch (kind) {
      case ops::Activation::ReLU: y[i] = v < 0.0f ? 0.0f : v; break;  // NaN stays NaN
      case ops::Activation::LeakyReLU: y[i] = v > 0.0f ? v : alpha * v; break;
      case ops::Activation::ELU: y[i] = v > 0.0f ? v : alpha * expm1f(v); break;
      case ops::Activation::Sigmoid: y[i] = 1.0f / (1.0f + expf(-v)); break;
      case ops::Activation::Tanh: y[i] = tanhf(v); break;
    }
  }
}

__global__ void activation_backward_kernel(float* dx, const float* dy, const float* x, const float* y, int64_t n,
                                           ops::Activation kind, float alpha) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    switch (kind) {
      case ops::Activation::ReLU: dx[i] = x[i] > 0.0f ? dy[i] : 0.0f; break;  // 0 at x == 0
      case ops::Activation::LeakyReLU: dx[i] = x[i] > 0.0f ? dy[i] : alpha * dy[i]; break;
      case ops::Activation::ELU: dx[i] = x[i] > 0.0f ? dy[i] : dy[i] * alpha * expf(x[i]); break;
      case ops::Activation::Sigmoid: dx[i] = dy[i] * y[i] * (1.0f - y[i]); break;
      case ops::Activation::Tanh: dx[i] = dy[i] * (1.0f - y[i] * y[i]); break;
    }
  }
}

void activation_forward(float* y, const float* x, int64_t n, ops::Activation kind, float alpha) {
  cuda::launch("activation_forward_kernel", activation_forward_kernel, cuda::grid_for(n), 256, y, x, n, kind, alpha);
}

void activation_backward(float* dx, const float* dy, const float* x, const float* y, int64_t n, ops::Activation kind,
                         float alpha) {
  cuda::launch("activation_backward_kernel", activation_backward_kernel, cuda::grid_for(n), 256, dx, dy, x, y, n, kind, alpha);
}

// One thread per row (o, i): elements o*D*inner + d*inner + i for d in [0, D).
__global__ void softmax_forward_kernel(float* y, const float* x, int64_t outer, int64_t D, int64_t inner, bool log) {
  const int64_t rows = outer * inner;
  for (int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; r < rows; r += (int64_t)gridDim.x * blockDim.x) {
    const int64_t base = (r / inner) * D * inner + r % inner;
    const float* xr = x + base;
    float* yr = y + base;
    float m = xr[0];
    for (int64_t d = 1; d < D; ++d) m = fmaxf(m, xr[d * inner]);
    float sum = 0.0f;
    for (int64_t d = 0; d < D; ++d) sum += expf(xr[d * inner] - m);
    if (log) {
      const float lse = m + logf(sum);
      for (int64_t d = 0; d < D; ++d) yr[d * inner] = xr[d * inner] - lse;
    } else {
      const float inv = 1.0f / sum;
      for (int64_t d = 0; d < D; ++d) yr[d * inner] = expf(xr[d * inner] - m) * inv;
    }
  }
}

__global__ void softmax_backward_kernel(float* dx, const float* dy, const float* y, int64_t outer, int64_t D,
                                        int64_t inner, bool log) {
  const int64_t rows = outer * inner;
  for (int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; r < rows; r += (int64_t)gridDim.x * blockDim.x) {
    const int64_t base = (r / inner) * D * inner + r % inner;
    const float *dyr = dy + base, *yr = y + base;
    float* dxr = dx + base;
    float s = 0.0f;
    if (log) {  // dx = dy - e^y * sum(dy)
      for (int64_t d = 0; d < D; ++d) s += dyr[d * inner];
      for (int64_t d = 0; d < D; ++d) dxr[d * inner] = dyr[d * inner] - expf(yr[d * inner]) * s;
    } else {  // dx = y * (dy - sum(dy * y))
      for (int64_t d = 0; d < D; ++d) s += dyr[d * inner] * yr[d * inner];
      for (int64_t d = 0; d < D; ++d) dxr[d * inner] = yr[d * inner] * (dyr[d * inner] - s);
    }
  }
}

void softmax_forward(float* y, const float* x, int64_t outer, int64_t D, int64_t inner, bool log) {
  cuda::launch("softmax_forward_kernel", softmax_forward_kernel, cuda::grid_for(outer * inner), 256, y, x, outer, D, inner, log);
}

void softmax_backward(float* dx, const float* dy, const float* y, int64_t outer, int64_t D, int64_t inner, bool log) {
  cuda::launch("softmax_backward_kernel", softmax_backward_kernel, cuda::grid_for(outer * inner), 256, dx, dy, y, outer, D, inner, log);
}

}  // namespace cuda_kernels
}  // namespace convnet
