"""The CNN ops of the C++ core, forward and backward (NCHW, PyTorch's weight layouts).

``NAME(...)`` computes the forward pass and ``NAME_backward(grad_out, <forward inputs>,
<same parameters>)`` returns the gradient of each differentiable input, in order. Inputs may be
Tensors or numpy arrays; outputs are Tensors (``np.asarray(t)`` shares their memory).
"""
from ._core.ops import *  # noqa: F401,F403
from ._core import ops as _ops

__all__ = [name for name in dir(_ops) if not name.startswith("_")]
