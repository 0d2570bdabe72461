// The CPU kernels' thread count: the OpenMP team size of the parallel regions that the calling thread
// starts (OpenMP's nthreads ICV, the scope of omp_set_num_threads and of torch.set_num_threads).
// Python calls run their kernels on the calling thread, so this is per Python thread.
#pragma once

namespace convnet {

// Sets the team size for parallel regions started from the calling thread; threads >= 1.
void set_num_threads(int threads);
// The team size a parallel region started now from the calling thread would get.
int get_num_threads();

}  // namespace convnet
