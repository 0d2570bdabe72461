import os
import sys

import pytest

# tests/ helpers (opcheck.py) importable from every test module
sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _auto_device_is_the_cpu(request, monkeypatch):
    """device='auto' means the CPU in a test not marked cuda, as on a machine without a GPU. In the emulator
    builds 'auto' would be the emulated GPU: the tests marked cuda cover it, and the CPU kernels would go
    unchecked under the sanitizers (and the emulator is slow)."""
    if request.node.get_closest_marker("cuda") is None:
        import convnet.models

        resolve = convnet.models._resolve_device
        monkeypatch.setattr(convnet.models, "_resolve_device",
                            lambda device, where: resolve("cpu" if device == "auto" else device, where))


def cuda_available():
    import convnet

    return convnet.cuda.is_available()


def requires_cuda(test):
    """Marks a GPU test: selected by `-m cuda`, skipped where no CUDA device (or emulator) is visible."""
    return pytest.mark.cuda(pytest.mark.skipif(not cuda_available(), reason="no CUDA GPU visible")(test))


def requires_cuda_devices(count):
    """A GPU test that needs `count` devices (the emulator gives CONVNET_EMULATOR_DEVICES of them)."""
    def mark(test):
        import convnet

        enough = convnet.cuda.device_count() >= count
        return pytest.mark.cuda(pytest.mark.skipif(not enough, reason=f"fewer than {count} CUDA devices")(test))
    return mark
