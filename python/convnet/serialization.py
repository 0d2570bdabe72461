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

No pickle anywhere: loading a file cannot run code. Saves are atomic (atomic_write_bytes): the bytes go to
a new file in the target's directory (on Linux an unnamed O_TMPFILE one), are fsynced, then os.replace()d
over the target, so an interrupted save, even kill -9, leaves the previous file intact and no temporary
file behind. Loads read regular files only, and every error names the file.

>>> import numpy as np, tempfile, os
>>> p = os.path.join(tempfile.mkdtemp(), "m.cnet")
>>> save_model_file(p, {"layers": ["linear"]}, {"w": np.eye(2, dtype=np.float32)}, {"note": "hi"})
>>> config, tensors, meta = load_model_file(p)
>>> config, tensors["w"].dtype, meta
({'layers': ['linear']}, dtype('float32'), {'note': 'hi'})
"""
from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import re
import secrets
import stat
import sys
from typing import Dict, Mapping, Optional, Tuple

import numpy as np

try:
    import fcntl
except ImportError:  # Windows: no flock, no stale-temporary cleanup
    fcntl = None

__all__ = ["save_model_file", "load_model_file", "atomic_write_bytes", "as_path", "FORMAT", "FORMAT_VERSION"]

FORMAT = "convnet"
FORMAT_VERSION = "1"
_RESERVED = ("format", "format_version", "config", "tensors_sha256")
_CHUNK = 1 << 20  # write in 1 MiB pieces
_O_TMPFILE = getattr(os, "O_TMPFILE", None)  # None: named temporaries (tests set it so too)
_link_unsupported = False  # set once the system refused to name an O_TMPFILE file
_AT_FDCWD, _AT_EMPTY_PATH = -100, 0x1000  # Linux's values
try:
    _linkat = ctypes.CDLL(None, use_errno=True).linkat if sys.platform.startswith("linux") else None
except (OSError, AttributeError):
    _linkat = None


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


def as_path(path, where: str, argument: str = "path") -> str:
    """A path argument (str, bytes or os.PathLike) as str, decoded as the OS does; TypeError naming
    `where` and `argument` for anything else, ValueError for an empty path or one with a NUL byte."""
    try:
        path = os.fsdecode(os.fspath(path))
    except TypeError:
        raise TypeError(f"{where}: argument '{argument}' expected str, bytes or os.PathLike, "
                        f"got {type(path).__name__}") from None
    if not path or "\0" in path:
        raise ValueError(f"{where}: argument '{argument}' expected a non-empty path without NUL bytes, got {path!r}")
    return path


def _named_error(e: OSError, what: str, path: str) -> OSError:
    """The same kind of OSError, its message saying what failed on which file."""
    if e.errno is None:
        return OSError(f"{what} '{path}': {e}")
    return OSError(e.errno, f"{what} '{path}': {e.strerror}")


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a regular file"


# Temporaries are named .<target name>.<8 chars>.tmp, as tempfile.mkstemp named them in earlier versions.
def _temporary_pattern(name: str):
    return re.compile(re.escape("." + name + ".") + r"[a-z0-9_]{8}\.tmp")


def _remove_stale_temporaries(directory: str, name: str) -> None:
    """Remove the temporaries of `name` left by saves that died (kill -9, power loss). A live save holds
    an flock on its temporary, so one that is still being written is never taken."""
    if fcntl is None:
        return
    pattern = _temporary_pattern(name)
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for entry in entries:
        if not pattern.fullmatch(entry):
            continue
        full = os.path.join(directory, entry)
        try:
            fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if stat.S_ISREG(os.fstat(fd).st_mode) and os.path.samestat(os.fstat(fd), os.lstat(full)):
                os.unlink(full)
        except OSError:
            pass  # locked by a live save, or gone already
        finally:
            os.close(fd)


def _fill(fd: int, data, mode: Optional[int]) -> None:
    """Locks the new file `fd` (marking it live for _remove_stale_temporaries), writes `data`, sets
    `mode` (None: keep the umask's), fsyncs."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    if mode is not None:
        os.fchmod(fd, mode)
    with os.fdopen(fd, "wb", closefd=False) as f:
        view = memoryview(data).cast("B")
        for start in range(0, len(view), _CHUNK):
            _write_chunk(f, view[start:start + _CHUNK])
    os.fsync(fd)


def _temporary_name(directory: str, name: str) -> str:
    return os.path.join(directory, f".{name}.{secrets.token_hex(4)}.tmp")


def _link_unnamed(fd: int, directory: str, name: str) -> Optional[str]:
    """Gives the O_TMPFILE file `fd` a temporary name in `directory`: linkat through /proc/self/fd, else
    linkat(fd, "", AT_EMPTY_PATH) (some sandboxes refuse the first). None when the system allows neither."""
    global _link_unsupported
    while True:
        tmp = _temporary_name(directory, name)
        try:
            os.link(f"/proc/self/fd/{fd}", tmp, follow_symlinks=True)
            return tmp
        except FileExistsError:
            continue
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.ENOENT, errno.EPERM, errno.EACCES, errno.EINVAL):
                raise
        if _linkat is not None:
            if _linkat(fd, b"", _AT_FDCWD, os.fsencode(tmp), _AT_EMPTY_PATH) == 0:
                return tmp
            if ctypes.get_errno() == errno.EEXIST:
                continue
        _link_unsupported = True
        return None


def _write_temporary(directory: str, name: str, data, mode: Optional[int]) -> Tuple[int, str]:
    """A new, complete, fsynced file in `directory` under a temporary name: (fd holding its lock, name).
    Linux: written unnamed (O_TMPFILE) and named only once complete, so a save killed while writing
    leaves nothing; elsewhere, or where the file system or the sandbox refuses that, a named file from
    the start, removed on failure here or, after a kill, by the next save."""
    flags = os.O_WRONLY | os.O_CLOEXEC
    if _O_TMPFILE is not None and not _link_unsupported:
        try:
            fd = os.open(directory, _O_TMPFILE | flags, 0o666)
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                raise
        else:
            try:
                _fill(fd, data, mode)
                tmp = _link_unnamed(fd, directory, name)
            except BaseException:
                os.close(fd)
                raise
            if tmp is not None:
                return fd, tmp
            os.close(fd)
    while True:
        tmp = _temporary_name(directory, name)
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | flags, 0o666)
            break
        except FileExistsError:
            continue
    try:
        _fill(fd, data, mode)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    return fd, tmp


def atomic_write_bytes(path, data, where: str = "atomic_write_bytes") -> None:
    """Write ``data`` to ``path`` atomically: the bytes go to a new file in the target's directory, are
    fsynced, then os.replace()d over the target. An interrupted save (an exception, or the process
    killed) leaves an existing file at ``path`` untouched and no temporary file behind (on Linux an
    O_TMPFILE file, which cannot outlive the process; elsewhere the next save removes the leftovers).

    A new file gets mode 0666 less the umask; a replaced file keeps its mode. A symlink is followed: its
    target is replaced and the link stays. ``where`` names the caller in errors, which name the path.
    """
    path = as_path(path, where)
    target = os.path.realpath(path)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as e:  # a symlink loop, a component that is not a directory, ...
        raise _named_error(e, f"{where}: cannot write", path) from None
    if st is not None and not stat.S_ISREG(st.st_mode):  # never replace a directory, /dev/null, a FIFO...
        code = errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EINVAL
        raise OSError(code, f"{where}: cannot write '{path}': expected a regular file or a new name, got "
                            f"{_file_kind(st.st_mode)}")
    directory, name = os.path.split(target)
    _remove_stale_temporaries(directory, name)
    try:
        fd, tmp = _write_temporary(directory, name, data, stat.S_IMODE(st.st_mode) if st else None)
        try:
            os.replace(tmp, target)
        except BaseException:
            os.unlink(tmp)
            raise
        finally:
            os.close(fd)
    except OSError as e:
        raise _named_error(e, f"{where}: cannot write", path) from None
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
    where: str = "save_model_file",
) -> None:
    """Write a model to ONE safetensors file at ``path``, atomically.

    config: a JSON-serialisable dict (the model description). tensors: name -> numpy array (any
    dtype safetensors supports; made contiguous). metadata: extra str -> str entries; the keys
    'format', 'format_version', 'config' and 'tensors_sha256' are reserved.
    path: str, bytes or os.PathLike; where: the caller's name in errors (see atomic_write_bytes).
    Raises TypeError for wrong argument types and ValueError for a config that is not JSON or a
    reserved metadata key.
    """
    path = as_path(path, where)
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
        raise ValueError(f"save_model_file: cannot serialise tensors for '{path}': {e}") from None
    atomic_write_bytes(path, data, where)


def _refusal(mode: int, what: str, path: str, expected: str) -> OSError:
    """The error for a path that is not a regular file (IsADirectoryError for a directory)."""
    code = errno.EISDIR if stat.S_ISDIR(mode) else errno.EINVAL
    return OSError(code, f"{what} '{path}': expected {expected}, got {_file_kind(mode)}")


def open_regular_file(path: str, where: str):
    """``path`` opened for binary reading, refusing (OSError naming it) anything but a regular file:
    a FIFO is refused before it is opened, so reading can never block, and a device never reaches the
    reader; the open file is checked again, in case the path changed in between."""
    what = f"{where}: cannot read"
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISREG(mode):
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                os.close(fd)
    except OSError as e:
        raise _named_error(e, what, path) from None
    if not stat.S_ISREG(mode):
        raise _refusal(mode, what, path, "a regular file")
    return os.fdopen(fd, "rb")


def _metadata(data: bytes) -> Dict[str, str]:
    """The `__metadata__` of the safetensors file `data`; ValueError (without the path) when it cannot be read."""
    if len(data) < 8:
        raise ValueError(f"truncated: {len(data)} bytes, too short for the 8-byte header length")
    size = int.from_bytes(data[:8], "little")
    if size > len(data) - 8:
        raise ValueError(f"header length {size} exceeds the {len(data) - 8} bytes after it")
    try:
        header = json.loads(data[8:8 + size])
    except (ValueError, RecursionError) as e:
        raise ValueError(f"header is not JSON ({type(e).__name__}: {e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"header expected a JSON object, got {type(header).__name__}")
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError("'__metadata__' expected an object of strings")
    return metadata


def load_model_file(path, where: str = "load_model_file") -> Tuple[dict, Dict[str, np.ndarray], Dict[str, str]]:
    """Read a file written by :func:`save_model_file`: returns (config, tensors, metadata).

    tensors are writable numpy arrays of finite numbers; metadata holds only the user's entries (the
    reserved keys are consumed). path: str, bytes or os.PathLike. Raises FileNotFoundError when the file
    is missing and another OSError when it is not a regular file (a directory, a FIFO, a device), and
    ValueError when it is truncated or corrupted, is a safetensors file that is not a convnet model, has
    another format_version, or holds NaN or infinite numbers; every message names ``where`` and the path.
    """
    path = as_path(path, where)
    with open_regular_file(path, where) as f:
        try:
            data = f.read()
        except OSError as e:
            raise _named_error(e, f"{where}: cannot read", path) from None
    prefix = f"{where}: convnet model file '{path}'"

    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        header = _metadata(data)
        views = load(data)  # read-only arrays over copies of the tensor bytes
    except (SafetensorError, ValueError, TypeError, OverflowError, EOFError) as e:
        raise ValueError(f"{prefix}: truncated or corrupted safetensors file ({e})") from None
    del data  # peak memory: twice the file, not three times
    tensors = {name: np.array(views.pop(name)) for name in sorted(views)}
    if header.get("format") != FORMAT:
        found = "no metadata" if not header else f"format={header.get('format')!r}"
        raise ValueError(f"{prefix}: a safetensors file but not a convnet model ({found})")
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(f"{prefix}: unsupported format_version {version!r}, this convnet reads {FORMAT_VERSION!r}")
    try:
        config = json.loads(header["config"])
    except (KeyError, ValueError, RecursionError) as e:
        raise ValueError(f"{prefix}: missing or invalid 'config' metadata ({type(e).__name__}: {e})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{prefix}: 'config' metadata expected a JSON object, got {type(config).__name__}")
    expected = header.get("tensors_sha256")
    if expected is not None and _tensors_digest(tensors) != expected:
        raise ValueError(f"{prefix}: corrupted tensor data (tensors_sha256 does not match)")
    for name in sorted(tensors):
        a = tensors[name]
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise ValueError(f"{prefix}: tensor '{name}' holds NaN or infinite values")
    metadata = {k: v for k, v in header.items() if k not in _RESERVED}
    return config, tensors, metadata
