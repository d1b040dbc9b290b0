"""Events: what the machine tells its sinks (strace text, JSON lines, the API).

Events carry plain data, taken at the moment they happened (a syscall's arguments are decoded
from what was kept then, when first asked); sinks format them. Nothing in the machine or the
kernel formats output. Sinks share the same objects and must not change them: they are slotted
classes, not frozen dataclasses, because a recorded run makes one per syscall, call and
allocation, and a frozen dataclass costs five times as much to build.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from syscalls.sigframe import SignalInfo


class SyscallEvent:
    """A finished syscall. ``result`` is None for calls that never return (exit).

    ``decoded`` (per argument, see syscalls.kinds) and ``decoded_result`` show the call as it
    happened. A recorded run passes ``later`` instead (``syscalls.capture.Recorded``: the registers
    and the guest memory they show, kept at that moment), and they are decoded when first asked:
    decoding while the guest waits costs more than most syscalls. Otherwise a plain slotted record,
    compared field by field.
    """

    _FIELDS = ("instructions", "tid", "seq", "nr", "name", "args", "decoded", "result", "decoded_result")
    __slots__ = (
        "_decoded",
        "_decoded_result",
        "_later",
        "args",
        "instructions",
        "name",
        "nr",
        "result",
        "seq",
        "tid",
    )

    def __init__(
        self,
        instructions: int,  # guest instructions executed when it finished
        tid: int,
        seq: int,
        nr: int,
        name: str,
        args: tuple[int, ...],
        decoded: tuple[object, ...] | None,
        result: int | None,
        decoded_result: object = None,
        later: Later | None = None,
    ) -> None:
        self.instructions = instructions
        self.tid = tid
        self.seq = seq
        self.nr = nr
        self.name = name
        self.args = args
        self.result = result
        self._decoded = decoded
        self._decoded_result = decoded_result
        self._later = later

    @property
    def decoded(self) -> tuple[object, ...] | None:
        if self._later is not None:
            self._settle()
        return self._decoded

    @property
    def decoded_result(self) -> object:
        if self._later is not None:
            self._settle()
        return self._decoded_result

    def _settle(self) -> None:
        assert self._later is not None
        self._decoded, self._decoded_result = self._later.decode()
        self._later = None

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._FIELDS)

    def __eq__(self, other: object) -> bool:
        if type(other) is not SyscallEvent:
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable, like the other events

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        """Pickled decoded: what the event shows, not the machinery that would decode it."""
        return SyscallEvent, self._fields()

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={v!r}" for n, v in zip(self._FIELDS, self._fields(), strict=True))
        return f"SyscallEvent({shown})"


class Later(Protocol):
    """What a recorded SyscallEvent keeps to decode itself (``syscalls.capture.Recorded``)."""

    def decode(self) -> tuple[tuple[object, ...], object]: ...


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
