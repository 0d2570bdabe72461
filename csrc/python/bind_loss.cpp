// Bindings of ops/loss.h.
#include "python/common.h"

namespace convnet {

void bind_loss(py::module_& ops) {}

}  // namespace convnet
