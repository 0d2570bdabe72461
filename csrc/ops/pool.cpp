// Pooling ops: contracts, dispatch and CPU kernels (OpenMP over the N*C planes).
#include "ops/pool.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "core/checks.h"
#include "kernels/cpu_simd.h"
#include "ops/conv.h"
#include "ops/dispatch.h"

namespace convnet {

namespace cpu_kernels {

// Is v a better pick than best for max (min) pooling? Strictly better, so the first one wins on
// ties; a NaN beats any number (PyTorch propagates NaN) and the first NaN stays:
// !(v <= best) is v > best or v NaN; best == best is "best is not NaN".
template <ops::PoolMode M>
static inline bool better(float v, float best) {
  if (M == ops::PoolMode::Max) return !(v <= best) && best == best;
  return !(v >= best) && best == best;
}

// Max/min over the windows of output row oh whose columns [lo, hi) lie entirely inside the input
// (rows too): tap by tap, each tap updating the whole row of outputs. The outputs are independent,
// so the loop vectorizes, instead of one dependent compare chain per window. Taps run in the same
// (h, w) order as the scalar path, so ties and NaNs pick the same element.
template <ops::PoolMode M, bool SAVE_INDEX>
CONVNET_KERNEL_HELPER void pick_row_interior(float* yr, int64_t* ir, const float* xp, int64_t W, int64_t hs, int64_t lo, int64_t hi,
                              const ops::Pool2dParams& p) {
  const int64_t sw = p.stride_w, first = hs * W - p.pad_w;
  for (int64_t ow = lo; ow < hi; ++ow) {
    yr[ow] = xp[first + ow * sw];
    if (SAVE_INDEX) ir[ow] = first + ow * sw;
  }
  for (int64_t kh = 0; kh < p.kernel_h; ++kh)
    for (int64_t kw = kh == 0 ? 1 : 0; kw < p.kernel_w; ++kw) {
      const int64_t base = (hs + kh) * W + kw - p.pad_w;
      for (int64_t ow = lo; ow < hi; ++ow) {
        const int64_t i = base + ow * sw;
        const bool take = better<M>(xp[i], yr[ow]);
        yr[ow] = take ? xp[i] : yr[ow];
        if (SAVE_INDEX) ir[ow] = take ? i : ir[ow];
      }
    }
}

template <ops::PoolMode M>
CONVNET_CPU_KERNEL static void pool2d_forward_impl(float* y, int64_t* index, const float* x, int64_t planes, int64_t H, int64_t W,
                                int64_t H_out, int64_t W_out, const ops::Pool2dParams& p) {
  const float inv_area = 1.0f / (float(p.kernel_h) * float(p.kernel_w));
  // Output columns whose window lies inside the input: ow * stride_w - pad_w in [0, W - kernel_w].
  const int64_t lo = std::min<int64_t>(W_out, (p.pad_w + p.stride_w - 1) / p.stride_w);
  const int64_t hi = std::max<int64_t>(lo, std::min<int64_t>(W_out, (W + p.pad_w - p.kernel_w) / p.stride_w + 1));
#pragma omp parallel for schedule(static) if (planes * H_out * W_out > 16384)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float* xp = x + plane * H * W;
    float* yp = y + plane * H_out * W_out;
    int64_t* ip = index ? index + plane * H_out * W_out : nullptr;
    for (int64_t oh = 0; oh < H_out; ++oh) {
      // The window clipped to the real input: rows [h0, h1), columns [w0, w1) (never empty).
      const int64_t hs = oh * p.stride_h - p.pad_h;
      const int64_t h0 = std::max<int64_t>(hs, 0), h1 = std::min<int64_t>(hs + p.kernel_h, H);
      const bool rows_inside = h0 == hs && h1 == hs + p.kernel_h;
      if (M != ops::PoolMode::Avg && rows_inside) {
        if (ip)
          pick_row_interior<M, true>(yp + oh * W_out, ip + oh * W_out, xp, W, hs, lo, hi, p);
        else
          pick_row_interior<M, false>(yp + oh * W_out, nullptr, xp, W, hs, lo, hi, p);
      }
      for (int64_t ow = 0; ow < W_out; ++ow) {
        if (M != ops::PoolMode::Avg && rows_inside && ow >= lo && ow < hi) continue;  // done above
        const int64_t ws = ow * p.stride_w - p.pad_w;
        const int64_t w0 = std::max<int64_t>(ws, 0), w1 = std::min<int64_t>(ws + p.kernel_w, W);
        if (M == ops::PoolMode::Avg) {
          float sum = 0.0f;  // padding adds zeros
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) sum += xp[h * W + w];
          yp[oh * W_out + ow] = p.count_include_pad ? sum * inv_area : sum / float((h1 - h0) * (w1 - w0));
        } else {
          int64_t best_i = h0 * W + w0;
          float best = xp[best_i];
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w)
              if (better<M>(xp[h * W + w], best)) { best = xp[h * W + w]; best_i = h * W + w; }
          yp[oh * W_out + ow] = best;
          if (ip) ip[oh * W_out + ow] = best_i;
        }
      }
    }
  }
}

void pool2d_forward(float* y, int64_t* index, const float* x, int64_t planes, int64_t H, int64_t W,
                    int64_t H_out, int64_t W_out, const ops::Pool2dParams& p) {
  switch (p.mode) {
    case ops::PoolMode::Max:
      return pool2d_forward_impl<ops::PoolMode::Max>(y, index, x, planes, H, W, H_out, W_out, p);
    case ops::PoolMode::Min:
      return pool2d_forward_impl<ops::PoolMode::Min>(y, index, x, planes, H, W, H_out, W_out, p);
    case ops::PoolMode::Avg:
      return pool2d_forward_impl<ops::PoolMode::Avg>(y, index, x, planes, H, W, H_out, W_out, p);
  }
}

CONVNET_CPU_KERNEL
void pool2d_backward(float* dx, const float* dy, const int64_t* index, int64_t planes, int64_t H, int64_t W,
                     int64_t H_out, int64_t W_out, const ops::Pool2dParams& p) {
  const float inv_area = 1.0f / (float(p.kernel_h) * float(p.kernel_w));
  const int64_t HW = H * W;
#pragma omp parallel for schedule(static) if (planes * H * W > 16384)
  for (int64_t plane = 0; plane < planes; ++plane) {
    float* dxp = dx + plane * HW;
    const float* dyp = dy + plane * H_out * W_out;
    std::fill(dxp, dxp + HW, 0.0f);
    if (p.mode != ops::PoolMode::Avg) {
      // Scatter each output's gradient to its saved position (guarded: a foreign index never
      // writes outside the plane).
      const int64_t* ip = index + plane * H_out * W_out;
      for (int64_t o = 0; o < H_out * W_out; ++o)
        if (ip[o] >= 0 && ip[o] < HW) dxp[ip[o]] += dyp[o];
      continue;
    }
    // Average: every real element of the window receives dy / area.
    for (int64_t oh = 0; oh < H_out; ++oh) {
      const int64_t hs = oh * p.stride_h - p.pad_h;
      const int64_t h0 = std::max<int64_t>(hs, 0), h1 = std::min<int64_t>(hs + p.kernel_h, H);
      for (int64_t ow = 0; ow < W_out; ++ow) {
        const int64_t ws = ow * p.stride_w - p.pad_w;
        const int64_t w0 = std::max<int64_t>(ws, 0), w1 = std::min<int64_t>(ws + p.kernel_w, W);
        const float dy_o = dyp[oh * W_out + ow];
        const float g = p.count_include_pad ? dy_o * inv_area : dy_o / float((h1 - h0) * (w1 - w0));
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) dxp[h * W + w] += g;
      }
    }
  }
}

CONVNET_CPU_KERNEL
void global_avg_pool2d_forward(float* y, const float* x, int64_t planes, int64_t HW) {
  const float inv = 1.0f / float(HW);
#pragma omp parallel for schedule(static) if (planes * HW > 32768)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float* xp = x + plane * HW;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < HW; ++i) sum += xp[i];
    y[plane] = sum * inv;
  }
}

CONVNET_CPU_KERNEL
void global_avg_pool2d_backward(float* dx, const float* dy, int64_t planes, int64_t HW) {
  const float inv = 1.0f / float(HW);
#pragma omp parallel for schedule(static) if (planes * HW > 32768)
  for (int64_t plane = 0; plane < planes; ++plane) {
    const float g = dy[plane] * inv;  // d mean / d x = 1 / (H*W)
    std::fill(dx + plane * HW, dx + (plane + 1) * HW, g);
  }
}

}  // namespace cpu_kernels

namespace ops {

const char* pool2d_name(PoolMode mode) {
  switch (mode) {
    case PoolMode::Max: return "max_pool2d";
    case PoolMode::Avg: return "avg_pool2d";
    case PoolMode::Min: return "min_pool2d";
  }
  return "pool2d";
}

static std::string pair_str(int64_t a, int64_t b) {
  return "(" + std::to_string(a) + ", " + std::to_string(b) + ")";
}

// Checks the parameters against an input of spatial size H x W; returns (H_out, W_out).
static std::pair<int64_t, int64_t> pool2d_out_hw(const std::string& op, int64_t H, int64_t W, const Pool2dParams& p) {
  const int mode = static_cast<int>(p.mode);
  CONVNET_CHECK_VALUE(mode >= 0 && mode <= 2, op, "mode", "Max, Avg or Min", std::to_string(mode));
  CONVNET_CHECK_VALUE(p.kernel_h >= 1 && p.kernel_w >= 1, op, "kernel_size", "positive sizes",
                      pair_str(p.kernel_h, p.kernel_w));
  CONVNET_CHECK_VALUE(p.stride_h >= 1 && p.stride_w >= 1, op, "stride", "positive steps",
                      pair_str(p.stride_h, p.stride_w));
  CONVNET_CHECK_VALUE(p.pad_h >= 0 && p.pad_w >= 0 && p.pad_h <= p.kernel_h / 2 && p.pad_w <= p.kernel_w / 2, op,
                      "padding",
                      "values in 0 .. half the kernel size " + pair_str(p.kernel_h / 2, p.kernel_w / 2),
                      pair_str(p.pad_h, p.pad_w));
  CONVNET_CHECK_VALUE(p.extra_h >= 0 && p.extra_w >= 0 && p.extra_h <= p.kernel_h / 2 - p.pad_h &&
                          p.extra_w <= p.kernel_w / 2 - p.pad_w,
                      op, "padding", "bottom/right padding in 0 .. half the kernel size " +
                          pair_str(p.kernel_h / 2, p.kernel_w / 2),
                      pair_str(int64_t(p.pad_h) + p.extra_h, int64_t(p.pad_w) + p.extra_w));
  const int64_t Hp = H + 2 * int64_t(p.pad_h) + p.extra_h, Wp = W + 2 * int64_t(p.pad_w) + p.extra_w;
  CONVNET_CHECK_VALUE(p.kernel_h <= Hp && p.kernel_w <= Wp, op, "kernel_size",
                      "at most the padded input size " + pair_str(Hp, Wp), pair_str(p.kernel_h, p.kernel_w));
  return {(Hp - p.kernel_h) / p.stride_h + 1, (Wp - p.kernel_w) / p.stride_w + 1};
}

Pool2dParams pool2d_same_padding(Pool2dParams p, int64_t H, int64_t W) {
  const char* op = pool2d_name(p.mode);
  CONVNET_CHECK_VALUE(p.kernel_h >= 1 && p.kernel_w >= 1 && p.stride_h >= 1 && p.stride_w >= 1, op, "padding",
                      "'same' with positive kernel sizes and strides",
                      "kernel " + pair_str(p.kernel_h, p.kernel_w) + ", stride " + pair_str(p.stride_h, p.stride_w));
  // total <= kernel - 1, so both halves fit an int.
  const int th = static_cast<int>(same_padding_total(H, p.kernel_h, p.stride_h));
  const int tw = static_cast<int>(same_padding_total(W, p.kernel_w, p.stride_w));
  p.pad_h = th / 2;
  p.extra_h = th % 2;
  p.pad_w = tw / 2;
  p.extra_w = tw % 2;
  p.count_include_pad = false;
  return p;
}

Shape pool2d_output_shape(const Tensor& x, const Pool2dParams& p) { return pool2d_contract(pool2d_name(p.mode), x, p); }

Shape pool2d_contract(const std::string& op, const Tensor& x, const Pool2dParams& p) {
  check_float_input(op, "x", x, 4, "(N, C, H, W)");
  auto hw = pool2d_out_hw(op, x.size(2), x.size(3), p);
  return checked_output_shape(op, {x.size(0), x.size(1), hw.first, hw.second}, "x " + shape_str(x.shape()));
}

void pool2d_forward(Tensor& y, Tensor* index, const Tensor& x, const Pool2dParams& p) {
  const std::string op = pool2d_name(p.mode);
  const Shape ys = pool2d_output_shape(x, p);
  check_output(op, "y", y, ys, x);
  const bool save = index != nullptr && p.mode != PoolMode::Avg;
  if (save) check_output(op, "index", *index, ys, x, DType::Int64);
  CONVNET_DISPATCH(x, pool2d_forward, y.data<float>(), save ? index->data<int64_t>() : nullptr, x.data<float>(),
                   x.size(0) * x.size(1), x.size(2), x.size(3), ys[2], ys[3], p);
}

void pool2d_backward(Tensor& dx, const Tensor& dy, const Tensor* index, const Pool2dParams& p) {
  const std::string op = std::string(pool2d_name(p.mode)) + "_backward";
  check_float_input(op, "grad_x", dx, 4, "(N, C, H, W)");
  auto hw = pool2d_out_hw(op, dx.size(2), dx.size(3), p);
  const Shape ys = {dx.size(0), dx.size(1), hw.first, hw.second};
  check_dtype(op, "grad_out", dy, DType::Float32);
  check_shape(op, "grad_out", dy, ys);
  check_same_device(op, "grad_out", dy, "grad_x", dx);
  const bool needs_index = p.mode != PoolMode::Avg;
  if (needs_index) {
    CONVNET_CHECK_VALUE(index != nullptr, op, "index", "the index saved by the forward pass", "nullptr");
    check_dtype(op, "index", *index, DType::Int64);
    check_shape(op, "index", *index, ys);
    check_same_device(op, "index", *index, "grad_x", dx);
  }
  CONVNET_DISPATCH(dx, pool2d_backward, dx.data<float>(), dy.data<float>(),
                   needs_index ? index->data<int64_t>() : nullptr, dx.size(0) * dx.size(1), dx.size(2), dx.size(3),
                   ys[2], ys[3], p);
}

Tensor pool2d(const Tensor& x, const Pool2dParams& p) {
  Tensor y = Tensor::empty(pool2d_output_shape(x, p), DType::Float32, x.device());
  pool2d_forward(y, nullptr, x, p);  // the index is only needed for backward
  return y;
}

Shape global_avg_pool2d_output_shape(const Tensor& x) {
  check_float_input("global_avg_pool2d", "x", x, 4, "(N, C, H, W)");
  return {x.size(0), x.size(1)};
}

void global_avg_pool2d_forward(Tensor& y, const Tensor& x) {
  check_output("global_avg_pool2d", "y", y, global_avg_pool2d_output_shape(x), x);
  CONVNET_DISPATCH(x, global_avg_pool2d_forward, y.data<float>(), x.data<float>(), x.size(0) * x.size(1),
                   x.size(2) * x.size(3));
}

void global_avg_pool2d_backward(Tensor& dx, const Tensor& dy) {
  const char* op = "global_avg_pool2d_backward";
  check_float_input(op, "grad_x", dx, 4, "(N, C, H, W)");
  check_dtype(op, "grad_out", dy, DType::Float32);
  check_shape(op, "grad_out", dy, {dx.size(0), dx.size(1)});
  check_same_device(op, "grad_out", dy, "grad_x", dx);
  CONVNET_DISPATCH(dx, global_avg_pool2d_backward, dx.data<float>(), dy.data<float>(), dx.size(0) * dx.size(1),
                   dx.size(2) * dx.size(3));
}

Tensor global_avg_pool2d(const Tensor& x) {
  Tensor y = Tensor::empty(global_avg_pool2d_output_shape(x), DType::Float32, x.device());
  global_avg_pool2d_forward(y, x);
  return y;
}

}  // namespace ops
}  // namespace convnet
