"""Data sets: loaders that return numpy arrays, and the IDX reader they use.

>>> from convnet.datasets import fashion_mnist
>>> fashion_mnist.CLASS_NAMES[9]
'Ankle boot'
"""
from . import fashion_mnist
from .idx import read_idx, write_idx

__all__ = ["fashion_mnist", "read_idx", "write_idx"]
