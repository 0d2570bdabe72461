// Bindings of ops/activation.h.
#include "python/common.h"

namespace convnet {

void bind_activation(py::module_& ops) {}

}  // namespace convnet
