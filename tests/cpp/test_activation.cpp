// Activations and softmax from C++: known values, kinks, parse_activation, rejected arguments.
#include <cmath>
#include <functional>

#include "check.h"
#include "core/tensor.h"
#include "ops/activation.h"

using namespace convnet;

static Tensor from(const std::vector<float>& v, Shape shape = {}) {
  if (shape.empty()) shape = {int64_t(v.size())};
  Tensor t = Tensor::empty(shape);
  for (size_t i = 0; i < v.size(); ++i) t.data<float>()[i] = v[i];
  return t;
}

static bool near(const Tensor& t, const std::vector<float>& want, float tol = 1e-6f) {
  if (t.numel() != int64_t(want.size())) return false;
  for (size_t i = 0; i < want.size(); ++i)
    if (!(std::fabs(t.data<float>()[i] - want[i]) <= tol)) return false;
  return true;
}

CONVNET_TEST(activation_forward_backward) {
  Tensor x = from({-2.0f, 0.0f, 3.0f});
  Tensor dy = from({1.0f, 1.0f, 1.0f});
  Tensor dx = Tensor::empty({3});
  Tensor y = ops::activation(x, ops::Activation::ReLU, 0.0f);
  EXPECT(near(y, {0, 0, 3}), "relu forward");
  ops::activation_backward(dx, dy, x, y, ops::Activation::ReLU, 0.0f);
  EXPECT(near(dx, {0, 0, 1}), "relu'(0) = 0");
  y = ops::activation(x, ops::Activation::LeakyReLU, 0.1f);
  EXPECT(near(y, {-0.2f, 0, 3}), "leaky relu forward");
  ops::activation_backward(dx, dy, x, Tensor(), ops::Activation::LeakyReLU, 0.1f);  // y not read
  EXPECT(near(dx, {0.1f, 0.1f, 1}), "leaky relu backward");
  y = ops::activation(x, ops::Activation::ELU, 1.0f);
  EXPECT(near(y, {std::expm1(-2.0f), 0, 3}), "elu forward");
  ops::activation_backward(dx, dy, x, y, ops::Activation::ELU, 1.0f);
  EXPECT(near(dx, {std::exp(-2.0f), 1, 1}), "elu backward");
  y = ops::activation(x, ops::Activation::Sigmoid, 0.0f);
  EXPECT(near(y, {1 / (1 + std::exp(2.0f)), 0.5f, 1 / (1 + std::exp(-3.0f))}), "sigmoid forward");
  ops::activation_backward(dx, dy, Tensor(), y, ops::Activation::Sigmoid, 0.0f);  // x not read
  EXPECT(std::fabs(dx.data<float>()[1] - 0.25f) < 1e-6f, "sigmoid'(0) = 1/4");
  y = ops::activation(x, ops::Activation::Tanh, 0.0f);
  ops::activation_backward(dx, dy, x, y, ops::Activation::Tanh, 0.0f);
  EXPECT(near(y, {std::tanh(-2.0f), 0, std::tanh(3.0f)}) && std::fabs(dx.data<float>()[1] - 1.0f) < 1e-6f, "tanh");
}

CONVNET_TEST(parse_activation_names) {
  EXPECT(ops::parse_activation("relu") == ops::Activation::ReLU &&
             ops::parse_activation("leaky_relu") == ops::Activation::LeakyReLU &&
             ops::parse_activation("elu") == ops::Activation::ELU &&
             ops::parse_activation("sigmoid") == ops::Activation::Sigmoid &&
             ops::parse_activation("tanh") == ops::Activation::Tanh,
         "parse_activation knows every name");
  EXPECT(std::string(ops::activation_name(ops::Activation::LeakyReLU)) == "leaky_relu", "activation_name");
  EXPECT_THROWS(ValueError, ops::parse_activation("gelu"), "unknown activation name", "'relu', 'leaky_relu'");
  EXPECT_THROWS(ValueError, ops::parse_activation("gelu"), "unknown activation name is named", "'gelu'");
}

CONVNET_TEST(softmax_forward_backward) {
  // (2, 3) rows; softmax over axis 1 and over axis 0.
  Tensor x = from({0, 0, 0, 1, 2, 3}, {2, 3});
  Tensor y = ops::softmax(x, -1);
  const float e = std::exp(1.0f), s = 1 + e + e * e;
  EXPECT(near(y, {1 / 3.f, 1 / 3.f, 1 / 3.f, 1 / s, e / s, e * e / s}), "softmax forward");
  Tensor dx = Tensor::empty({2, 3});
  Tensor dy = from({1, 1, 1, 1, 1, 1}, {2, 3});
  ops::softmax_backward(dx, dy, y, 1);  // a constant dy has no effect on a softmax
  EXPECT(near(dx, {0, 0, 0, 0, 0, 0}), "softmax backward of a constant is 0");
  Tensor ly = ops::log_softmax(x, 1);
  EXPECT(near(ly, {-std::log(3.f), -std::log(3.f), -std::log(3.f), -std::log(s), 1 - std::log(s), 2 - std::log(s)}, 1e-5f),
         "log_softmax forward");
  Tensor y0 = ops::softmax(x, 0);  // columns: (0, 1), (0, 2), (0, 3)
  EXPECT(std::fabs(y0.data<float>()[0] + y0.data<float>()[3] - 1.0f) < 1e-6f &&
             std::fabs(y0.data<float>()[3] - e / (1 + e)) < 1e-6f, "softmax over axis 0");
  Tensor big = from({1000.0f, 1000.0f});
  EXPECT(near(ops::softmax(big, 0), {0.5f, 0.5f}), "softmax is stable for huge logits");
}

CONVNET_TEST(softmax_in_place) {
  // y may be x: the graph executor may run these in place.
  for (int axis : {0, 1}) {
    for (bool log : {false, true}) {
      Tensor x = from({0.5f, -1, 2, 1, 2, 3}, {2, 3});
      Tensor want = log ? ops::log_softmax(x, axis) : ops::softmax(x, axis);
      if (log) ops::log_softmax_forward(x, x, axis);
      else ops::softmax_forward(x, x, axis);
      bool same = true;
      for (int i = 0; i < 6; ++i) same &= std::fabs(x.data<float>()[i] - want.data<float>()[i]) < 1e-6f;
      EXPECT(same, std::string(log ? "log_softmax" : "softmax") + " in place, axis " + std::to_string(axis));
    }
  }
}

CONVNET_TEST(activation_rejects_arguments) {
  Tensor x = Tensor::zeros({2, 3});
  EXPECT_THROWS(TypeError, ops::activation(Tensor::zeros({2}, DType::Int64), ops::Activation::ReLU, 0.0f),
                "relu rejects int64", "relu: argument 'x'");
  EXPECT_THROWS(ValueError, ops::activation(Tensor::zeros({0}), ops::Activation::Tanh, 0.0f), "tanh rejects empty",
                "non-empty");
  EXPECT_THROWS(ValueError, ops::activation(x, ops::Activation::ELU, NAN), "elu rejects a NaN alpha", "'alpha'");
  Tensor dx = Tensor::empty({2, 3});
  EXPECT_THROWS(ValueError, ops::activation_backward(dx, Tensor::zeros({3, 2}), x, x, ops::Activation::ReLU, 0.0f),
                "relu backward checks dy", "relu_backward: argument 'grad_out'");
  EXPECT_THROWS(ValueError, ops::activation_backward(dx, x, x, Tensor(), ops::Activation::Sigmoid, 0.0f),
                "sigmoid backward needs y", "sigmoid_backward: argument 'y'");
  EXPECT_THROWS(ValueError, ops::softmax(x, 2), "softmax rejects axis 2", "softmax: argument 'axis'");
  EXPECT_THROWS(ValueError, ops::log_softmax(x, -3), "log_softmax rejects axis -3", "[-2, 2)");
  Tensor bad = Tensor::empty({3, 2});
  EXPECT_THROWS(ValueError, ops::softmax_backward(bad, x, x, 1), "softmax backward checks dx", "'grad_x'");
}
