"""Facts of one run of a Go program: the Go runtime events and call path of one ``api.run``.

``explain`` needs a few dynamic facts besides the syscalls: when each phase of
the start-up begins, which threads and goroutines exist when ``main.main``
starts, what the address space looks like then and at exit, and what the
first ``fmt.Println`` costs the allocator. Most come from the events every
``--events`` run has (``emulator.goruntime``, ``emulator.calls``):

    GoEvent "phase"                               -> phases
    GoEvent "init"                                -> inits (package by package, in order)
    GoEvent "alloc" {bytes, type, caller}         -> allocations; those between the CallEvents of
                                                     the first fmt.Fprintln from main.main and its
                                                     return -> println_allocations
    GoEvent "gc", "gc-done", "goroutine", "thread" -> gc_cycles, goroutines_created, M numbers
    CallEvent of the bootstrap steps, sysmon,     -> milestones, thread roles
    templateThread, stopm

Two probes (``Machine.add_probe``) cover what no event does, at the moment it
happens: the snapshot when ``main.main`` is entered (threads, memory,
``runtime.allgs``) and ``main.main``'s returns. This module only gathers;
``emulator.explain`` renders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from emulator import api, goabi
from emulator.disasm import Binary, disassemble_range
from emulator.events import CallEvent, Event, GoEvent, SyscallEvent
from emulator.machine import Machine
from emulator.threads import Thread
from syscalls.abi import read_u32, read_u64
from syscalls.outcome import FutexWait, Sleep

# Functions whose first entry marks a step of the bootstrap (rt0_go's calls, in order).
BOOTSTRAP = (
    "runtime.rt0_go",
    "runtime.check",
    "runtime.args",
    "runtime.osinit",
    "runtime.schedinit",
    "runtime.newproc",
    "runtime.mstart",
    "runtime.main",
    "runtime.gcenable",
    "main.main",
)
# What a thread is for, from the first of these functions it enters.
ROLES = {
    "runtime.sysmon": "sysmon",
    "runtime.templateThread": "template thread",
    "runtime.stopm": "idle M: parked in stopm until there is work",
}
PRINTLN = ("fmt.Println", "fmt.Fprintln")  # Println is inlined: main.main calls Fprintln
# The call path explain records: few functions, each entered a handful of times.
CALLS = (*BOOTSTRAP, *ROLES, *PRINTLN)


@dataclass(frozen=True)
class Milestone:
    function: str
    instructions: int  # guest instructions executed (all threads) at its first entry
    tid: int


@dataclass(frozen=True)
class Phase:
    name: str
    start: int
    end: int

    @property
    def instructions(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class ThreadFact:
    tid: int
    role: str
    state: str  # what it is doing when main.main starts
    altstack: tuple[int, int]  # (base, size) of its signal stack, (0, 0) if none
    m: int | None = None  # the runtime's M number (m0 for the first thread), from the thread events


@dataclass(frozen=True)
class GoroutineFact:
    goid: int
    status: str
    start_function: str
    stack_lo: int
    stack_hi: int
    wait_reason: str = ""  # runtime.waitReasonStrings[g.waitreason] for a waiting goroutine

    @property
    def stack_size(self) -> int:
        return self.stack_hi - self.stack_lo


@dataclass(frozen=True)
class Mapping:
    start: int
    end: int
    perms: str
    name: str

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Allocation:
    size: int
    type_name: str  # "" when the allocation is untyped (byte buffers)
    caller: str


@dataclass(frozen=True)
class PackageInit:
    """One package's init task: its init functions, run when doInit1 was entered."""

    package: str
    functions: list[str]
    instructions: int
    tid: int


@dataclass
class RunFacts:
    """Everything explain reports that only running the program can tell."""

    exit_status: int
    stdout: bytes
    stderr: bytes
    instructions: int
    threads_created: int
    syscalls: list[SyscallEvent]
    milestones: list[Milestone]
    inits: list[PackageInit]  # every package's init task, the runtime's own first, in the order they ran
    phases: list[Phase]
    main_tid: int | None = None
    threads_at_main: list[ThreadFact] = field(default_factory=list)
    goroutines_at_main: list[GoroutineFact] | None = None
    goroutines_note: str = ""
    memory_at_main: list[Mapping] = field(default_factory=list)
    memory_at_exit: list[Mapping] = field(default_factory=list)
    println_calls: int = 0  # fmt.Fprintln calls made from main.main
    println_allocations: list[Allocation] = field(default_factory=list)
    allocations: int = 0  # runtime.mallocgc calls in the whole run
    allocated_bytes: int = 0
    gc_cycles: int = 0  # runtime.gcStart calls
    goroutines_created: int = 0  # runtime.newproc1 calls: every goroutine but g0s and gsignals
    committed_bytes: int = 0

    @property
    def package_inits(self) -> list[PackageInit]:
        """The init tasks run after the runtime's own (in the package-init phase): the program's."""
        start = next((p.start for p in self.phases if p.name.startswith("package inits")), None)
        return [p for p in self.inits if start is not None and p.instructions >= start]


@dataclass
class _AtMain:
    """The snapshot taken when main.main is first entered."""

    tid: int
    threads: list[ThreadFact]  # roles are filled in at the end, from the call events
    memory: list[Mapping]
    goroutines: list[GoroutineFact] | str  # or why they could not be read


class _MainProbes:
    """The two probes no event replaces: main.main's entry (a snapshot of that moment) and returns."""

    def __init__(self, binary: Binary, machine: Machine) -> None:
        self.binary = binary
        self.machine = machine
        self.main_returned: int | None = None
        self.at_main: _AtMain | None = None

    def install(self) -> None:
        sym = self.binary.functions.sized("main.main")
        if sym is None:
            return
        self.machine.add_probe(sym.addr, self._main_entered)
        listing = disassemble_range(self.binary, sym.name, sym.addr, sym.addr + sym.size)
        for insn in listing.instructions:
            if insn.mnemonic == "ret":
                self.machine.add_probe(insn.address, self._main_returning)

    def _main_entered(self, thread: Thread) -> None:
        if self.at_main is not None:
            return
        self.at_main = _AtMain(
            tid=thread.tid,
            threads=[
                ThreadFact(t.tid, "", "running main.main" if t is thread else _doing(t), _altstack(t))
                for t in sorted(self.machine.scheduler.threads.values(), key=lambda t: t.tid)
            ],
            memory=snapshot(self.machine),
            goroutines=goroutines(self.binary, self.machine),
        )

    def _main_returning(self, _thread: Thread) -> None:
        self.main_returned = self.machine.cpu.instructions


def goroutines(binary: Binary, machine: Machine) -> list[GoroutineFact] | str:
    """Every g in runtime.allgs, or why they cannot be read."""
    allgs = allgs_address(binary)
    layout = goabi.layout_for(binary.image.go_version)
    if allgs is None:
        return "runtime.allgs not found (no symbol, and runtime.allgadd does not show it)"
    if layout is None:
        return f"no runtime.g layout known for {binary.image.go_version}"
    mem = machine.mem
    ptr, length, capacity = (read_u64(mem, allgs + 8 * i) for i in range(3))
    if not 0 < length <= capacity < 1 << 20:
        return f"runtime.allgs at {allgs:#x} does not hold a slice"
    found = []
    for i in range(length):
        g = read_u64(mem, ptr + 8 * i)
        lo, hi = read_u64(mem, g + layout.g_stack_lo), read_u64(mem, g + layout.g_stack_hi)
        status = read_u32(mem, g + layout.g_atomicstatus)
        goid, startpc = read_u64(mem, g + layout.g_goid), read_u64(mem, g + layout.g_startpc)
        start = binary.functions.lookup(startpc) if startpc else None
        name = binary.functions.display_name(start[0]) if start else "runtime.main"
        state = goabi.G_STATUS.get(status & ~goabi.G_SCAN, f"status {status}")
        reason = mem.read(g + layout.g_waitreason, 1)[0] if state == "waiting" else 0
        found.append(GoroutineFact(goid, state, name, lo, hi, _wait_reason(binary, machine, reason)))
    return found


def _wait_reason(binary: Binary, machine: Machine, reason: int) -> str:
    """The text Go prints for a waitReason (needs runtime.waitReasonStrings: not when stripped)."""
    table = binary.data_symbol("runtime.waitReasonStrings")
    if not reason or table is None or 16 * (reason + 1) > table.size:
        return ""
    return _string_at(machine.mem, table.addr + 16 * reason)


def _string_at(mem, addr: int) -> str:
    """The Go string whose header {ptr, len} is at ``addr``."""
    ptr, length = read_u64(mem, addr), read_u64(mem, addr + 8)
    return mem.read(ptr, length).decode("utf-8", "replace") if 0 < length < 256 else ""


def allgs_address(binary: Binary) -> int | None:
    """Where the slice runtime.allgs lives: its symbol, else (stripped) the one data address
    whose pointer, length and capacity words runtime.allgadd all loads (append reads all three)."""
    sym = binary.data_symbol("runtime.allgs")
    if sym is not None:
        return sym.addr
    sym = binary.functions.sized("runtime.allgadd")
    if sym is None:
        return None
    listing = disassemble_range(binary, sym.name, sym.addr, sym.addr + sym.size)
    loaded = {i.data for i in listing.instructions if i.mnemonic == "mov" and i.data is not None}
    found = [a for a in sorted(loaded) if a + 8 in loaded and a + 16 in loaded]
    return found[0] if len(found) == 1 else None


def _doing(thread: Thread) -> str:
    """What a thread is blocked in, as a Go engineer would name it."""
    if thread.wait is None:
        return thread.state.value
    if isinstance(thread.wait, FutexWait):
        return f"futex wait on {thread.wait.addr:#x}"
    if isinstance(thread.wait, Sleep):
        return "nanosleep"
    return thread.wait.describe()


def _altstack(thread: Thread) -> tuple[int, int]:
    sp, flags, size = thread.altstack
    return (0, 0) if flags & 2 else (sp, size)  # SS_DISABLE


def snapshot(machine: Machine) -> list[Mapping]:
    """The address space as /proc/self/maps would list it."""
    return [Mapping(v.start, v.end, v.perms(), v.name) for v in machine.mem.vmas]


def gather(binary: Binary, args: Sequence[str], *, seed: int = 0) -> RunFacts:
    """Run the program once, exactly as ``api.run`` runs it with ``--calls``, and collect the facts."""
    probes: list[_MainProbes] = []

    def prepare(machine: Machine) -> None:
        probes.append(_MainProbes(binary, machine))
        probes[0].install()

    result = api.run(binary.path, args, seed=seed, calls=CALLS, prepare=prepare)
    probe = probes[0]
    events = result.events
    go = [e for e in events if type(e) is GoEvent]
    calls = [e for e in events if type(e) is CallEvent]
    allocs = [e for e in go if e.kind == "alloc"]
    println_calls, window = _println(events)
    total = result.stats.instructions
    facts = RunFacts(
        exit_status=result.exit_status,
        stdout=result.stdout,
        stderr=result.stderr,
        instructions=total,
        threads_created=result.stats.threads,
        syscalls=result.syscalls,
        milestones=_milestones(binary, calls),
        inits=[
            PackageInit(str(e.details["package"]), list(e.details["functions"]), e.instructions, e.tid)
            for e in go
            if e.kind == "init"
        ],
        phases=_phases(go, probe.main_returned, total),
        memory_at_exit=snapshot(probe.machine),
        println_calls=println_calls,
        println_allocations=[
            Allocation(int(e.details["bytes"]), str(e.details["type"]), str(e.details["caller"]))
            for e in window
        ],
        allocations=len(allocs),
        allocated_bytes=sum(int(e.details["bytes"]) for e in allocs),
        gc_cycles=_gc_cycles(go),
        goroutines_created=sum(e.kind == "goroutine" for e in go),
        committed_bytes=result.stats.committed_bytes,
    )
    at_main = probe.at_main
    if at_main is not None:
        facts.main_tid = at_main.tid
        first_tid = min(t.tid for t in at_main.threads)
        roles = _roles(calls)
        roles[at_main.tid] = "runs main.main (goroutine 1)"
        m_of = {e.details["tid"]: e.details["m"] for e in go if e.kind == "thread"} | {first_tid: 0}
        facts.threads_at_main = [
            ThreadFact(t.tid, _role_of(t.tid, first_tid, roles), t.state, t.altstack, m_of.get(t.tid))
            for t in at_main.threads
        ]
        facts.memory_at_main = at_main.memory
        if isinstance(at_main.goroutines, str):
            facts.goroutines_note = at_main.goroutines
        else:
            facts.goroutines_at_main = at_main.goroutines
    return facts


def _milestones(binary: Binary, calls: list[CallEvent]) -> list[Milestone]:
    """The first entry of each bootstrap step, in the order they ran.

    Only the function the name resolves to: a stripped binary's pclntab names an ABI wrapper
    (``runtime.check`` called from assembly) like the function it calls, and both are recorded."""
    entry = {name: binary.functions.address_of(name) for name in BOOTSTRAP}
    first: dict[str, Milestone] = {}
    for e in calls:
        if e.kind == "call" and entry.get(e.function) == e.pc and e.function not in first:
            first[e.function] = Milestone(e.function, e.instructions, e.tid)
    return sorted(first.values(), key=lambda m: m.instructions)


def _roles(calls: list[CallEvent]) -> dict[int, str]:
    """tid -> the role of the first ROLES function it entered."""
    roles: dict[int, str] = {}
    for e in calls:
        if e.kind == "call" and e.function in ROLES:
            roles.setdefault(e.tid, ROLES[e.function])
    return roles


def _println(events: list[Event]) -> tuple[int, list[GoEvent]]:
    """(fmt.Fprintln calls made from main.main, the alloc events inside the first of them).

    A call is main.main's when main.main is the innermost real frame open on its thread (the
    inlined fmt.Println may sit between); its allocations are those between the call event and
    its return event on that thread (a return is seen before anything entered after it)."""
    open_frames: dict[int, list[CallEvent]] = {}
    count, window, inside = 0, [], None
    for e in events:
        if type(e) is CallEvent:
            frames = open_frames.setdefault(e.tid, [])
            if e.kind == "call":
                caller = next((f.function for f in reversed(frames) if not f.inlined), None)
                if e.function == "fmt.Fprintln" and caller == "main.main":
                    count += 1
                    if count == 1:
                        inside = e
                frames.append(e)
            else:
                while frames and frames[-1].depth >= e.depth:
                    frames.pop()
                if inside is not None and (e.tid, e.function, e.depth) == (
                    inside.tid,
                    inside.function,
                    inside.depth,
                ):
                    inside = None
        elif inside is not None and type(e) is GoEvent and e.kind == "alloc" and e.tid == inside.tid:
            window.append(e)
    return count, window


def _role_of(tid: int, first_tid: int, roles: dict[int, str]) -> str:
    role = roles.get(tid, "")
    if tid == first_tid:
        role = "m0, the process's first thread" + (f"; {role}" if role else "")
    return role or "M (worker thread)"


# explain's names for the runtime's phases (emulator.goruntime.PHASES), and where each begins.
PHASE_NAMES = {
    "bootstrap": "bootstrap (rt0_go, schedinit, mstart)",
    "runtime-init": "runtime init (runtime.main, runtime's own inits)",
    "package-init": "package inits",
    "main": "main.main",
}


def _phases(go: list[GoEvent], main_returned: int | None, total: int) -> list[Phase]:
    """bootstrap -> runtime.main -> package inits -> main.main -> its return -> exit, as far as seen.

    The phase events mark the starts; the last one ends where main.main returned (a probe: the
    runtime's exit phase starts later, at runtime.exit, and also after a fatal panic)."""
    marks = [
        (PHASE_NAMES[e.details["phase"]], e.instructions)
        for e in go
        if e.kind == "phase" and e.details["phase"] in PHASE_NAMES
    ]
    if main_returned is not None:
        marks.append(("exit (main.main returned)", main_returned))
    elif marks and marks[-1][0] == "main.main":  # os.Exit, a fatal panic or signal: it ended inside
        marks[-1] = ("main.main (never returned: the process ended inside it)", marks[-1][1])
    return [
        Phase(name, start, end)
        for (name, start), (_, end) in zip(marks, [*marks[1:], ("", total)], strict=True)
    ]


def _gc_cycles(go: list[GoEvent]) -> int:
    """Cycles that ended (gc-done), plus one still marking at exit: gcStart is called again while a
    cycle runs (and returns at once), so its requests overcount."""
    cycles, running = 0, False
    for e in go:
        if e.kind == "gc":
            running = True
        elif e.kind == "gc-done":
            cycles, running = cycles + 1, False
    return cycles + running
