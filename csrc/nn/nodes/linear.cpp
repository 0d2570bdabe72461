// Dense: ops::linear (PyTorch's Linear, weight (units, in_features)) with an optional bias and a
// fused activation, on a flat (features,) input.
#include "nn/node.h"
#include "nn/nodes/shapes.h"
#include "ops/linear.h"

namespace convnet {
namespace nn {
namespace {

class LinearNode final : public Node {
 public:
  explicit LinearNode(ParamReader& r)
      : units_(r.integer("units", 0)), use_bias_(r.boolean("use_bias", true)), activation_(read_activation(r)) {}

  Shape build(const std::vector<Shape>& inputs, NodeDecl& decl) override {
    expect_inputs("Dense", inputs, 1);
    const Shape& in = inputs[0];
    CONVNET_CHECK_VALUE(in.size() == 1, "Dense", "input", "a flat (features,) input (add Flatten first)", shape_str(in));
    CONVNET_CHECK_VALUE(units_ > 0 && units_ <= INT32_MAX, "Dense", "units", "a positive number", std::to_string(units_));
    weight_ = decl.param("weight", {units_, in[0]});
    if (use_bias_) bias_ = decl.param("bias", {units_});
    return {units_};
  }

  void forward(const NodeRun& run) override {
    const Tensor w = run.param(weight_), b = use_bias_ ? run.param(bias_) : Tensor();
    ops::linear_forward(run.output(), run.input(0), w, use_bias_ ? &b : nullptr);
  }

  void backward(const NodeRun& run) override {
    run.input_grad_or_null(0, [&](Tensor* dx) {
      ops::linear_backward(dx, run.param_grad(weight_), use_bias_ ? run.param_grad(bias_) : nullptr, run.grad_output(),
                           run.input(0), run.param(weight_));
    });
  }

  FusedActivation activation() const override { return activation_; }

 private:
  int64_t units_;
  bool use_bias_;
  FusedActivation activation_;
  int weight_ = -1, bias_ = -1;
};

}  // namespace

std::unique_ptr<Node> make_linear(ParamReader& r) { return std::make_unique<LinearNode>(r); }

}  // namespace nn
}  // namespace convnet
