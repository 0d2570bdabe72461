// The model's input: node 0, which the executor fills with each batch (ops::gather_batch).
#include "nn/node.h"
#include "nn/nodes/shapes.h"

namespace convnet {
namespace nn {
namespace {

class InputNode final : public Node {
 public:
  explicit InputNode(ParamReader& r) : shape_(r.ints("shape")) {}
  Shape build(const std::vector<Shape>& inputs, NodeDecl&) override {
    expect_inputs("Input", inputs, 0);
    const bool positive = !shape_.empty() && checked_numel("Input", "shape", shape_, sizeof(float)) > 0;
    CONVNET_CHECK_VALUE(positive, "Input", "shape", "positive sizes", shape_str(shape_));
    return shape_;
  }
  void forward(const NodeRun&) override {}
  void backward(const NodeRun&) override {}

 private:
  Shape shape_;
};

}  // namespace

std::unique_ptr<Node> make_input(ParamReader& r) { return std::make_unique<InputNode>(r); }

}  // namespace nn
}  // namespace convnet
