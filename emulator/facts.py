"""Facts of one run of a Go program, measured by probes on runtime functions.

``explain`` needs a few dynamic facts besides the syscalls: when each phase of
the start-up begins, which threads and goroutines exist when ``main.main``
starts, what the address space looks like then and at exit, and what the
first ``fmt.Println`` costs the allocator. Each comes from a probe
(``Machine.add_probe``) on one runtime function, costing nothing elsewhere.
The probes live here, apart from the report (``emulator.explain``), so that
they can be swapped for the shared Go runtime events without touching it:

    GoEvent "phase" (runtime.main, inits, main.main, exit)  -> RunFacts.milestones / phases
    GoEvent "init"                                          -> RunFacts.inits
    GoEvent "alloc" (size, type, caller)                    -> allocations, println_allocations
    GoEvent "gc"                                            -> gc_cycles
    GoEvent "goroutine" / "thread"                          -> goroutines_at_main, thread roles

The snapshot at main.main (threads, memory, runtime.allgs) and the Fprintln
call/return sites stay probes of their own.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from emulator import api
from emulator.disasm import Binary, disassemble_range
from emulator.events import SyscallEvent
from emulator.machine import Machine
from emulator.threads import Thread
from syscalls.outcome import FutexWait, Sleep

# Offsets in runtime.g (amd64) of the fields we read, by Go minor version, computed from
# runtime/runtime2.go and checked against the DWARF of the fixtures (tests/test_explain.py).
# gobuf lost its ret word in 1.25 while g gained syscallbp in 1.23 and more fields in 1.26.
G_OFFSETS: dict[tuple[int, int], dict[str, int]] = {
    (1, 21): {"atomicstatus": 144, "goid": 152, "waitreason": 176, "startpc": 296},
    (1, 22): {"atomicstatus": 144, "goid": 152, "waitreason": 176, "startpc": 296},
    (1, 23): {"atomicstatus": 152, "goid": 160, "waitreason": 184, "startpc": 304},
    (1, 24): {"atomicstatus": 152, "goid": 160, "waitreason": 184, "startpc": 304},
    (1, 25): {"atomicstatus": 144, "goid": 152, "waitreason": 176, "startpc": 296},
    (1, 26): {"atomicstatus": 144, "goid": 152, "waitreason": 176, "startpc": 304},
    (1, 27): {"atomicstatus": 144, "goid": 152, "waitreason": 176, "startpc": 304},
}
G_STATUS = {
    0: "idle",
    1: "runnable",
    2: "running",
    3: "syscall",
    4: "waiting",
    6: "dead",
    8: "copystack",
    9: "preempted",
}
_G_SCAN = 0x1000

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
# A package's init function: "os.init", "runtime.init.0", "internal/poll.init" (not methods named init).
_INIT = re.compile(r"^(?:[^./()*]+/)*[^./()*]+\.init(\.\d+)?$")


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
    inits: list[Milestone]  # package init functions, in the order they ran
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
    gc_cycles: int = 0
    committed_bytes: int = 0

    @property
    def package_inits(self) -> list[Milestone]:
        """The init functions run after the runtime's own (after gcenable): the program's packages'."""
        enabled = next((m for m in self.milestones if m.function == "runtime.gcenable"), None)
        return [m for m in self.inits if enabled is not None and m.instructions >= enabled.instructions]


def g_offsets(go_version: str | None) -> dict[str, int] | None:
    """The runtime.g field offsets for ``go1.27.3`` or ``1.27.3``, if we know that version."""
    match = re.match(r"(?:go)?(\d+)\.(\d+)", go_version or "")
    return G_OFFSETS.get((int(match.group(1)), int(match.group(2)))) if match else None


@dataclass
class _AtMain:
    """The snapshot taken when main.main is first entered."""

    tid: int
    threads: list[ThreadFact]  # roles are filled in at the end, when every probe has spoken
    memory: list[Mapping]
    goroutines: list[GoroutineFact] | str  # or why they could not be read


class _Observer:
    """The probes of one run and what they saw."""

    def __init__(self, binary: Binary, machine: Machine) -> None:
        self.binary = binary
        self.machine = machine
        self.first: dict[str, Milestone] = {}
        self.inits: list[Milestone] = []
        self.roles: dict[int, str] = {}
        self.main_returned: int | None = None
        self.at_main: _AtMain | None = None
        self.in_println: set[int] = set()
        self.println_calls = 0
        self.println_allocations: list[Allocation] = []
        self.allocations = 0
        self.allocated_bytes = 0
        self.gc_cycles = 0

    def now(self) -> int:
        return self.machine.cpu.instructions

    def install(self) -> None:
        funcs = self.binary.functions
        for name in BOOTSTRAP:
            addr = funcs.address_of(name)
            if addr is not None:
                self.machine.add_probe(addr, self._first_entry(name))
        main = funcs.address_of("main.main")
        if main is not None:
            self.machine.add_probe(main, self._main_entered)
            self._probe_main_body(main)
        for sym in funcs:
            name = funcs.display_name(sym.name)
            if _INIT.search(name) and sym.size:
                self.machine.add_probe(sym.addr, self._init_entered(name))
        for name, callback in (
            ("runtime.sysmon", self._role("sysmon")),
            ("runtime.templateThread", self._role("template thread")),
            ("runtime.stopm", self._role("idle M: parked in stopm until there is work")),
            ("runtime.mallocgc", self._malloc),
            ("runtime.gcMarkTermination", self._gc_cycle),
        ):
            addr = funcs.address_of(name)
            if addr is not None:
                self.machine.add_probe(addr, callback)

    def _probe_main_body(self, main: int) -> None:
        """Probes on main.main's returns and around its calls of fmt.Fprintln (Println inlined)."""
        funcs = self.binary.functions
        sym = next((s for s in funcs if s.addr == main and s.size), None)
        if sym is None:
            return
        fprintln = funcs.address_of("fmt.Fprintln")
        listing = disassemble_range(self.binary, sym.name, sym.addr, sym.addr + sym.size)
        for insn in listing.instructions:
            if insn.mnemonic == "ret":
                self.machine.add_probe(insn.address, self._main_returning)
            elif insn.mnemonic == "call" and fprintln is not None and insn.operands == "fmt.Fprintln":
                self.machine.add_probe(insn.address, self._println_call)
                self.machine.add_probe(insn.address + len(insn.raw), self._println_return)

    # -- callbacks -------------------------------------------------------------

    def _first_entry(self, name: str):
        def entered(thread: Thread) -> None:
            if name not in self.first:
                self.first[name] = Milestone(name, self.now(), thread.tid)

        return entered

    def _init_entered(self, name: str):
        def entered(thread: Thread) -> None:
            self.inits.append(Milestone(name, self.now(), thread.tid))

        return entered

    def _role(self, role: str):
        def entered(thread: Thread) -> None:
            self.roles.setdefault(thread.tid, role)

        return entered

    def _main_entered(self, thread: Thread) -> None:
        if self.at_main is not None:
            return
        self.roles[thread.tid] = "runs main.main (goroutine 1)"
        self.at_main = _AtMain(
            tid=thread.tid,
            threads=[
                ThreadFact(t.tid, "", "running main.main" if t is thread else _doing(t), _altstack(t))
                for t in sorted(self.machine.scheduler.threads.values(), key=lambda t: t.tid)
            ],
            memory=snapshot(self.machine),
            goroutines=self._goroutines(),
        )

    def _main_returning(self, _thread: Thread) -> None:
        self.main_returned = self.now()

    def _println_call(self, thread: Thread) -> None:
        self.println_calls += 1
        if self.println_calls == 1:
            self.in_println.add(thread.tid)

    def _println_return(self, thread: Thread) -> None:
        self.in_println.discard(thread.tid)

    def _malloc(self, thread: Thread) -> None:
        regs = self.machine.cpu.registers()
        size = regs["rax"]  # mallocgc(size uintptr, typ *_type, needzero bool): Go's register ABI
        self.allocations += 1
        self.allocated_bytes += size
        if thread.tid in self.in_println:
            type_name = self.binary.type_name(regs["rbx"]) if regs["rbx"] else None
            ret = struct.unpack("<Q", self.machine.mem.read(regs["rsp"], 8))[0]
            caller = self.binary.functions.lookup(ret)
            caller_name = self.binary.functions.display_name(caller[0]) if caller else "?"
            self.println_allocations.append(Allocation(size, type_name or "", caller_name))

    def _wait_reason(self, reason: int) -> str:
        """The text Go prints for a waitReason (needs runtime.waitReasonStrings: not when stripped)."""
        table = self.binary.data_symbol("runtime.waitReasonStrings")
        if not reason or table is None or 16 * (reason + 1) > table.size:
            return ""
        return _string_at(self.machine.mem, table.addr + 16 * reason)

    def _gc_cycle(self, _thread: Thread) -> None:
        self.gc_cycles += 1

    # -- reading the runtime's memory ----------------------------------------------

    def _goroutines(self) -> list[GoroutineFact] | str:
        """Every g in runtime.allgs, or why they cannot be read."""
        allgs = allgs_address(self.binary)
        offsets = g_offsets(self.binary.image.go_version)
        if allgs is None:
            return "runtime.allgs not found (no symbol, and runtime.allgadd does not show it)"
        if offsets is None:
            return f"no runtime.g layout known for {self.binary.image.go_version}"
        mem = self.machine.mem
        ptr, length, capacity = struct.unpack("<QQQ", mem.read(allgs, 24))
        if not 0 < length <= capacity < 1 << 20:
            return f"runtime.allgs at {allgs:#x} does not hold a slice"
        found = []
        for i in range(length):
            (g,) = struct.unpack("<Q", mem.read(ptr + 8 * i, 8))
            lo, hi = struct.unpack("<QQ", mem.read(g, 16))
            (status,) = struct.unpack("<I", mem.read(g + offsets["atomicstatus"], 4))
            (goid,) = struct.unpack("<Q", mem.read(g + offsets["goid"], 8))
            (startpc,) = struct.unpack("<Q", mem.read(g + offsets["startpc"], 8))
            start = self.binary.functions.lookup(startpc) if startpc else None
            name = self.binary.functions.display_name(start[0]) if start else "runtime.main"
            state = G_STATUS.get(status & ~_G_SCAN, f"status {status}")
            reason = mem.read(g + offsets["waitreason"], 1)[0] if state == "waiting" else 0
            found.append(GoroutineFact(goid, state, name, lo, hi, self._wait_reason(reason)))
        return found


def _string_at(mem, addr: int) -> str:
    """The Go string whose header {ptr, len} is at ``addr``."""
    ptr, length = struct.unpack("<QQ", mem.read(addr, 16))
    return mem.read(ptr, length).decode("utf-8", "replace") if 0 < length < 256 else ""


def allgs_address(binary: Binary) -> int | None:
    """Where the slice runtime.allgs lives: its symbol, else (stripped) the one data address
    whose pointer, length and capacity words runtime.allgadd all loads (append reads all three)."""
    sym = binary.data_symbol("runtime.allgs")
    if sym is not None:
        return sym.addr
    addr = binary.functions.address_of("runtime.allgadd")
    sym = next((s for s in binary.functions if s.addr == addr and s.size), None) if addr else None
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
    """Run the program once under the probes, exactly as ``api.run`` runs it, and collect the facts."""
    observers: list[_Observer] = []

    def prepare(machine: Machine) -> None:
        observers.append(_Observer(binary, machine))
        observers[0].install()

    result = api.run(binary.path, args, seed=seed, prepare=prepare)
    observer = observers[0]
    machine = observer.machine
    total = result.stats.instructions
    facts = RunFacts(
        exit_status=result.exit_status,
        stdout=result.stdout,
        stderr=result.stderr,
        instructions=total,
        threads_created=result.stats.threads,
        syscalls=result.syscalls,
        milestones=sorted(observer.first.values(), key=lambda m: m.instructions),
        inits=observer.inits,
        phases=_phases(observer, total),
        memory_at_exit=snapshot(machine),
        println_calls=observer.println_calls,
        println_allocations=observer.println_allocations,
        allocations=observer.allocations,
        allocated_bytes=observer.allocated_bytes,
        gc_cycles=observer.gc_cycles,
        committed_bytes=result.stats.committed_bytes,
    )
    at_main = observer.at_main
    if at_main is not None:
        facts.main_tid = at_main.tid
        first_tid = min(t.tid for t in at_main.threads)
        facts.threads_at_main = [
            ThreadFact(t.tid, _role_of(t.tid, first_tid, observer.roles), t.state, t.altstack)
            for t in at_main.threads
        ]
        facts.memory_at_main = at_main.memory
        if isinstance(at_main.goroutines, str):
            facts.goroutines_note = at_main.goroutines
        else:
            facts.goroutines_at_main = at_main.goroutines
    return facts


def _role_of(tid: int, first_tid: int, roles: dict[int, str]) -> str:
    role = roles.get(tid, "")
    if tid == first_tid:
        role = "m0, the process's first thread" + (f"; {role}" if role else "")
    return role or "M (worker thread)"


def _phases(observer: _Observer, total: int) -> list[Phase]:
    """entry -> runtime.main -> package inits -> main.main -> its return -> exit, as far as seen."""
    first = observer.first
    marks: list[tuple[str, int]] = [("bootstrap (rt0_go, schedinit, mstart)", 0)]
    if "runtime.main" in first:
        marks.append(("runtime init (runtime.main, runtime's own inits)", first["runtime.main"].instructions))
    enabled = first.get("runtime.gcenable")
    package_inits = [
        m for m in observer.inits if enabled is not None and m.instructions >= enabled.instructions
    ]
    if package_inits:
        marks.append(("package inits", package_inits[0].instructions))
    if "main.main" in first:
        marks.append(("main.main", first["main.main"].instructions))
    if observer.main_returned is not None:
        marks.append(("exit (main.main returned)", observer.main_returned))
    elif "main.main" in first:  # os.Exit, a fatal panic or signal: the process ended inside main.main
        marks[-1] = ("main.main (never returned: the process ended inside it)", marks[-1][1])
    phases = []
    for (name, start), nxt in zip(marks, [*marks[1:], ("", total)], strict=True):
        phases.append(Phase(name, start, nxt[1]))
    return phases
