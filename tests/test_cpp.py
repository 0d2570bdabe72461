"""Runs the C++ test program (tests/cpp) with ctest: the core used without Python."""
import glob
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _build_dir():
    # The build directory the package was installed from, when it kept one (build/<tag>).
    for cache in sorted(glob.glob(os.path.join(ROOT, "build", "*", "CTestTestfile.cmake"))):
        return os.path.dirname(cache)
    return None


@pytest.mark.skipif(shutil.which("ctest") is None, reason="ctest not installed")
def test_cpp_program_under_ctest():
    build = _build_dir()
    if build is None:  # no kept build: configure a CPU-only one just for the C++ tests
        build = os.path.join(ROOT, "build", "cpp-tests")
        subprocess.run(["cmake", "-S", ROOT, "-B", build, "-DCONVNET_PYTHON=OFF", "-DCONVNET_CUDA=OFF"],
                       check=True, capture_output=True)
    subprocess.run(["cmake", "--build", build, "--target", "convnet_cpp_tests", "-j2"], check=True,
                   capture_output=True)
    result = subprocess.run(["ctest", "--test-dir", build, "--output-on-failure"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "100% tests passed" in result.stdout
