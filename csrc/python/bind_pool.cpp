// Bindings of ops/pool.h.
#include "python/common.h"

namespace convnet {

void bind_pool(py::module_& ops) {}

}  // namespace convnet
