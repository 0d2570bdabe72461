// Bindings of ops/conv.h.
#include "python/common.h"

namespace convnet {

void bind_conv(py::module_& ops) {}

}  // namespace convnet
