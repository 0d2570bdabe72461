// Bindings of ops/linear.h.
#include "python/common.h"

namespace convnet {

void bind_linear(py::module_& ops) {}

}  // namespace convnet
