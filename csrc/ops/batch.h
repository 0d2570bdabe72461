// Batch assembly: the first step of the data path. The dataset stays where the math is (uint8
// images uploaded once); each step gathers the rows of a batch through a permutation, scaling
// uint8 pixels to [0, 1], in a kernel.
//   x      (N, C, H, W) uint8 (scaled by 1/255) or float32 (copied as is)
//   order  (N,) int64, a permutation of [0, N) (or any valid row indices)
//   out    (n, C, H, W) float32: out[i] = x[order[start + i]]
// Labels likewise: y (N,) int64 or (N, K) float32 -> out (n,) / (n, K).
// start is a number (checked: start + n <= N), or a (1,) int64 tensor on x's device, read by the
// kernel so that a captured training step gathers a new batch at each replay; that value is
// trusted (the executor checks it on the host before it writes it).
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace convnet {
namespace ops {

void gather_batch(Tensor& out, const Tensor& x, const Tensor& order, const Tensor& start, int64_t n);
void gather_labels(Tensor& out, const Tensor& y, const Tensor& order, const Tensor& start, int64_t n);
void gather_batch(Tensor& out, const Tensor& x, const Tensor& order, int64_t start, int64_t n);
void gather_labels(Tensor& out, const Tensor& y, const Tensor& order, int64_t start, int64_t n);
// A seeded permutation of [0, n) (Fisher-Yates over a 64-bit Mersenne Twister): the same seed gives
// the same order on every machine.
Tensor permutation(int64_t n, uint64_t seed);

}  // namespace ops

namespace cpu_kernels {
// out[i] = x[order[*start + i]]; row_size: elements per row; scale: 1/255 for uint8 input
void gather_rows_u8(float* out, const uint8_t* x, const int64_t* order, const int64_t* start, int64_t n, int64_t row_size, float scale);
void gather_rows_f32(float* out, const float* x, const int64_t* order, const int64_t* start, int64_t n, int64_t row_size);
void gather_rows_i64(int64_t* out, const int64_t* x, const int64_t* order, const int64_t* start, int64_t n);
}  // namespace cpu_kernels
namespace cuda_kernels {
void gather_rows_u8(float* out, const uint8_t* x, const int64_t* order, const int64_t* start, int64_t n, int64_t row_size, float scale);
void gather_rows_f32(float* out, const float* x, const int64_t* order, const int64_t* start, int64_t n, int64_t row_size);
void gather_rows_i64(int64_t* out, const int64_t* x, const int64_t* order, const int64_t* start, int64_t n);
}  // namespace cuda_kernels

}  // namespace convnet
