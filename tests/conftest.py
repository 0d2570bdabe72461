import os
import sys

import pytest

# tests/ helpers (opcheck.py) importable from every test module
sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(1234)


def cuda_available():
    import convnet

    return convnet.cuda.is_available()


requires_cuda = pytest.mark.skipif(not cuda_available(), reason="no CUDA GPU visible")
