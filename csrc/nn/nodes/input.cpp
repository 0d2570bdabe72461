// The model's input: node 0, which the executor fills with each batch (ops::gather_batch), uint8
// data times "uint8_scale" (1/255 by default; a channels-last model takes Keras' 1: 0..255 as is).
#include <cmath>

#include "nn/node.h"
#include "nn/nodes/shapes.h"

namespace convnet {
namespace nn {
namespace {

class InputNode final : public Node {
 public:
  explicit InputNode(ParamReader& r)
      : shape_(r.ints("shape")), uint8_scale_(static_cast<float>(r.number("uint8_scale", ops::kPixelScale))) {
    CONVNET_CHECK_VALUE(std::isfinite(uint8_scale_) && uint8_scale_ > 0.0f, "Input", "uint8_scale",
                        "a positive finite number", std::to_string(uint8_scale_));
  }
  Shape build(const std::vector<Shape>& inputs, NodeDecl&) override {
    expect_inputs("Input", inputs, 0);
    const bool positive = !shape_.empty() && checked_numel("Input", "shape", shape_, sizeof(float)) > 0;
    CONVNET_CHECK_VALUE(positive, "Input", "shape", "positive sizes", shape_str(shape_));
    return shape_;
  }
  void forward(const NodeRun&) override {}
  void backward(const NodeRun&) override {}
  float uint8_scale() const override { return uint8_scale_; }

 private:
  Shape shape_;
  float uint8_scale_;
};

}  // namespace

std::unique_ptr<Node> make_input(ParamReader& r) { return std::make_unique<InputNode>(r); }

}  // namespace nn
}  // namespace convnet
