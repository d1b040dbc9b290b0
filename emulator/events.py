"""Events: what the machine tells its sinks (strace text, JSON lines, the API).

Events carry plain data, decoded at the moment they happened; sinks format
them. Nothing in the machine or the kernel formats output. Sinks share the
same objects and must not change them: they are slotted dataclasses, not frozen
ones, because a recorded run makes one per syscall, call and allocation, and a
frozen dataclass costs five times as much to build.
"""

from __future__ import annotations

from dataclasses import dataclass

from syscalls.sigframe import SignalInfo


@dataclass(slots=True)
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


@dataclass(slots=True)
class ThreadEvent:
    instructions: int
    tid: int
    what: str  # "start" or "exit"
    parent: int | None


@dataclass(slots=True)
class SignalEvent:
    """A signal delivered to a guest handler (strace's ``--- SIGSEGV {...} ---`` line)."""

    instructions: int
    tid: int
    info: SignalInfo


@dataclass(slots=True)
class ExitEvent:
    instructions: int
    status: int
    reason: str
    signal: int | None


@dataclass(slots=True)
class CallEvent:
    """A guest function entered (``kind="call"``) or left (``kind="return"``).

    Inlined frames have no real call: they are named from the inline tree at the
    caller's pc and come and go with the real call they sit above.
    """

    instructions: int
    tid: int
    kind: str  # "call" or "return"
    function: str  # display name: package path and function, no ABI suffix
    depth: int  # 0 for the outermost recorded frame of this thread
    inlined: bool = False
    pc: int = 0  # the entry address (for an inlined frame: the call site in its host)
    goid: int | None = None  # the goroutine running it, when it can be read


@dataclass(slots=True)
class GoEvent:
    """Something the Go runtime did, seen by a probe on one of its functions.

    ``kind`` is one of "goroutine", "thread", "stack-growth", "gc", "gc-done", "alloc",
    "init", "panic", "recover", "phase"; ``details`` holds the kind's fields
    (documented with the JSON lines schema).
    """

    instructions: int
    tid: int
    kind: str
    goid: int | None
    details: dict[str, object]


Event = SyscallEvent | ThreadEvent | SignalEvent | ExitEvent | CallEvent | GoEvent
