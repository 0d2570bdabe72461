// BatchNormalization over channels (ops::batch_norm), with learned gamma and beta and the running
// statistics as buffers (mean 0 and variance 1 at the start, as PyTorch and Keras). While training
// it normalises with the batch's statistics and updates the running ones, unless it is frozen
// (trainable=False): then, as in Keras, it runs in inference mode (running statistics used, not
// updated) and its backward pass treats the statistics as constants.
#include "nn/node.h"
#include "nn/nodes/shapes.h"
#include "ops/norm.h"

namespace convnet {
namespace nn {
namespace {

class BatchNormNode final : public Node {
 public:
  explicit BatchNormNode(ParamReader& r)
      : momentum_(static_cast<float>(r.number("momentum", 0.1))), eps_(static_cast<float>(r.number("epsilon", 1e-5))),
        axis_(r) {}

  Shape build(const std::vector<Shape>& inputs, NodeDecl& decl) override {
    expect_inputs("BatchNormalization", inputs, 1);
    const Shape& in = inputs[0];
    CONVNET_CHECK_VALUE(in.size() == 3 || in.size() == 1, "BatchNormalization", "input",
                        "a (C, H, W) or (features,) input", shape_str(in));
    axis_.check("BatchNormalization", in);
    CONVNET_CHECK_VALUE(eps_ > 0.0f && momentum_ >= 0.0f && momentum_ <= 1.0f, "BatchNormalization",
                        "momentum/epsilon", "momentum in [0, 1] and epsilon > 0",
                        std::to_string(momentum_) + ", " + std::to_string(eps_));
    const Shape channels{in[0]};
    gamma_ = decl.param("weight", channels);
    beta_ = decl.param("bias", channels);
    running_mean_ = decl.buffer("running_mean", channels, 0.0f);
    running_var_ = decl.buffer("running_var", channels, 1.0f);
    saved_mean_ = decl.fixed_work(channels);
    saved_invstd_ = decl.fixed_work(channels);
    return in;
  }

  void forward(const NodeRun& run) override {
    const bool batch_stats = run.training && run.trainable;
    Tensor mean = run.buffer(running_mean_), var = run.buffer(running_var_);
    const Tensor halt = run.halt();
    ops::batch_norm_forward(run.output(), run.fixed_work(saved_mean_), run.fixed_work(saved_invstd_), run.input(0),
                            run.param(gamma_), run.param(beta_), mean, var,
                            ops::BatchNormParams{batch_stats, momentum_, eps_}, batch_stats ? &halt : nullptr);
  }

  void backward(const NodeRun& run) override {
    const bool batch_stats = run.training && run.trainable;
    run.input_grad_or_null(0, [&](Tensor* dx) {
      ops::batch_norm_backward(dx, run.param_grad(gamma_), run.param_grad(beta_), run.grad_output(), run.input(0),
                               run.param(gamma_), run.fixed_work(saved_mean_), run.fixed_work(saved_invstd_), batch_stats);
    });
  }

 private:
  float momentum_, eps_;  // PyTorch's momentum: running = (1 - momentum) * running + momentum * batch
  ChannelAxis axis_;
  int gamma_ = -1, beta_ = -1, running_mean_ = -1, running_var_ = -1, saved_mean_ = -1, saved_invstd_ = -1;
};

}  // namespace

std::unique_ptr<Node> make_batch_norm(ParamReader& r) { return std::make_unique<BatchNormNode>(r); }

}  // namespace nn
}  // namespace convnet
