"""Every event of a run as JSON lines: one object per event, for scripts of your own.

Schema (every line)::

    {"kind": str, "thread": int | null, "goroutine": int | null, "instructions": int, "details": {...}}

- ``kind``: "syscall", "thread", "signal", "exit", "call", "return", or a GoEvent kind:
  "goroutine", "thread-start" (GoEvent "thread"), "stack-growth", "gc", "gc-done", "alloc",
  "init", "panic", "recover", "phase".
- ``thread``: the guest thread id (tid); null for the exit.
- ``goroutine``: the goroutine id where known (call events, Go events; syscalls and signals
  carry the goroutine last seen on that thread), else null.
- ``instructions``: guest instructions executed when it happened (the run's clock: 1 = 1 ns).
- ``details`` by kind:

  - syscall: ``{"name", "nr", "args": [int], "result": int | null, "text": strace line}``
  - thread: ``{"what": "start" | "exit", "parent": tid | null}``
  - signal: ``{"signo", "code", "addr"}``
  - exit: ``{"status", "reason", "signal"}``
  - call / return: ``{"function", "depth", "inlined": bool, "pc"}``
  - goroutine: ``{"goid", "parent", "start"}``; thread-start: ``{"m", "tid"}``;
    stack-growth: ``{"old_size", "new_size"}``; gc: ``{"trigger"}`` (a gcStart request: one
    already running makes it return); gc-done: ``{}`` (mark termination: the cycle's marking ended);
    alloc: ``{"bytes", "type", "caller"}`` (type "" when untyped, caller: who called mallocgc);
    init: ``{"package", "functions"}``; panic: ``{"value"}``; recover: ``{}``;
    phase: ``{"phase"}`` ("bootstrap", "runtime-init", "package-init", "main", "exit")

``EventLog`` is a sink that writes as events happen; ``--events`` uses ``write_events`` once the
run is over, so formatting stays out of the emulation. ``read_events`` turns the lines back into
the event objects of ``emulator.events``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import IO

from emulator.events import CallEvent, Event, ExitEvent, GoEvent, SignalEvent, SyscallEvent, ThreadEvent
from syscalls.sigframe import SignalInfo

_GO_KIND_TO_LINE = {"thread": "thread-start"}
_LINE_TO_GO_KIND = {v: k for k, v in _GO_KIND_TO_LINE.items()}
_GO_KINDS = {
    "goroutine",
    "thread",
    "stack-growth",
    "gc",
    "gc-done",
    "alloc",
    "init",
    "panic",
    "recover",
    "phase",
}


def to_json(event: Event, goroutine: int | None = None) -> dict[str, object]:
    """One event as its JSON object (``goroutine``: the thread's last known one, for syscalls)."""
    if isinstance(event, CallEvent):
        details = {"function": event.function, "depth": event.depth, "inlined": event.inlined, "pc": event.pc}
        return _line(event.kind, event.tid, event.goid, event.instructions, details)
    if isinstance(event, GoEvent):
        return _line(
            _GO_KIND_TO_LINE.get(event.kind, event.kind),
            event.tid,
            event.goid,
            event.instructions,
            event.details,
        )
    if isinstance(event, SyscallEvent):
        from emulator.strace import format_call

        details = {
            "name": event.name,
            "nr": event.nr,
            "args": list(event.args),
            "result": event.result,
            "seq": event.seq,
            "text": format_call(event),
        }
        return _line("syscall", event.tid, goroutine, event.instructions, details)
    if isinstance(event, ThreadEvent):
        return _line(
            "thread", event.tid, None, event.instructions, {"what": event.what, "parent": event.parent}
        )
    if isinstance(event, SignalEvent):
        info = event.info
        details = {"signo": info.signo, "code": info.code, "addr": info.addr}
        return _line("signal", event.tid, goroutine, event.instructions, details)
    if isinstance(event, ExitEvent):
        details = {"status": event.status, "reason": event.reason, "signal": event.signal}
        return _line("exit", None, None, event.instructions, details)
    raise TypeError(f"not an event: {event!r}")


def _line(kind: str, thread: int | None, goroutine: int | None, instructions: int, details: dict) -> dict:
    return {
        "kind": kind,
        "thread": thread,
        "goroutine": goroutine,
        "instructions": instructions,
        "details": details,
    }


def from_json(obj: dict) -> Event:
    """The event object a JSON line came from (syscall arguments are not decoded again)."""
    kind, tid, goid, count, d = (
        obj["kind"],
        obj["thread"],
        obj["goroutine"],
        obj["instructions"],
        obj["details"],
    )
    if kind in ("call", "return"):
        return CallEvent(count, tid, kind, d["function"], d["depth"], d["inlined"], d["pc"], goid)
    if kind == "syscall":
        return SyscallEvent(count, tid, d["seq"], d["nr"], d["name"], tuple(d["args"]), None, d["result"])
    if kind == "thread":
        return ThreadEvent(count, tid, d["what"], d["parent"])
    if kind == "signal":
        return SignalEvent(count, tid, SignalInfo(d["signo"], d["code"], addr=d["addr"]))
    if kind == "exit":
        return ExitEvent(count, d["status"], d["reason"], d["signal"])
    go_kind = _LINE_TO_GO_KIND.get(kind, kind)
    if go_kind in _GO_KINDS:
        return GoEvent(count, tid, go_kind, goid, d)
    raise ValueError(f"unknown event kind {kind!r}")


class EventLog:
    """A sink writing one JSON line per event."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._goroutine: dict[int, int | None] = {}  # tid -> last goroutine seen there

    def __call__(self, event: Event) -> None:
        if isinstance(event, CallEvent | GoEvent) and event.goid is not None:
            self._goroutine[event.tid] = event.goid
        tid = getattr(event, "tid", None)
        obj = to_json(event, self._goroutine.get(tid) if tid is not None else None)
        self._out.write(json.dumps(obj, separators=(",", ":")) + "\n")


def write_events(events: Iterable[Event], out: IO[str]) -> None:
    """All of a run's events as JSON lines (what ``--events`` writes, once the run is over: the
    events are plain data by then, and formatting them is kept out of the emulation)."""
    log = EventLog(out)
    for event in events:
        log(event)


def read_events(lines: Iterable[str]) -> list[Event]:
    """Events back from JSON lines (blank lines skipped)."""
    return [from_json(json.loads(line)) for line in lines if line.strip()]
