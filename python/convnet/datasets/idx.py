"""Reader for the IDX format of MNIST and Fashion-MNIST (raw or gzip-compressed).

An IDX file is a big-endian header followed by the payload::

    bytes 0-1   zero
    byte  2     element type (0x08 = unsigned byte, the only type these data sets use)
    byte  3     number of dimensions D
    4*D bytes   each dimension as a big-endian uint32
    payload     prod(dims) elements, row-major

so labels start with the magic number 0x00000801 (ubyte, 1-D) and images with 0x00000803 (ubyte, 3-D).
:func:`read_idx` checks all of it, header first, including that the payload size matches the header exactly:
a truncated, corrupted or wrong-kind file raises ValueError naming the file and the problem,
never returns garbage.

>>> import numpy as np, tempfile, os
>>> p = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte")
>>> write_idx(p, np.array([3, 1, 4], dtype=np.uint8))
>>> read_idx(p, kind="labels")
array([3, 1, 4], dtype=uint8)
"""
from __future__ import annotations

import gzip
import math
import struct
import zlib
from typing import Optional

import numpy as np

from ..serialization import as_path, open_regular_file

__all__ = ["read_idx", "write_idx", "LABELS_MAGIC", "IMAGES_MAGIC", "MAX_BYTES"]

LABELS_MAGIC = 0x00000801  # ubyte, 1 dimension (N,)
IMAGES_MAGIC = 0x00000803  # ubyte, 3 dimensions (N, rows, cols)
_KINDS = {"labels": LABELS_MAGIC, "images": IMAGES_MAGIC}
_GZIP_MAGIC = b"\x1f\x8b"
_UBYTE = 0x08
MAX_BYTES = 1 << 30  # the largest payload read_idx accepts (Fashion-MNIST's largest file holds 47 MB)


def _read_exact(stream, size: int, path: str, what: str) -> np.ndarray:
    """Exactly `size` bytes of `stream` as uint8 (ValueError naming the file when it ends first). The
    buffer is not zero-filled, so memory a lying header announces is never touched."""
    out = np.empty(size, np.uint8)
    view, got = memoryview(out), 0
    while got < size:
        n = stream.readinto(view[got:])
        if not n:
            raise ValueError(f"IDX file '{path}': truncated {what}: {got} bytes of the {size} expected")
        got += n
    return out


def _parse(stream, path: str, kind: Optional[str]) -> np.ndarray:
    """The IDX data of `stream` (raw or decompressing), checked and read in bounded memory: the header
    first, then exactly the bytes it announces, then nothing more."""
    start = stream.read(4)
    if len(start) < 4:
        raise ValueError(f"IDX file '{path}': truncated: {len(start)} bytes, too short for the 4-byte magic number")
    magic = struct.unpack(">I", start)[0]
    zero, dtype_code, ndim = start[0] << 8 | start[1], start[2], start[3]
    if zero != 0 or magic not in (LABELS_MAGIC, IMAGES_MAGIC):
        what = "ubyte labels (0x00000801) or ubyte images (0x00000803)"
        if zero == 0 and dtype_code != _UBYTE:
            detail = f"element type 0x{dtype_code:02x}, only 0x08 (unsigned byte) is supported"
        else:
            detail = f"magic number 0x{magic:08x}"
        raise ValueError(f"IDX file '{path}': not an IDX file of {what}: {detail}")
    if kind is not None and magic != _KINDS[kind]:
        raise ValueError(
            f"IDX file '{path}': expected {kind} (magic 0x{_KINDS[kind]:08x}), got magic 0x{magic:08x}"
        )
    dims = struct.unpack(f">{ndim}I", _read_exact(stream, 4 * ndim, path, f"header ({ndim} dimensions)").tobytes())
    count = math.prod(dims)
    if count > MAX_BYTES:
        raise ValueError(f"IDX file '{path}': header says dims {tuple(dims)} = {count} bytes of data, more than "
                         f"the {MAX_BYTES} this reader accepts")
    data = _read_exact(stream, count, path, f"data: header says dims {tuple(dims)} = {count} bytes,")
    if stream.read(1):
        raise ValueError(f"IDX file '{path}': trailing data: header says dims {tuple(dims)} = {count} bytes of "
                         "data, the file holds more")
    return data.reshape(dims)


def read_idx(path, kind: Optional[str] = None) -> np.ndarray:
    """Read an IDX file (raw or gzip, detected from its first bytes) into a writable uint8 array.

    kind: None accepts labels (magic 0x801, returns shape (N,)) or images (magic 0x803, returns
    shape (N, rows, cols)); "labels" or "images" requires that kind. path: str, bytes or os.PathLike.
    The header is checked before the data is read (at most MAX_BYTES of it), and memory stays bounded
    by what the header announces, however large the file or its decompressed stream.
    Raises FileNotFoundError when the file is missing, another OSError when it is not a regular file, and
    ValueError (naming the file) when the gzip stream is corrupted or truncated, the magic number or
    element type is wrong, or the payload is shorter or longer than the header says.
    """
    path = as_path(path, "read_idx")
    if kind is not None and kind not in _KINDS:
        raise ValueError(f"read_idx: argument 'kind' expected 'labels', 'images' or None, got {kind!r}")
    with open_regular_file(path, "read_idx") as f:
        compressed = f.read(2) == _GZIP_MAGIC
        f.seek(0)
        if not compressed:
            return _parse(f, path, kind)
        try:
            # GzipFile checks the CRC and the length trailer at the end of the stream, and raises EOFError
            # on a truncated one
            with gzip.GzipFile(fileobj=f, mode="rb") as stream:
                return _parse(stream, path, kind)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"IDX file '{path}': corrupted or truncated gzip data ({e})") from None


def write_idx(path, array: np.ndarray, compress: Optional[bool] = None) -> None:
    """Write a uint8 array of 1 (labels) or 3 (images) dimensions as an IDX file.

    compress: gzip the file; None means "when the path ends with .gz". Used by tests and tools
    to produce small data sets in the same format.
    """
    path = as_path(path, "write_idx")
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8:
        raise TypeError(f"write_idx: argument 'array' expected dtype uint8, got {array.dtype}")
    if array.ndim not in (1, 3):
        raise ValueError(f"write_idx: argument 'array' expected 1 or 3 dimensions, got shape {array.shape}")
    header = struct.pack(f">BBBB{array.ndim}I", 0, 0, _UBYTE, array.ndim, *array.shape)
    data = header + array.tobytes()
    if compress is None:
        compress = path.endswith(".gz")
    if compress:
        data = gzip.compress(data, mtime=0)
    with open(path, "wb") as f:
        f.write(data)
