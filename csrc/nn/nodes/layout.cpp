// Layout: the transposes a channels-last model adds at its edges (ops::layout), so that the graph
// runs NCHW inside: after a channels-last input (H, W, C) -> (C, H, W) ("to": "channels_first"),
// before a Flatten or Reshape and at a spatial output (C, H, W) -> (H, W, C) ("channels_last").
// A non-image input ((features,)) has no channel axis to move: the node passes it through.
#include "nn/node.h"
#include "nn/nodes/shapes.h"
#include "ops/layout.h"

namespace convnet {
namespace nn {
namespace {

class LayoutNode final : public Node {
 public:
  explicit LayoutNode(ParamReader& r) {
    const std::string to = r.text("to", "");
    CONVNET_CHECK_VALUE(to == "channels_last" || to == "channels_first", "Layout", "to",
                        "'channels_last' or 'channels_first'", "'" + to + "'");
    to_last_ = to == "channels_last";
  }

  Shape build(const std::vector<Shape>& inputs, NodeDecl&) override {
    expect_inputs("Layout", inputs, 1);
    image_ = inputs[0].size() == 3;
    return image_ ? drop_batch(ops::layout_output_shape(shape_only(with_batch(1, inputs[0])), to_last_)) : inputs[0];
  }
  void forward(const NodeRun& run) override {
    if (image_) ops::layout_forward(run.output(), run.input(0), to_last_);
  }
  void backward(const NodeRun& run) override {
    run.input_grad(0, [&](Tensor& dx) {
      if (image_) ops::layout_backward(dx, run.grad_output(), to_last_);
      else dx.copy_from(run.grad_output());
    });
  }
  bool aliases_input() const override { return !image_; }

 private:
  bool to_last_ = false;
  bool image_ = false;  // known at build: a (C, H, W) or (H, W, C) input is permuted, others pass through
};

}  // namespace

std::unique_ptr<Node> make_layout(ParamReader& r) { return std::make_unique<LayoutNode>(r); }

}  // namespace nn
}  // namespace convnet
