// Binary cross-entropy from logits and mean squared error from C++: known values, the stable form at
// huge logits, rejected arguments, and the CUDA kernels against the CPU ones where a GPU (or the
// emulator) is there.
#include <cmath>
#include <vector>

#include "check.h"
#include "core/tensor.h"
#include "ops/loss.h"

using namespace convnet;

static Tensor from(const std::vector<float>& v, Shape shape = {}) {
  if (shape.empty()) shape = {int64_t(v.size())};
  return Tensor::from_values(v, Device::cpu()).reshape(shape);
}

static bool near(const Tensor& t, const std::vector<double>& want, double tol = 1e-6) {
  const Tensor host = t.to(Device::cpu());
  if (host.numel() != int64_t(want.size())) return false;
  for (size_t i = 0; i < want.size(); ++i)
    if (!(std::fabs(host.data<float>()[i] - want[i]) <= tol * (1.0 + std::fabs(want[i])))) return false;
  return true;
}

static double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

CONVNET_TEST(binary_cross_entropy_values) {
  Tensor z = from({-2.0f, 3.0f, 0.0f}, {3, 1}), t = from({0.0f, 1.0f, 0.5f});
  // t' = t (1 - s) + s / 2 with s = 0.2: 0.1, 0.9, 0.5
  const double s = 0.2, tp[3] = {0.1, 0.9, 0.5}, zs[3] = {-2, 3, 0};
  double want = 0.0;
  for (int n = 0; n < 3; ++n) want += -tp[n] * std::log(sigmoid(zs[n])) - (1 - tp[n]) * std::log(1 - sigmoid(zs[n]));
  EXPECT(near(ops::binary_cross_entropy_with_logits(z, t, float(s)), {want / 3}), "bce forward with smoothing");
  Tensor dz = Tensor::empty({3, 1});
  ops::binary_cross_entropy_with_logits_backward(dz, 3.0f, z, t, float(s));
  EXPECT(near(dz, {sigmoid(-2) - 0.1, sigmoid(3) - 0.9, 0.0}), "bce backward: grad_scale (sigmoid - t') / N");
  Tensor correct = Tensor::zeros({1}, DType::Int64);
  ops::count_correct_binary(correct, z, t);
  ops::count_correct_binary(correct, z, t);
  EXPECT(correct.data<int64_t>()[0] == 4, "count_correct_binary adds (z > 0) == (t >= 0.5): 2 rows, twice");
  // The stable form: no overflow at huge logits.
  Tensor big = from({1e4f, -1e4f}), hard = from({0.0f, 1.0f});
  EXPECT(near(ops::binary_cross_entropy_with_logits(big, hard, 0.0f), {1e4}), "bce at |z| = 1e4 is |z|");
  Tensor loss = Tensor::empty({1});
  ops::binary_cross_entropy_with_logits_forward(loss, z, t, 0.0f);  // a 1-element loss buffer
  EXPECT(std::isfinite(loss.data<float>()[0]), "bce into a 1-element buffer");
}

CONVNET_TEST(binary_cross_entropy_rejects_arguments) {
  Tensor z = Tensor::zeros({3, 1});
  EXPECT_THROWS(ValueError, ops::binary_cross_entropy_with_logits(z, from({0.0f, 1.5f, 0.0f}), 0.0f),
                "bce rejects a target above 1 on the CPU", "target 1.5 at index 1");
  EXPECT_THROWS(ValueError, ops::binary_cross_entropy_with_logits(z, from({0.0f, 0.0f, NAN}), 0.0f),
                "bce rejects a NaN target", "at index 2");
  EXPECT_THROWS(ValueError, ops::binary_cross_entropy_with_logits(z, Tensor::zeros({3}), 2.0f),
                "bce rejects smoothing 2", "'label_smoothing'");
  EXPECT_THROWS(ValueError, ops::binary_cross_entropy_with_logits(Tensor::zeros({3, 2}), Tensor::zeros({3}), 0.0f),
                "bce takes one logit per row", "(N,) or (N, 1)");
  EXPECT_THROWS(ValueError, ops::binary_cross_entropy_with_logits(z, Tensor::zeros({4}), 0.0f),
                "bce checks the target's length", "'target'");
  EXPECT_THROWS(TypeError, ops::binary_cross_entropy_with_logits(z, Tensor::zeros({3}, DType::Int64), 0.0f),
                "bce takes float targets", "float32");
  Tensor counter = Tensor::zeros({1});
  EXPECT_THROWS(TypeError, ops::count_correct_binary(counter, z, Tensor::zeros({3})), "the counter is int64",
                "'correct'");
  Tensor dz = Tensor::empty({3});
  EXPECT_THROWS(ValueError, ops::binary_cross_entropy_with_logits_backward(dz, 1.0f, z, Tensor::zeros({3}), 0.0f),
                "bce backward checks grad_logits' shape", "'grad_logits'");
}

CONVNET_TEST(mse_loss_values) {
  Tensor p = from({1, 2, 0, -1}, {2, 2}), t = from({0, 2, 2, 1}, {2, 2});
  EXPECT(near(ops::mse_loss(p, t), {(1.0 + 0 + 4 + 4) / 4}), "mse forward: mean over all elements");
  Tensor dp = Tensor::empty({2, 2});
  ops::mse_loss_backward(dp, 2.0f, p, t);
  EXPECT(near(dp, {1.0, 0.0, -2.0, -2.0}), "mse backward: grad_scale 2 (p - t) / M");
  EXPECT_THROWS(ValueError, ops::mse_loss(p, Tensor::zeros({4})), "mse checks the shapes", "mse_loss: argument 'target'");
  EXPECT_THROWS(TypeError, ops::mse_loss(Tensor::zeros({2}, DType::Int64), Tensor::zeros({2})), "mse takes float32",
                "'pred'");
  EXPECT_THROWS(ValueError, ops::mse_loss_backward(dp, INFINITY, p, t), "mse backward needs a finite grad_out",
                "'grad_out'");
  Tensor loss = Tensor::empty({2});
  EXPECT_THROWS(ValueError, ops::mse_loss_forward(loss, p, t), "the loss is one element", "'loss'");
}

CONVNET_TEST(binary_and_mse_cuda_match_cpu) {
  if (!cuda::is_available()) return;
  std::vector<float> zv, tv;
  for (int i = 0; i < 300; ++i) {
    zv.push_back(float(std::sin(i * 1.7)) * 6.0f);
    tv.push_back(float(i % 7) / 6.0f);
  }
  const Device gpu = Device::cuda();
  Tensor z = from(zv, {300, 1}), t = from(tv), gz = z.to(gpu), gt = t.to(gpu);
  const double cpu_loss = ops::binary_cross_entropy_with_logits(z, t, 0.1f).data<float>()[0];
  EXPECT(near(ops::binary_cross_entropy_with_logits(gz, gt, 0.1f), {cpu_loss}), "bce loss on CUDA");
  Tensor dz = Tensor::empty({300, 1}), gdz = Tensor::empty({300, 1}, DType::Float32, gpu);
  ops::binary_cross_entropy_with_logits_backward(dz, 1.0f, z, t, 0.1f);
  ops::binary_cross_entropy_with_logits_backward(gdz, 1.0f, gz, gt, 0.1f);
  EXPECT(near(gdz, std::vector<double>(dz.data<float>(), dz.data<float>() + 300)), "bce gradient on CUDA");
  Tensor correct = Tensor::zeros({1}, DType::Int64), gcorrect = Tensor::zeros({1}, DType::Int64, gpu);
  ops::count_correct_binary(correct, z, t);
  ops::count_correct_binary(gcorrect, gz, gt);
  EXPECT(gcorrect.to(Device::cpu()).data<int64_t>()[0] == correct.data<int64_t>()[0], "count_correct_binary on CUDA");
  Tensor gbad = from({0.0f, 2.0f, 1.0f}).to(gpu), gz3 = Tensor::zeros({3}, DType::Float32, gpu);
  EXPECT(std::isnan(ops::binary_cross_entropy_with_logits(gz3, gbad, 0.0f).to(Device::cpu()).data<float>()[0]),
         "a bad target on CUDA makes the loss NaN");
  const double mse = ops::mse_loss(z, t.reshape({300, 1})).data<float>()[0];
  EXPECT(near(ops::mse_loss(gz, gt.reshape({300, 1})), {mse}), "mse loss on CUDA");
}
