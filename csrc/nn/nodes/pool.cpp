// MaxPool2D, AvgPool2D, MinPool2D (ops::pool2d; max and min keep the argmax of each window for the
// backward pass; padding an int pair or Keras' 'same'), GlobalAveragePooling2D (ops::global_avg_pool2d)
// and GlobalMaxPooling2D (ops::pool2d with one window over the whole plane).
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
    if (r.holds_text("padding")) {
      const std::string padding = r.text("padding", "valid");
      CONVNET_CHECK_VALUE(padding == "same" || padding == "valid", "Pool2D", "padding", "'same', 'valid' or a pair",
                          "'" + padding + "'");
      same_ = padding == "same";
    } else {
      std::tie(p_.pad_h, p_.pad_w) = r.int_pair("padding", {0, 0});
    }
  }

  Shape build(const std::vector<Shape>& inputs, NodeDecl& decl) override {
    expect_inputs("Pool2D", inputs, 1);
    expect_image("Pool2D", inputs[0]);
    if (same_) p_ = ops::pool2d_same_padding(p_, inputs[0][1], inputs[0][2]);
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
  bool same_ = false;
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

// The maximum of each (n, c) plane: a max pooling whose one window is the plane, (N, C, 1, 1) viewed as
// (N, C); the saved argmax routes the gradient.
class GlobalMaxPool2dNode final : public Node {
 public:
  explicit GlobalMaxPool2dNode(ParamReader&) {}

  Shape build(const std::vector<Shape>& inputs, NodeDecl& decl) override {
    expect_inputs("GlobalMaxPooling2D", inputs, 1);
    expect_image("GlobalMaxPooling2D", inputs[0]);
    CONVNET_CHECK_VALUE(inputs[0][1] <= INT32_MAX && inputs[0][2] <= INT32_MAX, "GlobalMaxPooling2D", "input",
                        "planes of at most 2**31 - 1 rows and columns", shape_str(inputs[0]));
    p_.kernel_h = p_.stride_h = static_cast<int>(inputs[0][1]);
    p_.kernel_w = p_.stride_w = static_cast<int>(inputs[0][2]);
    ops::pool2d_output_shape(one_sample(inputs[0]), p_);  // checks the input
    index_ = decl.sample_work({inputs[0][0], 1, 1}, DType::Int64);
    return {inputs[0][0]};
  }

  void forward(const NodeRun& run) override {
    Tensor y = run.output().reshape(pooled_shape(run.output()));
    ops::pool2d_forward(y, &run.sample_work(index_), run.input(0), p_);
  }

  void backward(const NodeRun& run) override {
    run.input_grad(0, [&](Tensor& dx) {
      const Tensor dy = run.grad_output().reshape(pooled_shape(run.grad_output()));
      ops::pool2d_backward(dx, dy, &run.sample_work(index_), p_);
    });
  }

 private:
  static Shape pooled_shape(const Tensor& t) { return {t.size(0), t.size(1), 1, 1}; }
  ops::Pool2dParams p_;  // max, one window of the plane's size
  int index_ = -1;
};

}  // namespace

std::unique_ptr<Node> make_pool2d(ParamReader& r) { return std::make_unique<Pool2dNode>(r); }
std::unique_ptr<Node> make_global_avg_pool2d(ParamReader& r) { return std::make_unique<GlobalAvgPool2dNode>(r); }
std::unique_ptr<Node> make_global_max_pool2d(ParamReader& r) { return std::make_unique<GlobalMaxPool2dNode>(r); }

}  // namespace nn
}  // namespace convnet
