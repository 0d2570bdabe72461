"""The convnet model file: round trips, atomic saves, and a clear ValueError for every bad file."""
import json
import os

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save as st_save

from convnet import serialization
from convnet.serialization import load_model_file, save_model_file


def _tensors():
    rng = np.random.default_rng(0)
    return {
        "conv1.weight": rng.standard_normal((8, 1, 3, 3)).astype(np.float32),
        "conv1.bias": np.zeros(8, np.float32),
        "fc.weight": rng.standard_normal((10, 72)),  # float64
        "bn.num_batches": np.array(7, np.int64),  # 0-d stays 0-d
        "empty": np.zeros((0, 4), np.float32),
        "mask": np.array([True, False, True]),
        "half": np.arange(5, dtype=np.float16),
        "bytes": np.arange(256, dtype=np.uint8),
        "big_endian": np.arange(6, dtype=">i4"),
        "transposed": np.arange(12.0, dtype=np.float32).reshape(3, 4).T,  # not contiguous
    }


def _no_temp_files(directory):
    return [n for n in os.listdir(directory) if n.endswith(".tmp")] == []


def test_round_trip(tmp_path):
    path = tmp_path / "model.cnet"
    config = {"name": "seed", "layers": [{"type": "conv2d", "out": 8, "kernel": [3, 3]}, {"type": "linear"}], "z": 1.5}
    tensors = _tensors()
    save_model_file(path, config, tensors, {"epoch": "3", "note": "ünïcode"})
    got_config, got, meta = load_model_file(path)
    assert got_config == config
    assert list(got_config) == list(config)  # key order kept
    assert meta == {"epoch": "3", "note": "ünïcode"}
    assert set(got) == set(tensors)
    for name, value in tensors.items():
        assert got[name].shape == value.shape, name
        assert got[name].dtype == value.dtype.newbyteorder("="), name
        np.testing.assert_array_equal(got[name], value, err_msg=name)
        assert got[name].flags.writeable
    # str paths work as well as Path objects; no metadata, no tensors
    save_model_file(str(path), {}, {})
    assert load_model_file(str(path)) == ({}, {}, {})


def test_file_is_plain_safetensors_with_convnet_metadata(tmp_path):
    path = tmp_path / "m.cnet"
    save_model_file(path, {"a": [1, 2]}, {"w": np.ones((2, 2), np.float32)}, {"k": "v"})
    with safe_open(str(path), framework="np") as f:
        meta = f.metadata()
        assert list(f.keys()) == ["w"]
    assert meta["format"] == "convnet" and meta["format_version"] == "1"
    assert json.loads(meta["config"]) == {"a": [1, 2]}
    assert meta["k"] == "v" and len(meta["tensors_sha256"]) == 64


def test_overwrite_replaces(tmp_path):
    path = tmp_path / "m.cnet"
    save_model_file(path, {"v": 1}, {"w": np.zeros(3)})
    save_model_file(path, {"v": 2}, {"w": np.ones(5)})
    config, tensors, _ = load_model_file(path)
    assert config == {"v": 2} and tensors["w"].shape == (5,)
    assert _no_temp_files(tmp_path)


@pytest.mark.parametrize("failure", ["midway", "fsync", "replace", "interrupt"])
def test_interrupted_save_keeps_previous_file(tmp_path, monkeypatch, failure):
    path = tmp_path / "m.cnet"
    save_model_file(path, {"v": 1}, {"w": np.arange(1000, dtype=np.float32)})
    before = path.read_bytes()
    monkeypatch.setattr(serialization, "_CHUNK", 256)  # many chunks, so a failure can happen midway
    calls = []

    def failing_chunk(f, chunk):
        calls.append(len(chunk))
        if len(calls) == 3:
            raise KeyboardInterrupt if failure == "interrupt" else OSError(28, "No space left on device")
        f.write(chunk)

    def boom(*args):
        raise OSError(5, "Input/output error")

    if failure in ("midway", "interrupt"):
        monkeypatch.setattr(serialization, "_write_chunk", failing_chunk)
    elif failure == "fsync":
        monkeypatch.setattr(serialization.os, "fsync", boom)
    else:
        monkeypatch.setattr(serialization.os, "replace", boom)
    expected = KeyboardInterrupt if failure == "interrupt" else OSError
    with pytest.raises(expected):
        save_model_file(path, {"v": 2}, {"w": np.zeros(5000, np.float32)})
    if failure in ("midway", "interrupt"):
        assert len(calls) == 3
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.cnet"]  # no temp file left behind
    monkeypatch.undo()
    assert load_model_file(path)[0] == {"v": 1}


def test_failed_first_save_leaves_nothing(tmp_path, monkeypatch):
    def boom(*args):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(serialization.os, "fsync", boom)
    with pytest.raises(OSError):
        save_model_file(tmp_path / "m.cnet", {}, {"w": np.zeros(3)})
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "args, exc, words",
    [
        (([1], {}), TypeError, ["config", "dict", "list"]),
        (({"f": object()}, {}), ValueError, ["config", "JSON"]),
        (({"f": float("nan")}, {}), ValueError, ["config", "JSON"]),
        (({}, [np.zeros(2)]), TypeError, ["tensors", "dict"]),
        (({}, {"w": [1.0, 2.0]}), TypeError, ["tensors", "numpy", "'w'"]),
        (({}, {3: np.zeros(2)}), TypeError, ["tensors", "str"]),
        (({}, {"w": np.array([object()])}), TypeError, ["tensors", "dtype object", "'w'"]),
        (({}, {"w": np.array(["a"])}), TypeError, ["tensors", "dtype <U1", "'w'"]),
        (({}, {}, {"format": "x"}), ValueError, ["metadata", "reserved", "format"]),
        (({}, {}, {"config": "x"}), ValueError, ["metadata", "reserved", "config"]),
        (({}, {}, {"k": 3}), TypeError, ["metadata", "str"]),
    ],
)
def test_save_rejects_bad_arguments(tmp_path, args, exc, words):
    path = tmp_path / "m.cnet"
    with pytest.raises(exc) as info:
        save_model_file(path, *args)
    for word in words:
        assert word in str(info.value)
    assert os.listdir(tmp_path) == []


def test_missing_file(tmp_path):
    path = tmp_path / "nope.cnet"
    with pytest.raises(FileNotFoundError) as info:
        load_model_file(path)
    assert str(path) in str(info.value)


def test_directory_is_not_a_model(tmp_path):
    with pytest.raises(IsADirectoryError):
        load_model_file(tmp_path)


@pytest.fixture
def good_bytes(tmp_path):
    path = tmp_path / "good.cnet"
    save_model_file(path, {"v": 1}, {"w": np.arange(64, dtype=np.float32).reshape(8, 8), "b": np.ones(3)})
    return path.read_bytes()


def _expect_value_error(path, data, *words):
    path.write_bytes(data)
    with pytest.raises(ValueError) as info:
        load_model_file(path)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message, message
    return message


@pytest.mark.parametrize("cut", [0, 1, 7, 8, 9, 40, -100, -1])
def test_truncated_file(tmp_path, good_bytes, cut):
    _expect_value_error(tmp_path / "t.cnet", good_bytes[:cut], "truncated or corrupted")


def test_trailing_garbage(tmp_path, good_bytes):
    _expect_value_error(tmp_path / "t.cnet", good_bytes + b"\0" * 16, "truncated or corrupted")


def test_corrupted_header(tmp_path, good_bytes):
    data = bytearray(good_bytes)
    data[8] = ord("[")  # the JSON header no longer is an object
    _expect_value_error(tmp_path / "c.cnet", bytes(data), "truncated or corrupted")
    data = bytearray(good_bytes)
    data[0:8] = (10**12).to_bytes(8, "little")  # absurd header length
    _expect_value_error(tmp_path / "c.cnet", bytes(data), "truncated or corrupted")


def test_corrupted_tensor_data(tmp_path, good_bytes):
    data = bytearray(good_bytes)
    data[-3] ^= 0x10  # one flipped bit in the tensor bytes: safetensors alone would not notice
    _expect_value_error(tmp_path / "c.cnet", bytes(data), "corrupted tensor data")


def test_not_safetensors(tmp_path):
    _expect_value_error(tmp_path / "x.cnet", b"PK\x03\x04 this is a zip, or a pickle, or anything" * 4,
                        "truncated or corrupted")


def _safetensors_with(metadata):
    return st_save({"w": np.zeros(2, np.float32)}, metadata=metadata)


def test_safetensors_but_not_convnet(tmp_path):
    _expect_value_error(tmp_path / "a.cnet", _safetensors_with(None), "not a convnet model", "no metadata")
    _expect_value_error(tmp_path / "b.cnet", _safetensors_with({"format": "pt"}), "not a convnet model", "'pt'")


def test_other_format_version(tmp_path):
    meta = {"format": "convnet", "format_version": "2", "config": "{}"}
    _expect_value_error(tmp_path / "v.cnet", _safetensors_with(meta), "format_version", "'2'")
    del meta["format_version"]
    _expect_value_error(tmp_path / "v.cnet", _safetensors_with(meta), "format_version", "None")


def test_bad_config_metadata(tmp_path):
    base = {"format": "convnet", "format_version": "1"}
    _expect_value_error(tmp_path / "c.cnet", _safetensors_with(base), "config")
    _expect_value_error(tmp_path / "c.cnet", _safetensors_with({**base, "config": "{not json"}), "config")
    _expect_value_error(tmp_path / "c.cnet", _safetensors_with({**base, "config": "[1, 2]"}), "config", "list")


def test_hand_written_file_without_digest_loads(tmp_path):
    """The digest is checked when present; a file written to the documented format without it still loads."""
    path = tmp_path / "h.cnet"
    path.write_bytes(_safetensors_with({"format": "convnet", "format_version": "1", "config": '{"a": 1}', "x": "y"}))
    config, tensors, meta = load_model_file(path)
    assert config == {"a": 1} and meta == {"x": "y"} and tensors["w"].shape == (2,)


# ----------------------------------------------------------------------------------------------- kill -9
SAVE_FOREVER = """
from convnet import serialization
serialization._O_TMPFILE = serialization._O_TMPFILE if {tmpfile} else None
model = convnet.Sequential([layers.Input((1024,)), layers.Dense(1024), layers.Dense(1024, activation="softmax")])
model.compile()  # weights and Adam's state: a 25 MB file, about 0.1 s a save
model.save("m.cnet")
open("ready", "w").close()
while True:
    model.save("m.cnet")
"""


@pytest.mark.parametrize("tmpfile", [True, False], ids=["O_TMPFILE", "named-temporary"])
def test_kill_9_during_save(tmp_path, tmpfile):
    """SIGKILL at random moments of saves onto one path: the last complete file always loads, and no
    temporary is left (with O_TMPFILE none can be; with named temporaries the next save removes it)."""
    import random
    import signal
    import time

    import probe

    import convnet

    context, rng = probe._forkserver(), random.Random(12)
    kills = 10
    for _ in range(kills):
        if os.path.exists(tmp_path / "ready"):
            os.remove(tmp_path / "ready")
        parent, child = context.Pipe(duplex=False)
        saver = context.Process(target=probe._run_child, args=(SAVE_FOREVER.format(tmpfile=tmpfile), str(tmp_path), child),
                                daemon=True)
        saver.start()
        deadline = time.monotonic() + 30
        while not os.path.exists(tmp_path / "ready"):
            assert saver.is_alive() and time.monotonic() < deadline, parent.recv() if parent.poll(1) else "no report"
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.3))  # within the next few saves
        os.kill(saver.pid, signal.SIGKILL)
        saver.join()
        model = convnet.load_model(tmp_path / "m.cnet", device="cpu")
        assert model.count_params() == 1024 * 1024 * 2 + 2048
        left = sorted(set(os.listdir(tmp_path)) - {"m.cnet", "ready"})
        if tmpfile:
            assert left == []
        else:
            assert all(serialization._temporary_pattern("m.cnet").fullmatch(name) for name in left), left
            model.save(tmp_path / "m.cnet")  # named temporaries: the next save removes what a kill left
            assert sorted(os.listdir(tmp_path)) == ["m.cnet", "ready"]
