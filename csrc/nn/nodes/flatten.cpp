// Flatten: (C, H, W) -> (C * H * W,), and Reshape: any per-sample shape -> `shape` (Keras'
// target_shape: the same number of elements, one size may be -1 for "the rest"). The output is the
// input's memory seen in the new shape, so the forward pass copies nothing; the gradient passes through.
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

class ReshapeNode final : public Node {
 public:
  explicit ReshapeNode(ParamReader& r) : target_(r.ints("shape")) {}
  Shape build(const std::vector<Shape>& inputs, NodeDecl&) override {
    expect_inputs("Reshape", inputs, 1);
    const int64_t numel = checked_numel("Reshape", "input", inputs[0]);
    CONVNET_CHECK_VALUE(!target_.empty(), "Reshape", "target_shape", "at least one size", "()");
    Shape out = target_;
    int64_t known = 1, free = -1;
    for (size_t i = 0; i < out.size(); ++i) {
      CONVNET_CHECK_VALUE(out[i] > 0 || (out[i] == -1 && free < 0), "Reshape", "target_shape",
                          "positive sizes and at most one -1", shape_str(target_));
      if (out[i] == -1) free = static_cast<int64_t>(i);
      else known = checked_mul(known, out[i], "Reshape", "target_shape");
    }
    const bool fits = free >= 0 ? numel % known == 0 : known == numel;
    CONVNET_CHECK_VALUE(fits, "Reshape", "target_shape",
                        "a shape of " + std::to_string(numel) + " elements (the input's " + shape_str(inputs[0]) + ")",
                        shape_str(target_));
    if (free >= 0) out[free] = numel / known;
    return out;
  }
  void forward(const NodeRun&) override {}
  void backward(const NodeRun& run) override {
    run.input_grad(0, [&](Tensor& dx) { dx.copy_from(run.grad_output()); });
  }
  bool aliases_input() const override { return true; }

 private:
  Shape target_;
};

}  // namespace

std::unique_ptr<Node> make_flatten(ParamReader& r) { return std::make_unique<FlattenNode>(r); }
std::unique_ptr<Node> make_reshape(ParamReader& r) { return std::make_unique<ReshapeNode>(r); }

}  // namespace nn
}  // namespace convnet
