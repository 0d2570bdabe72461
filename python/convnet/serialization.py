"""The convnet model file: one safetensors file holding the tensors, the model config and metadata.

Layout (https://github.com/huggingface/safetensors): an 8-byte header length, a JSON header naming each
tensor's dtype, shape and byte range plus a ``__metadata__`` dict of strings, then the raw tensor bytes.
A convnet file's metadata holds::

    "format":         "convnet"
    "format_version": "1"
    "config":         json.dumps(config)   # the model description, whatever the model layer puts in it
    "tensors_sha256": SHA-256 over every tensor's name, dtype, shape and little-endian bytes in name
                      order (see _tensors_digest); checked on load when present, so flipped bits in the
                      tensor data (which safetensors itself cannot notice) are reported, not loaded
    ...               any user metadata (str -> str)

No pickle anywhere: loading a file cannot run code. Saves are atomic: the bytes go to a temporary file in
the same directory, are flushed and fsynced, then os.replace()d over the target, so an interrupted save
leaves the previous file intact and no temporary file behind.

>>> import numpy as np, tempfile, os
>>> p = os.path.join(tempfile.mkdtemp(), "m.cnet")
>>> save_model_file(p, {"layers": ["linear"]}, {"w": np.eye(2, dtype=np.float32)}, {"note": "hi"})
>>> config, tensors, meta = load_model_file(p)
>>> config, tensors["w"].dtype, meta
({'layers': ['linear']}, dtype('float32'), {'note': 'hi'})
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from typing import Dict, Mapping, Optional, Tuple

import numpy as np

__all__ = ["save_model_file", "load_model_file", "atomic_write_bytes", "FORMAT", "FORMAT_VERSION"]

FORMAT = "convnet"
FORMAT_VERSION = "1"
_RESERVED = ("format", "format_version", "config", "tensors_sha256")
_CHUNK = 1 << 20  # write in 1 MiB pieces


def _write_chunk(f, chunk) -> None:
    f.write(chunk)


def _tensors_digest(arrays: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = arrays[name]
        a = np.require(a, dtype=a.dtype.newbyteorder("<"), requirements="C")
        h.update(json.dumps([name, a.dtype.str, list(a.shape)]).encode())
        h.update(b"\0")
        h.update(a.reshape(-1).view(np.uint8))
    return h.hexdigest()


def atomic_write_bytes(path, data) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same directory, flush, fsync,
    os.replace. On any failure (including KeyboardInterrupt) the temporary file is removed and an
    existing file at ``path`` is left untouched."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            view = memoryview(data).cast("B")
            for start in range(0, len(view), _CHUNK):
                _write_chunk(f, view[start:start + _CHUNK])
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    # Make the rename itself durable (POSIX); best effort, e.g. not possible on Windows.
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def save_model_file(
    path,
    config: dict,
    tensors: Mapping[str, np.ndarray],
    metadata: Optional[Mapping[str, str]] = None,
) -> None:
    """Write a model to ONE safetensors file at ``path``, atomically.

    config: a JSON-serialisable dict (the model description). tensors: name -> numpy array (any
    dtype safetensors supports; made contiguous). metadata: extra str -> str entries; the keys
    'format', 'format_version', 'config' and 'tensors_sha256' are reserved.
    Raises TypeError for wrong argument types and ValueError for a config that is not JSON or a
    reserved metadata key.
    """
    if not isinstance(config, dict):
        raise TypeError(f"save_model_file: argument 'config' expected dict, got {type(config).__name__}")
    try:
        config_json = json.dumps(config, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"save_model_file: argument 'config' expected JSON-serialisable dict, got {e}") from None
    if not isinstance(tensors, Mapping):
        raise TypeError(f"save_model_file: argument 'tensors' expected dict, got {type(tensors).__name__}")
    arrays: Dict[str, np.ndarray] = {}
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"save_model_file: argument 'tensors' expected str keys, got {type(name).__name__}")
        if not isinstance(value, np.ndarray):
            raise TypeError(
                f"save_model_file: argument 'tensors' expected numpy arrays, got {type(value).__name__} for '{name}'"
            )
        if value.dtype.kind not in "biuf":
            raise TypeError(
                f"save_model_file: argument 'tensors' expected bool, integer or float arrays, got dtype "
                f"{value.dtype} for '{name}'"
            )
        arrays[name] = np.require(value, requirements="C")  # (np.ascontiguousarray would turn 0-d into 1-d)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": config_json,
        "tensors_sha256": _tensors_digest(arrays),
    }
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(
                f"save_model_file: argument 'metadata' expected str -> str, got "
                f"{type(key).__name__} -> {type(value).__name__}"
            )
        if key in _RESERVED:
            raise ValueError(f"save_model_file: argument 'metadata' expected no reserved key {_RESERVED}, got '{key}'")
        header[key] = value

    from safetensors.numpy import save

    try:
        data = save(arrays, metadata=header)
    except Exception as e:  # e.g. a dtype safetensors cannot store (object, ...)
        raise ValueError(f"save_model_file: cannot serialise tensors for '{os.fspath(path)}': {e}") from None
    atomic_write_bytes(path, data)


def load_model_file(path) -> Tuple[dict, Dict[str, np.ndarray], Dict[str, str]]:
    """Read a file written by :func:`save_model_file`: returns (config, tensors, metadata).

    tensors are writable numpy arrays; metadata holds only the user's entries (the reserved keys are
    consumed). Raises FileNotFoundError (with the path) when the file is missing, and ValueError naming
    the path and the problem when it is truncated or corrupted, is a safetensors file that is not a
    convnet model, or has another format_version.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "convnet model file not found", path)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "expected a convnet model file, got a directory", path)

    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, framework="np") as f:
            header = f.metadata()
            names = list(f.keys())
            tensors = {name: np.array(f.get_tensor(name)) for name in names}
    except (SafetensorError, ValueError, TypeError, OverflowError, EOFError) as e:
        raise ValueError(f"convnet model file '{path}': truncated or corrupted safetensors file ({e})") from None

    if not header or header.get("format") != FORMAT:
        found = "no metadata" if not header else f"format={header.get('format')!r}"
        raise ValueError(f"convnet model file '{path}': a safetensors file but not a convnet model ({found})")
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"convnet model file '{path}': unsupported format_version {version!r}, this convnet reads "
            f"{FORMAT_VERSION!r}"
        )
    try:
        config = json.loads(header["config"])
    except (KeyError, ValueError) as e:
        raise ValueError(f"convnet model file '{path}': missing or invalid 'config' metadata ({e})") from None
    if not isinstance(config, dict):
        raise ValueError(f"convnet model file '{path}': 'config' metadata expected a JSON object, got {type(config).__name__}")
    expected = header.get("tensors_sha256")
    if expected is not None and _tensors_digest(tensors) != expected:
        raise ValueError(f"convnet model file '{path}': corrupted tensor data (tensors_sha256 does not match)")
    metadata = {k: v for k, v in header.items() if k not in _RESERVED}
    return config, tensors, metadata
