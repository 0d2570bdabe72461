"""Probes: hostile inputs run in a child process, so that a crash or a hang fails one test instead of
killing the test run.

A probe is Python source. It runs in a fork of a server process that has imported numpy and convnet
but run nothing else (multiprocessing's forkserver: a fork is cheap, and the server never started an
OpenMP thread pool that a fork could not inherit). The child reports how the source ended: normally, or
with an exception (its class hierarchy and message); a signal, an exit or a timeout is seen by the parent.

    ok("zeros_empty", "assert convnet.zeros([0, 3]).shape == (0, 3)")
    raises("zeros_overflow", "convnet.zeros([2**31, 2**31])", ValueError, r"zeros.*shape")

Each test module lists its probes and parametrizes one test over them:

    @parametrize(PROBES)
    def test_probe(probe):
        check(probe)
"""
import multiprocessing
import os
import re
import tempfile
from typing import NamedTuple, Optional

import pytest

PRELUDE = "import os, sys, numpy as np, convnet\nfrom convnet import ops, layers\n"


class Probe(NamedTuple):
    name: str
    code: str
    error: Optional[str]  # None: must end normally; else the exception class name it must raise
    match: Optional[str]  # a regex its message must contain
    timeout: float


def ok(name, code, timeout=60):
    """A probe that must end normally (its own asserts check the result)."""
    return Probe(name, code, None, None, timeout)


def raises(name, code, error, match, timeout=60):
    """A probe that must raise `error` (a class or its name; subclasses count) with a message matching
    `match` (a regex searched for, case-sensitive): a clear error, not a crash, hang or a wrong one."""
    return Probe(name, code, error if isinstance(error, str) else error.__name__, match, timeout)


def parametrize(probes):
    names = [p.name for p in probes]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates, f"probe names must be unique: {duplicates}"
    return pytest.mark.parametrize("probe", probes, ids=names)


_context = None


def _forkserver():
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(["numpy", "convnet"])
    return _context


def _run_child(code, workdir, conn):
    os.chdir(workdir)
    scope = {"__name__": "__probe__"}
    try:
        exec(compile(PRELUDE + code, "<probe>", "exec"), scope)
        conn.send(("ok", [], ""))
    except BaseException as e:  # noqa: B902 - report everything, KeyboardInterrupt and SystemExit too
        conn.send(("raised", [c.__name__ for c in type(e).__mro__], f"{type(e).__name__}: {e}"[:4000]))
    conn.close()


def run(code, timeout=60):
    """Runs `code` after PRELUDE in a forked child, in a fresh temporary working directory.
    Returns (status, exception class names, message); status is 'ok', 'raised', 'signal N', 'exit N'
    or 'timeout'."""
    context = _forkserver()
    with tempfile.TemporaryDirectory() as workdir:
        parent, child = context.Pipe(duplex=False)
        process = context.Process(target=_run_child, args=(code, workdir, child), daemon=True)
        process.start()
        child.close()
        report = None
        if parent.poll(timeout):
            try:
                report = parent.recv()
            except EOFError:  # the child died before it reported
                pass
        process.join(5 if report is not None else 0.5)
        if process.exitcode is None:
            process.kill()
            process.join()
            return ("timeout", [], f"no result within {timeout} s") if report is None else report
        if report is None:
            code = process.exitcode
            return (f"signal {-code}" if code < 0 else f"exit {code}"), [], ""
        return report


def check(probe):
    """Fails unless the probe ended as it must."""
    status, classes, message = run(probe.code, probe.timeout)
    where = f"probe {probe.name}:\n{probe.code}\n-> "
    if probe.error is None:
        assert status == "ok", where + (message or status)
        return
    assert status == "raised", where + f"{status} {message}, expected {probe.error}"
    assert probe.error in classes, where + f"{message}, expected {probe.error}"
    assert re.search(probe.match, message), where + f"{message!r} does not match {probe.match!r}"


def check_no_crash(code, timeout=60):
    """For generated inputs: a result or a clear exception (ValueError, TypeError, OSError, ...),
    never a crash, a hang, or an error that is not the user's to handle (AssertionError, SystemError,
    RuntimeError from pybind11's casts...)."""
    status, classes, message = run(code, timeout)
    assert status in ("ok", "raised"), f"{status} {message}\n{code}"
    if status == "raised":
        clear = any(c in classes for c in ("ValueError", "TypeError", "OSError", "MemoryError"))
        assert clear and "AssertionError" not in classes, f"{message}\n{code}"
