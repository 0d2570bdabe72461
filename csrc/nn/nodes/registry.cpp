// The table of node kinds: each kind's name (the "op" of a layer description) and its factory,
// defined in the kind's own file in this folder. Adding a kind: its file, one line here.
#include <algorithm>
#include <iterator>

#include "nn/node.h"

namespace convnet {
namespace nn {

std::unique_ptr<Node> make_input(ParamReader&);
std::unique_ptr<Node> make_conv2d(ParamReader&);
std::unique_ptr<Node> make_linear(ParamReader&);
std::unique_ptr<Node> make_pool2d(ParamReader&);
std::unique_ptr<Node> make_global_avg_pool2d(ParamReader&);
std::unique_ptr<Node> make_global_max_pool2d(ParamReader&);
std::unique_ptr<Node> make_batch_norm(ParamReader&);
std::unique_ptr<Node> make_activation(ParamReader&);
std::unique_ptr<Node> make_flatten(ParamReader&);
std::unique_ptr<Node> make_dropout(ParamReader&);
std::unique_ptr<Node> make_random_flip_translate(ParamReader&);
std::unique_ptr<Node> make_random_affine(ParamReader&);
std::unique_ptr<Node> make_random_crop(ParamReader&);
std::unique_ptr<Node> make_random_contrast(ParamReader&);
std::unique_ptr<Node> make_random_erasing(ParamReader&);
std::unique_ptr<Node> make_add(ParamReader&);
std::unique_ptr<Node> make_concat(ParamReader&);
std::unique_ptr<Node> make_layout(ParamReader&);
std::unique_ptr<Node> make_rescale(ParamReader&);
std::unique_ptr<Node> make_reshape(ParamReader&);
std::unique_ptr<Node> make_zero_pad2d(ParamReader&);
std::unique_ptr<Node> make_upsample_nearest2d(ParamReader&);
std::unique_ptr<Node> make_conv_transpose2d(ParamReader&);

namespace {

struct KindEntry {
  const char* name;
  NodeFactory make;
};

constexpr KindEntry kKinds[] = {
    {"input", make_input},
    {"conv2d", make_conv2d},
    {"linear", make_linear},
    {"pool2d", make_pool2d},
    {"global_avg_pool2d", make_global_avg_pool2d},
    {"global_max_pool2d", make_global_max_pool2d},
    {"batch_norm", make_batch_norm},
    {"activation", make_activation},
    {"flatten", make_flatten},
    {"dropout", make_dropout},
    {"random_flip_translate", make_random_flip_translate},
    {"random_affine", make_random_affine},
    {"random_crop", make_random_crop},
    {"random_contrast", make_random_contrast},
    {"random_erasing", make_random_erasing},
    {"add", make_add},
    {"concat", make_concat},
    {"layout", make_layout},
    {"rescale", make_rescale},
    {"reshape", make_reshape},
    {"zero_pad2d", make_zero_pad2d},
    {"upsample_nearest2d", make_upsample_nearest2d},
    {"conv_transpose2d", make_conv_transpose2d},
};

}  // namespace

NodeFactory find_node_kind(const std::string& kind) {
  auto it = std::find_if(std::begin(kKinds), std::end(kKinds), [&](const KindEntry& e) { return kind == e.name; });
  return it == std::end(kKinds) ? nullptr : it->make;
}

std::string node_kind_names() {
  std::string names;
  for (const KindEntry& e : kKinds) names += (names.empty() ? "" : ", ") + std::string(e.name);
  return names;
}

}  // namespace nn
}  // namespace convnet
