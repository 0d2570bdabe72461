"""Generated hostile files (issue 12): random bytes and mutated real files fed to load_model and to the
IDX reader must give a result or a clear exception, never a crash or a hang (probe.check_no_crash runs
each in a forked child). Each case writes its bytes into a temporary directory and passes the path."""
import functools
import gzip
import json
import os
import struct

import numpy as np
import pytest

pytest.importorskip("hypothesis")  # absent where no registry is reachable (the GPU machine)
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st
from safetensors.numpy import save as st_save

from probe import check_no_crash

import convnet
from convnet import layers, serialization

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("hypothesis_files")


def _write(workdir, name, data):
    path = workdir / name
    path.write_bytes(data)
    return path


def _load(path):
    check_no_crash(f"convnet.load_model({str(path)!r}, device='cpu')")


def _read_idx(path):
    check_no_crash(f"from convnet.datasets.idx import read_idx\nread_idx({str(path)!r})")


@functools.lru_cache(maxsize=None)
def _model_file(tmpdir):
    """(bytes of a small compiled model's file, its header length)."""
    model = convnet.Sequential([layers.Input((1, 6, 6)), layers.Conv2D(2, 3, activation="relu"), layers.Flatten(),
                                layers.Dense(3, activation="softmax")])
    model.compile()
    path = os.path.join(tmpdir, "model.cnet")
    model.save(path)
    data = open(path, "rb").read()
    return data, struct.unpack("<Q", data[:8])[0]


def _mutations(max_ops=4):
    """Lists of (operation, position fraction, byte)."""
    op = st.tuples(st.sampled_from(["flip", "insert", "delete"]), st.floats(0, 1, exclude_max=True),
                   st.integers(0, 255))
    return st.lists(op, min_size=1, max_size=max_ops)


def _mutate(data, ops, start=0, end=None):
    """`data` with each op applied at a position in [start, end)."""
    data = bytearray(data)
    for kind, where, byte in ops:
        stop = min(len(data), end if end is not None else len(data))
        if stop <= start:
            break
        i = start + int(where * (stop - start))
        if kind == "flip":
            data[i] ^= byte or 1
        elif kind == "insert":
            data.insert(i, byte)
        else:
            del data[i]
    return bytes(data)


# ----------------------------------------------------------------------------------------------- model files
@SETTINGS
@given(data=st.binary(max_size=300))
def test_random_bytes_as_model(workdir, data):
    _load(_write(workdir, "random.cnet", data))


@SETTINGS
@given(data=st.binary(min_size=1, max_size=200))
def test_random_bytes_after_a_valid_length(workdir, data):
    _load(_write(workdir, "prefixed.cnet", struct.pack("<Q", len(data)) + data))


@SETTINGS
@given(ops=_mutations())
def test_mutated_model_header(workdir, ops):
    data, header_len = _model_file(str(workdir))
    _load(_write(workdir, "header.cnet", _mutate(data, ops, 0, 8 + header_len)))


@SETTINGS
@given(ops=_mutations(2))
def test_mutated_model_config_text(workdir, ops):
    """The config's JSON text mutated, in an otherwise valid file (correct digest): exercises the config checks."""
    data, _ = _model_file(str(workdir))
    config, tensors, _ = serialization.load_model_file(os.path.join(str(workdir), "model.cnet"))
    text = _mutate(json.dumps(config).encode(), ops).decode("utf-8", "replace")
    meta = {"format": "convnet", "format_version": "1", "config": text,
            "tensors_sha256": serialization._tensors_digest(tensors)}
    _load(_write(workdir, "config.cnet", st_save(tensors, metadata=meta)))


# JSON values that a mutated config may hold. Ints stay small or far out of range: the sizes in between
# (2**31 units...) are the C++ core's to refuse (checked size arithmetic, another branch).
_JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
    | st.integers(-3, 40) | st.sampled_from([2**63, 2**70, -2**70]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6)


def _paths(value, prefix=()):
    """Every path (keys and indices) into a JSON value."""
    yield prefix
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield from _paths(child, prefix + (key,))


@SETTINGS
@given(choice=st.floats(0, 1, exclude_max=True), value=_JSON)
def test_config_value_replaced(workdir, choice, value):
    """One value anywhere in the saved config replaced by random JSON, saved as a valid file."""
    _model_file(str(workdir))
    config, tensors, _ = serialization.load_model_file(os.path.join(str(workdir), "model.cnet"))
    paths = list(_paths(config))[1:]
    path = paths[int(choice * len(paths))]
    node = config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    serialization.save_model_file(workdir / "replaced.cnet", config, tensors)
    _load(workdir / "replaced.cnet")


# ----------------------------------------------------------------------------------------------- IDX files
def _idx(images):
    shape = (4, 28, 28) if images else (6,)
    payload = np.arange(int(np.prod(shape)), dtype=np.uint32).astype(np.uint8).tobytes()
    return struct.pack(f">BBBB{len(shape)}I", 0, 0, 8, len(shape), *shape) + payload


@SETTINGS
@given(data=st.binary(max_size=300), gz=st.booleans())
def test_random_bytes_as_idx(workdir, data, gz):
    _read_idx(_write(workdir, "random-idx", gzip.compress(data) if gz else data))


@SETTINGS
@given(images=st.booleans(), gz=st.booleans(), ops=_mutations())
def test_mutated_idx_header(workdir, images, gz, ops):
    data = _mutate(_idx(images), ops, 0, 16 if images else 8)
    _read_idx(_write(workdir, "header-idx", gzip.compress(data) if gz else data))


@SETTINGS
@given(images=st.booleans(), ops=_mutations())
def test_mutated_idx_gzip_bytes(workdir, images, ops):
    _read_idx(_write(workdir, "bytes-idx.gz", _mutate(gzip.compress(_idx(images)), ops)))
