"""The call path: which guest functions ran, nested as the source reads, per goroutine.

How it sees calls: the native block hook records each run of a block that
starts at a selected function's entry (Go enters functions only by call or
jump, so an entry always starts a block), with RSP, the return address, R14
(the current g in ABIInternal code) and that g's stack bounds
(``Cpu.record_entries``). Records are drained whenever the guest stops to talk
to us (each syscall, each slice end), so call events land in order with
syscall events. Nothing runs in Python per block.

How it sees returns: a frame has returned once a later entry on the same stack
has an RSP at or above the frame's entry RSP. Stacks are told apart by the g
in R14 (offsets from g.stack.hi, so a stack copied by morestack keeps its
frames). Go switches stacks in ``systemstack``/``mcall``/``morestack`` (work
nests on the goroutine that asked for it) and in ``gogo`` (another goroutine
resumes: its own chain of frames comes back, on whichever thread runs it).
Returns are therefore seen late, at the next recorded entry or syscall: a
return event's instruction count is when the return was noticed.

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
from dataclasses import dataclass, field

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


@dataclass(slots=True)
class Frame:
    function: Function
    stack: int  # the g whose stack holds the frame (0: not known, e.g. before the runtime set g up)
    offset: int  # g.stack.hi - RSP at entry (or -RSP on an unknown stack): larger is deeper
    depth: int  # display depth of this frame
    tid: int  # the thread it was entered on
    inlined: list[str] = field(default_factory=list)  # inlined frames open above it
    inline_pc: int = 0

    def child_depth(self) -> int:
        return self.depth + (1 if self.function.shown else 0) + len(self.inlined)


@dataclass(slots=True)
class Chain:
    """The frames of one goroutine's logical call path (g0 work nested where it was asked for)."""

    owner: int  # the g (stack) of the bottom frame; 0 if unknown
    goid: int | None
    frames: list[Frame] = field(default_factory=list)


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
    """Drains the native entry records and hands each to the call path and to watchers."""

    def __init__(self, cpu, add_pause_hook: Callable[[Callable], None]) -> None:
        self._cpu = cpu
        self._watchers: dict[int, list[Callable[[EntryRecord, int], None]]] = {}
        self._path: CallPath | None = None
        add_pause_hook(lambda thread: self.drain(thread.tid))

    def watch(self, address: int, handler: Callable[[EntryRecord, int], None]) -> None:
        """Call ``handler(record, tid)`` for each recorded entry at ``address`` (in order)."""
        self._watchers.setdefault(address, []).append(handler)

    def follow(self, path: CallPath) -> None:
        self._path = path

    def install(self, index: FunctionIndex) -> None:
        """Tell the CPU what to record (addresses and their functions' ends); before the run."""
        ranges = {}
        for address in self._watchers:
            fn = index.containing(address)
            ranges[address] = fn.end if fn is not None else address + 1
        if self._path is not None:
            ranges.update((a, index.by_entry[a].end) for a in self._path.index.tracked_entries())
        self._cpu.record_entries(ranges)

    def drain(self, tid: int) -> None:
        """Everything recorded since the last pause (all of it on thread ``tid``)."""
        path, watchers = self._path, self._watchers
        for record in self._cpu.drain_entries():
            if path is not None:
                path.on_entry(record, tid)
            for handler in watchers.get(record.pc, ()):
                handler(record, tid)


class CallPath:
    """Frame chains per goroutine, turned into CallEvents."""

    def __init__(
        self,
        index: FunctionIndex,
        inline: InlineTree,
        emit: Callable[[Event], None],
        goid_of: Callable[[int], int | None],
    ) -> None:
        self.index = index
        self._inline = inline
        self._emit = emit
        self._goid_of = goid_of
        self._current: dict[int, Chain] = {}  # tid -> chain running there
        self._suspended: dict[int, Chain] = {}  # owner g -> chain not running anywhere
        self._bounds: dict[int, tuple[int, int]] = {}  # g -> its stack's [lo, hi) when last seen
        self._orphans: list[Chain] = []
        self._system: dict[int, bool] = {}  # g -> whether it is a g0/gsignal
        self._now = 0
        # What depends only on code addresses, worked out once per address (entries repeat a lot):
        self._jumps: dict[tuple[int, int, int], bool] = {}  # (entry, source block, return address)
        self._callers: dict[int, Function | None] = {}  # return address -> the function calling from there
        self._inline_names: dict[int, list[str]] = {}  # call pc -> shown inlined frames there

    # -- entries ---------------------------------------------------------------

    def on_entry(self, record: EntryRecord, tid: int) -> None:
        fn = self.index.by_entry.get(record.pc)
        if fn is None or not (fn.shown or fn.switcher):
            return  # recorded for a watcher (a runtime probe), not for the path
        if not fn.shown and fn.name == IN_PLACE_ON_SYSTEM and self._on_system_stack(record):
            return
        self._now = record.instructions
        chain = self._current.get(tid)
        stack, offset = self._locate(record, chain)
        if self._jumped(fn, record) and self._reentered(chain, fn, stack, offset, tid):
            return
        if fn.name == SIGNAL_ENTRY and chain is not None and chain.frames:
            pass  # a signal interrupts whatever runs: its handler nests there, on the signal stack
        else:
            chain = self._chain_for(tid, chain, stack, offset, record)
        frames = chain.frames
        depth = 0
        if frames:
            parent = frames[-1]
            if record.return_address:
                depth = self._reconcile_inlined(chain, parent, record.return_address - 1, tid)
            else:
                depth = parent.child_depth()
        if len(frames) >= MAX_DEPTH:
            return
        frames.append(Frame(fn, stack, offset, depth, tid))
        if fn.shown:
            self._emit(
                CallEvent(record.instructions, tid, "call", fn.name, depth, False, fn.entry, chain.goid)
            )

    def _jumped(self, fn: Function, record: EntryRecord) -> bool:
        """Whether the entry was reached other than by a call from the caller at the return address:
        from inside ``fn`` (a loop, a morestack restart) or from elsewhere (gogo resuming a
        goroutine, a signal return)."""
        key = (fn.entry, record.source_block, record.return_address)
        jumped = self._jumps.get(key)
        if jumped is None:
            source, ret = record.source_block, record.return_address
            if fn.entry <= source < fn.end:
                jumped = True
            elif not ret:
                jumped = False
            else:
                jumped = self.index.containing(source) is not self._caller(ret)
            self._jumps[key] = jumped
        return jumped

    def _caller(self, ret: int) -> Function | None:
        """The function holding the call that returns to ``ret``."""
        if ret in self._callers:
            return self._callers[ret]
        caller = self._callers[ret] = self.index.containing(ret - 1)
        return caller

    def _reentered(self, chain: Chain | None, fn: Function, stack: int, offset: int, tid: int) -> bool:
        """Whether a jump from inside ``fn`` to its entry is a loop or morestack restarting it (the
        frame is the one already open, at the same depth of its stack) rather than recursion
        (deeper). What it called since has returned."""
        if chain is None:
            return False
        for i in range(len(chain.frames) - 1, -1, -1):
            frame = chain.frames[i]
            if frame.function is fn and frame.stack == stack:
                if offset > frame.offset:
                    return False
                while len(chain.frames) > i + 1:
                    self._return(chain.frames.pop(), tid, chain)
                return True
        return False

    def _locate(self, record: EntryRecord, chain: Chain | None) -> tuple[int, int]:
        """(stack, offset) of an entry: the g in R14 if its stack holds RSP, else the caller's stack
        (assembly may use R14 freely), else an unknown stack measured by RSP alone."""
        rsp = record.rsp
        if record.g and record.stack_lo <= rsp < record.stack_hi:
            self._bounds[record.g] = (record.stack_lo, record.stack_hi)
            return record.g, record.stack_hi - rsp
        if chain is not None and chain.frames:
            top = chain.frames[-1].stack
            lo, hi = self._bounds.get(top, (0, 0))
            if lo <= rsp < hi:
                return top, hi - rsp
        return 0, -rsp

    def _chain_for(
        self, tid: int, chain: Chain | None, stack: int, offset: int, record: EntryRecord
    ) -> Chain:
        """The chain this entry belongs to, with returned frames popped."""
        if chain is not None and chain.frames:
            top = chain.frames[-1]
            if top.stack != stack and ((top.function.switcher and self._is_system(stack)) or top.stack == 0):
                return chain  # work on a system stack (or the first g), nested under who asked for it
            if top.stack == stack or any(f.stack == stack for f in chain.frames):
                self._pop(chain, stack, offset, tid)
                self._pop_callers_siblings(chain, stack, offset, record, tid)
                return chain
            self._suspend(chain)
        elif chain is not None:
            self._suspended.pop(chain.owner, None)
        resumed = self._suspended.pop(stack, None) if stack else None
        if resumed is not None:
            self._pop(resumed, stack, offset, tid)
            self._current[tid] = resumed
            return resumed
        fresh = Chain(stack, self._goid_of(stack) if stack else None)
        self._current[tid] = fresh
        return fresh

    def _on_system_stack(self, record: EntryRecord) -> bool:
        g = record.g
        return bool(g) and record.stack_lo <= record.rsp < record.stack_hi and self._is_system(g)

    def _is_system(self, stack: int) -> bool:
        """Whether ``stack`` is a g0 or gsignal stack (goid 0), where the runtime does work for others."""
        system = self._system.get(stack)
        if system is None:
            system = self._system[stack] = stack == 0 or self._goid_of(stack) == 0
        return system

    def _suspend(self, chain: Chain) -> None:
        if chain.owner:
            self._suspended[chain.owner] = chain
        else:
            self._orphans.append(chain)  # no g to resume it by: its frames close at the end

    def _pop(self, chain: Chain, stack: int, offset: int, tid: int) -> None:
        """Frames above the topmost one on ``stack`` have returned, then those on it not deeper."""
        frames = chain.frames
        while frames and frames[-1].stack != stack:
            self._return(frames.pop(), tid, chain)
        while frames and frames[-1].stack == stack and frames[-1].offset >= offset:
            self._return(frames.pop(), tid, chain)

    def _pop_callers_siblings(
        self, chain: Chain, stack: int, offset: int, record: EntryRecord, tid: int
    ) -> None:
        """Frames entered at or below where the caller's own frame starts have returned, unless it
        is the caller itself (an untracked caller hides its siblings' returns from RSP alone).

        The caller's entry RSP is the return address's slot plus the caller's SP delta (pcsp) at
        the call site."""
        ret = record.return_address
        if not ret:
            return
        caller = self._caller(ret)
        if caller is None:
            return
        delta = self._inline.sp_delta(ret - 1)
        if delta is None:
            return
        caller_offset = offset - 8 - delta  # offsets grow downwards; the caller's entry is higher
        frames = chain.frames
        while frames and frames[-1].stack == stack:
            top = frames[-1]
            if top.offset > caller_offset or (top.offset == caller_offset and top.function is not caller):
                self._return(frames.pop(), tid, chain)
            else:
                break

    def _return(self, frame: Frame, tid: int, chain: Chain) -> None:
        if frame.inlined:
            self._close_inlined(frame, 0, tid, chain)
        if frame.function.shown:
            fn = frame.function
            self._emit(CallEvent(self._now, tid, "return", fn.name, frame.depth, False, fn.entry, chain.goid))

    # -- inlined frames -----------------------------------------------------------

    def _reconcile_inlined(self, chain: Chain, parent: Frame, call_pc: int, tid: int) -> int:
        """Open/close the inlined frames of ``parent`` for a call from ``call_pc``; the callee's depth."""
        names = self._inline_names.get(call_pc)
        if names is None:
            inlined = self._inline.frames_at(call_pc) if self._inline else ()
            names = [n for n in inlined if self.index.selected(n)]
            self._inline_names[call_pc] = names
        if not names and not parent.inlined:
            return parent.depth + 1 if parent.function.shown else parent.depth
        keep = 0
        while keep < len(names) and keep < len(parent.inlined) and names[keep] == parent.inlined[keep]:
            keep += 1
        self._close_inlined(parent, keep, tid, chain)
        base = parent.depth + (1 if parent.function.shown else 0)
        for name in names[keep:]:
            parent.inlined.append(name)
            self._emit(
                CallEvent(
                    self._now, tid, "call", name, base + len(parent.inlined) - 1, True, call_pc, chain.goid
                )
            )
        parent.inline_pc = call_pc
        return parent.child_depth()

    def _close_inlined(self, frame: Frame, keep: int, tid: int, chain: Chain) -> None:
        base = frame.depth + (1 if frame.function.shown else 0)
        while len(frame.inlined) > keep:
            name = frame.inlined.pop()
            self._emit(
                CallEvent(
                    self._now,
                    tid,
                    "return",
                    name,
                    base + len(frame.inlined),
                    True,
                    frame.inline_pc,
                    chain.goid,
                )
            )

    # -- the end ------------------------------------------------------------------

    def finish(self, instructions: int) -> None:
        """The run is over: every frame still open returns now, on the thread it was entered on."""
        self._now = instructions
        for chain in [*self._current.values(), *self._suspended.values(), *self._orphans]:
            while chain.frames:
                frame = chain.frames.pop()
                self._return(frame, frame.tid, chain)
        self._current.clear()
        self._suspended.clear()
        self._orphans.clear()


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
