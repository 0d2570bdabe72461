#include "core/threads.h"

#include <omp.h>

#include <string>

#include "core/errors.h"

namespace convnet {

void set_num_threads(int threads) {
  CONVNET_CHECK_VALUE(threads >= 1, "set_num_threads", "threads", "an int >= 1", std::to_string(threads));
  omp_set_num_threads(threads);
}

int get_num_threads() { return omp_get_max_threads(); }

}  // namespace convnet
