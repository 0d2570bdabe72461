// Batch assembly: contracts, dispatch and CPU kernels.
#include "ops/batch.h"

#include "core/checks.h"
#include "kernels/cpu_simd.h"
#include "ops/dispatch.h"

namespace convnet {

namespace cpu_kernels {
CONVNET_CPU_KERNEL
void gather_rows_u8(float* out, const uint8_t* x, int64_t rows, const int64_t* order, const int64_t* start, int64_t n,
                    int64_t row_size, float scale) {
  order += *start;
#pragma omp parallel for schedule(static) if (n * row_size > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* src = x + picked_row(order, i, rows) * row_size;
    float* dst = out + i * row_size;
    for (int64_t j = 0; j < row_size; ++j) dst[j] = static_cast<float>(src[j]) * scale;
  }
}
CONVNET_CPU_KERNEL
void gather_rows_f32(float* out, const float* x, int64_t rows, const int64_t* order, const int64_t* start, int64_t n,
                     int64_t row_size) {
  order += *start;
#pragma omp parallel for schedule(static) if (n * row_size > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const float* src = x + picked_row(order, i, rows) * row_size;
    float* dst = out + i * row_size;
    for (int64_t j = 0; j < row_size; ++j) dst[j] = src[j];
  }
}
CONVNET_CPU_KERNEL
void gather_rows_i64(int64_t* out, const int64_t* x, int64_t rows, const int64_t* order, const int64_t* start, int64_t n) {
  order += *start;
  for (int64_t i = 0; i < n; ++i) out[i] = x[picked_row(order, i, rows)];
}
void check_order(const int64_t* order, int64_t n, int64_t rows, ops::LossTotals* totals) {
  for (int64_t i = 0; i < n; ++i)
    if (order[i] < 0 || order[i] >= rows) {
      totals->bad_order = i;
      totals->nonfinite_step = 0;
      return;
    }
}
void fill_permutation(int64_t* order, ops::ShuffleKey key) {
#pragma omp parallel for schedule(static) if (key.n > 65536)
  for (int64_t i = 0; i < key.n; ++i) order[i] = shuffled_index(key, i);
}
}  // namespace cpu_kernels

namespace ops {

static void check_rows(const char* op, const Tensor& src, const Tensor& order, const Tensor& start, int64_t n) {
  check_dtype(op, "order", order, DType::Int64);
  CONVNET_CHECK_VALUE(src.dim() >= 1 && src.size(0) == order.numel(), op, "order",
                      "one index per row of the data (" + std::to_string(src.dim() ? src.size(0) : 0) + ")",
                      std::to_string(order.numel()) + " indices");
  CONVNET_CHECK_VALUE(n >= 0 && n <= order.numel(), op, "n", "a batch of at most " + std::to_string(order.numel()) + " rows",
                      std::to_string(n));
  check_same_device(op, "order", order, "x", src);
  check_step_value(op, "start", start, DType::Int64, 1, src);
}

static Tensor checked_start(const char* op, const Tensor& order, int64_t start, int64_t n) {
  CONVNET_CHECK_VALUE(start >= 0 && n >= 0 && start + n <= order.numel(), op, "start",
                      "a range inside " + std::to_string(order.numel()) + " rows",
                      std::to_string(start) + " + " + std::to_string(n));
  return Tensor::from_values(std::vector<int64_t>{start}, order.device());
}

void gather_batch(Tensor& out, const Tensor& x, const Tensor& order, const Tensor& start, int64_t n,
                  float uint8_scale) {
  check_rows("gather_batch", x, order, start, n);
  Shape want = x.shape();
  want[0] = n;
  check_output("gather_batch", "out", out, want, x);
  const int64_t row = n ? out.numel() / n : 0;
  const int64_t* idx = order.data<int64_t>();
  if (x.dtype() == DType::UInt8) {
    CONVNET_DISPATCH(x, gather_rows_u8, out.data<float>(), x.data<uint8_t>(), x.size(0), idx, start.data<int64_t>(), n,
                     row, uint8_scale);
  } else {
    check_dtype("gather_batch", "x", x, DType::Float32);
    CONVNET_DISPATCH(x, gather_rows_f32, out.data<float>(), x.data<float>(), x.size(0), idx, start.data<int64_t>(), n,
                     row);
  }
}

void gather_labels(Tensor& out, const Tensor& y, const Tensor& order, const Tensor& start, int64_t n) {
  check_rows("gather_labels", y, order, start, n);
  Shape want = y.shape();
  want[0] = n;
  check_output("gather_labels", "out", out, want, y, y.dtype());
  const int64_t* idx = order.data<int64_t>();
  if (y.dtype() == DType::Int64) {
    CONVNET_DISPATCH(y, gather_rows_i64, out.data<int64_t>(), y.data<int64_t>(), y.size(0), idx, start.data<int64_t>(),
                     n);
  } else {
    check_dtype("gather_labels", "y", y, DType::Float32);
    const int64_t row = y.numel() / y.size(0);
    CONVNET_DISPATCH(y, gather_rows_f32, out.data<float>(), y.data<float>(), y.size(0), idx, start.data<int64_t>(), n,
                     row);
  }
}

void gather_batch(Tensor& out, const Tensor& x, const Tensor& order, int64_t start, int64_t n, float uint8_scale) {
  gather_batch(out, x, order, checked_start("gather_batch", order, start, n), n, uint8_scale);
}

void gather_labels(Tensor& out, const Tensor& y, const Tensor& order, int64_t start, int64_t n) {
  gather_labels(out, y, order, checked_start("gather_labels", order, start, n), n);
}

void check_order(const Tensor& order, int64_t rows, Tensor& totals) {
  check_dtype("check_order", "order", order, DType::Int64);
  check_rank("check_order", "order", order, 1, "(n,)");
  check_step_value("check_order", "totals", totals, DType::Int64, LossTotals::size(), order);
  if (order.numel() == 0) return;
  CONVNET_DISPATCH(order, check_order, order.data<int64_t>(), order.numel(), rows,
                   reinterpret_cast<LossTotals*>(totals.data<int64_t>()));
}

ShuffleKey shuffle_key(int64_t n, uint64_t seed) {
  ShuffleKey key{};
  key.n = n;
  while (key.half_bits < 32 && (uint64_t{1} << (2 * key.half_bits)) < static_cast<uint64_t>(n)) ++key.half_bits;
  for (int r = 0; r < ShuffleKey::kRounds; ++r) key.round_keys[r] = splitmix64_mix(seed + (r + 1) * kGoldenGamma);
  return key;
}

void permutation(Tensor& order, uint64_t seed) {
  check_dtype("permutation", "order", order, DType::Int64);
  check_rank("permutation", "order", order, 1, "(n,)");
  if (order.numel() == 0) return;
  CONVNET_DISPATCH(order, fill_permutation, order.data<int64_t>(), shuffle_key(order.numel(), seed));
}

Tensor permutation(int64_t n, uint64_t seed, Device device) {
  CONVNET_CHECK_VALUE(n >= 0, "permutation", "n", "a non-negative size", std::to_string(n));
  Tensor order = Tensor::empty({n}, DType::Int64, device);
  permutation(order, seed);
  return order;
}

}  // namespace ops
}  // namespace convnet
