// MaxPool2D, AvgPool2D, MinPool2D (ops::pool2d; max and min keep the argmax of each window for the
// backward pass) and GlobalAveragePooling2D (ops::global_avg_pool2d).
#include "nn/node.h"
#include "nn/nodes/shapes.h"
#include "ops/pool.h"

namespace convnet {
namespace nn {
namespace {

class Pool2dNode final : public Node {
 public:
  explicit Pool2dNode(ParamReader& r) {
    const std::string mode = r.text("mode", "max");
    CONVNET_CHECK_VALUE(mode == "max" || mode == "avg" || mode == "min", "Pool2D", "mode", "'max', 'avg' or 'min'",
                        "'" + mode + "'");
    p_.mode = mode == "avg" ? ops::PoolMode::Avg : mode == "min" ? ops::PoolMode::Min : ops::PoolMode::Max;
    std::tie(p_.kernel_h, p_.kernel_w) = r.int_pair("pool_size", {2, 2});
    std::tie(p_.stride_h, p_.stride_w) = r.int_pair("pool_strides", {p_.kernel_h, p_.kernel_w});
    std::tie(p_.pad_h, p_.pad_w) = r.int_pair("padding", {0, 0});
  }

  Shape build(const std::vector<Shape>& inputs, NodeDecl& decl) override {
    expect_inputs("Pool2D", inputs, 1);
    expect_image("Pool2D", inputs[0]);
    const Shape out = drop_batch(ops::pool2d_output_shape(one_sample(inputs[0]), p_));
    if (p_.mode != ops::PoolMode::Avg) index_ = decl.sample_work(out, DType::Int64);
    return out;
  }

  void forward(const NodeRun& run) override {
    ops::pool2d_forward(run.output(), index_ >= 0 ? &run.sample_work(index_) : nullptr, run.input(0), p_);
  }

  void backward(const NodeRun& run) override {
    run.input_grad(0, [&](Tensor& dx) {
      ops::pool2d_backward(dx, run.grad_output(), index_ >= 0 ? &run.sample_work(index_) : nullptr, p_);
    });
  }

 private:
  ops::Pool2dParams p_;
  int index_ = -1;  // (N, C, H_out, W_out) int64: each output's source within its input plane
};

class GlobalAvgPool2dNode final : public Node {
 public:
  explicit GlobalAvgPool2dNode(ParamReader&) {}

  Shape build(const std::vector<Shape>& inputs, NodeDecl&) override {
    expect_inputs("GlobalAveragePooling2D", inputs, 1);
    return drop_batch(ops::global_avg_pool2d_output_shape(one_sample(inputs[0])));
  }
  void forward(const NodeRun& run) override { ops::global_avg_pool2d_forward(run.output(), run.input(0)); }
  void backward(const NodeRun& run) override {
    run.input_grad(0, [&](Tensor& dx) { ops::global_avg_pool2d_backward(dx, run.grad_output()); });
  }
};

}  // namespace

std::unique_ptr<Node> make_pool2d(ParamReader& r) { return std::make_unique<Pool2dNode>(r); }
std::unique_ptr<Node> make_global_avg_pool2d(ParamReader& r) { return std::make_unique<GlobalAvgPool2dNode>(r); }

}  // namespace nn
}  // namespace convnet
