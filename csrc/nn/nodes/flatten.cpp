// Flatten: (C, H, W) -> (C * H * W,). The output is the input's memory seen in the new shape, so
// the forward pass copies nothing; the gradient passes through.
#include "nn/node.h"
#include "nn/nodes/shapes.h"

namespace convnet {
namespace nn {
namespace {

class FlattenNode final : public Node {
 public:
  explicit FlattenNode(ParamReader&) {}
  Shape build(const std::vector<Shape>& inputs, NodeDecl&) override {
    expect_inputs("Flatten", inputs, 1);
    return {checked_numel("Flatten", "input", inputs[0])};
  }
  void forward(const NodeRun&) override {}
  void backward(const NodeRun& run) override {
    run.input_grad(0, [&](Tensor& dx) { dx.copy_from(run.grad_output()); });
  }
  bool aliases_input() const override { return true; }
};

}  // namespace

std::unique_ptr<Node> make_flatten(ParamReader& r) { return std::make_unique<FlattenNode>(r); }

}  // namespace nn
}  // namespace convnet
