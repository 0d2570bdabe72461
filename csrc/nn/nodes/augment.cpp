// The augmentation layers: each transforms the images while training, from the node's seed of the
// step, and is the identity in inference (RandomCrop: the central window).
//   RandomFlip and RandomTranslation (ops::random_flip_translate): mirrored and/or moved by whole
//     pixels; the shift ranges come as fractions of the height and width (Keras' factors) and are
//     resolved to pixels once the input's size is known.
//   RandomRotation and RandomZoom (ops::random_affine), RandomCrop (ops::random_crop),
//   RandomContrast (ops::random_contrast), RandomErasing (ops::random_erasing).
#include <cmath>

#include "nn/node.h"
#include "nn/nodes/shapes.h"
#include "ops/augment.h"
#include "ops/geometric.h"
#include "ops/intensity.h"

namespace convnet {
namespace nn {
namespace {

// The common shape of the augmentation nodes but RandomCrop: the op while training, the identity otherwise
// (forward and backward alike). A kind supplies build(), transform(run) and transform_backward(run, dx).
class TrainingOnlyNode : public Node {
 public:
  explicit TrainingOnlyNode(ParamReader& r) : seed_(read_seed(r)) {}

  void forward(const NodeRun& run) override {
    if (run.training)
      transform(run);
    else
      run.output().copy_from(run.input(0));
  }

  void backward(const NodeRun& run) override {
    run.input_grad(0, [&](Tensor& dx) {
      if (run.training)
        transform_backward(run, dx);
      else
        dx.copy_from(run.grad_output());
    });
  }

  int64_t own_seed() const override { return seed_; }

 protected:
  virtual void transform(const NodeRun& run) = 0;
  virtual void transform_backward(const NodeRun& run, Tensor& dx) = 0;
  static std::pair<float, float> floats(std::pair<double, double> v) { return {float(v.first), float(v.second)}; }

 private:
  int64_t seed_;
};

class AugmentNode final : public TrainingOnlyNode {
 public:
  explicit AugmentNode(ParamReader& r)
      : TrainingOnlyNode(r),
        height_factor_(r.number_pair("height_factor", {0.0, 0.0})),
        width_factor_(r.number_pair("width_factor", {0.0, 0.0})) {
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

 private:
  void transform(const NodeRun& run) override {
    ops::random_flip_translate_forward(run.output(), run.input(0), p_, run.seed());
  }
  void transform_backward(const NodeRun& run, Tensor& dx) override {
    ops::random_flip_translate_backward(dx, run.grad_output(), p_, run.seed());
  }
  std::pair<double, double> height_factor_, width_factor_;
  ops::AugmentParams p_;
};

class AffineNode final : public TrainingOnlyNode {
 public:
  explicit AffineNode(ParamReader& r) : TrainingOnlyNode(r) {
    std::tie(p_.rotation_lo, p_.rotation_hi) = floats(r.number_pair("rotation", {0.0, 0.0}));
    std::tie(p_.zoom_h_lo, p_.zoom_h_hi) = floats(r.number_pair("zoom_height", {0.0, 0.0}));
    p_.keep_aspect = !r.has("zoom_width");
    std::tie(p_.zoom_w_lo, p_.zoom_w_hi) = floats(r.number_pair("zoom_width", {0.0, 0.0}));
    p_.fill_mode = ops::fill_mode_from_name(r.text("fill_mode", "reflect"), "RandomRotation/RandomZoom");
    p_.interpolation = ops::interpolation_from_name(r.text("interpolation", "bilinear"), "RandomRotation/RandomZoom");
    p_.fill_value = static_cast<float>(r.number("fill_value", 0.0));
  }

  Shape build(const std::vector<Shape>& inputs, NodeDecl&) override {
    expect_inputs("RandomRotation/RandomZoom", inputs, 1);
    expect_image("RandomRotation/RandomZoom", inputs[0]);
    return drop_batch(ops::random_affine_output_shape(one_sample(inputs[0]), p_));
  }

 private:
  void transform(const NodeRun& run) override { ops::random_affine_forward(run.output(), run.input(0), p_, run.seed()); }
  void transform_backward(const NodeRun& run, Tensor& dx) override {
    ops::random_affine_backward(dx, run.grad_output(), p_, run.seed());
  }
  ops::AffineParams p_;
};

// In inference the central window: forward and backward are the crop op with random = false.
class CropNode final : public Node {
 public:
  explicit CropNode(ParamReader& r) : seed_(read_seed(r)) {
    p_.height = r.integer("height", 1);
    p_.width = r.integer("width", 1);
  }

  Shape build(const std::vector<Shape>& inputs, NodeDecl&) override {
    expect_inputs("RandomCrop", inputs, 1);
    expect_image("RandomCrop", inputs[0]);
    const Shape& in = inputs[0];
    CONVNET_CHECK_VALUE(in[1] >= p_.height && in[2] >= p_.width, "RandomCrop", "input",
                        "images of at least the crop's " + std::to_string(p_.height) + " x " +
                            std::to_string(p_.width) + " pixels (no resizing)",
                        shape_str(in));
    return drop_batch(ops::random_crop_output_shape(one_sample(in), p_));
  }

  void forward(const NodeRun& run) override {
    ops::random_crop_forward(run.output(), run.input(0), params(run), run.seed());
  }
  void backward(const NodeRun& run) override {
    run.input_grad(0, [&](Tensor& dx) { ops::random_crop_backward(dx, run.grad_output(), params(run), run.seed()); });
  }
  int64_t own_seed() const override { return seed_; }

 private:
  ops::CropParams params(const NodeRun& run) const {
    ops::CropParams p = p_;
    p.random = run.training;
    return p;
  }
  ops::CropParams p_;
  int64_t seed_;
};

class ContrastNode final : public TrainingOnlyNode {
 public:
  explicit ContrastNode(ParamReader& r) : TrainingOnlyNode(r) {
    std::tie(p_.lower, p_.upper) = floats(r.number_pair("factor", {0.0, 0.0}));
    std::tie(p_.value_lo, p_.value_hi) = floats(r.number_pair("value_range", {0.0, 255.0}));
  }

  Shape build(const std::vector<Shape>& inputs, NodeDecl&) override {
    expect_inputs("RandomContrast", inputs, 1);
    expect_image("RandomContrast", inputs[0]);
    return drop_batch(ops::random_contrast_output_shape(one_sample(inputs[0]), p_));
  }

 private:
  void transform(const NodeRun& run) override {
    ops::random_contrast_forward(run.output(), run.input(0), p_, run.seed());
  }
  void transform_backward(const NodeRun& run, Tensor& dx) override {
    ops::random_contrast_backward(dx, run.grad_output(), run.input(0), p_, run.seed());
  }
  ops::ContrastParams p_;
};

class ErasingNode final : public TrainingOnlyNode {
 public:
  explicit ErasingNode(ParamReader& r) : TrainingOnlyNode(r) {
    std::tie(p_.prob_lo, p_.prob_hi) = floats(r.number_pair("factor", {1.0, 1.0}));
    std::tie(p_.scale_lo, p_.scale_hi) = floats(r.number_pair("scale", {0.02, 0.33}));
    std::tie(p_.ratio_lo, p_.ratio_hi) = floats(r.number_pair("ratio", {0.3, 3.3}));
    p_.random_fill = !r.has("fill_value");
    p_.fill_value = static_cast<float>(r.number("fill_value", 0.0));
    std::tie(p_.value_lo, p_.value_hi) = floats(r.number_pair("value_range", {0.0, 255.0}));
  }

  Shape build(const std::vector<Shape>& inputs, NodeDecl&) override {
    expect_inputs("RandomErasing", inputs, 1);
    expect_image("RandomErasing", inputs[0]);
    return drop_batch(ops::random_erasing_output_shape(one_sample(inputs[0]), p_));
  }

 private:
  void transform(const NodeRun& run) override {
    ops::random_erasing_forward(run.output(), run.input(0), p_, run.seed());
  }
  void transform_backward(const NodeRun& run, Tensor& dx) override {
    ops::random_erasing_backward(dx, run.grad_output(), p_, run.seed());
  }
  ops::ErasingParams p_;
};

}  // namespace

std::unique_ptr<Node> make_random_flip_translate(ParamReader& r) { return std::make_unique<AugmentNode>(r); }
std::unique_ptr<Node> make_random_affine(ParamReader& r) { return std::make_unique<AffineNode>(r); }
std::unique_ptr<Node> make_random_crop(ParamReader& r) { return std::make_unique<CropNode>(r); }
std::unique_ptr<Node> make_random_contrast(ParamReader& r) { return std::make_unique<ContrastNode>(r); }
std::unique_ptr<Node> make_random_erasing(ParamReader& r) { return std::make_unique<ErasingNode>(r); }

}  // namespace nn
}  // namespace convnet
