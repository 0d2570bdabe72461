import numpy as np
import pytest

import convnet
from conftest import requires_cuda_devices


def test_numpy_round_trip_shares_memory():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = convnet.from_numpy(a)
    assert t.shape == (3, 4) and t.dtype == "float32" and t.device == "cpu"
    a[0, 0] = 42.0  # from_numpy shares memory
    view = np.asarray(t)
    assert view[0, 0] == 42.0
    view[1, 1] = -1.0  # np.asarray shares memory back
    assert t.numpy()[1, 1] == -1.0 and a[1, 1] == -1.0


def test_tensor_copies_and_converts():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    t = convnet.tensor(a)
    assert t.dtype == "float32"
    a[0, 0] = 9.0
    assert t.numpy()[0, 0] == 0.0
    labels = convnet.tensor([1, 2, 3], dtype="int64")
    assert labels.dtype == "int64" and labels.numpy().tolist() == [1, 2, 3]
    pixels = convnet.tensor(np.full((2, 2), 255, np.uint8), dtype=np.uint8)
    assert pixels.dtype == "uint8" and int(pixels.numpy().sum()) == 4 * 255


def test_non_contiguous_input_is_copied():
    a = np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2]
    t = convnet.from_numpy(a)
    np.testing.assert_array_equal(t.numpy(), a)


def test_repr_reshape_len():
    t = convnet.zeros((2, 3, 4))
    assert repr(t) == "Tensor(shape=(2, 3, 4), dtype=float32, device='cpu')"
    assert t.reshape(6, 4).shape == (6, 4) and t.reshape((24,)).shape == (24,)
    assert len(t) == 2 and t.ndim == 3 and t.numel() == 24 and t.strides == (12, 4, 1)
    with pytest.raises(ValueError, match="reshape"):
        t.reshape(5, 5)


def test_devices():
    t = convnet.zeros((2,))
    assert t.to("cpu") is not None
    with pytest.raises(ValueError, match="device"):
        t.to("tpu")
    if not convnet.cuda.is_available():
        assert convnet.cuda.device_count() == 0
        with pytest.raises(RuntimeError, match="CUDA is not available|built without CUDA"):
            t.to("cuda")
        with pytest.raises(RuntimeError, match="memory_allocated: CUDA is not available|built without CUDA"):
            convnet.cuda.memory_allocated()


@requires_cuda_devices(2)
def test_tensors_on_two_gpus():
    # An op runs on the GPU of its tensors; copies between GPUs keep the values.
    a = convnet.tensor(np.arange(-2, 3, dtype=np.float32), device="cuda:1")
    r = convnet.ops.relu(a)
    assert r.device == "cuda:1" and r.numpy().tolist() == [0, 0, 0, 1, 2]
    b = a.to("cuda:0")
    assert b.device == "cuda:0" and b.numpy().tolist() == [-2, -1, 0, 1, 2]
    assert convnet.ops.relu(b).numpy().tolist() == [0, 0, 0, 1, 2]
    with pytest.raises(ValueError, match="add: argument 'b' expected a tensor on cuda:1 like 'a', got one on cuda:0"):
        convnet.ops.add(a, b)
    n = convnet.cuda.device_count()
    with pytest.raises(RuntimeError, match=f"CUDA device {n} requested but only {n} device"):
        convnet.zeros([2], device=f"cuda:{n}")


def test_unsupported_dtype_rejected():
    with pytest.raises(TypeError, match="float32, int64 or uint8"):
        convnet.from_numpy(np.zeros(3, np.complex64))


def test_misaligned_input_is_copied():
    raw = np.arange(13, dtype=np.uint8).tobytes()
    a = np.frombuffer(raw, dtype=np.float32, count=3, offset=1)  # not 4-byte aligned
    assert not a.flags.aligned
    t = convnet.from_numpy(a)
    np.testing.assert_array_equal(t.numpy(), a)
    np.testing.assert_array_equal(convnet.ops.add(a, a).numpy(), a + a)
