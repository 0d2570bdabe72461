// dropout, flatten, batch_norm, cross_entropy, count_correct and the optimizer steps, called from
// C++ with no Python: small known values, forward and backward, and one rejected argument each.
#include <cmath>
#include <functional>

#include "check.h"
#include "core/tensor.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/norm.h"
#include "ops/optim.h"

using namespace convnet;

namespace {

Tensor filled(const Shape& shape, const std::function<float(int64_t)>& value) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = value(i);
  return t;
}

Tensor values(const Shape& shape, std::initializer_list<float> v) {
  Tensor t = Tensor::empty(shape);
  int64_t i = 0;
  for (float x : v) t.data<float>()[i++] = x;
  return t;
}

bool near(float a, double b, double tol = 1e-5) { return std::fabs(a - b) <= tol * (1.0 + std::fabs(b)); }

}  // namespace

CONVNET_TEST(dropout_mask_from_seed) {
  Tensor x = filled({1000}, [](int64_t) { return 2.0f; });
  Tensor y = ops::dropout(x, 0.25f, 42);
  int kept = 0;
  bool values_ok = true, same_mask = true;
  Tensor again = ops::dropout(x, 0.25f, 42);
  Tensor dx = Tensor::empty({1000});
  ops::dropout_backward(dx, x, 0.25f, 42);  // dy = x: same mask, same scale
  for (int64_t i = 0; i < 1000; ++i) {
    const float v = y.data<float>()[i];
    kept += v != 0.0f;
    values_ok &= v == 0.0f || near(v, 2.0 / 0.75);
    same_mask &= v == again.data<float>()[i] && v == dx.data<float>()[i];
    values_ok &= (v != 0.0f) == (dropout_uniform(42, uint64_t(i)) >= 0.25f);
  }
  EXPECT(kept > 690 && kept < 810, "dropout keeps about 1 - p");
  EXPECT(values_ok, "kept values scaled by 1/(1-p), mask = u(seed, i) >= p");
  EXPECT(same_mask, "same seed, same mask, forward and backward");
  EXPECT_THROWS(ValueError, ops::dropout(x, 1.0f, 0), "dropout rejects p = 1", "dropout: argument 'p'");
}

CONVNET_TEST(flatten_view_and_backward) {
  Tensor x = filled({2, 3, 2, 2}, [](int64_t i) { return float(i); });
  Tensor y = ops::flatten(x);
  EXPECT(y.shape() == Shape({2, 12}) && y.shares_storage(x), "flatten is a (2, 12) view");
  Tensor dx = Tensor::empty({2, 3, 2, 2});
  ops::flatten_backward(dx, y);
  EXPECT(dx.data<float>()[23] == 23.0f, "flatten_backward copies back");
  EXPECT_THROWS(ValueError, ops::flatten_backward(dx, Tensor::zeros({2, 11})), "flatten_backward checks shapes",
                "flatten_backward: argument 'grad_out'");
}

CONVNET_TEST(batch_norm_known_values) {
  // x (N=2, C=1, 1, 2): values 1, 2, 3, 4: mean 2.5, biased var 1.25, unbiased 5/3.
  Tensor x = values({2, 1, 1, 2}, {1, 2, 3, 4});
  Tensor gamma = values({1}, {2}), beta = values({1}, {0.5f});
  Tensor rm = values({1}, {0}), rv = values({1}, {1});
  Tensor y = Tensor::empty({2, 1, 1, 2}), mean = Tensor::empty({1}), invstd = Tensor::empty({1});
  ops::BatchNormParams p;
  p.eps = 1e-12f;  // (eps must be > 0; this one is below float resolution at var = 1.25)
  ops::batch_norm_forward(y, mean, invstd, x, gamma, beta, rm, rv, p);
  const double is = 1.0 / std::sqrt(1.25);
  EXPECT(near(mean.data<float>()[0], 2.5) && near(invstd.data<float>()[0], is), "batch statistics");
  EXPECT(near(y.data<float>()[0], 2.0 * (1 - 2.5) * is + 0.5) && near(y.data<float>()[3], 2.0 * 1.5 * is + 0.5),
         "normalised output");
  EXPECT(near(rm.data<float>()[0], 0.25) && near(rv.data<float>()[0], 0.9 + 0.1 * 5.0 / 3.0), "running stats");
  // dy = 1 everywhere: dbeta = 4, dgamma = sum xhat = 0, dx = 0 (training).
  Tensor dy = filled({2, 1, 1, 2}, [](int64_t) { return 1.0f; });
  Tensor dx = Tensor::empty({2, 1, 1, 2}), dg = Tensor::empty({1}), db = Tensor::empty({1});
  ops::batch_norm_backward(&dx, &dg, &db, dy, x, gamma, mean, invstd, true);
  EXPECT(near(db.data<float>()[0], 4.0) && std::fabs(dg.data<float>()[0]) < 1e-5 &&
             std::fabs(dx.data<float>()[2]) < 1e-5, "training gradients");
  ops::batch_norm_backward(&dx, nullptr, nullptr, dy, x, gamma, mean, invstd, false);
  EXPECT(near(dx.data<float>()[1], 2.0 * is), "inference gradient gamma * invstd * dy");
  Tensor bad = Tensor::zeros({2});
  EXPECT_THROWS(ValueError, ops::batch_norm_forward(y, mean, invstd, x, bad, beta, rm, rv, p),
                "batch_norm rejects a weight of the wrong size", "batch_norm: argument 'weight'");
}

CONVNET_TEST(cross_entropy_known_values) {
  // Uniform logits over C = 4: loss = log 4, gradient (1/4 - onehot) / N.
  Tensor z = Tensor::zeros({2, 4});
  Tensor t = Tensor::empty({2}, DType::Int64);
  t.data<int64_t>()[0] = 1;
  t.data<int64_t>()[1] = 3;
  Tensor loss = ops::cross_entropy(z, t, 0.0f);
  EXPECT(loss.dim() == 0 && near(loss.data<float>()[0], std::log(4.0)), "loss of uniform logits");
  Tensor dz = Tensor::empty({2, 4});
  ops::cross_entropy_backward(dz, 2.0f, z, t, 0.0f);
  EXPECT(near(dz.data<float>()[1], 2.0 * (0.25 - 1) / 2) && near(dz.data<float>()[0], 2.0 * 0.25 / 2),
         "gradient grad_scale * (softmax - q) / N");
  Tensor probs = Tensor::zeros({2, 4});
  probs.data<float>()[1] = 1.0f;
  probs.data<float>()[7] = 1.0f;
  Tensor loss2 = ops::cross_entropy(z, probs, 0.0f);
  EXPECT(near(loss2.data<float>()[0], std::log(4.0)), "one-hot target gives the same loss");
  Tensor correct = Tensor::zeros({1}, DType::Int64);
  Tensor z2 = values({2, 4}, {0, 5, 0, 0, 9, 0, 0, 1});
  ops::count_correct(correct, z2, t);
  ops::count_correct(correct, z2, t);
  EXPECT(correct.data<int64_t>()[0] == 2, "count_correct accumulates");
  t.data<int64_t>()[1] = 4;
  EXPECT_THROWS(ValueError, ops::cross_entropy(z, t, 0.0f), "cross_entropy rejects a label out of range",
                "label 4 at index 1");
  EXPECT_THROWS(ValueError, ops::cross_entropy(z, probs, 1.5f), "label_smoothing in [0, 1]", "'label_smoothing'");
}

CONVNET_TEST(optimizer_steps_known_values) {
  // SGD with momentum: step 1 buf = g, step 2 buf = m * buf + g.
  Tensor p = values({2}, {1, 2}), g = values({2}, {0.5f, -1}), buf = Tensor::zeros({2});
  ops::SGDParams sgd;
  sgd.lr = 0.1f;
  sgd.momentum = 0.9f;
  ops::sgd_step(p, g, &buf, 1, sgd);
  ops::sgd_step(p, g, &buf, 2, sgd);
  EXPECT(near(buf.data<float>()[0], 0.95) && near(p.data<float>()[0], 1 - 0.1 * 0.5 - 0.1 * 0.95),
         "sgd momentum");
  EXPECT_THROWS(ValueError, ops::sgd_step(p, g, nullptr, 3, sgd), "sgd needs a momentum buffer",
                "'momentum_buffer'");
  // Adam's first step moves each parameter by lr * sign(g) (up to eps).
  Tensor q = values({2}, {1, 2}), m = Tensor::zeros({2}), v = Tensor::zeros({2});
  ops::AdamParams adam;
  adam.lr = 0.01f;
  ops::adam_step(q, g, m, v, 1, adam);
  EXPECT(near(q.data<float>()[0], 0.99, 1e-6) && near(q.data<float>()[1], 2.01, 1e-6), "adam first step");
  adam.beta1 = 1.0f;
  EXPECT_THROWS(ValueError, ops::adam_step(q, g, m, v, 2, adam), "adam rejects beta1 = 1", "'beta1'");
  // RMSprop first step: square_avg = (1 - alpha) g^2, p -= lr * g / (sqrt(square_avg) + eps).
  Tensor r = values({2}, {1, 2}), sa = Tensor::zeros({2});
  ops::RMSpropParams rms;
  ops::rmsprop_step(r, g, sa, nullptr, nullptr, 1, rms);
  EXPECT(near(r.data<float>()[0], 1 - 0.01 * 0.5 / (std::sqrt(0.01 * 0.25) + 1e-8)), "rmsprop first step");
  rms.centered = true;
  EXPECT_THROWS(ValueError, ops::rmsprop_step(r, g, sa, nullptr, nullptr, 2, rms), "centered needs grad_avg",
                "'grad_avg'");
}
