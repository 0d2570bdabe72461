// ZeroPadding2D (ops::zero_pad2d) and UpSampling2D (ops::upsample_nearest2d): images in, images
// out, no parameters.
#include "nn/node.h"
#include "nn/nodes/shapes.h"
#include "ops/resample.h"

namespace convnet {
namespace nn {
namespace {

class ZeroPad2dNode final : public Node {
 public:
  explicit ZeroPad2dNode(ParamReader& r) {
    const std::vector<int64_t> pads = r.ints("padding");  // (top, bottom, left, right)
    CONVNET_CHECK_VALUE(pads.size() == 4, "ZeroPadding2D", "padding", "4 ints (top, bottom, left, right)",
                        std::to_string(pads.size()) + " values");
    int* sides[] = {&p_.top, &p_.bottom, &p_.left, &p_.right};
    for (int k = 0; k < 4; ++k) *sides[k] = checked_int(pads[k], "ZeroPadding2D", "padding");
  }

  Shape build(const std::vector<Shape>& inputs, NodeDecl&) override {
    expect_inputs("ZeroPadding2D", inputs, 1);
    expect_image("ZeroPadding2D", inputs[0]);
    return drop_batch(ops::zero_pad2d_output_shape(one_sample(inputs[0]), p_));
  }
  void forward(const NodeRun& run) override { ops::zero_pad2d_forward(run.output(), run.input(0), p_); }
  void backward(const NodeRun& run) override {
    run.input_grad(0, [&](Tensor& dx) { ops::zero_pad2d_backward(dx, run.grad_output(), p_); });
  }

 private:
  ops::ZeroPad2dParams p_;
};

class UpsampleNearest2dNode final : public Node {
 public:
  explicit UpsampleNearest2dNode(ParamReader& r) {
    std::tie(p_.scale_h, p_.scale_w) = r.int_pair("size", {2, 2});
  }

  Shape build(const std::vector<Shape>& inputs, NodeDecl&) override {
    expect_inputs("UpSampling2D", inputs, 1);
    expect_image("UpSampling2D", inputs[0]);
    return drop_batch(ops::upsample_nearest2d_output_shape(one_sample(inputs[0]), p_));
  }
  void forward(const NodeRun& run) override { ops::upsample_nearest2d_forward(run.output(), run.input(0), p_); }
  void backward(const NodeRun& run) override {
    run.input_grad(0, [&](Tensor& dx) { ops::upsample_nearest2d_backward(dx, run.grad_output(), p_); });
  }

 private:
  ops::Upsample2dParams p_;
};

}  // namespace

std::unique_ptr<Node> make_zero_pad2d(ParamReader& r) { return std::make_unique<ZeroPad2dNode>(r); }
std::unique_ptr<Node> make_upsample_nearest2d(ParamReader& r) { return std::make_unique<UpsampleNearest2dNode>(r); }

}  // namespace nn
}  // namespace convnet
