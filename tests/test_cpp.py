"""Runs the C++ test program (tests/cpp) with ctest: the core used without Python."""
import glob
import os
import shutil
import subprocess

import pytest

from conftest import requires_cuda

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _build_dir(cuda=None):
    """A kept build directory (build/<name>) holding the C++ test program: any one, or with cuda='EMULATE'
    one configured for the CUDA emulator, with cuda='GPU' one that compiled the kernels with nvcc."""
    for tests in sorted(glob.glob(os.path.join(ROOT, "build", "*", "CTestTestfile.cmake"))):
        build = os.path.dirname(tests)
        try:
            with open(os.path.join(build, "CMakeCache.txt")) as f:
                cache = f.read()
        except OSError:
            continue
        emulated = "CONVNET_CUDA:STRING=EMULATE" in cache
        nvcc = "CMAKE_CUDA_COMPILER:" in cache and not emulated and "CONVNET_CUDA:STRING=OFF" not in cache
        if cuda is None or (cuda == "EMULATE" and emulated) or (cuda == "GPU" and nvcc):
            return build
    return None


def _run_ctest(build):
    subprocess.run(["cmake", "--build", build, "--target", "convnet_cpp_tests", "-j2"], check=True,
                   capture_output=True)
    result = subprocess.run(["ctest", "--test-dir", build, "--output-on-failure"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "100% tests passed" in result.stdout


@pytest.mark.skipif(shutil.which("ctest") is None, reason="ctest not installed")
def test_cpp_program_under_ctest():
    build = _build_dir()
    if build is None:  # no kept build: configure a CPU-only one just for the C++ tests
        build = os.path.join(ROOT, "build", "cpp-tests")
        subprocess.run(["cmake", "-S", ROOT, "-B", build, "-DCONVNET_PYTHON=OFF", "-DCONVNET_CUDA=OFF"],
                       check=True, capture_output=True)
    _run_ctest(build)


@requires_cuda
@pytest.mark.skipif(shutil.which("ctest") is None, reason="ctest not installed")
def test_cpp_program_of_the_cuda_build():
    """The C++ test program of the build with CUDA (or the emulator: then its own tests run too)."""
    import convnet

    emulated = "emulator" in convnet.cuda.get_device_name(0)
    build = _build_dir("EMULATE" if emulated else "GPU")
    if build is None:
        pytest.skip("no kept build directory of this CUDA build (install with -Cbuild-dir=build/NAME)")
    _run_ctest(build)
