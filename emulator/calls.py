"""The call path: which guest functions ran, nested as the source reads, per goroutine.

How it sees calls: the native block hook records each run of a block that
starts at a selected function's entry (Go enters functions only by call or
jump, so an entry always starts a block), with RSP, the return address, R14
(the current g in ABIInternal code) and that g's stack bounds
(``Cpu.record_entries``). Records are drained whenever the guest stops to talk
to us (each syscall, each slice end), so call events land in order with
syscall events. Nothing runs in Python per block, and per entry only to make
the CallEvent of a shown function: the frame chains are kept natively
(``_native.CallEngine``, following the rules in ``CallPath``).

How it sees returns: a frame has returned once a later entry on the same stack
has an RSP at or above the frame's entry RSP. Stacks are told apart by the g
in R14 (offsets from g.stack.hi, so a stack copied by morestack keeps its
frames). Go switches stacks in ``systemstack``/``mcall``/``morestack`` (work
nests on the goroutine that asked for it) and in ``gogo`` (another goroutine
resumes: its own chain of frames comes back, on whichever thread runs it).
Each time the guest stops, the running goroutine's stack is checked too
(``Cpu.entry_feeder``): a frame has returned when RSP is above its entry, when
its return-address slot holds something else now, or, at a syscall (where RBP
is a frame pointer: Go keeps them on amd64), when the frame-pointer chain
passes its slot without reaching it. So a syscall shows under the function
still running even when untracked calls came between. Returns are still seen
late, at the next entry or stop: a return event's instruction count is when the
return was noticed.

Inlined frames come from the pclntab inline tree at the caller's call site
(``loader.inline``): ``fmt.Println`` inlined in ``main.main`` appears above
``main.main`` when ``fmt.Fprintln`` is called from inside it.
"""

from __future__ import annotations

import bisect
import fnmatch
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from emulator import _native
from emulator.cpu import EntryRecord
from emulator.events import CallEvent, Event
from loader.inline import InlineTree
from loader.symbols import Symbol, SymbolTable

# `--calls` with no patterns: the bootstrap, package inits and main, down through fmt/os/poll to the
# write syscall, and the exit.
DEFAULT_PATTERNS = (
    "_rt0_amd64*",
    "runtime.rt0_go",
    "runtime.args",
    "runtime.osinit",
    "runtime.schedinit",
    "runtime.newproc",
    "runtime.mstart",
    "runtime.main",
    "runtime.doInit1",
    "*.init",
    "*.init.*",
    "main.*",
    "fmt.*",
    "os.*",
    "internal/poll.*",
    "syscall.*",
    "runtime.exit",
)
ALL = "all"
# Functions that move to another stack and come back: what runs there nests under them.
SWITCHERS = ("runtime.systemstack", "runtime.mcall", "runtime.morestack", "runtime.sigtramp")
SIGNAL_ENTRY = "runtime.sigtramp"
# Called on a system stack already, systemstack tail-calls its function in place: no switch, no frame.
IN_PLACE_ON_SYSTEM = "runtime.systemstack"
MAX_DEPTH = 4096  # a chain deeper than this is cut (unbounded recursion would exhaust memory)


def parse_patterns(text: str | None) -> tuple[str, ...]:
    """``--calls`` value -> glob patterns (``all`` for every function; None/"" for the default)."""
    if not text:
        return DEFAULT_PATTERNS
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    return (ALL,) if ALL in parts else parts


_PACKAGE_INIT = re.compile(r"[^()*]+\.init(\.[0-9]+)?")


def matches(name: str, patterns: Sequence[str]) -> bool:
    """Whether a function name matches one of the glob patterns.

    ``*.init`` and ``*.init.*`` mean package initialisers (``os.init``, ``os.init.0``), not
    methods that happen to be called init (``runtime.(*mheap).init``).
    """
    return _compiled(tuple(patterns)).fullmatch(name) is not None


@functools.lru_cache(maxsize=16)
def _compiled(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """All the globs as one regular expression (one match per function name, not one per glob)."""
    parts = [
        _PACKAGE_INIT.pattern if p in ("*.init", "*.init.*") else fnmatch.translate(p).removesuffix(r"\Z")
        for p in patterns
    ]
    return re.compile("|".join(f"(?:{part})" for part in parts) or "(?!)", re.DOTALL)


@dataclass(slots=True)
class Function:
    name: str  # display name, no ABI suffix
    entry: int
    end: int
    shown: bool  # selected by the patterns (else tracked only to keep the chain right)
    switcher: bool = False


class FunctionIndex:
    """Guest functions by entry address, with the selection applied."""

    def __init__(
        self,
        symbols: SymbolTable,
        patterns: Sequence[str],
        code: Callable[[int, int], bytes | None] | None = None,
    ) -> None:
        everything = ALL in patterns
        functions: dict[int, Function] = {}
        syms = sorted((s for s in symbols if s.size), key=lambda s: s.addr)
        plain = {s.name for s in syms}
        wrappers = _nameless_wrappers(syms, code) if code is not None else set()
        for sym in syms:
            if sym.addr in functions:
                continue
            name = SymbolTable.display_name(sym.name).replace("\u00b7", ".")
            # An ABI wrapper (runtime.args.abi0 calling runtime.args) is not a call of its own.
            wrapper = (name != sym.name and name in plain) or sym.addr in wrappers
            shown = not wrapper and (everything or matches(name, patterns))
            functions[sym.addr] = Function(name, sym.addr, sym.addr + sym.size, shown, name in SWITCHERS)
        self.by_entry = functions
        self._entries = sorted(functions)
        self.patterns = tuple(patterns)
        self._selected: dict[str, bool] = {}

    def containing(self, pc: int) -> Function | None:
        i = bisect.bisect_right(self._entries, pc) - 1
        if i < 0:
            return None
        fn = self.by_entry[self._entries[i]]
        return fn if pc < fn.end else None

    def selected(self, name: str) -> bool:
        known = self._selected.get(name)
        if known is None:
            known = self._selected[name] = ALL in self.patterns or matches(name, self.patterns)
        return known

    def tracked_entries(self) -> list[int]:
        """Entries to record: the shown functions and the stack switchers."""
        return [a for a, f in self.by_entry.items() if f.shown or f.switcher]


def _nameless_wrappers(syms: Sequence[Symbol], code: Callable[[int, int], bytes | None]) -> set[int]:
    """Entries of ABI wrappers in a stripped binary, whose pclntab names a wrapper as its target
    (``runtime.osinit`` twice): of two same-named functions, the one that calls or jumps to the other."""
    by_name: dict[str, list[Symbol]] = {}
    for sym in syms:
        by_name.setdefault(sym.name, []).append(sym)
    wrappers: set[int] = set()
    for same in (group for group in by_name.values() if len(group) > 1):
        entries = {sym.addr for sym in same}
        for sym in same:
            body = code(sym.addr, sym.size) or b""
            for i in range(len(body) - 4):
                if body[i] in (0xE8, 0xE9):  # call / jmp rel32
                    target = sym.addr + i + 5 + int.from_bytes(body[i + 1 : i + 5], "little", signed=True)
                    if target != sym.addr and target in entries:
                        wrappers.add(sym.addr)
                        break
    return wrappers


class EntryRecorder:
    """Hands the native entry records to the call path and to watchers, in order.

    The native engine (``_native.CallEngine``) takes each record in turn: first the call path (if
    one follows), then the watchers registered for its pc. A watcher may change what ``goid_of``
    answers next (a reused g), so the two interleave record by record.
    """

    def __init__(self, cpu, add_pause_hook: Callable[[Callable[[int, bool], None]], None]) -> None:
        self._cpu = cpu
        self._add_pause_hook = add_pause_hook
        self._watchers: dict[int, list[Callable[[EntryRecord, int], None]]] = {}
        self._path: CallPath | None = None
        self._engine = _native.CallEngine()

    def watch(self, address: int, handler: Callable[[EntryRecord, int], None]) -> None:
        """Call ``handler(record, tid)`` for each recorded entry at ``address`` (in order)."""
        self._watchers.setdefault(address, []).append(handler)

    def follow(self, path: CallPath) -> None:
        self._path = path
        self._engine = path.engine

    def install(self, index: FunctionIndex) -> None:
        """Tell the CPU what to record (addresses and their functions' ends); before the run."""
        ranges = {}
        for address in self._watchers:
            fn = index.containing(address)
            ranges[address] = fn.end if fn is not None else address + 1
        if self._path is not None:
            ranges.update((a, index.by_entry[a].end) for a in self._path.index.tracked_entries())
        self._cpu.record_entries(ranges)
        self._engine.watch(EntryRecord, self._watchers)
        # At each pause: everything recorded since the last one (all of it on the stopped thread),
        # then the returns its stack shows.
        self._add_pause_hook(self._cpu.entry_feeder(self._engine))


# Kind bits of a function in the native engine's table.
_SHOWN, _SWITCHER, _IN_PLACE, _SIGNAL = 1, 2, 4, 8


class CallPath:
    """Frame chains per goroutine, turned into CallEvents.

    The chains live in the native engine (``_native.CallEngine``, fed by ``EntryRecorder``); these
    are its rules, for each recorded entry of a shown function or a switcher (entries recorded only
    for watchers are skipped, and so is ``systemstack`` called on a system stack, which runs its
    function in place):

    - Where: the entry's stack is the g in R14 if that g's stack holds RSP, else the stack of the
      chain's top frame if its last seen bounds hold RSP (assembly may use R14 freely), else an
      unknown stack measured by -RSP. The frame's offset is g.stack.hi - RSP: larger is deeper.
    - Jumps: an entry reached from inside the function, or from a function other than the one
      holding the call at its return address (gogo, a signal return), restarts the innermost open
      frame of that function on the same stack if the entry is not deeper (a loop, morestack):
      the frames above it return and nothing is entered.
    - Which chain: ``sigtramp`` nests on whatever runs on the thread. Else, while the thread's chain
      has frames, an entry on another stack nests under a top frame that switches stacks (when the
      stack is a system one: goid 0) or that is on an unknown stack; an entry on a stack the chain
      already holds pops the frames that have returned: those above the topmost frame on that
      stack, those on it not deeper than the entry, and those at or below the caller's own frame
      start (the return address slot plus the caller's SP delta at the call site), except the
      caller itself. Otherwise the chain is suspended (by its owner g; without one it waits for
      the end) and the chain suspended on the entry's stack resumes (popping what returned) or a
      fresh chain starts, with the goid read then.
    - Depth: a call with a return address reconciles the parent's inlined frames with those at the
      call site (the common prefix stays, the rest close, the new ones open), and the callee sits
      above them. Chains are cut at ``MAX_DEPTH`` frames.
    - Returns are noticed late: a return event carries the instruction count of the entry that
      revealed it (or the run's end, in ``finish``, chain by chain: running, suspended, orphaned).
    """

    def __init__(
        self,
        index: FunctionIndex,
        inline: InlineTree,
        emit: Callable[[Event], None],
        goid_of: Callable[[int], int | None],
    ) -> None:
        self.index = index
        self.engine = _native.CallEngine()
        table = sorted(index.by_entry.values(), key=lambda f: f.entry)
        kinds = bytes(
            (_SHOWN if f.shown else 0)
            | (_SWITCHER if f.switcher else 0)
            | (_IN_PLACE if f.name == IN_PLACE_ON_SYSTEM else 0)
            | (_SIGNAL if f.name == SIGNAL_ENTRY else 0)
            for f in table
        )

        def inline_names(call_pc: int) -> tuple[str, ...]:
            """The shown inlined frames at a call site (asked once per call pc)."""
            inlined = inline.frames_at(call_pc) if inline else ()
            return tuple(n for n in inlined if index.selected(n))

        self.engine.follow(
            [f.entry for f in table],
            [f.end for f in table],
            kinds,
            [f.name for f in table],
            CallEvent,
            emit,
            goid_of,
            inline_names,
            inline.sp_delta,
            MAX_DEPTH,
        )

    def finish(self, instructions: int) -> None:
        """The run is over: every frame still open returns now, on the thread it was entered on."""
        self.engine.finish(instructions)


def attach(machine, recorder: EntryRecorder, patterns: Sequence[str], goid_of) -> CallPath:
    """Record the call path of ``machine``'s run (before it runs)."""
    index = FunctionIndex(machine.image.symbols, patterns, machine.mem.peek)
    path = CallPath(index, InlineTree.from_image(machine.image), machine.emit, goid_of)
    recorder.follow(path)
    machine.add_finish_hook(lambda: path.finish(machine.cpu.instructions))
    return path


@dataclass
class Observation:
    """What ``observe`` attached: the recorder, the call path (if asked) and the runtime probes."""

    recorder: EntryRecorder
    path: CallPath | None
    runtime: object | None


def observe(machine, patterns: Sequence[str] | None = None, go_events: bool = True) -> Observation:
    """Attach the call path (``patterns``; None for none) and the Go runtime probes to ``machine``.

    Call before ``machine.run()``; the events go to the machine's sinks.
    """
    from emulator import goruntime

    recorder = EntryRecorder(machine.cpu, machine.add_pause_hook)
    runtime = goruntime.attach(machine, recorder) if go_events else None
    path = None
    if patterns is not None:
        goid_of = runtime.goid_of if runtime is not None else (lambda _g: None)
        path = attach(machine, recorder, patterns, goid_of)
    recorder.install(path.index if path is not None else FunctionIndex(machine.image.symbols, ()))
    return Observation(recorder, path, runtime)


def format_calls(events: Sequence[Event], indent: str = "  ") -> list[str]:
    """The call path as text, one block per thread in order of first appearance.

    Calls are indented by depth; inlined frames are marked; syscalls appear
    where they happened, one level below the innermost open call.
    """
    from emulator.events import SyscallEvent
    from emulator.strace import format_call

    by_thread: dict[int, list[str]] = {}
    depth_now: dict[int, int] = {}
    for event in events:
        if isinstance(event, CallEvent):
            if event.kind == "call":
                mark = " (inlined)" if event.inlined else ""
                by_thread.setdefault(event.tid, []).append(f"{indent * event.depth}{event.function}{mark}")
                depth_now[event.tid] = event.depth + 1
            else:
                depth_now[event.tid] = event.depth
        elif isinstance(event, SyscallEvent) and event.tid in depth_now:
            line = format_call(event)
            by_thread.setdefault(event.tid, []).append(f"{indent * depth_now[event.tid]}{line}")
    lines: list[str] = []
    for tid, body in by_thread.items():
        lines.append(f"thread {tid}:")
        lines.extend(f"  {line}" for line in body)
    phases = format_phases(events)
    if phases:
        lines.append(phases)
    return lines


def format_phases(events: Sequence[Event]) -> str:
    """``phases: bootstrap 192,150 instructions, runtime-init ...``: each phase's length up to the next
    (the last one up to the exit), from the Go runtime's phase events."""
    from emulator.events import ExitEvent, GoEvent

    marks = [
        (e.details["phase"], e.instructions) for e in events if isinstance(e, GoEvent) and e.kind == "phase"
    ]
    end = next((e.instructions for e in reversed(events) if isinstance(e, ExitEvent)), None)
    if not marks or end is None:
        return ""
    bounds = [count for _, count in marks[1:]] + [end]
    spans = [f"{name} {stop - start:,}" for (name, start), stop in zip(marks, bounds, strict=True)]
    return "phases (instructions): " + ", ".join(spans)
