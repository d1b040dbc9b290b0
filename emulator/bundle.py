"""The reproducer bundle an internal error leaves behind.

A bug of ours must be reportable without the user rebuilding the scene: the
bundle is a directory holding what defines the run (binary path and sha256,
arguments, environment, seed, limits), which emulator it was (version, git
commit, unicorn and Python versions), what happened last (the syscall tail,
the report) and the Python traceback, which never goes to stderr.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import platform
import shlex
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emulator.limits import Limits
    from emulator.machine import Machine

FILES = ("bundle.json", "traceback.txt", "report.txt", "trace-tail.txt", "reproduce.sh")


def write(machine: Machine, error: BaseException, report: str) -> str | None:
    """Write the bundle into ``config.bundle_dir`` (default: the temp directory); its path, or
    None if even that failed (the report then stands alone)."""
    try:
        where = Path(machine.config.bundle_dir or tempfile.gettempdir())
        where.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix="emulator-bug-", dir=where))
        _write_into(path, machine, error, report)
        return str(path)
    except Exception:
        return None


def write_without_machine(error: BaseException, argv: list[str]) -> str | None:
    """A bundle for a bug outside a run: the command line, versions and the traceback."""
    try:
        path = Path(tempfile.mkdtemp(prefix="emulator-bug-"))
        facts = {"argv": argv, "error": f"{type(error).__name__}: {error}", **_versions()}
        (path / "bundle.json").write_text(json.dumps(facts, indent=2) + "\n", encoding="utf-8")
        (path / "traceback.txt").write_text("".join(traceback.format_exception(error)), encoding="utf-8")
        return str(path)
    except Exception:
        return None


def _versions() -> dict[str, str | None]:
    return {
        "emulator_version": _version("go-under-glass"),
        "git_commit": _git_commit(),
        "unicorn_version": _version("unicorn"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def _write_into(path: Path, machine: Machine, error: BaseException, report: str) -> None:
    from emulator.reports import format_recent

    config = machine.config
    binary = Path(machine.image.path).resolve()
    facts = {
        "binary": str(binary),
        "sha256": _sha256(binary),
        "go_version": machine.image.go_version,
        "argv": config.argv,
        "env": config.env,
        "seed": config.seed,
        "cpus": config.cpus,
        "vdso": config.vdso,
        "limits": dataclasses.asdict(config.limits),
        "error": f"{type(error).__name__}: {error}",
        "instructions": machine.cpu.instructions,
        **_versions(),
    }
    (path / "bundle.json").write_text(json.dumps(facts, indent=2) + "\n", encoding="utf-8")
    (path / "traceback.txt").write_text("".join(traceback.format_exception(error)), encoding="utf-8")
    (path / "report.txt").write_text(report + "\n", encoding="utf-8")
    tail = [f"[pid {e.tid:>5}] {format_recent(e)}" for e in machine.recent_syscalls()]
    (path / "trace-tail.txt").write_text("".join(line + "\n" for line in tail), encoding="utf-8")
    command = [sys.executable, "-m", "emulator", "run", str(binary), "--seed", str(config.seed)]
    command += ["--cpus", str(config.cpus)] + [a for e in config.env for a in ("--env", e)]
    if not config.vdso:
        command.append("--no-vdso")
    command += _limit_flags(config.limits)
    command += ["--", *config.argv[1:]]
    (path / "reproduce.sh").write_text("#!/bin/sh\n" + shlex.join(command) + "\n", encoding="utf-8")


def _limit_flags(limits: Limits) -> list[str]:
    """The flags that recreate ``limits`` (host time excepted: it is not part of the run's identity)."""
    unlimited = "unlimited"
    flags = ["--memory-limit", str(limits.memory), "--max-threads", str(limits.threads)]
    flags += ["--max-write-bytes", str(limits.write_bytes or unlimited)]
    if limits.instructions is not None:
        flags += ["--max-instructions", str(limits.instructions)]
    if limits.fds is not None:
        flags += ["--max-fds", str(limits.fds)]
    return flags


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    """The emulator's own commit, if it runs from a git checkout."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None
