"""DLPack both ways: Tensor.__dlpack__ / __dlpack_device__ for torch.from_dlpack and np.from_dlpack,
convnet.from_dlpack for torch tensors, numpy arrays and raw capsules. Zero-copy is shown by a write
through one view that the other sees; lifetime by deleting the producer first."""
import gc

import numpy as np
import pytest
import torch

import convnet
from convnet import layers as L
from conftest import requires_cuda

DTYPES = [("float32", torch.float32, np.float32), ("int64", torch.int64, np.int64), ("uint8", torch.uint8, np.uint8)]


@pytest.mark.parametrize("name,torch_dtype,np_dtype", DTYPES)
def test_torch_from_convnet_shares_memory(name, torch_dtype, np_dtype):
    t = convnet.tensor(np.arange(6).reshape(2, 3), dtype=name)
    a = torch.from_dlpack(t)
    assert a.dtype == torch_dtype and tuple(a.shape) == (2, 3)
    a[1, 2] = 42
    assert np.asarray(t)[1, 2] == 42
    t.copy_(np.zeros((2, 3), np_dtype))
    assert int(a.sum()) == 0


@pytest.mark.parametrize("name,torch_dtype,np_dtype", DTYPES)
def test_convnet_from_torch_shares_memory(name, torch_dtype, np_dtype):
    a = torch.arange(6).reshape(2, 3).to(torch_dtype)
    t = convnet.from_dlpack(a)
    assert isinstance(t, convnet.Tensor) and t.dtype == name and t.shape == (2, 3) and t.device == "cpu"
    a[0, 1] = 9
    assert np.asarray(t)[0, 1] == 9
    np.asarray(t)[1, 0] = 7
    assert int(a[1, 0]) == 7


@pytest.mark.parametrize("name,torch_dtype,np_dtype", DTYPES)
def test_numpy_both_ways_shares_memory(name, torch_dtype, np_dtype):
    t = convnet.tensor(np.arange(4), dtype=name)
    n = np.from_dlpack(t)
    assert n.dtype == np_dtype
    n[0] = 5
    assert np.asarray(t)[0] == 5
    arr = np.arange(4, dtype=np_dtype)
    u = convnet.from_dlpack(arr)
    arr[3] = 11
    assert np.asarray(u)[3] == 11


def test_raw_capsule_is_consumed_once():
    a = torch.ones(3)
    capsule = a.__dlpack__()
    t = convnet.from_dlpack(capsule)
    assert "used_dltensor" in repr(capsule)
    np.testing.assert_array_equal(np.asarray(t), np.ones(3, np.float32))
    with pytest.raises(ValueError, match="from_dlpack.*used one"):
        convnet.from_dlpack(capsule)
    versioned = convnet.tensor([1.0, 2.0]).__dlpack__(max_version=(1, 0))
    assert "dltensor_versioned" in repr(versioned)
    np.testing.assert_array_equal(np.asarray(convnet.from_dlpack(versioned)), [1.0, 2.0])
    assert "used_dltensor_versioned" in repr(versioned)


def test_convnet_round_trip_is_the_same_memory():
    t = convnet.tensor([1.0, 2.0, 3.0])
    u = convnet.from_dlpack(t)
    np.asarray(u)[0] = -1
    assert np.asarray(t)[0] == -1


@pytest.mark.parametrize("dtype", [torch.float64, torch.bool, torch.int32, torch.float16, torch.complex64])
def test_unsupported_dtype_is_a_type_error(dtype):
    name = str(dtype).replace("torch.", "")
    with pytest.raises(TypeError, match=f"from_dlpack: argument 'x' expected dtype float32, int64 or uint8, got {name}"):
        convnet.from_dlpack(torch.zeros(3, dtype=dtype))
    with pytest.raises(TypeError, match="got float64"):
        convnet.from_dlpack(np.zeros(3))


def test_not_dlpack_is_a_type_error():
    with pytest.raises(TypeError, match="from_dlpack: argument 'x' expected an object with __dlpack__.*got list"):
        convnet.from_dlpack([1.0, 2.0])


@pytest.mark.parametrize("shape", [(), (0,), (2, 0, 3), (1,), (1, 1, 4), (2, 3, 4, 5)])
def test_shapes_both_ways(shape):
    a = torch.arange(int(np.prod(shape)), dtype=torch.float32).reshape(shape)
    t = convnet.from_dlpack(a)
    assert t.shape == shape
    np.testing.assert_array_equal(np.asarray(t), a.numpy())
    back = torch.from_dlpack(t)
    assert tuple(back.shape) == shape
    np.testing.assert_array_equal(back.numpy(), a.numpy())
    np.testing.assert_array_equal(np.from_dlpack(t), a.numpy())


def test_non_contiguous_input_is_copied_unless_copy_false():
    # Convnet tensors are contiguous: a strided array is copied, as from_numpy does (torch and numpy
    # would keep the strides); copy=False refuses, as the array API asks when sharing is impossible.
    a = torch.arange(6, dtype=torch.float32).reshape(2, 3).t()
    t = convnet.from_dlpack(a)
    assert t.shape == (3, 2)
    np.testing.assert_array_equal(np.asarray(t), a.numpy())
    a[0, 0] = 100  # a copy: not seen
    assert np.asarray(t)[0, 0] == 0
    with pytest.raises(ValueError, match=r"from_dlpack: argument 'x' expected a contiguous.*copy=False.*strides"):
        convnet.from_dlpack(a, copy=False)
    step = np.arange(10, dtype=np.int64)[::-2]
    np.testing.assert_array_equal(np.asarray(convnet.from_dlpack(step)), step)


def test_copy_true_copies():
    a = torch.zeros(3)
    t = convnet.from_dlpack(a, copy=True)
    a[0] = 1
    assert np.asarray(t)[0] == 0
    b = torch.from_dlpack(convnet.tensor([1.0]).__dlpack__(copy=True))
    assert b.item() == 1.0


def test_byte_offset_of_a_slice():
    a = torch.arange(10, dtype=torch.int64)
    t = convnet.from_dlpack(a[2:])
    np.testing.assert_array_equal(np.asarray(t), np.arange(2, 10))
    a[2] = 50
    assert np.asarray(t)[0] == 50
    rows = torch.arange(12, dtype=torch.float32).reshape(4, 3)[1:3]  # contiguous rows: shared
    r = convnet.from_dlpack(rows)
    rows[0, 0] = -5
    assert np.asarray(r)[0, 0] == -5
    # and out: a view of a convnet tensor (its offset in the data pointer)
    v = convnet.tensor(np.arange(6.0)).reshape(2, 3)
    np.testing.assert_array_equal(torch.from_dlpack(v).numpy(), np.arange(6.0).reshape(2, 3))


def test_lifetime_producer_deleted_first():
    a = torch.arange(1000, dtype=torch.float32)
    t = convnet.from_dlpack(a)
    del a
    gc.collect()
    _ = torch.zeros(1000) + 1  # reuse freed memory, if it were freed
    np.testing.assert_array_equal(np.asarray(t), np.arange(1000, dtype=np.float32))
    c = convnet.tensor(np.arange(500.0))
    b = torch.from_dlpack(c)
    n = np.from_dlpack(c)
    del c
    gc.collect()
    np.testing.assert_array_equal(b.numpy(), np.arange(500.0))
    np.testing.assert_array_equal(n, np.arange(500.0))


def test_unconsumed_capsule_releases_the_tensor():
    t = convnet.tensor(np.ones(10))
    for _ in range(100):
        t.__dlpack__()
        t.__dlpack__(max_version=(1, 0))
    gc.collect()  # nothing to assert but that the capsules' destructors run without a crash


def test_dlpack_device_and_arguments():
    t = convnet.tensor([1.0])
    assert t.__dlpack_device__() == (1, 0)
    assert np.from_dlpack(t, device="cpu")[0] == 1.0
    with pytest.raises(ValueError, match="Tensor.__dlpack__: argument 'stream' expected None for a cpu tensor"):
        t.__dlpack__(stream=1)
    with pytest.raises(BufferError, match="dl_device.*kDLCPU"):
        t.__dlpack__(dl_device=(3, 0))
    with pytest.raises(TypeError):
        t.__dlpack__(None)  # keyword-only, as the spec has it


def test_read_only_memory():
    frozen = np.arange(4, dtype=np.float32)
    frozen.flags.writeable = False
    t = convnet.from_numpy(frozen)
    n = np.from_dlpack(t)  # numpy asks for a versioned capsule: the read-only flag travels with it
    assert not n.flags.writeable
    with pytest.raises(BufferError, match=r"Tensor.__dlpack__: argument 'max_version'.*read-only"):
        t.__dlpack__()
    copied = np.from_dlpack(t, copy=True)
    assert copied.flags.writeable
    torch.from_dlpack(t.__dlpack__(copy=True))[0] = 9  # an unversioned copy is writable
    assert frozen[0] == 0
    # in: a read-only producer gives a read-only tensor
    r = convnet.from_dlpack(frozen)
    with pytest.raises(ValueError, match="read-only"):
        r.copy_(np.zeros(4, np.float32))


def small_cnn():
    return convnet.Sequential([L.Input((1, 8, 8)), L.Conv2D(3, 3, activation="relu"), L.Flatten(),
                               L.Dense(4, activation="softmax")])


def test_fit_evaluate_predict_accept_torch_tensors():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 4, 16)
    results = []
    for make in (lambda v: v, torch.from_numpy):
        convnet.set_random_seed(3)
        model = small_cnn()
        model.compile("sgd", "sparse_categorical_crossentropy", device="cpu")
        history = model.fit(make(x), make(y), batch_size=8, epochs=2, verbose=0, shuffle=False)
        results.append((history.history["loss"], model.evaluate(make(x), make(y), verbose=0),
                        model.predict(make(x), verbose=0)))
    (loss_a, eval_a, pred_a), (loss_b, eval_b, pred_b) = results
    assert loss_a == loss_b and eval_a == eval_b
    np.testing.assert_array_equal(pred_a, pred_b)
    with pytest.raises(TypeError, match="fit: argument 'x' expected numeric images"):
        model.fit(torch.zeros((2, 1, 8, 8), dtype=torch.bool), np.zeros(2, np.int64), verbose=0)


def test_model_input_from_torch_is_not_copied():
    from convnet.models import _from_dlpack_array

    a = torch.zeros((4, 1, 8, 8))
    n = _from_dlpack_array(a)
    assert isinstance(n, np.ndarray) and np.shares_memory(n, a.numpy())
    plain = [1, 2]
    assert _from_dlpack_array(plain) is plain


@requires_cuda
def test_cuda_tensor_both_ways():
    t = convnet.tensor(np.arange(6.0).reshape(2, 3), device="cuda")
    assert t.__dlpack_device__() == (2, 0)
    u = convnet.from_dlpack(t)  # a CUDA producer: convnet asks it for stream 1 (the legacy default stream)
    assert u.device == "cuda:0" and u.shape == (2, 3)
    np.testing.assert_array_equal(u.numpy(), np.arange(6.0).reshape(2, 3))
    convnet.ops.relu(u)  # a kernel accepts the borrowed memory as memory of its device
    v = convnet.from_dlpack(t.__dlpack__(stream=-1, max_version=(1, 0)))
    v.copy_(np.zeros(6, np.float32))
    assert t.numpy().sum() == 0  # the same memory
    with pytest.raises(ValueError, match="stream.*0"):
        t.__dlpack__(stream=0)
    host = np.from_dlpack(t, device="cpu")  # numpy asks for dl_device=(1, 0): a copy to the cpu
    assert host.shape == (2, 3) and host.sum() == 0
    assert "dltensor_versioned" in repr(t.__dlpack__(max_version=(1, 0), dl_device=(1, 0)))
    with pytest.raises(BufferError, match="copy"):
        t.__dlpack__(dl_device=(1, 0), copy=False)
    with pytest.raises((BufferError, RuntimeError, TypeError)):
        np.from_dlpack(t)  # numpy takes cpu memory only
    del t
    gc.collect()
    np.testing.assert_array_equal(u.numpy(), np.zeros((2, 3)))  # alive through the capsule's owner
