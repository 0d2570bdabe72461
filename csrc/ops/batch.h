// Batch assembly: the first step of the data path. The dataset stays where the math is (uint8
// images uploaded once); each step gathers the rows of a batch through a permutation, scaling
// uint8 pixels to [0, 1], in a kernel.
//   x      (N, C, H, W) uint8 (times uint8_scale: 1/255 maps pixels to [0, 1]; 1 keeps 0..255, Keras'
//          convention) or float32 (copied as is)
//   order  (N,) int64, a permutation of [0, N) (or any valid row indices)
//   out    (n, C, H, W) float32: out[i] = x[order[start + i]]
// Labels likewise: y (N,) int64 or (N, K) float32 -> out (n,) / (n, K).
// start is a number (checked: start + n <= N), or a (1,) int64 tensor on x's device, read by the
// kernel so that a captured training step gathers a new batch at each replay; that value is
// trusted (the executor checks it on the host before it writes it). An index of order outside
// [0, N) is read as row 0, so no order reads outside the data; check_order reports it.
#pragma once
#include <cstdint>

#include "core/host_device.h"
#include "core/random.h"
#include "core/tensor.h"
#include "ops/loss.h"

namespace convnet {
namespace ops {

constexpr float kPixelScale = 1.0f / 255.0f;
void gather_batch(Tensor& out, const Tensor& x, const Tensor& order, const Tensor& start, int64_t n,
                  float uint8_scale = kPixelScale);
void gather_labels(Tensor& out, const Tensor& y, const Tensor& order, const Tensor& start, int64_t n);
void gather_batch(Tensor& out, const Tensor& x, const Tensor& order, int64_t start, int64_t n,
                  float uint8_scale = kPixelScale);
void gather_labels(Tensor& out, const Tensor& y, const Tensor& order, int64_t start, int64_t n);
// Marks a run whose order (on any device) holds an index outside [0, rows): totals (ops::LossTotals,
// on order's device) get bad_order = the position of one such index and nonfinite_step = 0, which
// halts every update of the run as a non-finite loss does. The executor reads the totals after the
// run anyway, so a CUDA order is checked without the host waiting for the device once more.
void check_order(const Tensor& order, int64_t rows, Tensor& totals);
// A seeded permutation of [0, n), computed in a kernel on the device of `order` (so a GPU run
// shuffles each epoch without the host): order[i] = shuffled_index(shuffle_key(n, seed), i). The
// same seed gives the same order on every device and machine.
void permutation(Tensor& order, uint64_t seed);  // order: (n,) int64
Tensor permutation(int64_t n, uint64_t seed, Device device = Device::cpu());

// A keyed bijection of [0, n) that any thread evaluates on its own: a balanced Feistel network over
// indices of 2 * half_bits bits (the smallest even width that holds n-1), whose round function is
// splitmix64 keyed per round, so each round is a bijection of the whole domain. "Cycle walking"
// maps it onto [0, n): an index that lands outside is encrypted again until it falls inside, which
// keeps the map a bijection (Black & Rogaway 2002). The domain is below 4n, so the expected walk
// is under 4 rounds of the network (1.09 for n = 60000).
struct ShuffleKey {
  static constexpr int kRounds = 8;
  int64_t n;
  int half_bits;
  uint64_t round_keys[kRounds];
};
ShuffleKey shuffle_key(int64_t n, uint64_t seed);

}  // namespace ops

inline CONVNET_HOST_DEVICE int64_t shuffled_index(const ops::ShuffleKey& key, int64_t i) {
  const int h = key.half_bits;
  const uint64_t half_mask = (uint64_t{1} << h) - 1;
  uint64_t v = static_cast<uint64_t>(i);
  do {
    uint64_t left = v >> h, right = v & half_mask;
    for (int r = 0; r < ops::ShuffleKey::kRounds; ++r) {
      const uint64_t mixed = left ^ (splitmix64_mix(right ^ key.round_keys[r]) & half_mask);
      left = right;
      right = mixed;
    }
    v = (left << h) | right;
  } while (v >= static_cast<uint64_t>(key.n));
  return static_cast<int64_t>(v);
}

// The row of x that order[i] picks: an index outside [0, rows) picks row 0 (check_order reports it).
inline CONVNET_HOST_DEVICE int64_t picked_row(const int64_t* order, int64_t i, int64_t rows) {
  const int64_t r = order[i];
  return r >= 0 && r < rows ? r : 0;
}

namespace cpu_kernels {
// out[i] = x[order[*start + i]] (rows: N, x's rows); row_size: elements per row; scale: 1/255 for uint8 input
void gather_rows_u8(float* out, const uint8_t* x, int64_t rows, const int64_t* order, const int64_t* start, int64_t n,
                    int64_t row_size, float scale);
void gather_rows_f32(float* out, const float* x, int64_t rows, const int64_t* order, const int64_t* start, int64_t n,
                     int64_t row_size);
void gather_rows_i64(int64_t* out, const int64_t* x, int64_t rows, const int64_t* order, const int64_t* start, int64_t n);
void check_order(const int64_t* order, int64_t n, int64_t rows, ops::LossTotals* totals);
void fill_permutation(int64_t* order, ops::ShuffleKey key);  // order[i] = shuffled_index(key, i), i < key.n
}  // namespace cpu_kernels
namespace cuda_kernels {
void gather_rows_u8(float* out, const uint8_t* x, int64_t rows, const int64_t* order, const int64_t* start, int64_t n,
                    int64_t row_size, float scale);
void gather_rows_f32(float* out, const float* x, int64_t rows, const int64_t* order, const int64_t* start, int64_t n,
                     int64_t row_size);
void gather_rows_i64(int64_t* out, const int64_t* x, int64_t rows, const int64_t* order, const int64_t* start, int64_t n);
void check_order(const int64_t* order, int64_t n, int64_t rows, ops::LossTotals* totals);
void fill_permutation(int64_t* order, ops::ShuffleKey key);
}  // namespace cuda_kernels

}  // namespace convnet
