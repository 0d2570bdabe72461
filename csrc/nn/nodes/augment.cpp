// RandomFlip and RandomTranslation (ops::random_flip_translate): while training, each image is
// mirrored and/or moved by whole pixels drawn from the node's seed of the step; the identity in
// inference. The shift ranges come as fractions of the height and width (Keras' factors) and are
// resolved to pixels once the input's size is known.
#include <cmath>

#include "nn/node.h"
#include "nn/nodes/shapes.h"
#include "ops/augment.h"

namespace convnet {
namespace nn {
namespace {

class AugmentNode final : public Node {
 public:
  explicit AugmentNode(ParamReader& r)
      : height_factor_(r.number_pair("height_factor", {0.0, 0.0})),
        width_factor_(r.number_pair("width_factor", {0.0, 0.0})),
        seed_(read_seed(r)) {
    p_.flip_horizontal = r.boolean("flip_horizontal", false);
    p_.flip_vertical = r.boolean("flip_vertical", false);
  }

  Shape build(const std::vector<Shape>& inputs, NodeDecl&) override {
    expect_inputs("RandomFlip/RandomTranslation", inputs, 1);
    const Shape& in = inputs[0];
    expect_image("RandomFlip/RandomTranslation", in);
    auto pixels = [](double factor, int64_t size) { return static_cast<int>(std::lround(factor * double(size))); };
    p_.min_shift_h = pixels(height_factor_.first, in[1]);
    p_.max_shift_h = pixels(height_factor_.second, in[1]);
    p_.min_shift_w = pixels(width_factor_.first, in[2]);
    p_.max_shift_w = pixels(width_factor_.second, in[2]);
    return drop_batch(ops::random_flip_translate_output_shape(one_sample(in), p_));
  }

  void forward(const NodeRun& run) override {
    if (run.training)
      ops::random_flip_translate_forward(run.output(), run.input(0), p_, run.seed());
    else
      run.output().copy_from(run.input(0));
  }

  void backward(const NodeRun& run) override {
    run.input_grad(0, [&](Tensor& dx) {
      if (run.training)
        ops::random_flip_translate_backward(dx, run.grad_output(), p_, run.seed());
      else
        dx.copy_from(run.grad_output());
    });
  }

  int64_t own_seed() const override { return seed_; }

 private:
  std::pair<double, double> height_factor_, width_factor_;
  int64_t seed_;
  ops::AugmentParams p_;
};

}  // namespace

std::unique_ptr<Node> make_random_flip_translate(ParamReader& r) { return std::make_unique<AugmentNode>(r); }

}  // namespace nn
}  // namespace convnet
