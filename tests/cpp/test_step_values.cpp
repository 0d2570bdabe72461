// Per-step values passed in memory (seeds, a batch offset, optimizer constants, loss totals): the
// forms the graph executor uses so that a training step captured as a CUDA graph reads fresh
// values at each replay. Each must agree with the plain-number form, and reject bad tensors.
#include <cmath>
#include <cstring>
#include <vector>

#include "check.h"
#include "core/tensor.h"
#include "ops/batch.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/norm.h"
#include "ops/optim.h"

using namespace convnet;

static Tensor ramp(int64_t n) {
  Tensor t = Tensor::empty({n});
  for (int64_t i = 0; i < n; ++i) t.data<float>()[i] = 0.5f + float(i);
  return t;
}

static bool same(const Tensor& a, const Tensor& b) {
  return a.nbytes() == b.nbytes() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

CONVNET_TEST(seed_tensor_gives_the_seed_mask) {
  Tensor x = ramp(1000), by_number = Tensor::empty({1000}), by_tensor = Tensor::empty({1000});
  ops::dropout_forward(by_number, x, 0.3f, uint64_t(42));
  ops::dropout_forward(by_tensor, x, 0.3f, Tensor::from_values(std::vector<int64_t>{42}, Device::cpu()));
  EXPECT(same(by_number, by_tensor), "dropout: a seed tensor draws the mask of its value");
  EXPECT_THROWS(ValueError, ops::dropout_forward(by_tensor, x, 0.3f, Tensor::zeros({2}, DType::Int64)),
                "dropout rejects a seed of 2 elements", "dropout: argument 'seed'");
  EXPECT_THROWS(TypeError, ops::dropout_forward(by_tensor, x, 0.3f, Tensor::zeros({1})),
                "dropout rejects a float seed", "int64");
}

CONVNET_TEST(start_tensor_gathers_from_its_row) {
  Tensor x = ramp(12).reshape({6, 2});
  Tensor order = Tensor::from_values(std::vector<int64_t>{5, 4, 3, 2, 1, 0}, Device::cpu());
  Tensor a = Tensor::empty({2, 2}), b = Tensor::empty({2, 2});
  ops::gather_batch(a, x, order, 3, 2);
  ops::gather_batch(b, x, order, Tensor::from_values(std::vector<int64_t>{3}, Device::cpu()), 2);
  EXPECT(same(a, b) && a.data<float>()[0] == x.data<float>()[4], "gather_batch: rows order[3], order[4]");
  EXPECT_THROWS(ValueError, ops::gather_batch(a, x, order, 5, 2), "a number start is range-checked", "start");
}

CONVNET_TEST(optimizer_scalars_tensor_and_halt) {
  ops::AdamParams p;
  p.lr = 0.01;
  Tensor grad = ramp(50);
  Tensor w1 = ramp(50), m1 = Tensor::zeros({50}), v1 = Tensor::zeros({50});
  Tensor w2 = ramp(50), m2 = Tensor::zeros({50}), v2 = Tensor::zeros({50});
  ops::adam_step(w1, grad, m1, v1, 3, p);
  const Tensor scalars = Tensor::from_values(ops::scalar_floats(ops::adam_scalars(3, p)), Device::cpu());
  Tensor go = Tensor::from_values(std::vector<int64_t>{-1}, Device::cpu());
  ops::adam_step(w2, grad, m2, v2, scalars, p, &go);
  EXPECT(same(w1, w2) && same(m1, m2) && same(v1, v2), "adam: the scalars tensor of step 3 is step 3");
  Tensor halt = Tensor::from_values(std::vector<int64_t>{0}, Device::cpu());
  const Tensor before = w2.clone();
  ops::adam_step(w2, grad, m2, v2, scalars, p, &halt);
  EXPECT(same(w2, before), "adam: a halt mark >= 0 skips the update");
  EXPECT_THROWS(ValueError, ops::adam_step(w2, grad, m2, v2, Tensor::zeros({3}), p), "adam rejects short scalars",
                "adam_step: argument 'scalars'");
  EXPECT_THROWS(ValueError, ops::adam_scalars(0, p), "the step is 1-based", "step");
}

CONVNET_TEST(loss_totals_stop_at_the_first_non_finite_loss) {
  Tensor totals = ops::new_loss_totals(Device::cpu());
  Tensor loss = Tensor::empty({1});
  for (float l : {2.0f, 4.0f, NAN, 8.0f}) {
    loss.data<float>()[0] = l;
    ops::track_loss(totals, loss, 10);
  }
  const ops::LossTotals t = ops::read_loss_totals(totals);
  EXPECT(t.steps == 2 && t.nonfinite_step == 2 && t.count == 30, "two good steps, then the NaN step counted");
  EXPECT(std::isnan(t.loss_sum), "the NaN step's loss is in the sum, as the mean reports it");
  EXPECT_THROWS(ValueError, ops::track_loss(totals, loss, 0), "track_loss rejects an empty batch", "batch");
}

CONVNET_TEST(batch_norm_halt_keeps_the_running_statistics) {
  Tensor x = ramp(2 * 3 * 4).reshape({2, 3, 2, 2}), y = Tensor::empty({2, 3, 2, 2});
  Tensor mean = Tensor::empty({3}), invstd = Tensor::empty({3});
  Tensor rm = Tensor::zeros({3}), rv = Tensor::from_values(std::vector<float>(3, 1.0f), Device::cpu());
  const ops::BatchNormParams p;
  Tensor go = Tensor::from_values(std::vector<int64_t>{-1}, Device::cpu());
  ops::batch_norm_forward(y, mean, invstd, x, Tensor(), Tensor(), rm, rv, p, &go);
  EXPECT(rm.data<float>()[0] != 0.0f && rv.data<float>()[0] != 1.0f, "batch_norm: halt -1 updates the statistics");
  const Tensor rm_before = rm.clone(), rv_before = rv.clone(), y_before = y.clone();
  Tensor halt = Tensor::from_values(std::vector<int64_t>{4}, Device::cpu());
  ops::batch_norm_forward(y, mean, invstd, x, Tensor(), Tensor(), rm, rv, p, &halt);
  EXPECT(same(rm, rm_before) && same(rv, rv_before), "batch_norm: a halt mark >= 0 keeps the running statistics");
  EXPECT(same(y, y_before), "batch_norm: and still normalises with the batch statistics");
  EXPECT_THROWS(TypeError, ops::batch_norm_forward(y, mean, invstd, x, Tensor(), Tensor(), rm, rv, p, &rm),
                "batch_norm rejects a float halt", "batch_norm: argument 'halt'");
}
