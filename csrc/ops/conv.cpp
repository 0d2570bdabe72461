// Conv2d: contract, dispatch and CPU kernels (implicit GEMM: see conv.h for the plan).
#include "ops/conv.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "core/checks.h"
#include "kernels/cpu_simd.h"
#include "kernels/gemm.h"
#include "kernels/scratch.h"
#include "ops/dispatch.h"

namespace convnet {

namespace cpu_kernels {
namespace {

thread_local Scratch tl_dw;

// The range of output columns j whose input column j*sw + off lies in [0, W).
inline void valid_cols(int64_t off, int64_t sw, int64_t W, int64_t W_out, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
  hi = W - 1 - off >= 0 ? (W - 1 - off) / sw + 1 : 0;
  lo = std::min(lo, W_out);
  hi = std::max(std::min(hi, W_out), lo);
}

// The column matrix of one image (or one group of it), never stored: col (Cg*kH*kW, H_out*W_out),
// row (c, u, v), column p = (i, j):  col[(c, u, v), p] = x[c, i*sh - pt + u*dh, j*sw - pl + v*dw] or 0.
// Rows are produced (im2col) and scattered back (col2im) piece by piece, inside the GEMM's
// packing and store steps: an implicit GEMM with no column buffer.
struct ColMatrix {
  const Conv2dGeometry& g;

  // Calls fn(t0, t1, d_offset, src) for the runs of row `kidx`, columns [p0, p1): output row by
  // output row, with [t0, t1) the columns j of that output row whose input is inside x
  // (src + j*sw is it) and d_offset the position of column j=0 of the run relative to p0;
  // zero(d_begin, d_end) for the taps in the padding.
  template <typename Run, typename Zero>
  void for_runs(const float* x, int64_t kidx, int64_t p0, int64_t p1, const Run& run, const Zero& zero) const {
    const int64_t kk = g.kH * g.kW, c = kidx / kk, u = (kidx % kk) / g.kW, v = kidx % g.kW;
    const int64_t off = v * g.dilation_w - g.pad_left;
    int64_t lo, hi;
    valid_cols(off, g.stride_w, g.W, g.W_out, lo, hi);
    const float* xc = x + c * g.H * g.W;
    int64_t i = p0 / g.W_out, j = p0 % g.W_out;
    for (int64_t p = p0; p < p1; ++i, j = 0) {
      const int64_t len = std::min(g.W_out - j, p1 - p);
      const int64_t base = p - p0 - j;  // where column 0 of this output row would sit
      const int64_t ih = i * g.stride_h - g.pad_top + u * g.dilation_h;
      if (ih < 0 || ih >= g.H) {
        zero(p - p0, p - p0 + len);
      } else {
        const int64_t a = std::min(std::max(lo, j), j + len), b = std::min(std::max(hi, a), j + len);
        zero(base + j, base + a);
        if (b > a) run(a, b, base, xc + ih * g.W + off);
        zero(base + b, base + j + len);
      }
      p += len;
    }
  }

  // dst[(p - p0) * stride] = col[kidx, p] for p in [p0, p1)
  void row(const float* x, int64_t kidx, int64_t p0, int64_t p1, float* dst, int64_t stride) const {
    const int64_t sw = g.stride_w;
    if (stride == 1) {
      for_runs(x, kidx, p0, p1,
               [&](int64_t a, int64_t b, int64_t base, const float* src) {
                 if (sw == 1) {
                   std::memcpy(dst + base + a, src + a, sizeof(float) * (b - a));
                 } else {
                   for (int64_t t = a; t < b; ++t) dst[base + t] = src[t * sw];
                 }
               },
               [&](int64_t d0, int64_t d1) {
                 for (int64_t d = d0; d < d1; ++d) dst[d] = 0.0f;
               });
    } else {
      for_runs(x, kidx, p0, p1,
               [&](int64_t a, int64_t b, int64_t base, const float* src) {
                 for (int64_t t = a; t < b; ++t) dst[(base + t) * stride] = src[t * sw];
               },
               [&](int64_t d0, int64_t d1) {
                 for (int64_t d = d0; d < d1; ++d) dst[d * stride] = 0.0f;
               });
    }
  }

  // dx[c, ih, iw] += val[p - p0] for the taps of row kidx, columns [p0, p1) inside x
  void scatter_add(float* dx, int64_t kidx, int64_t p0, int64_t p1, const float* val) const {
    const int64_t sw = g.stride_w;
    for_runs(dx, kidx, p0, p1,
             [&](int64_t a, int64_t b, int64_t base, const float* dst_const) {
               float* d = const_cast<float*>(dst_const);
               const float* s = val + base;
               if (sw == 1) {
#pragma omp simd
                 for (int64_t t = a; t < b; ++t) d[t] += s[t];
               } else {
                 for (int64_t t = a; t < b; ++t) d[t * sw] += s[t];
               }
             },
             [](int64_t, int64_t) {});
  }
};

// op(B) = col (K_g, P) of one image group: forward, y_g = w_g . col.
struct ColB final : GemmB {
  ColMatrix m;
  const float* x;
  ColB(const Conv2dGeometry& g, const float* x_) : m{g}, x(x_) {}
  void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nr, int NR, float* dst) const override {
    for (int64_t k = 0; k < kc; ++k) {
      float* d = dst + k * NR;
      m.row(x, k0 + k, j0, j0 + nr, d, 1);
      for (int64_t j = nr; j < NR; ++j) d[j] = 0.0f;
    }
  }
};

// op(B) = col^T (P, K_g): weight gradient, dw_g += dy_g . col^T.
struct ColTB final : GemmB {
  ColMatrix m;
  const float* x;
  ColTB(const Conv2dGeometry& g, const float* x_) : m{g}, x(x_) {}
  void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nr, int NR, float* dst) const override {
    for (int64_t j = 0; j < nr; ++j) m.row(x, j0 + j, k0, k0 + kc, dst + j, NR);
    if (nr < NR)
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t j = nr; j < NR; ++j) dst[k * NR + j] = 0.0f;
  }
};

// C = dcol (K_g, P), scattered into dx_g by col2im as it is produced: input gradient.
// Tiles overlap in dx, so the GEMM using it runs on one thread (sgemm_ex never splits a store).
struct Col2imC final : GemmC {
  ColMatrix m;
  float* dx;
  Col2imC(const Conv2dGeometry& g, float* dx_) : m{g}, dx(dx_) {}
  void add(int64_t i0, int64_t mr, int64_t j0, int64_t nr, const float* tile, int64_t ldt) const override {
    for (int64_t r = 0; r < mr; ++r) m.scatter_add(dx, i0 + r, j0, j0 + nr, tile + r * ldt);
  }
};

// ---- Stride-1 convolutions on a padded copy ("wide" layout). With the input zero-padded to
// (C, Hp, Wp) and the output computed Wp wide (columns Wo..Wp-1 of each row are junk),
//   col[(c, u, v), q] = in[c, 0, 0 + q + u*dh*Wp + v*dw]      (q = i*Wp + j)
// so every row of the column matrix is a contiguous slice of the padded input: packing is a
// memcpy and there is no index arithmetic per tap. The same routine computes the forward pass
// and, on the padded output gradient with flipped weights, the input gradient.
// Zero floats after a padded buffer: rows of the column matrix run up to kW-1 < Wp past the last
// plane, and the micro-kernel reads a whole 32-wide strip past the last column.
inline int64_t kSlack(int64_t Wp) { return Wp + 32; }

struct WidePlane {
  const float* in;  // (C, Hp, Wp) + kSlack(Wp) floats of zero slack
  int64_t Hp, Wp, kH, kW, dh, dw;
  const float* row(int64_t kidx) const {
    const int64_t kk = kH * kW, c = kidx / kk, u = (kidx % kk) / kW, v = kidx % kW;
    return in + c * Hp * Wp + u * dh * Wp + v * dw;
  }
};

// Pointers to the rows kidx0 .. kidx0+n-1 of the column matrix (c, u, v stepped, not divided).
inline void wide_rows(const WidePlane& pl, int64_t kidx0, int64_t n, const float** rows) {
  const int64_t kk = pl.kH * pl.kW;
  int64_t c = kidx0 / kk, u = (kidx0 % kk) / pl.kW, v = kidx0 % pl.kW;
  for (int64_t t = 0; t < n; ++t) {
    rows[t] = pl.in + c * pl.Hp * pl.Wp + u * pl.dh * pl.Wp + v * pl.dw;
    if (++v == pl.kW) {
      v = 0;
      if (++u == pl.kH) u = 0, ++c;
    }
  }
}

thread_local std::vector<const float*> tl_btab;

// op(B) = col (C*kH*kW, Ho*Wp): its rows are read in place by the micro-kernel (rows()); pack()
// remains for completeness.
struct WideColB final : GemmB {
  WidePlane pl;
  explicit WideColB(const WidePlane& p) : pl(p) {}
  const float* const* rows(int64_t k0, int64_t kc) const override {
    if (tl_btab.size() < size_t(kc)) tl_btab.resize(kc);  // per thread: concurrent callers are safe
    wide_rows(pl, k0, kc, tl_btab.data());
    return tl_btab.data();
  }
  void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nr, int NR, float* dst) const override {
    const float* rows[512];
    for (int64_t kb = 0; kb < kc; kb += 512) {
      const int64_t n = std::min<int64_t>(512, kc - kb);
      wide_rows(pl, k0 + kb, n, rows);
      float* d = dst + kb * NR;
      if (nr == NR && NR == 32) {  // the common case, with a copy of known size (inlined)
        for (int64_t k = 0; k < n; ++k) std::memcpy(d + k * 32, rows[k] + j0, sizeof(float) * 32);
      } else {
        for (int64_t k = 0; k < n; ++k) {
          std::memcpy(d + k * NR, rows[k] + j0, sizeof(float) * nr);
          for (int64_t j = nr; j < NR; ++j) d[k * NR + j] = 0.0f;
        }
      }
    }
  }
};

// op(B) = col^T (Ho*Wp, C*kH*kW): the weight gradient against a zero-junk wide output gradient.
// A transposing copy (gemm.h's pack_transposed): row k of the strip is element k of NR rows.
struct WideColTB final : GemmB {
  WidePlane pl;
  explicit WideColTB(const WidePlane& p) : pl(p) {}
  void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nr, int NR, float* dst) const override {
    const float* rows[32];
    wide_rows(pl, j0, nr, rows);
    for (int64_t j = 0; j < nr; ++j) rows[j] += k0;
    pack_transposed(rows, nr, kc, NR, dst);
    if (nr < NR)
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t j = nr; j < NR; ++j) dst[k * NR + j] = 0.0f;
  }
};

// dst (C, Hp, Wp) = src (C, H, W) placed at (top, left) in zeros, plus kSlack(Wp) zero floats.
void pad_into(const float* src, int64_t C, int64_t H, int64_t W, int64_t Hp, int64_t Wp, int64_t top, int64_t left,
              float* dst) {
  std::memset(dst, 0, sizeof(float) * (C * Hp * Wp + kSlack(Wp)));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < H; ++i)
      std::memcpy(dst + (c * Hp + top + i) * Wp + left, src + (c * H + i) * W, sizeof(float) * W);
}

thread_local Scratch tl_pad, tl_pad2, tl_pad3, tl_dw_flip, tl_wide_out;

// ---- Few input channels (the first layer): the weight-gradient GEMM would have N = Cg*kH*kW,
// far below a micro-tile, so it runs as direct dot products over the wide rows instead
// (compiled for AVX-512, AVX2 and baseline, chosen at load time).

// dw[o, t] += sum_q dyw[o * ld + q] * rows[t][q]   (o < O, t < T, q < Q): T dot products per o.
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void small_weight_grad(
    const float* dyw, int64_t ld, const float* const* rows, int64_t O, int64_t T, int64_t Q, float* dw) {
  for (int64_t o = 0; o < O; ++o) {
    const float* d = dyw + o * ld;
    for (int64_t t0 = 0; t0 < T; t0 += 4) {  // four rows share each load of d
      const float* r0 = rows[t0];
      const float* r1 = rows[std::min(t0 + 1, T - 1)];
      const float* r2 = rows[std::min(t0 + 2, T - 1)];
      const float* r3 = rows[std::min(t0 + 3, T - 1)];
      float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
      for (int64_t q = 0; q < Q; ++q) {
        const float dv = d[q];
        s0 += dv * r0[q];
        s1 += dv * r1[q];
        s2 += dv * r2[q];
        s3 += dv * r3[q];
      }
      const float sums[4] = {s0, s1, s2, s3};
      for (int64_t t = t0; t < std::min(t0 + 4, T); ++t) dw[o * T + t] += sums[t - t0];
    }
  }
}

thread_local std::vector<const float*> tl_rows;
const float** row_table(const WidePlane& pl, int64_t n) {
  if (tl_rows.size() < size_t(n)) tl_rows.resize(n);
  wide_rows(pl, 0, n, tl_rows.data());
  return tl_rows.data();
}

bool is_pointwise(const Conv2dGeometry& g) {
  return g.kH == 1 && g.kW == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 && g.pad_left == 0 &&
         g.H_out == g.H && g.W_out == g.W;
}

// Runs body(n) for every image: images over the threads (each GEMM on one thread; dealt one at a
// time, so a thread slowed by another process on its core does not hold the others up) when there
// are enough of them, else one image at a time with the GEMMs split over the threads.
template <typename Body>
void for_each_image(int64_t N, const Body& body) {
  const int threads = omp_get_max_threads();
  if (N >= threads && threads > 1) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t n = 0; n < N; ++n) body(n);
  } else {
    for (int64_t n = 0; n < N; ++n) body(n);
  }
}

// ---- Depthwise convolutions (groups == C_in > 1: one input channel per group, m = C_out / C_in
// outputs each). As GEMMs they are products with M = m and K = kH*kW, far below a micro-tile, so
// they run as direct loops over a zero-padded copy of each input plane xp:
//   y[n, o, i, j] = b[o] + sum_{u,v} w[o, u, v] * xp[n, c, i*sh + u*dh, j*sw + v*dw],   c = o / m
// xp has x at (pad_top, pad_left) and spans what the taps reach: Hp = (H_out-1)*sh + (kH-1)*dh + 1
// rows, Wp likewise. Backward, with the same indexing:
//   dw[o, u, v] = sum_{n,i,j} dy[n, o, i, j] * xp[n, c, i*sh + u*dh, j*sw + v*dw]
//   dxp[n, c, i*sh + u*dh, j*sw + v*dw] += w[o, u, v] * dy[n, o, i, j],  dx = dxp cropped
// Each output element is summed by one thread in a fixed order: deterministic.

struct PaddedPlane {
  int64_t Hp, Wp;
  explicit PaddedPlane(const Conv2dGeometry& g)
      : Hp((g.H_out - 1) * g.stride_h + (g.kH - 1) * g.dilation_h + 1),
        Wp((g.W_out - 1) * g.stride_w + (g.kW - 1) * g.dilation_w + 1) {}
  // dst (Hp, Wp) = src (H, W) at (top, left) in zeros, clipped to what fits
  void pad(const float* src, const Conv2dGeometry& g, float* dst) const {
    std::memset(dst, 0, sizeof(float) * Hp * Wp);
    const int64_t rows = std::min(g.H, Hp - g.pad_top), cols = std::min(g.W, Wp - g.pad_left);
    for (int64_t r = 0; r < rows; ++r)
      if (cols > 0) std::memcpy(dst + (r + g.pad_top) * Wp + g.pad_left, src + r * g.W, sizeof(float) * cols);
  }
  // dst (H, W) = src (Hp, Wp) seen from (top, left); 0 where x has no tap
  void crop(const float* src, const Conv2dGeometry& g, float* dst) const {
    for (int64_t r = 0; r < g.H; ++r)
      for (int64_t s = 0; s < g.W; ++s)
        dst[r * g.W + s] = r + g.pad_top < Hp && s + g.pad_left < Wp ? src[(r + g.pad_top) * Wp + s + g.pad_left] : 0.0f;
  }
};

CONVNET_CPU_KERNEL
void depthwise_forward(float* y, const float* x, const float* w, const float* b, const Conv2dGeometry& g) {
  const int64_t m = g.C_out / g.C_in, kk = g.kH * g.kW, P = g.H_out * g.W_out, sw = g.stride_w;
  const PaddedPlane pl(g);
#pragma omp parallel for schedule(static) if (g.N * g.C_out * P * kk > 65536)
  for (int64_t nc = 0; nc < g.N * g.C_in; ++nc) {
    float* xp = tl_pad.get(pl.Hp * pl.Wp);
    pl.pad(x + nc * g.H * g.W, g, xp);
    const int64_t n = nc / g.C_in, c = nc % g.C_in;
    for (int64_t o = c * m; o < (c + 1) * m; ++o) {
      const float* wo = w + o * kk;
      const float bo = b ? b[o] : 0.0f;
      for (int64_t i = 0; i < g.H_out; ++i) {
        float* yr = y + (n * g.C_out + o) * P + i * g.W_out;
        for (int64_t j = 0; j < g.W_out; ++j) yr[j] = bo;
        for (int64_t u = 0; u < g.kH; ++u)
          for (int64_t v = 0; v < g.kW; ++v) {
            const float wv = wo[u * g.kW + v];
            const float* src = xp + (i * g.stride_h + u * g.dilation_h) * pl.Wp + v * g.dilation_w;
#pragma omp simd
            for (int64_t j = 0; j < g.W_out; ++j) yr[j] += wv * src[j * sw];
          }
      }
    }
  }
}

thread_local std::vector<double> tl_dw_sums;

CONVNET_CPU_KERNEL
void depthwise_backward(float* dx, float* dw, const float* dy, const float* x, const float* w, const Conv2dGeometry& g) {
  const int64_t m = g.C_out / g.C_in, kk = g.kH * g.kW, P = g.H_out * g.W_out, sw = g.stride_w;
  const PaddedPlane pl(g);
  const bool big = g.N * g.C_out * P * kk > 65536;
  if (dw) {
#pragma omp parallel for schedule(static) if (big)
    for (int64_t o = 0; o < g.C_out; ++o) {
      float* xp = tl_pad.get(pl.Hp * pl.Wp);
      tl_dw_sums.assign(kk, 0.0);
      for (int64_t n = 0; n < g.N; ++n) {
        pl.pad(x + (n * g.C_in + o / m) * g.H * g.W, g, xp);
        const float* dyo = dy + (n * g.C_out + o) * P;
        for (int64_t u = 0; u < g.kH; ++u)
          for (int64_t v = 0; v < g.kW; ++v) {
            float part = 0.0f;  // one image's sum in float, the images' sums in double
            for (int64_t i = 0; i < g.H_out; ++i) {
              const float* d = dyo + i * g.W_out;
              const float* src = xp + (i * g.stride_h + u * g.dilation_h) * pl.Wp + v * g.dilation_w;
#pragma omp simd reduction(+ : part)
              for (int64_t j = 0; j < g.W_out; ++j) part += d[j] * src[j * sw];
            }
            tl_dw_sums[u * g.kW + v] += part;
          }
      }
      for (int64_t t = 0; t < kk; ++t) dw[o * kk + t] = static_cast<float>(tl_dw_sums[t]);
    }
  }
  if (dx) {
#pragma omp parallel for schedule(static) if (big)
    for (int64_t nc = 0; nc < g.N * g.C_in; ++nc) {
      float* dxp = tl_pad2.get(pl.Hp * pl.Wp);
      std::memset(dxp, 0, sizeof(float) * pl.Hp * pl.Wp);
      const int64_t n = nc / g.C_in, c = nc % g.C_in;
      for (int64_t o = c * m; o < (c + 1) * m; ++o)
        for (int64_t u = 0; u < g.kH; ++u)
          for (int64_t v = 0; v < g.kW; ++v) {
            const float wv = w[o * kk + u * g.kW + v];
            for (int64_t i = 0; i < g.H_out; ++i) {
              const float* d = dy + (n * g.C_out + o) * P + i * g.W_out;
              float* dst = dxp + (i * g.stride_h + u * g.dilation_h) * pl.Wp + v * g.dilation_w;
#pragma omp simd
              for (int64_t j = 0; j < g.W_out; ++j) dst[j * sw] += wv * d[j];
            }
          }
      pl.crop(dxp, g, dx + nc * g.H * g.W);
    }
  }
}

}  // namespace

void conv2d_forward(float* y, const float* x, const float* w, const float* b, const Conv2dGeometry& g) {
  if (g.depthwise()) return depthwise_forward(y, x, w, b, g);
  const int64_t G = g.groups, Cg = g.C_in / G, Cog = g.C_out / G;
  const int64_t K = Cg * g.kH * g.kW, P = g.H_out * g.W_out, HW = g.H * g.W;
  const bool pointwise = is_pointwise(g);
  const bool wide = !pointwise && g.stride_h == 1 && g.stride_w == 1;
  // the padded input of the wide layout: H_out = Hp - dh*(kH-1) at stride 1
  const int64_t Hp = g.H_out + g.dilation_h * (g.kH - 1), Wp = g.W_out + g.dilation_w * (g.kW - 1);
  // The weights w_g (Cog, K) are the A operand of every image's GEMM: packed once.
  std::vector<std::unique_ptr<PackedA>> wpack;
  if (!pointwise)
    for (int64_t grp = 0; grp < G; ++grp) wpack.emplace_back(new PackedA(false, Cog, K, w + grp * Cog * K, K));
  for_each_image(g.N, [&](int64_t n) {
    const float* xn = x + n * g.C_in * HW;
    float* yn = y + n * g.C_out * P;
    if (wide) {  // y = bias, then += w_g . col_g, cropped from the wide output
      float* xpad = tl_pad.get(g.C_in * Hp * Wp + kSlack(Wp));
      pad_into(xn, g.C_in, g.H, g.W, Hp, Wp, g.pad_top, g.pad_left, xpad);
      const int64_t Q = g.H_out * Wp;
      float* ywide = tl_wide_out.get(Cog * Q);
      for (int64_t grp = 0; grp < G; ++grp) {
        const WidePlane plane{xpad + grp * Cg * Hp * Wp, Hp, Wp, g.kH, g.kW, g.dilation_h, g.dilation_w};
        sgemm_ex(*wpack[grp], Q, WideColB(plane), ywide, Q, false);
        for (int64_t o = 0; o < Cog; ++o) {  // crop the valid columns, add the bias
          const float bo = b ? b[grp * Cog + o] : 0.0f;
          float* yo = yn + (grp * Cog + o) * P;
          for (int64_t i = 0; i < g.H_out; ++i) {
            const float* src = ywide + o * Q + i * Wp;
#pragma omp simd
            for (int64_t j = 0; j < g.W_out; ++j) yo[i * g.W_out + j] = src[j] + bo;
          }
        }
      }
      return;
    }
    for (int64_t grp = 0; grp < G; ++grp) {
      // y_g (Cog, P) = w_g (Cog, K) . col_g (K, P); pointwise: col_g is x_g itself
      const float* xg = xn + grp * Cg * HW;
      const float* wg = w + grp * Cog * K;
      float* yg = yn + grp * Cog * P;
      if (pointwise)
        sgemm(false, false, Cog, P, K, wg, K, xg, P, yg, P, false);
      else
        sgemm_ex(*wpack[grp], P, ColB(g, xg), yg, P, false);
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
  if (g.depthwise()) return depthwise_backward(dx, dw, dy, x, w, g);

  // Stride 1: the wide layout (see WidePlane). dw from the padded input and the output gradient
  // widened with zero junk columns; dx as the stride-1 convolution of the padded output
  // gradient with the flipped, transposed weights wflip_g[c, (o, u, v)] = w_g[o, c, kH-1-u, kW-1-v],
  // possible when no side is padded by more than the kernel's extent (and worth it when that
  // GEMM has a micro-tile of rows, Cg >= 8; else col2im).
  const bool wide = !pointwise && g.stride_h == 1 && g.stride_w == 1;
  const int64_t eh = g.dilation_h * (g.kH - 1), ew = g.dilation_w * (g.kW - 1);
  const int64_t Hp = g.H_out + eh, Wp = g.W_out + ew, Q = g.H_out * Wp;
  const bool wide_dx = wide && Cg >= 8 && g.pad_top <= eh && g.pad_left <= ew && Hp - g.H - g.pad_top <= eh &&
                       Wp - g.W - g.pad_left <= ew;
  const int64_t Hq = g.H + eh, Wq = g.W + ew, Kq = Cog * g.kH * g.kW;
  float* wflip = nullptr;
  std::vector<std::unique_ptr<PackedA>> wflip_pack;  // the A operands of grad_x, packed once
  if (dx && wide_dx) {
    wflip = tl_dw_flip.get(w_numel);
    for (int64_t grp = 0; grp < G; ++grp)
      for (int64_t c = 0; c < Cg; ++c)
        for (int64_t o = 0; o < Cog; ++o)
          for (int64_t u = 0; u < g.kH; ++u)
            for (int64_t v = 0; v < g.kW; ++v)
              wflip[((grp * Cg + c) * Cog + o) * g.kH * g.kW + u * g.kW + v] =
                  w[(((grp * Cog + o) * Cg + c) * g.kH + (g.kH - 1 - u)) * g.kW + (g.kW - 1 - v)];
    for (int64_t grp = 0; grp < G; ++grp) wflip_pack.emplace_back(new PackedA(false, Cg, Kq, wflip + grp * Cg * Kq, Kq));
  }

  // One image: dw_acc += dy_g . col_g^T  and  dx_n = col2im(w_g^T . dy_g).
  auto one_image = [&](int64_t n, float* dw_acc) {
    const float* xn = x + n * g.C_in * HW;
    const float* dyn = dy + n * g.C_out * P;
    if (wide) {
      float* dypad = nullptr;  // grad_out padded for grad_x: (C_out, Hq, Wq) + slack
      if (dx && wide_dx) {
        dypad = tl_pad3.get(g.C_out * Hq * Wq + kSlack(Wq));
        pad_into(dyn, g.C_out, g.H_out, g.W_out, Hq, Wq, eh - g.pad_top, ew - g.pad_left, dypad);
      }
      if (dw) {
        float* xpad = tl_pad.get(g.C_in * Hp * Wp + kSlack(Wp));
        pad_into(xn, g.C_in, g.H, g.W, Hp, Wp, g.pad_top, g.pad_left, xpad);
        // grad_out on the wide grid, junk columns zero: a view into dypad when the widths agree
        // (its pad columns are the zeros, rows Hq*Wq apart), else a copy.
        const float* dyw;
        int64_t ld_dyw;
        if (dypad && Wq == Wp) {
          dyw = dypad + (eh - g.pad_top) * Wq + (ew - g.pad_left);
          ld_dyw = Hq * Wq;
        } else {
          float* buf = tl_pad2.get(g.C_out * Q + kSlack(Wp));
          pad_into(dyn, g.C_out, g.H_out, g.W_out, g.H_out, Wp, 0, 0, buf);
          dyw = buf;
          ld_dyw = Q;
        }
        for (int64_t grp = 0; grp < G; ++grp) {
          const WidePlane plane{xpad + grp * Cg * Hp * Wp, Hp, Wp, g.kH, g.kW, g.dilation_h, g.dilation_w};
          if (K < 16)
            small_weight_grad(dyw + grp * Cog * ld_dyw, ld_dyw, row_table(plane, K), Cog, K, Q,
                              dw_acc + grp * Cog * K);
          else
            sgemm_ex(false, Cog, K, Q, dyw + grp * Cog * ld_dyw, ld_dyw, WideColTB(plane), dw_acc + grp * Cog * K,
                     K, true);
        }
      }
      if (dypad) {
        float* dxn = dx + n * g.C_in * HW;
        const int64_t Qx = g.H * Wq;
        float* dxwide = tl_wide_out.get(Cg * Qx);
        for (int64_t grp = 0; grp < G; ++grp) {
          const WidePlane plane{dypad + grp * Cog * Hq * Wq, Hq, Wq, g.kH, g.kW, g.dilation_h, g.dilation_w};
          sgemm_ex(*wflip_pack[grp], Qx, WideColB(plane), dxwide, Qx, false);
          for (int64_t c = 0; c < Cg; ++c)  // crop the valid columns
            for (int64_t i = 0; i < g.H; ++i)
              std::memcpy(dxn + ((grp * Cg + c) * g.H + i) * g.W, dxwide + c * Qx + i * Wq, sizeof(float) * g.W);
        }
        return;
      }
      if (!dx) return;
    }
    for (int64_t grp = 0; grp < G; ++grp) {
      const float* xg = xn + grp * Cg * HW;
      const float* dyg = dyn + grp * Cog * P;
      const float* wg = w + grp * Cog * K;
      if (dw && !wide) {  // dw_g (Cog, K) += dy_g (Cog, P) . col_g^T (P, K)
        if (pointwise)
          sgemm(false, true, Cog, K, P, dyg, P, xg, P, dw_acc + grp * Cog * K, K, true);
        else
          sgemm_ex(false, Cog, K, P, dyg, P, ColTB(g, xg), dw_acc + grp * Cog * K, K, true);
      }
      if (dx) {  // dcol_g (K, P) = w_g^T (K, Cog) . dy_g (Cog, P), scattered into dx_g
        float* dxg = dx + n * g.C_in * HW + grp * Cg * HW;
        if (pointwise) {
          sgemm(true, false, K, P, Cog, wg, K, dyg, P, dxg, P, false);
        } else {
          std::memset(dxg, 0, sizeof(float) * Cg * HW);
          Col2imC store(g, dxg);
          sgemm_ex(true, K, P, Cog, wg, K, MatrixB(false, dyg, P), nullptr, 0, true, &store);
        }
      }
    }
  };

  const int threads = omp_get_max_threads();
  if (g.N >= threads && threads > 1) {
    // Images over the threads; each thread sums its images' dw in its own buffer (thread 0 in dw).
    std::vector<float*> partial(threads, nullptr);
#pragma omp parallel
    {
      const int t = omp_get_thread_num(), T = omp_get_num_threads();
      float* mine = nullptr;
      if (dw) {
        mine = t == 0 ? dw : tl_dw.get(w_numel);
        std::memset(mine, 0, sizeof(float) * w_numel);
        partial[t] = mine;
      }
      // Static: each thread always gets the same images, so dw sums in the same order on every
      // run (same seed, same result, bit for bit).
#pragma omp for schedule(static)
      for (int64_t n = 0; n < g.N; ++n) one_image(n, mine);
      // the implicit barrier above: every partial sum is complete
      if (dw) {
#pragma omp for schedule(static)
        for (int64_t i = 0; i < w_numel; ++i)
          for (int u = 1; u < T; ++u) dw[i] += partial[u][i];
      }
    }
  } else {
    if (dw) std::memset(dw, 0, sizeof(float) * w_numel);
    for (int64_t n = 0; n < g.N; ++n) one_image(n, dw);
  }
}

}  // namespace cpu_kernels

namespace ops {

static std::string pair_str(int64_t a, int64_t b) { return "(" + std::to_string(a) + ", " + std::to_string(b) + ")"; }

static Conv2dGeometry geometry(const Tensor& x, const Tensor& w, const Conv2dParams& p, const Shape& out) {
  return {x.size(0), x.size(1), x.size(2), x.size(3), w.size(0), w.size(2), w.size(3), out[2], out[3],
          p.stride_h, p.stride_w, p.pad_top, p.pad_left, p.dilation_h, p.dilation_w, p.groups};
}

static std::string padding_str(const Conv2dParams& p) {
  return "(" + std::to_string(p.pad_top) + ", " + std::to_string(p.pad_left) + ", " + std::to_string(p.pad_bottom) +
         ", " + std::to_string(p.pad_right) + ")";
}

static void check_params(const char* op, const Conv2dParams& p) {
  CONVNET_CHECK_VALUE(p.stride_h >= 1 && p.stride_w >= 1, op, "stride", "positive values",
                      pair_str(p.stride_h, p.stride_w));
  CONVNET_CHECK_VALUE(p.pad_top >= 0 && p.pad_left >= 0 && p.pad_bottom >= 0 && p.pad_right >= 0, op, "padding",
                      "non-negative values (top, left, bottom, right)", padding_str(p));
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
  // The CPU kernels work on a zero-padded copy of each image: it must have a size, too.
  checked_output_shape(op, {C_in, Hp, Wp},
                       "the padded input for x " + shape_str(x.shape()) + " and padding " + padding_str(p));
  const Shape out{x.size(0), C_out, (Hp - eh) / p.stride_h + 1, (Wp - ew) / p.stride_w + 1};
  checked_output_shape(op, out, "x " + shape_str(x.shape()) + ", w " + shape_str(w.shape()) + ", stride " +
                                    pair_str(p.stride_h, p.stride_w) + ", padding " + padding_str(p) + ", dilation " +
                                    pair_str(p.dilation_h, p.dilation_w));
  return out;
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

int64_t same_padding_total(int64_t size, int64_t extent, int64_t stride) {
  const int64_t out = (size + stride - 1) / stride;
  return std::max<int64_t>((out - 1) * stride + extent - size, 0);
}

Conv2dParams conv2d_same_padding(Conv2dParams p, int kernel_h, int kernel_w, int64_t H, int64_t W) {
  CONVNET_CHECK_VALUE(p.stride_h >= 1 && p.stride_w >= 1, "conv2d", "stride", "positive steps",
                      pair_str(p.stride_h, p.stride_w));
  CONVNET_CHECK_VALUE(p.dilation_h >= 1 && p.dilation_w >= 1, "conv2d", "dilation", "values >= 1",
                      pair_str(p.dilation_h, p.dilation_w));
  CONVNET_CHECK_VALUE(kernel_h >= 1 && kernel_w >= 1, "conv2d", "w", "a kernel of positive size",
                      pair_str(kernel_h, kernel_w));
  // The total padding (at most the dilated extent - 1) of each axis must fit the kernels' int.
  const int64_t th64 = same_padding_total(H, int64_t(p.dilation_h) * (kernel_h - 1) + 1, p.stride_h);
  const int64_t tw64 = same_padding_total(W, int64_t(p.dilation_w) * (kernel_w - 1) + 1, p.stride_w);
  CONVNET_CHECK_VALUE(th64 <= INT32_MAX && tw64 <= INT32_MAX, "conv2d", "padding",
                      "'same' with a total padding below 2**31",
                      "'same' with dilation " + pair_str(p.dilation_h, p.dilation_w) + " and kernel " +
                          pair_str(kernel_h, kernel_w) + ": " + pair_str(th64, tw64));
  const int th = static_cast<int>(th64), tw = static_cast<int>(tw64);
  p.pad_top = th / 2;
  p.pad_bottom = th - th / 2;
  p.pad_left = tw / 2;
  p.pad_right = tw - tw / 2;
  return p;
}

}  // namespace ops
}  // namespace convnet
