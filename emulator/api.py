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
from emulator.machine import Console, Machine, RunConfig, Stats
from loader import load_image

# The guest's environment unless the caller gives one: small, fixed, host-free.
DEFAULT_ENV = ("PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/guest", "USER=guest", "LANG=C.UTF-8")


@dataclass
class RunResult:
    exit_status: int
    reason: str  # "exit", "signal", "deadlock", "instruction-budget"
    stdout: bytes
    stderr: bytes
    syscalls: list[SyscallEvent]
    stats: Stats
    report: str = ""  # the fault or deadlock report, if any
    signal: int | None = None
    unimplemented: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)  # execve, fork...: new processes, refused

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
    vdso: bool = True,
    stdin: bytes = b"",
    sinks: Sequence[Callable[[Event], None]] = (),
) -> RunResult:
    """Run a Go binary (or fixture name) to completion and return what happened.

    Output is captured, not printed. Raises ``loader.LoaderError`` for a file
    that cannot be loaded.
    """
    path = resolve_target(target)
    image = load_image(path)
    argv0 = str(target)
    config = RunConfig(
        argv=[argv0, *args],
        env=list(DEFAULT_ENV if env is None else env),
        seed=seed,
        cpus=cpus,
        max_instructions=max_instructions,
        record_syscalls=True,
        vdso=vdso,
    )
    if memory_limit is not None:
        config.memory_limit = memory_limit
    out: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}
    pending_stdin = bytearray(stdin)

    def write_fd(fd: int, data: bytes) -> None:
        out[fd] += data

    def read_fd(_fd: int, size: int) -> bytes:
        chunk = bytes(pending_stdin[:size])
        del pending_stdin[:size]
        return chunk

    machine = Machine(image, config, Console(write_fd, read_fd), sinks=list(sinks))
    outcome = machine.run()
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
        refused=dict(machine.kernel.refused),
    )
