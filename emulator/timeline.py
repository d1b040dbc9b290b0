"""A Chrome trace-event JSON timeline of a run, for Perfetto (ui.perfetto.dev) or chrome://tracing.

One track per guest thread (pid = the guest pid, tid = the guest tid, named by
``thread_name`` metadata). Recorded calls are "B"/"E" spans, syscalls "X"
slices, goroutine, GC, stack-growth, init, panic and phase events instants
("i"); allocations are summed into a "heap allocated" counter ("C").

Time: ``ts`` is the guest instruction count divided by 1000, so the viewer's
"µs" reads as thousands of instructions (the emulator's virtual clock runs
1 instruction = 1 ns, so it is also virtual microseconds). Syscalls have no
duration of their own in instructions; their slices are 1 instruction wide
(0.001) so they stay visible.

Calls are per goroutine and a goroutine can move between threads; spans on a
thread's track must nest, so when a thread switches goroutine the spans open
there are ended and begun again when that goroutine next shows up.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import IO

from emulator.events import CallEvent, Event, ExitEvent, GoEvent, SignalEvent, SyscallEvent, ThreadEvent

SCALE = 1000.0  # instructions per trace microsecond
_INSTANT_KINDS = {"goroutine", "thread", "stack-growth", "gc", "gc-done", "init", "panic", "recover", "phase"}


class Timeline:
    """A sink that collects trace events; ``write`` produces the JSON."""

    def __init__(self, pid: int, name: str = "guest") -> None:
        self.pid = pid
        self.events: list[dict[str, object]] = []
        self._named: set[int] = set()
        self._open: dict[int, list[tuple[str, int | None]]] = {}  # tid -> open spans (name, goid)
        self._suspended: dict[int | None, list[str]] = {}  # goid -> spans ended when it left a thread
        self._last_ts: dict[int, float] = {}
        self._allocated = 0
        self._meta(0, "process_name", {"name": name})

    def _meta(self, tid: int, name: str, args: dict) -> None:
        self.events.append({"name": name, "ph": "M", "pid": self.pid, "tid": tid, "args": args})

    def _ts(self, tid: int, instructions: int) -> float:
        """Timestamps never go backwards on a track (returns are noticed late, after later events)."""
        ts = max(instructions / SCALE, self._last_ts.get(tid, 0.0))
        self._last_ts[tid] = ts
        return ts

    def _thread(self, tid: int) -> None:
        if tid not in self._named:
            self._named.add(tid)
            self._meta(tid, "thread_name", {"name": f"thread {tid}"})

    def __call__(self, event: Event) -> None:
        if isinstance(event, CallEvent):
            self._call(event)
        elif isinstance(event, SyscallEvent):
            self._thread(event.tid)
            from emulator.strace import format_call

            ts = self._ts(event.tid, event.instructions)
            self.events.append(
                {
                    "name": event.name,
                    "cat": "syscall",
                    "ph": "X",
                    "ts": ts,
                    "dur": 1 / SCALE,
                    "pid": self.pid,
                    "tid": event.tid,
                    "args": {"call": format_call(event)},
                }
            )
            self._last_ts[event.tid] = ts + 1 / SCALE
        elif isinstance(event, GoEvent):
            self._thread(event.tid)
            ts = self._ts(event.tid, event.instructions)
            if event.kind == "alloc":
                self._allocated += int(event.details.get("bytes", 0) or 0)
                self.events.append(
                    {
                        "name": "heap allocated",
                        "ph": "C",
                        "ts": ts,
                        "pid": self.pid,
                        "tid": event.tid,
                        "args": {"bytes": self._allocated},
                    }
                )
            elif event.kind in _INSTANT_KINDS:
                label = event.kind if event.kind != "phase" else f"phase {event.details.get('phase')}"
                args = {"goroutine": event.goid, **{k: str(v) for k, v in event.details.items()}}
                self.events.append(
                    {
                        "name": label,
                        "cat": "go",
                        "ph": "i",
                        "s": "t",
                        "ts": ts,
                        "pid": self.pid,
                        "tid": event.tid,
                        "args": args,
                    }
                )
        elif isinstance(event, ThreadEvent):
            self._thread(event.tid)
        elif isinstance(event, SignalEvent):
            self._thread(event.tid)
            ts = self._ts(event.tid, event.instructions)
            self.events.append(
                {
                    "name": f"signal {event.info.signo}",
                    "cat": "signal",
                    "ph": "i",
                    "s": "t",
                    "ts": ts,
                    "pid": self.pid,
                    "tid": event.tid,
                    "args": {},
                }
            )
        elif isinstance(event, ExitEvent):
            self.close(event.instructions)

    def _call(self, event: CallEvent) -> None:
        tid = event.tid
        self._thread(tid)
        ts = self._ts(tid, event.instructions)
        stack = self._open.setdefault(tid, [])
        if stack and stack[-1][1] != event.goid:
            self._suspend(tid, ts)  # another goroutine on this thread now
            stack = self._open[tid]
        if not stack and event.goid in self._suspended:
            for name in self._suspended.pop(event.goid):  # it comes back: reopen its spans here
                self._begin(tid, name, ts, event.goid)
        if event.kind == "call":
            self._begin(tid, event.function, ts, event.goid)
        elif stack and stack[-1][0] == event.function:
            stack.pop()
            self.events.append({"name": event.function, "ph": "E", "ts": ts, "pid": self.pid, "tid": tid})
        else:  # its call was ended with a goroutine switch and not reopened: drop it from the saved spans
            saved = self._suspended.get(event.goid)
            if saved and saved[-1] == event.function:
                saved.pop()

    def _begin(self, tid: int, name: str, ts: float, goid: int | None) -> None:
        self._open[tid].append((name, goid))
        self.events.append(
            {
                "name": name,
                "cat": "call",
                "ph": "B",
                "ts": ts,
                "pid": self.pid,
                "tid": tid,
                "args": {"goroutine": goid},
            }
        )

    def _suspend(self, tid: int, ts: float) -> None:
        stack = self._open[tid]
        if not stack:
            return
        goid = stack[-1][1]
        names = [name for name, _ in stack]
        for name in reversed(names):
            self.events.append({"name": name, "ph": "E", "ts": ts, "pid": self.pid, "tid": tid})
        self._open[tid] = []
        self._suspended[goid] = names

    def close(self, instructions: int) -> None:
        """End every open span (the run is over)."""
        for tid in list(self._open):
            ts = self._ts(tid, instructions)
            for name, _ in reversed(self._open[tid]):
                self.events.append({"name": name, "ph": "E", "ts": ts, "pid": self.pid, "tid": tid})
            self._open[tid] = []
        self._suspended.clear()

    def to_json(self) -> dict[str, object]:
        return {
            "traceEvents": self.events,
            "displayTimeUnit": "ns",
            "otherData": {"ts_unit": f"{int(SCALE)} guest instructions per microsecond"},
        }

    def write(self, out: IO[str]) -> None:
        json.dump(self.to_json(), out)


def build(events: Iterable[Event], pid: int, name: str = "guest") -> dict[str, object]:
    """The trace-event JSON object for a finished run's events."""
    timeline = Timeline(pid, name)
    for event in events:
        timeline(event)
    return timeline.to_json()
