"""keras.metrics: the compile metrics convnet counts in its C++ step (TopKCategoricalAccuracy,
SparseTopKCategoricalAccuracy; 'accuracy' is a string in compile) and convnet.metrics' numpy helpers."""
from ..metrics import *  # noqa: F401,F403
from ..metrics import __all__  # noqa: F401
