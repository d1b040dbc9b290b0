"""The Python API: load a binary, run it, get what a user would see.

>>> from emulator import api
>>> result = api.run("hello")
>>> result.stdout, result.exit_status
(b'Hello, World!\\n', 0)
>>> [e.name for e in result.syscalls][-2:]
['write', 'exit_group']
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from emulator.events import Event, SyscallEvent
from emulator.limits import Limits
from emulator.machine import Console, Machine, RunConfig, Stats
from loader import load_image
from syscalls.vfs import FsConfig, MountSpec

# The guest's environment unless the caller gives one: small, fixed, host-free.
DEFAULT_ENV = ("PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/guest", "USER=guest", "LANG=C.UTF-8")
GUEST_TMPDIR = "/tmp"  # the private temporary directory, as the guest names it


def guest_environment(env: Sequence[str]) -> list[str]:
    """``env`` plus TMPDIR naming the private /tmp, unless the caller set TMPDIR."""
    env = list(env)
    if not any(e.startswith("TMPDIR=") for e in env):
        env.append(f"TMPDIR={GUEST_TMPDIR}")
    return env


def filesystem(
    mounts: Sequence[str | MountSpec] = (),
    root: str | os.PathLike[str] | None = None,
    keep_tmp: bool = False,
    cwd: str | os.PathLike[str] | None = None,
) -> FsConfig:
    """The sandbox's configuration; ValueError (one line) for a bad mount or root."""
    for what, path in (("--root", root), ("the working directory", cwd)):
        if path is not None and not os.path.isdir(path):
            raise ValueError(f"{what} {str(path)!r} is not a directory")
    specs = tuple(m if isinstance(m, MountSpec) else MountSpec.parse(m) for m in mounts)
    return FsConfig(
        root=None if root is None else str(root),
        mounts=specs,
        cwd=None if cwd is None else str(cwd),
        keep_tmp=keep_tmp,
    )


@dataclass
class RunResult:
    exit_status: int
    # "exit", "signal", "deadlock", "instruction-budget", "timeout", "interrupted", "internal-error"
    reason: str
    stdout: bytes
    stderr: bytes
    syscalls: list[SyscallEvent]
    stats: Stats
    report: str = ""  # the fault, deadlock, limit or internal-error report, if any
    signal: int | None = None
    unimplemented: dict[str, int] = field(default_factory=dict)
    limit_hits: dict[str, int] = field(default_factory=dict)  # guest-facing limit -> syscalls it failed
    bundle: str | None = None  # an internal error's reproducer directory
    kept_tmp: str | None = None  # the host directory that was the guest's /tmp, with keep_tmp
    refused: dict[str, int] = field(default_factory=dict)  # refused on purpose: syscalls.kernel.REFUSED
    events: list[Event] = field(default_factory=list)  # every event of the run, in order

    def calls(self) -> list[str]:
        """The call path as ``--calls`` prints it (needs ``run(..., calls=...)``)."""
        from emulator.calls import format_calls

        return format_calls(self.events)

    def strace(self) -> list[str]:
        """The syscalls as strace prints them, one line per call."""
        from emulator.strace import format_syscalls

        return format_syscalls(self.syscalls)


def resolve_target(target: str | os.PathLike[str], go: str | None = None, stripped: bool = False) -> Path:
    """A path, or the name of a fixture (built on demand with the pinned toolchain)."""
    path = Path(target)
    if path.exists() or os.sep in str(target):
        return path
    from emulator import toolchains

    if str(target) in toolchains.FIXTURES:
        version = go or toolchains.DEFAULT_GO
        return toolchains.build_fixture(str(target), version, stripped=stripped)
    return path


def run(
    target: str | os.PathLike[str],
    args: Sequence[str] = (),
    *,
    env: Sequence[str] | None = None,
    seed: int = 0,
    cpus: int = 1,
    memory_limit: int | None = None,
    max_instructions: int | None = None,
    timeout: float | None = None,
    max_threads: int | None = None,
    max_fds: int | None = None,
    max_write_bytes: int | None = None,
    vdso: bool = True,
    bundle_dir: str | os.PathLike[str] | None = None,
    stdin: bytes = b"",
    sinks: Sequence[Callable[[Event], None]] = (),
    mounts: Sequence[str | MountSpec] = (),
    root: str | os.PathLike[str] | None = None,
    keep_tmp: bool = False,
    cwd: str | os.PathLike[str] | None = None,
    calls: str | Sequence[str] | None = None,
    go_events: bool = False,
    go: str | None = None,
    stripped: bool = False,
    prepare: Callable[[Machine], None] | None = None,
) -> RunResult:
    """Run a Go binary (or fixture name) to completion and return what happened.

    Output is captured, not printed. The guest sees ``cwd`` (default: ours)
    read-only at its own path and works there (or ``root`` as its / and works
    at /), ``mounts`` ("HOST:GUEST[:ro|rw]"), and a private /tmp removed at the
    end unless ``keep_tmp``. Limits left as None keep their defaults
    (``emulator.limits.Limits``); Ctrl-C during the run ends it with reason
    "interrupted" and status 130 instead of raising KeyboardInterrupt.
    ``calls`` records the call path ("" or "default" for the default
    selection, "all", or glob patterns); ``go_events`` the Go runtime events
    (on whenever ``calls`` is given). ``go``/``stripped`` pick a fixture build.
    Raises ``loader.LoaderError`` for a file that cannot be loaded, ValueError
    for a bad mount.
    """
    fs = filesystem(mounts, root, keep_tmp, cwd)
    path = resolve_target(target, go, stripped)
    image = load_image(path)
    argv0 = str(target)
    chosen = {
        "memory": memory_limit,
        "instructions": max_instructions,
        "timeout": timeout,
        "threads": max_threads,
        "fds": max_fds,
        "write_bytes": max_write_bytes,
    }
    config = RunConfig(
        argv=[argv0, *args],
        env=guest_environment(DEFAULT_ENV if env is None else env),
        seed=seed,
        cpus=cpus,
        limits=Limits(**{k: v for k, v in chosen.items() if v is not None}),
        record_syscalls=True,
        vdso=vdso,
        bundle_dir=None if bundle_dir is None else str(bundle_dir),
        filesystem=fs,
    )
    out: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}
    pending_stdin = bytearray(stdin)

    def write_fd(fd: int, data: bytes) -> None:
        out[fd] += data

    def read_fd(_fd: int, size: int) -> bytes:
        chunk = bytes(pending_stdin[:size])
        del pending_stdin[:size]
        return chunk

    events: list[Event] = []
    machine = Machine(image, config, Console(write_fd, read_fd), sinks=[events.append, *sinks])
    if calls is not None or go_events:
        from emulator.calls import observe, parse_patterns

        if calls is None:
            patterns = None
        elif isinstance(calls, str):
            patterns = parse_patterns("" if calls == "default" else calls)
        else:
            patterns = tuple(calls)
        observe(machine, patterns)
    if prepare is not None:
        prepare(machine)
    try:
        outcome = machine.run()
    finally:
        machine.kernel.vfs.close()
        machine.close()  # its engine's native memory now, not at the next cycle collection
    return RunResult(
        exit_status=outcome.status,
        reason=outcome.reason,
        stdout=bytes(out[1]),
        stderr=bytes(out[2]),
        syscalls=machine.syscall_events,
        stats=machine.stats,
        report=outcome.report,
        signal=outcome.signal,
        unimplemented=dict(machine.kernel.unimplemented),
        limit_hits=dict(machine.kernel.limit_hits),
        bundle=outcome.bundle,
        kept_tmp=machine.kernel.vfs.kept_tmp,
        events=events,
        refused=dict(machine.kernel.refused),
    )
