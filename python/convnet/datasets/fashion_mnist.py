"""Fashion-MNIST (Zalando): 70,000 grayscale 28x28 images of clothing in 10 classes.

:func:`load_data` returns ``(x_train, y_train), (x_test, y_test)``: uint8 images of shape (N, 28, 28) and
int64 labels of shape (N,), N = 60,000 and 10,000; ``CLASS_NAMES[label]`` names a label.

Where the files come from: the ``path`` argument when given (a directory that does not hold all four
files train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte,
each raw or gzipped with a .gz suffix, is an error naming it, never a fall back to another copy); else
the first of these that holds them:

1. the ``CONVNET_DATA`` environment variable (that directory, or its ``fashion-mnist`` subdirectory);
2. ``/usr/share/datasets/fashion-mnist`` (Debian/Ubuntu: ``apt-get install dataset-fashion-mnist``);
3. the user cache ``$XDG_CACHE_HOME/convnet/fashion-mnist`` (default ``~/.cache/convnet/fashion-mnist``);
4. otherwise the .gz files are downloaded into that cache (urllib, from :data:`BASE_URLS` in order),
   each one checked against a hard-coded SHA-256 before it is written (atomically) to the cache.

The SHA-256 digests are of the *decompressed* IDX files. Debian's package recompressed the upstream
.gz files (gzip -n drops the original file name, so the .gz bytes differ from the upstream ones by
24 bytes of header) while the content is identical; hashing the content accepts every faithful copy.

Offline with no copy anywhere, :class:`DatasetNotFoundError` (a FileNotFoundError) lists the ways to
provide the data. A download whose content does not match raises :class:`ChecksumError` (a ValueError)
and leaves nothing in the cache. A corrupted or truncated file raises ValueError naming it.

Parsed arrays are cached in memory per process (keyed on the directory and the files' size and mtime),
and every call returns fresh writable copies.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import os
import urllib.error
import urllib.request
import zlib
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..serialization import as_path, atomic_write_bytes
from .idx import read_idx

__all__ = [
    "load_data",
    "find_data_dir",
    "download",
    "cache_dir",
    "clear_memory_cache",
    "CLASS_NAMES",
    "FILES",
    "BASE_URLS",
    "SYSTEM_DIR",
    "ENV_VAR",
    "DatasetNotFoundError",
    "ChecksumError",
]

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
NUM_CLASSES = len(CLASS_NAMES)
IMAGE_SHAPE = (28, 28)

FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# SHA-256 and size of each file's decompressed content (computed from the canonical files).
_CONTENT = {
    "train-images-idx3-ubyte": ("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47040016),
    "train-labels-idx1-ubyte": ("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60008),
    "t10k-images-idx3-ubyte": ("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 7840016),
    "t10k-labels-idx1-ubyte": ("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10008),
}
# Tried in order. The S3 website endpoint (the one the upstream README links) serves plain HTTP only;
# integrity comes from the SHA-256 check, not from the transport. GitHub's copy is the fallback.
BASE_URLS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
)
SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"
ENV_VAR = "CONVNET_DATA"
_TIMEOUT_S = 60
_urlopen = urllib.request.urlopen  # replaced by tests with a local fake


class DatasetNotFoundError(FileNotFoundError):
    """No copy of the data set was found and none could be downloaded; the message says how to provide it."""


class ChecksumError(ValueError):
    """A downloaded file's content does not match the known SHA-256; it was not kept."""


def cache_dir() -> str:
    """The user cache directory for the data set: $XDG_CACHE_HOME/convnet/fashion-mnist (~/.cache by default)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not base or not os.path.isabs(base):  # the XDG spec says to ignore relative paths
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "convnet", "fashion-mnist")


def _file_in(directory: str, name: str) -> Optional[str]:
    """The raw file if present, else the .gz one, else None."""
    for candidate in (name, name + ".gz"):
        full = os.path.join(directory, candidate)
        if os.path.isfile(full):
            return full
    return None


def _holds_all(directory: Optional[str]) -> bool:
    return bool(directory) and os.path.isdir(directory) and all(_file_in(directory, n) for n in FILES)


def _given_dir(path) -> str:
    """The directory the caller named, absolute; DatasetNotFoundError naming it and what it lacks unless
    it holds all four files (a directory given explicitly never falls back to another copy)."""
    directory = as_path(path, "fashion_mnist.load_data")
    if not os.path.isdir(directory):
        problem = "is not a directory" if os.path.exists(directory) else "does not exist"
    else:
        missing = [n for n in FILES if not _file_in(directory, n)]
        if not missing:
            return os.path.abspath(directory)
        problem = "lacks " + ", ".join(missing) + " (each raw or .gz)"
    raise DatasetNotFoundError(
        f"Fashion-MNIST data directory '{directory}' {problem}; pass a directory holding the four files "
        f"{', '.join(FILES)}, or no directory to search the usual places (${ENV_VAR}, {SYSTEM_DIR}, {cache_dir()})"
    )


def _candidates() -> List[Tuple[str, Optional[str]]]:
    """(description, directory or None) in the default search order."""
    env = os.environ.get(ENV_VAR) or None
    out = [(f"${ENV_VAR}", env)]
    if env:
        out.append((f"${ENV_VAR}/fashion-mnist", os.path.join(env, "fashion-mnist")))
    out.append(("system copy", SYSTEM_DIR))
    out.append(("user cache", cache_dir()))
    return out


def find_data_dir(path=None) -> Optional[str]:
    """``path`` when given (DatasetNotFoundError naming it unless it holds all four files), else the
    first directory in the search order that holds them, or None (no download)."""
    if path is not None:
        return _given_dir(path)
    for _, directory in _candidates():
        if _holds_all(directory):
            return os.path.abspath(directory)
    return None


def _fetch(url: str, desc: str) -> bytes:
    """Download url into memory, with a progress bar on a terminal."""
    from tqdm.auto import tqdm

    with _urlopen(url, timeout=_TIMEOUT_S) as response:
        length = response.headers.get("Content-Length") if getattr(response, "headers", None) else None
        total = int(length) if length and length.isdigit() else None
        chunks = []
        with tqdm(total=total, unit="B", unit_scale=True, desc=desc, disable=None, leave=False) as bar:
            while True:
                chunk = response.read(1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
                bar.update(len(chunk))
    data = b"".join(chunks)
    if total is not None and len(data) != total:
        raise OSError(f"incomplete download: {len(data)} of {total} bytes")
    return data


def _verify(name: str, url: str, data: bytes) -> None:
    """Raise ChecksumError unless data is the gzip of the known content of file `name`."""
    digest, size = _CONTENT[name]
    try:
        content = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise ChecksumError(f"downloaded '{url}' is not a valid gzip file ({e}); it was not kept") from None
    got = hashlib.sha256(content).hexdigest()
    if len(content) != size or got != digest:
        raise ChecksumError(
            f"downloaded '{url}' does not match the known Fashion-MNIST file: expected SHA-256 {digest} "
            f"({size} bytes) of its content, got {got} ({len(content)} bytes); it was not kept"
        )


def download(directory=None) -> str:
    """Download the missing .gz files into ``directory`` (default: :func:`cache_dir`) and return it.

    Each file is verified before it is written (atomically: temporary file + os.replace), so a failed or
    corrupted download leaves nothing behind. Raises DatasetNotFoundError when a file cannot be fetched
    from any of BASE_URLS, ChecksumError when what was fetched does not match.
    """
    directory = os.path.abspath(as_path(directory, "fashion_mnist.download") if directory is not None else cache_dir())
    for name in FILES:
        if _file_in(directory, name):
            continue
        failures: List[str] = []
        mismatch: Optional[ChecksumError] = None
        for base in BASE_URLS:
            url = base.rstrip("/") + "/" + name + ".gz"
            try:
                data = _fetch(url, name + ".gz")
                _verify(name, url, data)
            except ChecksumError as e:
                mismatch = mismatch or e
                continue
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
                failures.append(f"{url}: {getattr(e, 'reason', None) or e}")
                continue
            os.makedirs(directory, exist_ok=True)
            atomic_write_bytes(os.path.join(directory, name + ".gz"), data)
            break
        else:
            if mismatch is not None:
                raise mismatch
            raise DatasetNotFoundError(_not_found_message(failures))
    return directory


def _not_found_message(failures: List[str]) -> str:
    looked = []
    for desc, directory in _candidates():
        looked.append(f"  {desc}: {directory if directory else '(not set)'}")
    lines = [
        "Fashion-MNIST not found: no directory holds the four files "
        + ", ".join(FILES)
        + " (each raw or .gz). Looked in:",
        *looked,
    ]
    if failures:
        lines.append("and the download failed:")
        lines.extend(f"  {f}" for f in failures)
    lines += [
        "Provide the data in one of these ways:",
        "  - pass the directory that holds the files: fashion_mnist.load_data(path='DIR')",
        f"  - set the environment variable {ENV_VAR}=DIR",
        f"  - install the Debian/Ubuntu package: sudo apt-get install dataset-fashion-mnist (fills {SYSTEM_DIR})",
        f"  - copy the four .gz files from https://github.com/zalandoresearch/fashion-mnist into {cache_dir()}",
        "  - or connect to the internet and call load_data() again: it downloads them there",
    ]
    return "\n".join(lines)


def _load_pair(images_path: str, labels_path: str) -> Tuple[np.ndarray, np.ndarray]:
    images = read_idx(images_path, kind="images")
    labels = read_idx(labels_path, kind="labels")
    if images.shape[1:] != IMAGE_SHAPE:
        raise ValueError(
            f"Fashion-MNIST file '{images_path}': expected images of 28x28, got {images.shape[1]}x{images.shape[2]}"
        )
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"Fashion-MNIST files '{images_path}' and '{labels_path}': expected equal counts, got "
            f"{images.shape[0]} images and {labels.shape[0]} labels"
        )
    if labels.size and int(labels.max()) >= NUM_CLASSES:
        raise ValueError(
            f"Fashion-MNIST file '{labels_path}': expected labels in 0..{NUM_CLASSES - 1}, got {int(labels.max())}"
        )
    labels = labels.astype(np.int64)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


@functools.lru_cache(maxsize=2)
def _load_cached(directory: str, stamp: tuple) -> Tuple[Tuple[np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray]]:
    paths: Dict[str, str] = {name: full for name, full, *_ in stamp}
    train = _load_pair(paths[FILES[0]], paths[FILES[1]])
    test = _load_pair(paths[FILES[2]], paths[FILES[3]])
    return train, test


def _stamp(directory: str) -> tuple:
    """What identifies the files' current content for the memory cache."""
    out = []
    for name in FILES:
        full = _file_in(directory, name)
        st = os.stat(full)
        out.append((name, full, st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(out)


def clear_memory_cache() -> None:
    """Forget the arrays parsed so far in this process."""
    _load_cached.cache_clear()


def load_data(path=None, *, allow_download: bool = True):
    """Load Fashion-MNIST: ``(x_train, y_train), (x_test, y_test)``.

    x: uint8 (N, 28, 28), y: int64 (N,) in 0..9 (see CLASS_NAMES); N = 60,000 train and 10,000 test
    for the real data. ``path``: a directory holding the four IDX files (raw or .gz); see the module
    docstring for the search order. allow_download=False never touches the network.
    Returns fresh writable copies on every call (the parsed arrays are cached per process).

    Raises DatasetNotFoundError (a FileNotFoundError) when no copy is found and none can be
    downloaded, ChecksumError (a ValueError) when a download is corrupted, ValueError when a file is.
    """
    directory = find_data_dir(path)
    if directory is None:
        if not allow_download:
            raise DatasetNotFoundError(_not_found_message([]))
        directory = download(cache_dir())
    (x_train, y_train), (x_test, y_test) = _load_cached(directory, _stamp(directory))
    return (x_train.copy(), y_train.copy()), (x_test.copy(), y_test.copy())
