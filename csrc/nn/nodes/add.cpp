// Add: the sum of 2 or more inputs of the same shape (residual connections). Each input's
// gradient is the output's.
#include "nn/node.h"
#include "nn/nodes/shapes.h"
#include "ops/elementwise.h"

namespace convnet {
namespace nn {
namespace {

class AddNode final : public Node {
 public:
  explicit AddNode(ParamReader&) {}

  Shape build(const std::vector<Shape>& inputs, NodeDecl&) override {
    CONVNET_CHECK_VALUE(inputs.size() >= 2, "Add", "inputs", "at least 2 inputs", std::to_string(inputs.size()));
    for (const Shape& s : inputs)
      CONVNET_CHECK_VALUE(s == inputs[0], "Add", "inputs", "inputs of the same shape",
                          shape_str(inputs[0]) + " and " + shape_str(s));
    return inputs[0];
  }

  void forward(const NodeRun& run) override {
    ops::add_forward(run.output(), run.input(0), run.input(1));
    for (int k = 2; k < run.num_inputs(); ++k) ops::add_forward(run.output(), run.output(), run.input(k));
  }

  void backward(const NodeRun& run) override {
    for (int k = 0; k < run.num_inputs(); ++k)
      run.input_grad(k, [&](Tensor& dx) { dx.copy_from(run.grad_output()); });
  }
};

}  // namespace

std::unique_ptr<Node> make_add(ParamReader& r) { return std::make_unique<AddNode>(r); }

}  // namespace nn
}  // namespace convnet
