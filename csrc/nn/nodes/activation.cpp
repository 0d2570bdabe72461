// Activation, ReLU, LeakyReLU, ELU, Softmax layers: the op's output z is the input itself (no
// copy) and the activation is the node's fused one, y = act(z), which the executor applies as it
// does after a convolution or a dense layer. Softmax needs a flat (classes,) input.
#include "nn/node.h"
#include "nn/nodes/shapes.h"

namespace convnet {
namespace nn {
namespace {

class ActivationNode final : public Node {
 public:
  explicit ActivationNode(ParamReader& r) : activation_(read_activation(r)) {
    CONVNET_CHECK_VALUE(!activation_.none(), "Activation", "activation", "a name", "none");
  }
  Shape build(const std::vector<Shape>& inputs, NodeDecl&) override {
    expect_inputs("Activation", inputs, 1);
    return inputs[0];
  }
  void forward(const NodeRun&) override {}
  void backward(const NodeRun& run) override {
    run.input_grad(0, [&](Tensor& dx) { dx.copy_from(run.grad_output()); });
  }
  bool aliases_input() const override { return true; }
  FusedActivation activation() const override { return activation_; }

 private:
  FusedActivation activation_;
};

}  // namespace

std::unique_ptr<Node> make_activation(ParamReader& r) { return std::make_unique<ActivationNode>(r); }

}  // namespace nn
}  // namespace convnet
