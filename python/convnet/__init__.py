"""convnet: a compact CNN library with a C++ core and CUDA kernels.

>>> import convnet, numpy as np
>>> t = convnet.tensor(np.ones((2, 3)))
>>> t.shape, t.dtype
((2, 3), 'float32')
"""
from ._core import OutOfMemoryError, Tensor, from_dlpack, from_numpy, get_num_threads, set_num_threads, tensor, zeros
from . import (attacks, callbacks, cuda, datasets, distributed, initializers, layers, losses, metrics, onnx, ops,
               optimizers, plot, report, zoo)
from .models import Model, Sequential, clone_model, load_model, set_random_seed

__version__ = "0.1.0"
__all__ = ["Tensor", "OutOfMemoryError", "tensor", "from_numpy", "from_dlpack", "zeros", "attacks", "cuda", "ops", "layers", "losses", "optimizers",
           "callbacks", "initializers", "datasets", "zoo", "metrics", "plot", "report", "onnx", "distributed", "Model", "Sequential", "load_model",
           "clone_model", "set_random_seed", "set_num_threads", "get_num_threads", "__version__"]
