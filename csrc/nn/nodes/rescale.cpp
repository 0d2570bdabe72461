// Rescaling (ops::rescale): y = scale * x + offset, e.g. Keras' Rescaling(1./255) on 0..255 pixels.
#include "nn/node.h"
#include "nn/nodes/shapes.h"
#include "ops/elementwise.h"

namespace convnet {
namespace nn {
namespace {

class RescaleNode final : public Node {
 public:
  explicit RescaleNode(ParamReader& r)
      : scale_(static_cast<float>(r.number("scale", 1.0))), offset_(static_cast<float>(r.number("offset", 0.0))) {}

  Shape build(const std::vector<Shape>& inputs, NodeDecl&) override {
    expect_inputs("Rescaling", inputs, 1);
    return drop_batch(ops::rescale_output_shape(one_sample(inputs[0]), scale_, offset_));
  }
  void forward(const NodeRun& run) override { ops::rescale_forward(run.output(), run.input(0), scale_, offset_); }
  void backward(const NodeRun& run) override {
    run.input_grad(0, [&](Tensor& dx) { ops::rescale_backward(dx, run.grad_output(), scale_); });
  }

 private:
  float scale_, offset_;
};

}  // namespace

std::unique_ptr<Node> make_rescale(ParamReader& r) { return std::make_unique<RescaleNode>(r); }

}  // namespace nn
}  // namespace convnet
