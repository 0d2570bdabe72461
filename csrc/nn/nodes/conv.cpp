// Conv2D, DepthwiseConv2D and each half of SeparableConv2D: ops::conv2d (PyTorch's Conv2d) with an
// optional bias and a fused activation. depth_multiplier > 0 makes it depthwise: groups = C_in and
// C_out = C_in * depth_multiplier.
#include "nn/node.h"
#include "nn/nodes/shapes.h"
#include "ops/conv.h"

namespace convnet {
namespace nn {
namespace {

class Conv2dNode final : public Node {
 public:
  explicit Conv2dNode(ParamReader& r) {
    out_channels_ = r.integer("out_channels", 0);
    depth_multiplier_ = r.integer("depth_multiplier", 0);
    std::tie(kernel_h_, kernel_w_) = r.int_pair("kernel_size", {1, 1});
    std::tie(p_.stride_h, p_.stride_w) = r.int_pair("strides", {1, 1});
    std::tie(p_.dilation_h, p_.dilation_w) = r.int_pair("dilation_rate", {1, 1});
    groups_ = r.integer("groups", 1);
    if (r.holds_text("padding")) {
      const std::string mode = r.text("padding", "valid");
      CONVNET_CHECK_VALUE(mode == "same" || mode == "valid", "Conv2D", "padding", "'same', 'valid', an int or a pair",
                          "'" + mode + "'");
      same_ = mode == "same";
    } else {
      auto [ph, pw] = r.int_pair("padding", {0, 0});
      p_.pad_top = p_.pad_bottom = ph;
      p_.pad_left = p_.pad_right = pw;
    }
    use_bias_ = r.boolean("use_bias", true);
    activation_ = read_activation(r);
  }

  Shape build(const std::vector<Shape>& inputs, NodeDecl& decl) override {
    expect_inputs("Conv2D", inputs, 1);
    const Shape& in = inputs[0];
    expect_image("Conv2D", in);
    int64_t out_channels = out_channels_, groups = groups_;
    if (depth_multiplier_ > 0) {
      groups = in[0];
      out_channels = checked_mul(in[0], depth_multiplier_, "DepthwiseConv2D", "output channels");
    }
    CONVNET_CHECK_VALUE(out_channels > 0 && out_channels <= INT32_MAX && groups > 0 && in[0] % groups == 0, "Conv2D",
                        "filters/groups", "positive filters and groups dividing the " + std::to_string(in[0]) + " input channels",
                        std::to_string(out_channels) + " filters, groups=" + std::to_string(groups));
    p_.groups = static_cast<int>(groups);
    if (same_) p_ = ops::conv2d_same_padding(p_, kernel_h_, kernel_w_, in[1], in[2]);
    const Shape w_shape{out_channels, in[0] / groups, kernel_h_, kernel_w_};
    const Tensor w = shape_only(w_shape), b = shape_only({out_channels});
    const Shape out = drop_batch(ops::conv2d_output_shape(one_sample(in), w, use_bias_ ? &b : nullptr, p_));
    weight_ = decl.param("weight", w_shape);
    if (use_bias_) bias_ = decl.param("bias", {out_channels});
    return out;
  }

  void forward(const NodeRun& run) override {
    const Tensor w = run.param(weight_), b = use_bias_ ? run.param(bias_) : Tensor();
    ops::conv2d_forward(run.output(), run.input(0), w, use_bias_ ? &b : nullptr, p_);
  }

  void backward(const NodeRun& run) override {
    run.input_grad_or_null(0, [&](Tensor* dx) {
      ops::conv2d_backward(dx, run.param_grad(weight_), use_bias_ ? run.param_grad(bias_) : nullptr, run.grad_output(),
                           run.input(0), run.param(weight_), p_);
    });
  }

  FusedActivation activation() const override { return activation_; }

 private:
  int64_t out_channels_ = 0, depth_multiplier_ = 0, groups_ = 1;
  int kernel_h_ = 1, kernel_w_ = 1;
  bool same_ = false, use_bias_ = true;
  ops::Conv2dParams p_;
  FusedActivation activation_;
  int weight_ = -1, bias_ = -1;
};

}  // namespace

std::unique_ptr<Node> make_conv2d(ParamReader& r) { return std::make_unique<Conv2dNode>(r); }

}  // namespace nn
}  // namespace convnet
