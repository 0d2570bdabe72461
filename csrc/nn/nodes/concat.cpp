// Concatenate: 2 or more inputs joined along the channel axis (ops::concat: (C_i, H, W) feature
// maps or (F_i,) features with equal trailing sizes). Each input's gradient is its slice of the
// output's.
#include "nn/node.h"
#include "nn/nodes/shapes.h"
#include "ops/concat.h"

namespace convnet {
namespace nn {
namespace {

class ConcatNode final : public Node {
 public:
  explicit ConcatNode(ParamReader& r) : axis_(r) {}

  Shape build(const std::vector<Shape>& inputs, NodeDecl&) override {
    CONVNET_CHECK_VALUE(inputs.size() >= 2, "Concatenate", "inputs", "at least 2 inputs", std::to_string(inputs.size()));
    std::vector<Tensor> samples;
    for (const Shape& s : inputs) {
      axis_.check("Concatenate", s);
      samples.push_back(one_sample(s));
    }
    std::vector<const Tensor*> pointers;
    for (const Tensor& t : samples) pointers.push_back(&t);
    return drop_batch(ops::concat_output_shape(pointers));
  }

  void forward(const NodeRun& run) override {
    std::vector<const Tensor*> inputs;
    for (int k = 0; k < run.num_inputs(); ++k) inputs.push_back(&run.input(k));
    ops::concat_forward(run.output(), inputs);
  }

  void backward(const NodeRun& run) override {
    std::vector<Shape> shapes;
    for (int k = 0; k < run.num_inputs(); ++k) shapes.push_back(run.input(k).shape());
    for (int k = 0; k < run.num_inputs(); ++k)
      run.input_grad(k, [&](Tensor& dx) {
        std::vector<Tensor*> grads(shapes.size(), nullptr);
        grads[k] = &dx;
        ops::concat_backward(grads, run.grad_output(), shapes);
      });
  }

 private:
  ChannelAxis axis_;
};

}  // namespace

std::unique_ptr<Node> make_concat(ParamReader& r) { return std::make_unique<ConcatNode>(r); }

}  // namespace nn
}  // namespace convnet
