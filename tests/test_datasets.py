"""Fashion-MNIST loading: the real data, the IDX reader's checks, the search order and the verified download.

Everything except the real-data tests runs on small synthetic IDX files in tmp dirs; the download is served
from file:// URLs or a fake opener (there is no network here).
"""
import gzip
import hashlib
import io
import os
import struct
import time
import urllib.error

import numpy as np
import pytest

from convnet.datasets import fashion_mnist as fm
from convnet.datasets import read_idx, write_idx

REAL_DIR = fm.SYSTEM_DIR
requires_real_data = pytest.mark.skipif(
    not all(os.path.isfile(os.path.join(REAL_DIR, n + ".gz")) for n in fm.FILES),
    reason=f"Fashion-MNIST not installed in {REAL_DIR} (apt-get install dataset-fashion-mnist)",
)


# ----------------------------------------------------------------------------------------------- real data
@requires_real_data
def test_real_data():
    (x_train, y_train), (x_test, y_test) = fm.load_data(path=REAL_DIR)
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and y_train.dtype == np.int64
    assert x_test.shape == (10000, 28, 28) and x_test.dtype == np.uint8
    assert y_test.shape == (10000,) and y_test.dtype == np.int64
    assert y_train.min() == 0 and y_train.max() == 9 and y_test.min() == 0 and y_test.max() == 9
    np.testing.assert_array_equal(np.bincount(y_train), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(y_test), [1000] * 10)
    # known statistics of the canonical files
    assert abs(x_train.mean() - 72.9404) < 1e-3
    assert abs(x_test.mean() - 73.1466) < 1e-3
    assert abs((x_train / 255.0).std() - 0.3530) < 1e-3
    np.testing.assert_array_equal(y_train[:10], [9, 0, 0, 3, 0, 2, 7, 2, 5, 5])
    np.testing.assert_array_equal(y_test[:10], [9, 2, 1, 1, 6, 1, 4, 6, 5, 7])
    assert fm.CLASS_NAMES[y_train[0]] == "Ankle boot"


@requires_real_data
def test_real_data_returns_fresh_writable_copies():
    (x1, y1), _ = fm.load_data(path=REAL_DIR)
    x1[0, 0, 0] = 255
    y1[0] = 3
    (x2, y2), _ = fm.load_data(path=REAL_DIR)
    assert x2[0, 0, 0] == 0 and y2[0] == 9
    assert x2.flags.writeable and y2.flags.writeable


@requires_real_data
def test_real_files_match_hard_coded_digests_and_parse_fast():
    """The digests the download checks against are those of the canonical files, and parsing is fast."""
    start = time.perf_counter()
    for name in fm.FILES:
        with open(os.path.join(REAL_DIR, name + ".gz"), "rb") as f:
            fm._verify(name, "file", f.read())
    parsed = [read_idx(os.path.join(REAL_DIR, name + ".gz")) for name in fm.FILES]
    elapsed = time.perf_counter() - start
    assert [a.shape for a in parsed] == [(60000, 28, 28), (60000,), (10000, 28, 28), (10000,)]
    assert elapsed < 5.0  # ~0.6 s on an idle machine (decompress + hash + parse); generous for a shared one


def test_class_names():
    assert fm.CLASS_NAMES == ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                              "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


# ----------------------------------------------------------------------------------------------- IDX reader
def _idx_bytes(array, magic_dtype=0x08):
    return struct.pack(f">BBBB{array.ndim}I", 0, 0, magic_dtype, array.ndim, *array.shape) + array.tobytes()


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_idx_round_trip(tmp_path, rng, name):
    images = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 7).astype(np.uint8)
    write_idx(tmp_path / name, images)
    write_idx(tmp_path / ("l" + name), labels)
    got = read_idx(tmp_path / name)
    np.testing.assert_array_equal(got, images)
    assert got.dtype == np.uint8 and got.flags.writeable
    np.testing.assert_array_equal(read_idx(tmp_path / ("l" + name), kind="labels"), labels)
    assert (tmp_path / name).read_bytes()[:2] == (b"\x1f\x8b" if name.endswith(".gz") else b"\0\0")


def test_idx_gzip_detected_by_content_not_name(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    (tmp_path / "raw-but-named.gz").write_bytes(_idx_bytes(labels))
    (tmp_path / "gzip-but-named-raw").write_bytes(gzip.compress(_idx_bytes(labels)))
    np.testing.assert_array_equal(read_idx(tmp_path / "raw-but-named.gz"), labels)
    np.testing.assert_array_equal(read_idx(tmp_path / "gzip-but-named-raw"), labels)


def _expect_idx_error(path, data, *words, kind=None):
    path.write_bytes(data)
    with pytest.raises(ValueError) as info:
        read_idx(path, kind=kind)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message, message


def test_idx_errors(tmp_path):
    images = np.zeros((3, 28, 28), np.uint8)
    good = _idx_bytes(images)
    p = tmp_path / "bad"
    _expect_idx_error(p, b"", "truncated")
    _expect_idx_error(p, b"\0\0\x08", "truncated")
    _expect_idx_error(p, good[:10], "truncated header")
    _expect_idx_error(p, good[:-1], "truncated", "2352 bytes", "2351")
    _expect_idx_error(p, good + b"\0", "trailing data")
    _expect_idx_error(p, b"\x89PNG" + good[4:], "magic number 0x89504e47")
    _expect_idx_error(p, _idx_bytes(images, magic_dtype=0x0D), "element type 0x0d")  # float32 IDX
    _expect_idx_error(p, _idx_bytes(np.zeros((2, 3), np.uint8)), "magic number 0x00000802")
    _expect_idx_error(p, good, "expected labels", "0x00000803", kind="labels")
    _expect_idx_error(p, _idx_bytes(np.zeros(4, np.uint8)), "expected images", kind="images")
    with pytest.raises(ValueError, match="kind"):
        read_idx(tmp_path / "bad", kind="pixels")


def test_idx_gzip_errors(tmp_path):
    compressed = gzip.compress(_idx_bytes(np.arange(5000, dtype=np.uint32).astype(np.uint8)))
    p = tmp_path / "labels.gz"
    _expect_idx_error(p, compressed[:-10], "gzip")  # truncated stream
    broken = bytearray(compressed)
    broken[len(broken) // 2] ^= 0xFF
    _expect_idx_error(p, bytes(broken), "gzip")  # corrupted: bad data or CRC
    _expect_idx_error(p, b"\x1f\x8b" + b"\0" * 30, "gzip")


def test_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "absent")


# ----------------------------------------------------------------------------------------------- fixtures
def write_dataset(directory, n_train, n_test=None, gz=True, seed=0):
    """Write a small synthetic Fashion-MNIST (train n_train, test n_test) into directory."""
    n_test = n_train if n_test is None else n_test
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte{suffix}"), images)
        write_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte{suffix}"), labels)
        arrays[prefix] = (images, labels)
    return arrays


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No system copy, an empty cache under tmp_path, no $CONVNET_DATA, an unreachable mirror."""
    monkeypatch.setattr(fm, "SYSTEM_DIR", str(tmp_path / "system"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(fm.ENV_VAR, raising=False)
    monkeypatch.setattr(fm, "BASE_URLS", ((tmp_path / "no-mirror").as_uri() + "/",))
    return tmp_path


def _n_train(path=None, **kw):
    (x, y), _ = fm.load_data(path, **kw)
    return len(x)


# ----------------------------------------------------------------------------------------------- search order
def test_cache_dir_honours_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert fm.cache_dir() == os.path.join(str(tmp_path), "convnet", "fashion-mnist")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # ignored, as the XDG spec says
    assert fm.cache_dir() == os.path.join(os.path.expanduser("~"), ".cache", "convnet", "fashion-mnist")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert fm.cache_dir() == os.path.join(os.path.expanduser("~"), ".cache", "convnet", "fashion-mnist")


def test_search_order(isolated, monkeypatch):
    root = isolated
    write_dataset(root / "arg", 3, gz=False)
    write_dataset(root / "env", 4)
    write_dataset(fm.SYSTEM_DIR, 5)
    write_dataset(fm.cache_dir(), 6, gz=False)
    monkeypatch.setenv(fm.ENV_VAR, str(root / "env"))
    assert _n_train(root / "arg") == 3  # path > env
    assert _n_train(str(root / "arg")) == 3
    assert _n_train() == 4  # env > system
    with pytest.raises(fm.DatasetNotFoundError, match="empty' does not exist"):  # a given path never falls back
        _n_train(root / "empty")
    monkeypatch.delenv(fm.ENV_VAR)
    assert _n_train() == 5  # system > cache
    monkeypatch.setattr(fm, "SYSTEM_DIR", str(root / "no-system"))
    assert _n_train() == 6  # cache
    assert fm.find_data_dir() == fm.cache_dir()


def test_env_may_name_a_data_root(isolated, monkeypatch):
    write_dataset(isolated / "data" / "fashion-mnist", 4)
    monkeypatch.setenv(fm.ENV_VAR, str(isolated / "data"))
    assert _n_train() == 4


def test_incomplete_directory_is_an_error_when_given_skipped_when_searched(isolated, monkeypatch):
    write_dataset(isolated / "arg", 3)
    os.remove(isolated / "arg" / "t10k-labels-idx1-ubyte.gz")
    write_dataset(fm.SYSTEM_DIR, 5)
    with pytest.raises(fm.DatasetNotFoundError, match="arg' lacks t10k-labels-idx1-ubyte"):
        _n_train(isolated / "arg")
    monkeypatch.setenv(fm.ENV_VAR, str(isolated / "arg"))
    assert _n_train() == 5


def test_synthetic_contents(isolated):
    arrays = write_dataset(isolated / "arg", 13, 7)
    (x_train, y_train), (x_test, y_test) = fm.load_data(isolated / "arg")
    np.testing.assert_array_equal(x_train, arrays["train"][0])
    np.testing.assert_array_equal(y_train, arrays["train"][1])
    np.testing.assert_array_equal(x_test, arrays["t10k"][0])
    assert y_test.dtype == np.int64 and x_test.shape == (7, 28, 28)


@pytest.mark.parametrize(
    "change, words",
    [
        ("label10", ["t10k-labels", "0..9", "got 10"]),
        ("size", ["train-images", "28x28", "27x28"]),
        ("count", ["equal counts", "5 images and 4 labels"]),
        ("garbage", ["train-labels", "magic number"]),
    ],
)
def test_invalid_data_set_is_rejected(isolated, change, words):
    d = isolated / "arg"
    write_dataset(d, 5)
    if change == "label10":
        write_idx(d / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 2, 10, 4], np.uint8))
    elif change == "size":
        write_idx(d / "train-images-idx3-ubyte.gz", np.zeros((5, 27, 28), np.uint8))
    elif change == "count":
        write_idx(d / "train-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    else:
        (d / "train-labels-idx1-ubyte.gz").write_bytes(b"not an idx file at all")
    with pytest.raises(ValueError) as info:
        fm.load_data(d)
    for word in words:
        assert word in str(info.value)


def test_memory_cache(isolated, monkeypatch):
    d = isolated / "arg"
    write_dataset(d, 3)
    calls = []
    real = fm.read_idx
    monkeypatch.setattr(fm, "read_idx", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert _n_train(d) == 3 and len(calls) == 4
    assert _n_train(d) == 3 and len(calls) == 4  # served from memory
    write_dataset(d, 8)  # the files change: read again
    assert _n_train(d) == 8 and len(calls) == 8
    fm.clear_memory_cache()
    assert _n_train(d) == 8 and len(calls) == 12


# ----------------------------------------------------------------------------------------------- not found
def test_offline_without_data_explains_how_to_get_it(isolated):
    for kwargs in ({}, {"allow_download": False}):
        with pytest.raises(fm.DatasetNotFoundError) as info:
            fm.load_data(**kwargs)
        assert isinstance(info.value, FileNotFoundError)
        message = str(info.value)
        for needed in ("path=", fm.ENV_VAR, "apt-get install dataset-fashion-mnist", fm.cache_dir(), fm.SYSTEM_DIR):
            assert needed in message, needed
    with pytest.raises(fm.DatasetNotFoundError, match="nothing-here' does not exist"):
        fm.load_data(isolated / "nothing-here")
    with pytest.raises(fm.DatasetNotFoundError, match="(?s)download failed.*no-mirror"):  # names the failed URL
        fm.load_data()
    assert not os.path.exists(fm.cache_dir()) or os.listdir(fm.cache_dir()) == []


# ----------------------------------------------------------------------------------------------- download
def _serve(tmp_path, n=4, seed=1):
    """A mirror directory of synthetic .gz files; returns (file:// base URL, {name: gz bytes}, digests)."""
    mirror = tmp_path / "mirror"
    write_dataset(mirror, n, seed=seed)
    blobs, digests = {}, {}
    for name in fm.FILES:
        blobs[name] = (mirror / (name + ".gz")).read_bytes()
        content = gzip.decompress(blobs[name])
        digests[name] = (hashlib.sha256(content).hexdigest(), len(content))
    return mirror.as_uri() + "/", blobs, digests


def test_download_from_file_url(isolated, monkeypatch):
    base, blobs, digests = _serve(isolated)
    monkeypatch.setattr(fm, "_CONTENT", digests)
    monkeypatch.setattr(fm, "BASE_URLS", (base,))
    assert _n_train() == 4
    cache = fm.cache_dir()
    assert sorted(os.listdir(cache)) == sorted(n + ".gz" for n in fm.FILES)  # no temp files left
    for name in fm.FILES:
        assert open(os.path.join(cache, name + ".gz"), "rb").read() == blobs[name]
    monkeypatch.setattr(fm, "BASE_URLS", ())  # now served from the cache, no download
    assert _n_train() == 4


class _FakeResponse(io.BytesIO):
    def __init__(self, data, length=None):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data) if length is None else length)}


def test_download_fake_opener_fallback_and_partial_cache(isolated, monkeypatch):
    _, blobs, digests = _serve(isolated)
    monkeypatch.setattr(fm, "_CONTENT", digests)
    monkeypatch.setattr(fm, "BASE_URLS", ("http://down.example/", "https://up.example/data"))
    requested = []

    def opener(url, timeout):
        requested.append(url)
        assert timeout > 0
        if url.startswith("http://down.example/"):
            raise urllib.error.URLError("Name or service not known")
        return _FakeResponse(blobs[url.rsplit("/", 1)[1][:-3]])

    monkeypatch.setattr(fm, "_urlopen", opener)
    cache = fm.cache_dir()
    os.makedirs(cache)
    with open(os.path.join(cache, "train-labels-idx1-ubyte.gz"), "wb") as f:  # already there: not fetched
        f.write(blobs["train-labels-idx1-ubyte"])
    assert fm.download() == cache
    fetched = [u for u in requested if u.startswith("https://up.example/data/")]
    assert sorted(fetched) == sorted(
        f"https://up.example/data/{n}.gz" for n in fm.FILES if n != "train-labels-idx1-ubyte"
    )
    assert len(requested) == 6  # each missing file: the dead mirror first, then the live one
    assert _n_train() == 4


@pytest.mark.parametrize("bad", ["wrong-content", "not-gzip", "truncated-gzip"])
def test_download_bad_checksum_keeps_nothing(isolated, monkeypatch, bad):
    base, blobs, digests = _serve(isolated)
    if bad == "wrong-content":
        _, _, digests = _serve(isolated / "other", seed=2)  # expect other content than what is served
    elif bad == "not-gzip":
        for name in fm.FILES:
            (isolated / "mirror" / (name + ".gz")).write_bytes(b"<html>404 Not Found</html>")
    else:
        for name in fm.FILES:
            (isolated / "mirror" / (name + ".gz")).write_bytes(blobs[name][:-20])
    monkeypatch.setattr(fm, "_CONTENT", digests)
    monkeypatch.setattr(fm, "BASE_URLS", (base,))
    with pytest.raises(fm.ChecksumError) as info:
        fm.load_data()
    assert isinstance(info.value, ValueError)
    assert "train-images-idx3-ubyte.gz" in str(info.value) and "not kept" in str(info.value)
    cache = fm.cache_dir()
    assert not os.path.exists(cache) or os.listdir(cache) == []


def test_download_incomplete_transfer(isolated, monkeypatch):
    _, blobs, digests = _serve(isolated)
    monkeypatch.setattr(fm, "_CONTENT", digests)
    monkeypatch.setattr(fm, "_urlopen", lambda url, timeout: _FakeResponse(b"\x1f\x8b partial", length=10**6))
    with pytest.raises(fm.DatasetNotFoundError, match="incomplete download"):
        fm.download()
    assert not os.path.exists(fm.cache_dir())


@requires_real_data
def test_download_of_the_real_files_verifies(isolated, monkeypatch):
    """The real canonical files, served from file://, pass the hard-coded checks and land in the cache."""
    monkeypatch.setattr(fm, "BASE_URLS", (f"file://{REAL_DIR}/",))
    target = isolated / "real-cache"
    assert fm.download(target) == str(target)
    for name in fm.FILES:
        assert (target / (name + ".gz")).read_bytes() == open(os.path.join(REAL_DIR, name + ".gz"), "rb").read()
