// Dropout (ops::dropout): while training, zeroes each value with probability `rate` and scales the
// rest by 1 / (1 - rate), the mask drawn from the node's seed of the step; the identity otherwise.
#include "nn/node.h"
#include "nn/nodes/shapes.h"
#include "ops/elementwise.h"

namespace convnet {
namespace nn {
namespace {

class DropoutNode final : public Node {
 public:
  explicit DropoutNode(ParamReader& r)
      : rate_(static_cast<float>(r.number("rate", 0.0))), seed_(read_seed(r)) {}

  Shape build(const std::vector<Shape>& inputs, NodeDecl&) override {
    expect_inputs("Dropout", inputs, 1);
    CONVNET_CHECK_VALUE(rate_ >= 0.0f && rate_ < 1.0f, "Dropout", "rate", "a value in [0, 1)", std::to_string(rate_));
    return inputs[0];
  }

  void forward(const NodeRun& run) override {
    if (active(run))
      ops::dropout_forward(run.output(), run.input(0), rate_, run.seed());
    else
      run.output().copy_from(run.input(0));
  }

  void backward(const NodeRun& run) override {
    run.input_grad(0, [&](Tensor& dx) {
      if (active(run))
        ops::dropout_backward(dx, run.grad_output(), rate_, run.seed());
      else
        dx.copy_from(run.grad_output());
    });
  }

 private:
  int64_t own_seed() const override { return seed_; }
  bool active(const NodeRun& run) const { return run.training && rate_ > 0.0f; }
  float rate_;
  int64_t seed_;
};

}  // namespace

std::unique_ptr<Node> make_dropout(ParamReader& r) { return std::make_unique<DropoutNode>(r); }

}  // namespace nn
}  // namespace convnet
