// Conv2DTranspose: ops::conv_transpose2d (PyTorch's ConvTranspose2d weights (C_in, C_out, kH, kW))
// with Keras' output sizes (keras' deconv_output_length, per axis, k_eff = dilation*(k-1) + 1):
//   output_padding None: 'valid' H*s + max(k_eff - s, 0), 'same' H*s
//   output_padding given: (H-1)*s + k_eff - 2*pad + output_padding, pad = k_eff // 2 ('same') or 0
// realised as the op's padding total = max((H-1)*s + k_eff - H_out, 0) (top = total // 2, the rest
// at the bottom, as tf.nn.conv2d_transpose pads 'same') and output_padding = what is left over (< s).
// An optional bias and a fused activation, as Conv2D.
#include "nn/node.h"
#include "nn/nodes/shapes.h"
#include "ops/conv_transpose.h"

namespace convnet {
namespace nn {
namespace {

class ConvTranspose2dNode final : public Node {
 public:
  explicit ConvTranspose2dNode(ParamReader& r) {
    out_channels_ = r.integer("out_channels", 0);
    std::tie(kernel_h_, kernel_w_) = r.int_pair("kernel_size", {1, 1});
    std::tie(p_.conv.stride_h, p_.conv.stride_w) = r.int_pair("strides", {1, 1});
    std::tie(p_.conv.dilation_h, p_.conv.dilation_w) = r.int_pair("dilation_rate", {1, 1});
    const std::string mode = r.text("padding", "valid");
    CONVNET_CHECK_VALUE(mode == "same" || mode == "valid", "Conv2DTranspose", "padding", "'same' or 'valid'",
                        "'" + mode + "'");
    same_ = mode == "same";
    if (r.has("output_padding")) {
      std::tie(output_padding_h_, output_padding_w_) = r.int_pair("output_padding", {0, 0});
      CONVNET_CHECK_VALUE(output_padding_h_ >= 0 && output_padding_w_ >= 0 && output_padding_h_ < p_.conv.stride_h &&
                              output_padding_w_ < p_.conv.stride_w,
                          "Conv2DTranspose", "output_padding", "None or values >= 0 smaller than the strides",
                          "(" + std::to_string(output_padding_h_) + ", " + std::to_string(output_padding_w_) + ")");
    }
    use_bias_ = r.boolean("use_bias", true);
    activation_ = read_activation(r);
  }

  Shape build(const std::vector<Shape>& inputs, NodeDecl& decl) override {
    expect_inputs("Conv2DTranspose", inputs, 1);
    const Shape& in = inputs[0];
    expect_image("Conv2DTranspose", in);
    CONVNET_CHECK_VALUE(out_channels_ > 0 && out_channels_ <= INT32_MAX, "Conv2DTranspose", "filters",
                        "a positive int", std::to_string(out_channels_));
    CONVNET_CHECK_VALUE(kernel_h_ >= 1 && kernel_w_ >= 1 && p_.conv.stride_h >= 1 && p_.conv.stride_w >= 1 &&
                            p_.conv.dilation_h >= 1 && p_.conv.dilation_w >= 1,
                        "Conv2DTranspose", "kernel_size/strides/dilation_rate", "positive values",
                        "kernel (" + std::to_string(kernel_h_) + ", " + std::to_string(kernel_w_) + ")");
    axis(in[1], kernel_h_, p_.conv.stride_h, p_.conv.dilation_h, output_padding_h_, p_.conv.pad_top,
         p_.conv.pad_bottom, p_.output_padding_h);
    axis(in[2], kernel_w_, p_.conv.stride_w, p_.conv.dilation_w, output_padding_w_, p_.conv.pad_left,
         p_.conv.pad_right, p_.output_padding_w);
    const Shape w_shape{in[0], out_channels_, kernel_h_, kernel_w_};
    const Tensor w = shape_only(w_shape), b = shape_only({out_channels_});
    const Shape out = drop_batch(ops::conv_transpose2d_output_shape(one_sample(in), w, use_bias_ ? &b : nullptr, p_));
    weight_ = decl.param("weight", w_shape);
    if (use_bias_) bias_ = decl.param("bias", {out_channels_});
    return out;
  }

  void forward(const NodeRun& run) override {
    const Tensor w = run.param(weight_), b = use_bias_ ? run.param(bias_) : Tensor();
    ops::conv_transpose2d_forward(run.output(), run.input(0), w, use_bias_ ? &b : nullptr, p_);
  }

  void backward(const NodeRun& run) override {
    run.input_grad_or_null(0, [&](Tensor* dx) {
      ops::conv_transpose2d_backward(dx, run.param_grad(weight_), use_bias_ ? run.param_grad(bias_) : nullptr,
                                     run.grad_output(), run.input(0), run.param(weight_), p_);
    });
  }

  FusedActivation activation() const override { return activation_; }

 private:
  // One axis of Keras' rule (see the top of the file): the op's padding and output_padding for an
  // input of `size`.
  void axis(int64_t size, int64_t k, int64_t s, int64_t d, int keras_output_padding, int& pad_begin, int& pad_end,
            int& output_padding) const {
    const int64_t k_eff = d * (k - 1) + 1;
    int64_t out;
    if (keras_output_padding < 0)
      out = same_ ? size * s : size * s + std::max<int64_t>(k_eff - s, 0);
    else
      out = (size - 1) * s + k_eff - 2 * (same_ ? k_eff / 2 : 0) + keras_output_padding;
    const int64_t full = (size - 1) * s + k_eff;  // the output without padding
    CONVNET_CHECK_VALUE(out >= 1 && out - full < s, "Conv2DTranspose", "output_padding",
                        "an output size of at least 1 within stride of the unpadded output " + std::to_string(full),
                        "output size " + std::to_string(out));
    const int64_t total = std::max<int64_t>(full - out, 0);
    pad_begin = checked_int(total / 2, "Conv2DTranspose", "padding");
    pad_end = checked_int(total - total / 2, "Conv2DTranspose", "padding");
    output_padding = static_cast<int>(std::max<int64_t>(out - full, 0));
  }

  int64_t out_channels_ = 0;
  int kernel_h_ = 1, kernel_w_ = 1;
  int output_padding_h_ = -1, output_padding_w_ = -1;  // Keras' output_padding; -1: None
  bool same_ = false, use_bias_ = true;
  ops::ConvTranspose2dParams p_;
  FusedActivation activation_;
  int weight_ = -1, bias_ = -1;
};

}  // namespace

std::unique_ptr<Node> make_conv_transpose2d(ParamReader& r) { return std::make_unique<ConvTranspose2dNode>(r); }

}  // namespace nn
}  // namespace convnet
