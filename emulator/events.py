"""Events: what the machine tells its sinks (strace text, JSON lines, the API).

Events carry plain data, decoded at the moment they happened; sinks format
them. Nothing in the machine or the kernel formats output.
"""

from __future__ import annotations

from dataclasses import dataclass

from syscalls.sigframe import SignalInfo


@dataclass(frozen=True)
class SyscallEvent:
    """A finished syscall. ``result`` is None for calls that never return (exit)."""

    instructions: int  # guest instructions executed when it finished
    tid: int
    seq: int
    nr: int
    name: str
    args: tuple[int, ...]
    decoded: tuple[object, ...] | None  # per-argument decoded values (see syscalls.kinds)
    result: int | None
    decoded_result: object = None


@dataclass(frozen=True)
class ThreadEvent:
    instructions: int
    tid: int
    what: str  # "start" or "exit"
    parent: int | None


@dataclass(frozen=True)
class SignalEvent:
    """A signal delivered to a guest handler (strace's ``--- SIGSEGV {...} ---`` line)."""

    instructions: int
    tid: int
    info: SignalInfo


@dataclass(frozen=True)
class ExitEvent:
    instructions: int
    status: int
    reason: str
    signal: int | None


Event = SyscallEvent | ThreadEvent | SignalEvent | ExitEvent
