"""Recording real strace logs in tests: strace on a fixture binary, skipped where it cannot run."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import built

STRACE = shutil.which("strace")


@functools.cache
def strace_problem() -> str | None:
    """Why strace cannot record here (not installed, ptrace not permitted), or None."""
    if STRACE is None:
        return "strace is not installed"
    true = shutil.which("true") or "/bin/true"
    proc = subprocess.run([STRACE, "-f", "-o", "/dev/null", true], capture_output=True, timeout=30)
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        return f"strace cannot trace here (ptrace not permitted?): {lines[-1] if lines else proc.returncode}"
    return None


needs_strace = pytest.mark.skipif(strace_problem() is not None, reason=str(strace_problem()))


def record(
    out: Path,
    fixture: str,
    *options: str,
    args: tuple[str, ...] = (),
    to_stderr: bool = False,
    version: str | None = None,
) -> Path:
    """Run a fixture under ``strace OPTIONS``; the log lands in ``out`` (or its -ff set)."""
    binary = built(fixture) if version is None else built(fixture, version)
    assert STRACE is not None
    command = [STRACE, *options] + ([] if to_stderr else ["-o", str(out)]) + ["--", str(binary), *args]
    proc = subprocess.run(command, capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
    if to_stderr:
        out.write_bytes(proc.stderr)
    return out
