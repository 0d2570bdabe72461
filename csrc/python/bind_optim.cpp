// Bindings of ops/optim.h.
#include "python/common.h"

namespace convnet {

void bind_optim(py::module_& ops) {}

}  // namespace convnet
