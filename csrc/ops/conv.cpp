// Conv2d: contract, dispatch and CPU kernels (im2col + SGEMM, a direct kernel for one input channel).
#include "ops/conv.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/checks.h"
#include "kernels/gemm.h"
#include "ops/dispatch.h"

namespace convnet {

namespace cpu_kernels {
namespace {

// A grow-only, 64-byte aligned scratch buffer, one per thread: the im2col workspace.
struct Scratch {
  float* data = nullptr;
  size_t capacity = 0;
  float* get(size_t n) {
    if (n > capacity) {
      std::free(data);
      size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
      data = static_cast<float*>(std::aligned_alloc(64, bytes));
      capacity = bytes / sizeof(float);
    }
    return data;
  }
  ~Scratch() { std::free(data); }
};
thread_local Scratch tl_col, tl_dw;

// The range of output columns j whose input column j*sw + off lies in [0, W).
inline void valid_cols(int64_t off, int64_t sw, int64_t W, int64_t W_out, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
  hi = W - 1 - off >= 0 ? (W - 1 - off) / sw + 1 : 0;
  lo = std::min(lo, W_out);
  hi = std::max(std::min(hi, W_out), lo);
}

// col (C*kH*kW, H_out*W_out): row (c, u, v), column (i, j) = x[c, i*sh - pt + u*dh, j*sw - pl + v*dw] or 0.
void im2col(const float* x, int64_t C, const Conv2dGeometry& g, float* col) {
  const int64_t H = g.H, W = g.W, Ho = g.H_out, Wo = g.W_out, P = Ho * Wo;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t u = 0; u < g.kH; ++u)
      for (int64_t v = 0; v < g.kW; ++v) {
        float* dst = col + ((c * g.kH + u) * g.kW + v) * P;
        const int64_t off = v * g.dilation_w - g.pad_left;
        int64_t lo, hi;
        valid_cols(off, g.stride_w, W, Wo, lo, hi);
        for (int64_t i = 0; i < Ho; ++i) {
          float* d = dst + i * Wo;
          const int64_t ih = i * g.stride_h - g.pad_top + u * g.dilation_h;
          if (ih < 0 || ih >= H) {
            std::memset(d, 0, sizeof(float) * Wo);
            continue;
          }
          const float* src = x + (c * H + ih) * W + off;
          for (int64_t j = 0; j < lo; ++j) d[j] = 0.0f;
          if (g.stride_w == 1) {
            std::memcpy(d + lo, src + lo, sizeof(float) * (hi - lo));
          } else {
            for (int64_t j = lo; j < hi; ++j) d[j] = src[j * g.stride_w];
          }
          for (int64_t j = hi; j < Wo; ++j) d[j] = 0.0f;
        }
      }
}

// The adjoint of im2col: x[c, ih, iw] += col[(c, u, v), (i, j)] over every tap that read it (x zeroed first by the caller).
void col2im(const float* col, int64_t C, const Conv2dGeometry& g, float* x) {
  const int64_t H = g.H, W = g.W, Ho = g.H_out, Wo = g.W_out, P = Ho * Wo;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t u = 0; u < g.kH; ++u)
      for (int64_t v = 0; v < g.kW; ++v) {
        const float* srcrow = col + ((c * g.kH + u) * g.kW + v) * P;
        const int64_t off = v * g.dilation_w - g.pad_left;
        int64_t lo, hi;
        valid_cols(off, g.stride_w, W, Wo, lo, hi);
        for (int64_t i = 0; i < Ho; ++i) {
          const int64_t ih = i * g.stride_h - g.pad_top + u * g.dilation_h;
          if (ih < 0 || ih >= H) continue;
          const float* s = srcrow + i * Wo;
          float* d = x + (c * H + ih) * W + off;
          if (g.stride_w == 1) {
#pragma omp simd
            for (int64_t j = lo; j < hi; ++j) d[j] += s[j];
          } else {
            for (int64_t j = lo; j < hi; ++j) d[j * g.stride_w] += s[j];
          }
        }
      }
}

bool is_pointwise(const Conv2dGeometry& g) {
  return g.kH == 1 && g.kW == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 && g.pad_left == 0 &&
         g.H_out == g.H && g.W_out == g.W;
}

// Runs body(n, thread_scratch) for every image: images over the threads (each GEMM on one thread)
// when there are enough of them, else one image at a time with the GEMMs split over the threads.
template <typename Body>
void for_each_image(int64_t N, size_t scratch_floats, const Body& body) {
  const int threads = omp_get_max_threads();
  if (N >= threads && threads > 1) {
#pragma omp parallel
    {
      float* col = tl_col.get(scratch_floats);
#pragma omp for schedule(static)
      for (int64_t n = 0; n < N; ++n) body(n, col);
    }
  } else {
    float* col = tl_col.get(scratch_floats);
    for (int64_t n = 0; n < N; ++n) body(n, col);
  }
}

}  // namespace

void conv2d_forward(float* y, const float* x, const float* w, const float* b, const Conv2dGeometry& g) {
  const int64_t G = g.groups, Cg = g.C_in / G, Cog = g.C_out / G;
  const int64_t K = Cg * g.kH * g.kW, P = g.H_out * g.W_out, HW = g.H * g.W;
  const bool pointwise = is_pointwise(g);
  for_each_image(g.N, pointwise ? 1 : size_t(g.C_in * g.kH * g.kW * P), [&](int64_t n, float* col) {
    const float* xn = x + n * g.C_in * HW;
    float* yn = y + n * g.C_out * P;
    if (!pointwise) im2col(xn, g.C_in, g, col);
    for (int64_t grp = 0; grp < G; ++grp) {
      // y_g (Cog, P) = w_g (Cog, K) . col_g (K, P)
      const float* colg = pointwise ? xn + grp * Cg * HW : col + grp * K * P;
      sgemm(false, false, Cog, P, K, w + grp * Cog * K, K, colg, P, yn + grp * Cog * P, P, false);
    }
    if (b)
      for (int64_t o = 0; o < g.C_out; ++o) {
        float* yo = yn + o * P;
        const float bo = b[o];
#pragma omp simd
        for (int64_t p = 0; p < P; ++p) yo[p] += bo;
      }
  });
}

void conv2d_backward(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w,
                     const Conv2dGeometry& g) {
  const int64_t G = g.groups, Cg = g.C_in / G, Cog = g.C_out / G;
  const int64_t K = Cg * g.kH * g.kW, P = g.H_out * g.W_out, HW = g.H * g.W;
  const int64_t w_numel = g.C_out * K;
  const bool pointwise = is_pointwise(g);

  if (db) {  // db[o] = sum_{n, p} dy[n, o, p]
#pragma omp parallel for schedule(static) if (g.N * g.C_out * P > 32768)
    for (int64_t o = 0; o < g.C_out; ++o) {
      double s = 0.0;
      for (int64_t n = 0; n < g.N; ++n) {
        const float* d = dy + (n * g.C_out + o) * P;
        float part = 0.0f;
#pragma omp simd reduction(+ : part)
        for (int64_t p = 0; p < P; ++p) part += d[p];
        s += part;
      }
      db[o] = static_cast<float>(s);
    }
  }
  if (!dx && !dw) return;

  // One image: dw_acc += dy_g . col_g^T  and  dx_n = col2im(w_g^T . dy_g).
  auto one_image = [&](int64_t n, float* col, float* dw_acc) {
    const float* xn = x + n * g.C_in * HW;
    const float* dyn = dy + n * g.C_out * P;
    float* dxn = dx ? dx + n * g.C_in * HW : nullptr;
    if (dw) {
      if (!pointwise) im2col(xn, g.C_in, g, col);
      for (int64_t grp = 0; grp < G; ++grp) {
        // dw_g (Cog, K) += dy_g (Cog, P) . col_g^T (P, K)
        const float* colg = pointwise ? xn + grp * Cg * HW : col + grp * K * P;
        sgemm(false, true, Cog, K, P, dyn + grp * Cog * P, P, colg, P, dw_acc + grp * Cog * K, K, true);
      }
    }
    if (dx) {
      for (int64_t grp = 0; grp < G; ++grp) {
        // dcol_g (K, P) = w_g^T (K, Cog) . dy_g (Cog, P); pointwise: dcol_g is dx_g itself
        float* dcolg = pointwise ? dxn + grp * Cg * HW : col + grp * K * P;
        sgemm(true, false, K, P, Cog, w + grp * Cog * K, K, dyn + grp * Cog * P, P, dcolg, P, false);
      }
      if (!pointwise) {
        std::memset(dxn, 0, sizeof(float) * g.C_in * HW);
        col2im(col, g.C_in, g, dxn);
      }
    }
  };

  const size_t col_floats = pointwise ? 1 : size_t(g.C_in * g.kH * g.kW * P);
  const int threads = omp_get_max_threads();
  if (g.N >= threads && threads > 1) {
    // Images over the threads; each thread sums its images' dw in its own buffer (thread 0 in dw).
    std::vector<float*> partial(threads, nullptr);
#pragma omp parallel
    {
      const int t = omp_get_thread_num(), T = omp_get_num_threads();
      float* col = tl_col.get(col_floats);
      float* mine = nullptr;
      if (dw) {
        mine = t == 0 ? dw : tl_dw.get(w_numel);
        std::memset(mine, 0, sizeof(float) * w_numel);
        partial[t] = mine;
      }
#pragma omp for schedule(static)
      for (int64_t n = 0; n < g.N; ++n) one_image(n, col, mine);
      // the implicit barrier above: every partial sum is complete
      if (dw) {
#pragma omp for schedule(static)
        for (int64_t i = 0; i < w_numel; ++i)
          for (int u = 1; u < T; ++u) dw[i] += partial[u][i];
      }
    }
  } else {
    if (dw) std::memset(dw, 0, sizeof(float) * w_numel);
    float* col = tl_col.get(col_floats);
    for (int64_t n = 0; n < g.N; ++n) one_image(n, col, dw);
  }
}

}  // namespace cpu_kernels

namespace ops {

static std::string pair_str(int64_t a, int64_t b) { return "(" + std::to_string(a) + ", " + std::to_string(b) + ")"; }

static Conv2dGeometry geometry(const Tensor& x, const Tensor& w, const Conv2dParams& p, const Shape& out) {
  return {x.size(0), x.size(1), x.size(2), x.size(3), w.size(0), w.size(2), w.size(3), out[2], out[3],
          p.stride_h, p.stride_w, p.pad_top, p.pad_left, p.dilation_h, p.dilation_w, p.groups};
}

static void check_params(const char* op, const Conv2dParams& p) {
  CONVNET_CHECK_VALUE(p.stride_h >= 1 && p.stride_w >= 1, op, "stride", "positive values",
                      pair_str(p.stride_h, p.stride_w));
  CONVNET_CHECK_VALUE(p.pad_top >= 0 && p.pad_left >= 0 && p.pad_bottom >= 0 && p.pad_right >= 0, op, "padding",
                      "non-negative values (top, left, bottom, right)",
                      "(" + std::to_string(p.pad_top) + ", " + std::to_string(p.pad_left) + ", " +
                          std::to_string(p.pad_bottom) + ", " + std::to_string(p.pad_right) + ")");
  CONVNET_CHECK_VALUE(p.dilation_h >= 1 && p.dilation_w >= 1, op, "dilation", "values >= 1",
                      pair_str(p.dilation_h, p.dilation_w));
  CONVNET_CHECK_VALUE(p.groups >= 1, op, "groups", "a positive int", std::to_string(p.groups));
}

Shape conv2d_output_shape(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dParams& p) {
  const char* op = "conv2d";
  check_float_input(op, "x", x, 4, "(N, C_in, H, W)");
  check_float_input(op, "w", w, 4, "(C_out, C_in/groups, kH, kW)");
  check_same_device(op, "w", w, "x", x);
  check_params(op, p);
  const int64_t C_in = x.size(1), C_out = w.size(0);
  CONVNET_CHECK_VALUE(C_in % p.groups == 0, op, "groups", "a divisor of the input channels C_in = " + std::to_string(C_in),
                      std::to_string(p.groups));
  CONVNET_CHECK_VALUE(C_out % p.groups == 0, op, "groups",
                      "a divisor of the output channels C_out = w.shape[0] = " + std::to_string(C_out),
                      std::to_string(p.groups));
  CONVNET_CHECK_VALUE(w.size(1) == C_in / p.groups, op, "w",
                      "shape (C_out, C_in/groups = " + std::to_string(C_in / p.groups) + ", kH, kW)",
                      shape_str(w.shape()));
  if (b) {
    check_dtype(op, "b", *b, DType::Float32);
    check_shape(op, "b", *b, {C_out});
    check_same_device(op, "b", *b, "x", x);
  }
  const int64_t Hp = x.size(2) + p.pad_top + p.pad_bottom, Wp = x.size(3) + p.pad_left + p.pad_right;
  const int64_t eh = int64_t(p.dilation_h) * (w.size(2) - 1) + 1, ew = int64_t(p.dilation_w) * (w.size(3) - 1) + 1;
  CONVNET_CHECK_VALUE(eh <= Hp && ew <= Wp, op, "w",
                      "a kernel extent dilation*(k-1)+1 no larger than the padded input " + pair_str(Hp, Wp),
                      "extent " + pair_str(eh, ew) + " of kernel " + pair_str(w.size(2), w.size(3)));
  return {x.size(0), C_out, (Hp - eh) / p.stride_h + 1, (Wp - ew) / p.stride_w + 1};
}

void conv2d_forward(Tensor& y, const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dParams& p) {
  const Shape out = conv2d_output_shape(x, w, b, p);
  check_output("conv2d", "y", y, out, x);
  CONVNET_DISPATCH(x, conv2d_forward, y.data<float>(), x.data<float>(), w.data<float>(),
                   b ? b->data<float>() : nullptr, geometry(x, w, p, out));
}

void conv2d_backward(Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy, const Tensor& x, const Tensor& w,
                     const Conv2dParams& p) {
  const char* op = "conv2d_backward";
  const Shape out = conv2d_output_shape(x, w, nullptr, p);
  check_dtype(op, "grad_out", dy, DType::Float32);
  check_shape(op, "grad_out", dy, out);
  check_same_device(op, "grad_out", dy, "x", x);
  if (dx) check_output(op, "grad_x", *dx, x.shape(), x);
  if (dw) check_output(op, "grad_w", *dw, w.shape(), x);
  if (db) check_output(op, "grad_b", *db, {w.size(0)}, x);
  CONVNET_DISPATCH(x, conv2d_backward, dx ? dx->data<float>() : nullptr, dw ? dw->data<float>() : nullptr,
                   db ? db->data<float>() : nullptr, dy.data<float>(), x.data<float>(), w.data<float>(),
                   geometry(x, w, p, out));
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dParams& p) {
  Tensor y = Tensor::empty(conv2d_output_shape(x, w, b, p), DType::Float32, x.device());
  conv2d_forward(y, x, w, b, p);
  return y;
}

Conv2dParams conv2d_same_padding(Conv2dParams p, int kernel_h, int kernel_w) {
  CONVNET_CHECK_VALUE(p.stride_h == 1 && p.stride_w == 1, "conv2d", "padding",
                      "'same' only with stride 1 (as in PyTorch)", "stride " + pair_str(p.stride_h, p.stride_w));
  CONVNET_CHECK_VALUE(p.dilation_h >= 1 && p.dilation_w >= 1, "conv2d", "dilation", "values >= 1",
                      pair_str(p.dilation_h, p.dilation_w));
  CONVNET_CHECK_VALUE(kernel_h >= 1 && kernel_w >= 1, "conv2d", "w", "a kernel of positive size",
                      pair_str(kernel_h, kernel_w));
  const int th = p.dilation_h * (kernel_h - 1), tw = p.dilation_w * (kernel_w - 1);
  p.pad_top = th / 2;
  p.pad_bottom = th - th / 2;
  p.pad_left = tw / 2;
  p.pad_right = tw - tw / 2;
  return p;
}

}  // namespace ops
}  // namespace convnet
