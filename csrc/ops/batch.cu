// Batch assembly: CUDA twins of batch.cpp.
#include "core/cuda_check.h"
#include "ops/batch.h"

namespace convnet {
namespace cuda_kernels {

__global__ void gather_rows_u8_kernel(float* out, const uint8_t* x, int64_t rows, const int64_t* order, const int64_t* start,
                                      int64_t n, int64_t row_size, float scale) {
  const int64_t total = n * row_size;
  order += *start;
  for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < total; k += (int64_t)gridDim.x * blockDim.x) {
    const int64_t i = k / row_size, j = k % row_size;
    out[k] = static_cast<float>(x[picked_row(order, i, rows) * row_size + j]) * scale;
  }
}

__global__ void gather_rows_f32_kernel(float* out, const float* x, int64_t rows, const int64_t* order, const int64_t* start,
                                       int64_t n, int64_t row_size) {
  const int64_t total = n * row_size;
  order += *start;
  for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < total; k += (int64_t)gridDim.x * blockDim.x) {
    const int64_t i = k / row_size, j = k % row_size;
    out[k] = x[picked_row(order, i, rows) * row_size + j];
  }
}

__global__ void gather_rows_i64_kernel(int64_t* out, const int64_t* x, int64_t rows, const int64_t* order, const int64_t* start,
                                       int64_t n) {
  order += *start;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = x[picked_row(order, i, rows)];
}

// Any thread that finds a bad index marks the run; which position is recorded when several are bad
// does not matter.
__global__ void check_order_kernel(const int64_t* order, int64_t n, int64_t rows, ops::LossTotals* totals) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    if (order[i] < 0 || order[i] >= rows) {
      totals->bad_order = i;
      totals->nonfinite_step = 0;
    }
}

__global__ void fill_permutation_kernel(int64_t* order, ops::ShuffleKey key) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < key.n; i += (int64_t)gridDim.x * blockDim.x)
    order[i] = shuffled_index(key, i);
}

void gather_rows_u8(float* out, const uint8_t* x, int64_t rows, const int64_t* order, const int64_t* start, int64_t n,
                    int64_t row_size, float scale) {
  cuda::launch("gather_rows_u8_kernel", gather_rows_u8_kernel, cuda::grid_for(n * row_size), 256, out, x, rows, order, start, n,
               row_size, scale);
}
void gather_rows_f32(float* out, const float* x, int64_t rows, const int64_t* order, const int64_t* start, int64_t n,
                     int64_t row_size) {
  cuda::launch("gather_rows_f32_kernel", gather_rows_f32_kernel, cuda::grid_for(n * row_size), 256, out, x, rows, order, start,
               n, row_size);
}
void gather_rows_i64(int64_t* out, const int64_t* x, int64_t rows, const int64_t* order, const int64_t* start, int64_t n) {
  cuda::launch("gather_rows_i64_kernel", gather_rows_i64_kernel, cuda::grid_for(n), 256, out, x, rows, order, start, n);
}
void check_order(const int64_t* order, int64_t n, int64_t rows, ops::LossTotals* totals) {
  cuda::launch("check_order_kernel", check_order_kernel, cuda::grid_for(n), 256, order, n, rows, totals);
}
void fill_permutation(int64_t* order, ops::ShuffleKey key) {
  cuda::launch("fill_permutation_kernel", fill_permutation_kernel, cuda::grid_for(key.n), 256, order, key);
}

}  // namespace cuda_kernels
}  // namespace convnet
