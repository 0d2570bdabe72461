// Bindings of ops/norm.h.
#include "python/common.h"

namespace convnet {

void bind_norm(py::module_& ops) {}

}  // namespace convnet
