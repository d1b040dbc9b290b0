"""The machine: one CPU, one address space, the guest's threads, and the kernel.

Data flows one way: a loaded ``Image`` is mapped into the ``AddressSpace``,
the CPU runs the scheduled thread until it makes a syscall that blocks, exits
or yields, or until its slice of instructions is used up; syscalls go to the
``Kernel`` (the Linux personality in ``syscalls/``); what happens is emitted
as events to the sinks.
"""

from __future__ import annotations

import functools
import itertools
import operator
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from unicorn import UC_ERR_INSN_INVALID, UcError
from unicorn import x86_const as x86

from emulator import exitcodes, vdso
from emulator.clock import VirtualClock
from emulator.cpu import CPUID_LEAVES, Cpu
from emulator.events import Event, ExitEvent, SignalEvent, SyscallEvent, ThreadEvent
from emulator.futex import FutexTable
from emulator.limits import Limits, Watchdog
from emulator.memory import (
    MMAP_BASE,
    PROT_EXEC,
    PROT_READ,
    AddressSpace,
    MemoryLimitReached,
    page_down,
    page_up,
)
from emulator.reports import (
    MEMORY_ERRORS,
    FaultReport,
    describe_deadlock,
    describe_fault,
    describe_stop,
)
from emulator.scheduler import QUANTUM, Deadlock, Scheduler
from emulator.threads import Thread, ThreadState
from loader import Image, Segment, build_initial_stack
from syscalls.abi import BadAddress, write_u32
from syscalls.capture import Entry, Recorded, capture_entry
from syscalls.errno import EINTR
from syscalls.flags import render_signal
from syscalls.kernel import Kernel, KernelConfig
from syscalls.kinds import Call
from syscalls.outcome import Block, ExitGroup, ExitThread, FutexWait, ObjectWait, RestoreContext, Yield
from syscalls.sigframe import (
    FPE_INTDIV,
    ILL_ILLOPN,
    SA_NODEFER,
    SA_RESETHAND,
    SA_RESTART,
    SA_RESTORER,
    SEGV_ACCERR,
    SEGV_MAPERR,
    SIG_DFL,
    SIG_IGN,
    SignalInfo,
    Trap,
    UserContext,
    build_frame,
)
from syscalls.table import decode_args, lookup
from syscalls.vfs import FsConfig

STACK_TOP = 0x7FFF_FFFF_F000
STACK_SIZE = 8 << 20
# The vDSO atop the mmap area, the first thing Linux maps there (without ASLR: 0x7ffff7ff7000);
# its data pages below it, where its code expects them.
VDSO_ADDR = MMAP_BASE - vdso.VDSO_SIZE
VVAR_ADDR = VDSO_ADDR + vdso.VVAR_FROM_VDSO
SYSCALL_INSN_LEN = 2
RECENT_SYSCALLS = 16  # kept for reports even when the run records nothing
SIGSEGV, SIGILL, SIGTRAP, SIGFPE, SIGBUS, SIGXFSZ = 11, 4, 5, 8, 7, 25
# CPU exception vector -> the signal Linux sends for it.
_VECTOR_SIGNALS = {
    0: SIGFPE,
    1: SIGTRAP,
    3: SIGTRAP,
    4: SIGSEGV,
    5: SIGSEGV,
    6: SIGILL,
    13: SIGSEGV,
    14: SIGSEGV,
    16: SIGFPE,
    17: SIGBUS,
    19: SIGFPE,
}
SI_KERNEL = 0x80
RT_SIGRETURN = 15
# Page-fault error code bits (the sigcontext's ``err``), as the CPU pushes them.
PF_PROT, PF_WRITE, PF_USER, PF_INSTR = 1, 2, 4, 16
PAGE_FAULT_VECTOR, INVALID_OPCODE_VECTOR = 14, 6


class ImageDoesNotFit(ValueError):
    """The binary cannot even be loaded under the memory limit: a usage error, not a guest's ENOMEM."""


@dataclass
class RunConfig:
    """Everything that defines a run besides the binary: same config, same trace."""

    argv: list[str]
    env: list[str]
    seed: int = 0
    cpus: int = 1
    limits: Limits = field(default_factory=Limits)
    record_syscalls: bool = False  # decode arguments and keep every SyscallEvent
    vdso: bool = True  # map a vDSO, so clock_gettime and friends are calls, not syscalls (as natively)
    catch_interrupt: bool = (
        True  # Ctrl-C stops the guest cleanly (outcome "interrupted") when run in the main thread
    )
    bundle_dir: str | None = None  # where an internal error's reproducer goes (default: the temp directory)
    filesystem: FsConfig = field(default_factory=FsConfig)  # what of the host the guest sees


@dataclass
class Outcome:
    """How a run ended."""

    status: int  # what the emulator exits with: the guest's status, 128+signal, or ours
    # "exit", "signal", "deadlock", "instruction-budget", "timeout", "interrupted", "internal-error"
    reason: str
    signal: int | None = None
    report: str = ""
    bundle: str | None = None  # an internal error's reproducer directory


@dataclass
class Console:
    """Where guest fds 0-2 lead: host fds, or buffers for the Python API."""

    write_fd: Callable[[int, bytes], None]
    read_fd: Callable[[int, int], bytes]

    def write(self, fd: int, data: bytes) -> int:
        self.write_fd(fd, data)
        return len(data)

    def read(self, fd: int, size: int) -> bytes:
        return self.read_fd(fd, size)


def host_console() -> Console:
    """Guest stdout/stderr straight to ours, unbuffered and in order."""

    def write_fd(fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(fd, view) :]
            except BrokenPipeError:
                return

    return Console(write_fd, lambda fd, size: os.read(fd, size))


@dataclass
class Stats:
    instructions: int = 0
    blocks: int = 0
    threads: int = 0
    syscalls: int = 0
    emulation_seconds: float = 0.0
    regions: int = 0
    committed_bytes: int = 0
    by_syscall: dict[str, int] = field(default_factory=dict)


class Machine:
    """A loaded guest, ready to run once."""

    def __init__(
        self,
        image: Image,
        config: RunConfig,
        console: Console | None = None,
        sinks: list[Callable[[Event], None]] | None = None,
    ) -> None:
        self.image = image
        self.config = config
        self.sinks = tuple(sinks or ())  # fixed for the run: emit is built from them
        # emit(event): send an event to every sink, the machine's own and observers' in one order.
        # Every syscall, call and allocation goes through it: one sink is called directly.
        self.emit: Callable[[Event], None] = self.sinks[0] if len(self.sinks) == 1 else self._fan_out
        self.cpu = Cpu(self._on_syscall)
        self.mem = AddressSpace(self.cpu.uc, config.limits.memory, self.cpu.read_memory)
        self.clock = VirtualClock(lambda: self.cpu.work.instructions, on_jump=self._publish_time)
        self.vdso_base: int | None = None  # where the vDSO is mapped, if it is
        self.scheduler = Scheduler()
        self.futexes = FutexTable()
        self._object_waiters: dict[object, list[Thread]] = {}
        self.kernel = Kernel(
            KernelConfig(
                seed=config.seed,
                cpus=config.cpus,
                argv=[os.fsencode(a) for a in config.argv],
                envp=[os.fsencode(e) for e in config.env],
                exe_path=os.path.abspath(image.path),
                limits=config.limits.guest(),
                filesystem=config.filesystem,
            ),
            self.mem,
            self.clock,
            self,
            console or host_console(),
        )
        self.stats = Stats()
        self.syscall_events: list[SyscallEvent] = []
        # the last syscalls for reports: events when recording, else raw (instructions, tid, nr, args, result)
        self._recent: deque[SyscallEvent | tuple[int, int, int, list[int], int | None]] = deque(
            maxlen=RECENT_SYSCALLS
        )
        self.watchdog = Watchdog(self.cpu.request_stop, config.limits.timeout, config.catch_interrupt)
        self._seq = 0
        self._next_tid = self.kernel.config.pid
        # tid -> (nr, args, decoded entry) of a syscall that blocked, recorded when it finishes
        self._pending: dict[int, tuple[int, list[int], Entry]] = {}
        self._exit_group: int | None = None
        self._last_status = 0
        self._stop_cpu = False
        self._signal_self = False  # the last syscall made a signal of the caller's deliverable
        self._restore: UserContext | None = None  # set by rt_sigreturn, applied once the CPU stops
        self._pause_hooks: list[Callable[[int, bool], None]] = []
        self._finish_hooks: list[Callable[[], None]] = []
        self._clone_hooks: list[Callable[[int, int], None]] = []
        try:
            self.current = self._load()
        except MemoryLimitReached as e:
            self.close()
            raise ImageDoesNotFit(
                f"{os.path.basename(image.path)} does not fit in --memory-limit {config.limits.memory}: "
                "its segments and initial stack need more"
            ) from e

    # -- loading -----------------------------------------------------------

    def _load(self) -> Thread:
        """Map the image and the initial stack; return the main thread at the entry point."""
        for start, end, prot in _runs(self.image.segments):
            self.mem.map(start, end - start, prot, self.image.path)
        for seg in self.image.segments:
            self.mem.poke(seg.vaddr, seg.data)
        self.mem.brk_start = self.mem.brk = page_up(max(s.vaddr + s.memsz for s in self.image.segments))

        stack_prot = 7 if self.image.exec_stack else 3
        self.mem.map(STACK_TOP - STACK_SIZE, STACK_SIZE, stack_prot, "[stack]")
        if self.config.vdso:
            self._map_vdso()
        random16 = self.kernel.random.randbytes(16)
        stack = build_initial_stack(
            self.image,
            argv=self.kernel.config.argv,
            envp=self.kernel.config.envp,
            random16=random16,
            stack_top=STACK_TOP,
            execfn=os.fsencode(self.config.argv[0] if self.config.argv else ""),
            hwcap=CPUID_LEAVES[(1, 0)][3],
            uid=self.kernel.config.uid,
            gid=self.kernel.config.gid,
            sysinfo_ehdr=self.vdso_base,
        )
        self.mem.poke(stack.sp, stack.data)
        self.kernel.initial_stack = stack.data  # /proc/self/auxv is read from its copy

        uc = self.cpu.uc
        for reg in (
            x86.UC_X86_REG_RAX,
            x86.UC_X86_REG_RBX,
            x86.UC_X86_REG_RCX,
            x86.UC_X86_REG_RDX,
            x86.UC_X86_REG_RSI,
            x86.UC_X86_REG_RDI,
            x86.UC_X86_REG_RBP,
        ):
            uc.reg_write(reg, 0)
        uc.reg_write(x86.UC_X86_REG_RSP, stack.sp)
        uc.reg_write(x86.UC_X86_REG_RIP, self.image.entry)
        main = Thread(self._allocate_tid(), uc.context_save(), self.image.entry, name=_comm(self.image.path))
        self.scheduler.add(main)
        self.scheduler.pop_runnable()  # main is on the CPU
        self.emit(ThreadEvent(self.cpu.instructions, main.tid, "start", parent=None))
        return main

    def _map_vdso(self) -> None:
        self.mem.map(VVAR_ADDR, vdso.VVAR_SIZE, PROT_READ, "[vvar]")
        self.mem.map(VVAR_ADDR + vdso.VVAR_SIZE, vdso.VCLOCK_SIZE, PROT_READ, "[vvar_vclock]")
        self.mem.map(VDSO_ADDR, vdso.VDSO_SIZE, PROT_READ | PROT_EXEC, "[vdso]")
        self.mem.poke(VDSO_ADDR, vdso.image().data)
        self.vdso_base = VDSO_ADDR
        self._publish_time()

    def _publish_time(self) -> None:
        """Rewrite the vvar page: the vDSO's clocks are the TSC plus these offsets, which move
        only when the clock jumps over a sleep."""
        if self.vdso_base is None:
            return
        offsets = {c: self.clock.tsc_offset(c) for c in vdso.SERVED_CLOCKS}
        self.mem.poke(VVAR_ADDR, vdso.vvar(offsets))

    def _allocate_tid(self) -> int:
        tid = self._next_tid
        self._next_tid += 1
        return tid

    def add_probe(self, address: int, callback: Callable[[Thread], None]) -> None:
        """Call ``callback(thread)`` whenever the guest is about to execute ``address``.

        How observers (the call path, the Go runtime events, ``explain``) see
        function entries: no cost until the probed instruction runs. The
        instruction count at that moment includes the probed block.
        """
        self.cpu.add_probe(address, lambda: callback(self.current))

    def add_pause_hook(self, callback: Callable[[int, bool], None]) -> None:
        """Call ``callback(tid, at_syscall)`` whenever the guest stops to talk to us: at each
        syscall (before it is handled; ``at_syscall`` True) and each time the CPU returns.
        Observers that buffer natively drain there, so what they emit lands in order with the
        syscall and thread events."""
        self._pause_hooks.append(callback)

    def add_clone_hook(self, callback: Callable[[int, int], None]) -> None:
        """Call ``callback(parent_tid, child_tid)`` when a thread is created, before its ThreadEvent."""
        self._clone_hooks.append(callback)

    def add_finish_hook(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once the run is over, before the ExitEvent."""
        self._finish_hooks.append(callback)

    def _pause(self, thread: Thread, at_syscall: bool = False) -> None:
        for hook in self._pause_hooks:
            hook(thread.tid, at_syscall)

    def close(self) -> None:
        """Free what a finished run holds beyond its results: the CPU (see ``Cpu.close``) and the file.

        The machine is a reference cycle (the CPU's hooks, the kernel and the
        clock all point back at it), so otherwise everything waits for Python's
        cycle collector and a loop of runs keeps several dead machines of about
        15 MiB each. Nothing may use the machine afterwards.
        """
        self.mem.detach()
        self.cpu.close()
        del self.image

    # -- the run loop --------------------------------------------------------

    def run(self) -> Outcome:
        started = time.perf_counter()
        try:
            with self.watchdog:
                try:
                    outcome = self._run()
                except Exception as e:  # outside the CPU: in the scheduler, a sink, the run loop
                    outcome = self._internal_error(self.current, e)
                except KeyboardInterrupt:  # a second Ctrl-C, wherever the main thread was
                    outcome = self._stopped(self.current, "interrupted")
        finally:
            self.stats.emulation_seconds = time.perf_counter() - started
            self.stats.instructions = self.cpu.work.instructions
            self.stats.blocks = self.cpu.work.blocks
            self.stats.threads = self.scheduler.created
            self.stats.regions = self.mem.region_count
            self.stats.committed_bytes = self.mem.committed
        for hook in self._finish_hooks:
            hook()
        self.emit(ExitEvent(self.cpu.instructions, outcome.status, outcome.reason, outcome.signal))
        return outcome

    def _run(self) -> Outcome:
        thread = self.current
        while True:
            stop = self.watchdog.check()
            if stop is not None:
                return self._stopped(thread, stop)
            ended = self._deliver_pending(thread)
            if ended is not None:
                return ended
            budget = QUANTUM
            deadline = self.scheduler.next_deadline()
            if deadline is not None:
                budget = min(budget, self.clock.instructions_until(deadline))
            if self.config.limits.instructions is not None:
                left = self.config.limits.instructions - self.cpu.instructions
                if left <= 0:
                    return self._budget_reached(thread)
                budget = min(budget, left)
            self._stop_cpu = False
            self._signal_self = False
            try:
                expired = self.cpu.run(thread.rip, budget)
                if self._pause_hooks:
                    self._pause(thread)
            except UcError as e:
                self._pause(thread)
                if self._deliver_fault(thread, *self._fault_signal(e)):
                    continue
                return self._fault(thread, e)
            except Exception as e:  # raised inside one of our hooks: a bug of ours, not the guest's
                return self._internal_error(thread, e)
            if self.cpu.last_interrupt is not None:
                if self._deliver_fault(thread, *self._exception_signal(self.cpu.last_interrupt)):
                    continue
                return self._exception(thread, self.cpu.last_interrupt)
            if self._restore is not None:
                self.cpu.restore_context(self._restore)
                self._restore = None
                if not expired:  # back from a handler: the rest of the slice is still the thread's
                    thread.rip = self.cpu.rip()
                    continue
            if self._signal_self and not expired:  # delivered at the top, before anyone else runs
                thread.rip = self.cpu.rip()
                continue
            if self._exit_group is not None:
                return Outcome(self._exit_group, "exit")
            if thread.state is not ThreadState.EXITED:
                thread.rip = self.cpu.rip()
            self._wake_due_threads()
            if thread.state is ThreadState.RUNNABLE and (expired or self._stop_cpu):
                if not self.scheduler.has_runnable():
                    continue  # nobody else to run: keep going on the same thread
                self.scheduler.requeue(thread)
            try:
                nxt = self._pick_next()
            except Deadlock as d:
                return Outcome(exitcodes.DEADLOCK, "deadlock", report=describe_deadlock(self, d.threads))
            if nxt is None:
                return Outcome(self._last_status, "exit")
            self._switch(thread, nxt)
            thread = nxt

    def _pick_next(self) -> Thread | None:
        """The next runnable thread, sleeping the virtual clock forward if all wait."""
        while True:
            nxt = self.scheduler.pop_runnable()
            if nxt is not None:
                return nxt
            if not self.scheduler.threads:
                return None
            deadline = self.scheduler.next_deadline()
            if deadline is None:
                raise Deadlock(list(self.scheduler.threads.values()))
            self.clock.sleep_until(deadline)
            self._wake_due_threads()

    def _wake_due_threads(self) -> None:
        for t in self.scheduler.due(self.clock.monotonic()):
            self._stop_waiting(t)
            self._finish_blocked(t, t.timeout_result)

    def _stop_waiting(self, thread: Thread) -> None:
        """Take a blocked thread off the futex queue or object waiters it sits on."""
        self.futexes.cancel(thread)
        if isinstance(thread.wait, ObjectWait):
            waiters = self._object_waiters.get(thread.wait.key, [])
            if thread in waiters:
                waiters.remove(thread)

    def _switch(self, old: Thread, new: Thread) -> None:
        uc = self.cpu.uc
        if old.state is not ThreadState.EXITED and old is not new:
            uc.context_update(old.context)
        if old is not new:
            uc.context_restore(new.context)
        if new.result is not None:
            uc.reg_write(x86.UC_X86_REG_RAX, new.result & 0xFFFF_FFFF_FFFF_FFFF)
            new.result = None
        self.current = new

    # -- syscalls ------------------------------------------------------------

    def _on_syscall(self) -> None:
        regs = self.cpu.syscall_args()
        nr, args = regs[0], list(regs[1:])
        thread = self.current
        self.stats.syscalls += 1
        if self._pause_hooks:
            self._pause(thread, True)
        decoded = self._decode_entry(nr, args) if self.config.record_syscalls else None
        outcome = self.kernel.handle(thread, nr, args)
        if type(outcome) is int:
            self.cpu.set_result(outcome)
            self._record(thread.tid, nr, args, decoded, outcome)
            if self.kernel.signals.has_deliverable(thread.tid, thread.sigmask):
                self._signal_self = True  # a signal to ourselves: delivered on the way back to user code
                self.cpu.stop()
            return
        self._stop_cpu = True
        self.cpu.stop()
        if isinstance(outcome, Block):
            self._block(thread, nr, args, decoded, outcome)
        elif isinstance(outcome, Yield):
            self.cpu.set_result(0)
            self._record(thread.tid, nr, args, decoded, 0)
        elif isinstance(outcome, ExitThread):
            self._record(thread.tid, nr, args, decoded, None)
            self._exit_thread(thread, outcome.status)
        elif isinstance(outcome, ExitGroup):
            self._record(thread.tid, nr, args, decoded, None)
            self._exit_group = outcome.status
        elif isinstance(outcome, RestoreContext):
            self._record(thread.tid, nr, args, decoded, outcome.context.regs["rax"])
            self._restore = outcome.context

    def _block(self, thread: Thread, nr: int, args: list[int], decoded: Entry, block: Block) -> None:
        if block.deadline is not None and block.deadline <= self.clock.monotonic():
            self.cpu.set_result(block.timeout_result)
            self._record(thread.tid, nr, args, decoded, block.timeout_result)
            return
        self.scheduler.block(thread, block.wait, block.deadline, block.timeout_result)
        if isinstance(block.wait, FutexWait):
            self.futexes.enqueue(thread, block.wait.addr)
        elif isinstance(block.wait, ObjectWait):
            self._object_waiters.setdefault(block.wait.key, []).append(thread)
        thread.restart_nr = nr if block.restart else None
        thread.sa_restart = block.sa_restart
        self._pending[thread.tid] = (nr, args, decoded)

    def _finish_blocked(self, thread: Thread, result: int) -> None:
        self.scheduler.wake(thread, result)
        pending = self._pending.pop(thread.tid, None)
        if pending is not None:
            self._record(thread.tid, *pending, result)

    def _exit_thread(self, thread: Thread, status: int) -> None:
        self._last_status = status
        if thread.clear_child_tid:
            try:
                write_u32(self.mem, thread.clear_child_tid, 0)
                self.futex_wake(thread.clear_child_tid, 1, 0xFFFF_FFFF)
            except BadAddress:
                pass
        self.scheduler.remove(thread)
        self.kernel.signals.pending.pop(thread.tid, None)
        self.emit(ThreadEvent(self.cpu.instructions, thread.tid, "exit", parent=None))

    def _decode_entry(self, nr: int, args: list[int]) -> Entry:
        """The entry half, while the guest memory it shows is as the call found it (see
        syscalls.capture.capture_entry; rt_sigreturn's is decoded now)."""
        if nr == RT_SIGRETURN:  # its argument is the frame at the stack pointer
            call = Call(tuple(args), None, self.stack_pointer())
            return tuple(decode_args(lookup(nr), call, self.mem, out=False))
        sc = lookup(nr)
        return capture_entry(sc, tuple(args), self.mem) if sc.entry_memory else None

    def _record(self, tid: int, nr: int, args: list[int], entry: Entry, result: int | None) -> None:
        sc = lookup(nr)
        name = sc.name
        self.stats.by_syscall[name] = self.stats.by_syscall.get(name, 0) + 1
        if not self.config.record_syscalls:
            self._recent.append((self.cpu.instructions, tid, nr, args, result))  # no event: this is hot
            return
        raw = tuple(args)
        ret = None if result is None else result & 0xFFFF_FFFF_FFFF_FFFF
        recorded = Recorded(sc, raw, ret, entry, self.mem)
        self._seq += 1
        count = self.cpu.instructions
        if recorded.keep():
            event = SyscallEvent(count, tid, self._seq, nr, name, raw, None, result, later=recorded)
        else:
            values, decoded_result = recorded.decode()
            event = SyscallEvent(count, tid, self._seq, nr, name, raw, values, result, decoded_result)
        self.syscall_events.append(event)
        self._recent.append(event)
        self.emit(event)

    def recent_syscalls(self) -> list[SyscallEvent]:
        """The last RECENT_SYSCALLS finished syscalls, oldest first (undecoded unless recording)."""
        return [
            r
            if isinstance(r, SyscallEvent)
            else SyscallEvent(r[0], r[1], 0, r[2], lookup(r[2]).name, tuple(r[3]), None, r[4])
            for r in self._recent
        ]

    def _fan_out(self, event: Event) -> None:
        for sink in self.sinks:
            sink(event)

    # -- what syscalls/ may ask of the machine (syscalls.kernel.Threads) ----

    def clone(self, parent: Thread, *, stack: int, tls: int | None, clear_child_tid: int) -> int:
        uc = self.cpu.uc
        rip = self.cpu.rip() + SYSCALL_INSN_LEN
        context = uc.context_save()
        context.reg_write(x86.UC_X86_REG_RAX, 0)
        context.reg_write(x86.UC_X86_REG_RIP, rip)
        if stack:
            context.reg_write(x86.UC_X86_REG_RSP, stack)
        if tls is not None:
            context.reg_write(x86.UC_X86_REG_FS_BASE, tls)
        child = Thread(
            self._allocate_tid(),
            context,
            rip,
            name=parent.name,
            sigmask=parent.sigmask,
            clear_child_tid=clear_child_tid,
        )
        self.scheduler.add(child)
        for hook in self._clone_hooks:
            hook(parent.tid, child.tid)
        self.emit(ThreadEvent(self.cpu.instructions, child.tid, "start", parent=parent.tid))
        return child.tid

    def futex_wake(self, addr: int, count: int, bitset: int) -> int:
        woken = self.futexes.dequeue(addr, count, bitset)
        for t in woken:
            self._finish_blocked(t, 0)
        return len(woken)

    def wake_all(self, key: object) -> None:
        for t in self._object_waiters.pop(key, []):
            if t.restart_nr is None:
                self._finish_blocked(t, 0)
                continue
            self._restart(t, t.restart_nr)

    def _restart(self, thread: Thread, nr: int) -> None:
        """Run the blocked syscall again: back over the instruction, its number in RAX."""
        self._pending.pop(thread.tid, None)
        thread.rip -= SYSCALL_INSN_LEN
        self.scheduler.wake(thread, nr)

    def task(self, tid: int) -> Thread | None:
        return self.scheduler.threads.get(tid)

    def tasks(self) -> list[Thread]:
        return sorted(self.scheduler.threads.values(), key=lambda t: t.tid)

    def interrupt(self, tid: int, sig: int) -> None:
        thread = self.scheduler.threads.get(tid)
        if thread is None or thread.state is not ThreadState.BLOCKED:
            return
        self._stop_waiting(thread)
        pending = self._pending.get(thread.tid)
        if thread.sa_restart and self.kernel.signals.action(sig)[1] & SA_RESTART and pending is not None:
            self._restart(thread, pending[0])  # ERESTARTSYS: the handler's frame holds RIP on the syscall
        else:
            self._finish_blocked(thread, -EINTR)

    def stack_pointer(self) -> int:
        return self.cpu.uc.reg_read(x86.UC_X86_REG_RSP)

    def set_fs_base(self, value: int) -> None:
        self.cpu.uc.reg_write(x86.UC_X86_REG_FS_BASE, value)

    def fs_base(self) -> int:
        return self.cpu.uc.reg_read(x86.UC_X86_REG_FS_BASE)

    # -- signals -------------------------------------------------------------

    def _fault_signal(self, error: UcError) -> tuple[SignalInfo, Trap]:
        """The siginfo and trap details Linux reports for a fault unicorn raised."""
        rip = self.cpu.rip()
        if error.errno == UC_ERR_INSN_INVALID:
            return SignalInfo(SIGILL, ILL_ILLOPN, addr=rip), Trap(INVALID_OPCODE_VECTOR)
        access = self.cpu.last_fault
        if error.errno not in MEMORY_ERRORS or access is None:
            return SignalInfo(SIGSEGV, SI_KERNEL, addr=0), Trap(13)
        err = PF_USER | (0 if access.unmapped else PF_PROT)
        err |= PF_WRITE if access.access == "write" else PF_INSTR if access.access == "fetch" else 0
        code = SEGV_MAPERR if access.unmapped else SEGV_ACCERR
        return SignalInfo(SIGSEGV, code, addr=access.address), Trap(PAGE_FAULT_VECTOR, err, access.address)

    def _exception_signal(self, vector: int) -> tuple[SignalInfo, Trap]:
        signal = _VECTOR_SIGNALS.get(vector, SIGSEGV)
        if vector == 0:
            return SignalInfo(signal, FPE_INTDIV, addr=self.cpu.rip()), Trap(vector)
        return SignalInfo(signal, SI_KERNEL, addr=0), Trap(vector)

    def _deliver_pending(self, thread: Thread) -> Outcome | None:
        """A sent signal, as ``thread`` goes back to user code: its handler runs, it is ignored,
        or its default action ends the process (the Outcome)."""
        info = self.kernel.signals.deliverable(thread.tid, thread.sigmask)
        if info is None or self.kernel.signals.ignored(info.signo):
            if thread.saved_sigmask is not None:  # rt_sigsuspend ended without a handler
                thread.sigmask, thread.saved_sigmask = thread.saved_sigmask, None
            return None
        if self._deliver(thread, info, Trap(), thread.rip):
            return None
        self.emit(SignalEvent(self.cpu.instructions, thread.tid, info))  # strace shows the fatal one too
        if info.signo == SIGXFSZ and self.kernel.limit_hits["write-bytes"]:
            why = f"the kernel: --max-write-bytes {self.config.limits.write_bytes} reached (RLIMIT_FSIZE)"
        else:
            why = "kill/tgkill"
        headline = f"emulator: guest killed by {render_signal(info.signo)} (sent by {why}, default action)"
        return Outcome(128 + info.signo, "signal", info.signo, describe_stop(self, headline, thread))

    def _deliver_fault(self, thread: Thread, info: SignalInfo, trap: Trap) -> bool:
        """A synchronous fault: to the guest's handler if it has one and does not block the signal
        (Linux kills the process otherwise, whatever the disposition)."""
        return self._deliver(thread, info, trap, self.cpu.rip())

    def _deliver(self, thread: Thread, info: SignalInfo, trap: Trap, rip: int) -> bool:
        """Start ``thread``'s handler for ``info.signo`` on an rt_sigframe, interrupted at ``rip``;
        False when there is no handler to run (default or ignored disposition, blocked)."""
        sig = info.signo
        handler, flags, restorer, mask = self.kernel.signals.action(sig)
        bit = 1 << (sig - 1)
        if handler in (SIG_DFL, SIG_IGN) or thread.sigmask & bit or not flags & SA_RESTORER:
            return False
        frame = build_frame(
            self.cpu.user_context(rip),
            flags=flags,
            restorer=restorer,
            altstack=thread.altstack,
            info=info,
            trap=trap,
            oldmask=thread.sigmask if thread.saved_sigmask is None else thread.saved_sigmask,
        )
        try:
            self.mem.write(frame.address, frame.data)
        except BadAddress:
            return False  # no room for the frame: Linux forces SIGSEGV, which kills
        self.cpu.enter_handler(handler, sig, frame)
        thread.saved_sigmask = None
        self.emit(SignalEvent(self.cpu.instructions, thread.tid, info))
        thread.sigmask |= mask | (0 if flags & SA_NODEFER else bit)
        if flags & SA_RESETHAND:
            self.kernel.signals.actions.pop(sig, None)
        thread.rip = handler
        return True

    # -- endings -------------------------------------------------------------

    def _fault(self, thread: Thread, error: UcError) -> Outcome:
        report = describe_fault(self, thread, FaultReport.from_uc_error(error, self.cpu.last_fault))
        return Outcome(128 + report.signal, "signal", report.signal, report.text)

    def _exception(self, thread: Thread, vector: int) -> Outcome:
        signal = _VECTOR_SIGNALS.get(vector, SIGSEGV)
        report = describe_fault(self, thread, FaultReport.from_vector(vector, signal))
        return Outcome(128 + signal, "signal", signal, report.text)

    def _internal_error(self, thread: Thread, error: Exception) -> Outcome:
        """A bug of ours: say so, write a reproducer bundle, and keep the traceback out of stderr."""
        headline = (
            f"emulator: internal error, a bug in the emulator: {type(error).__name__}: {error}\n"
            f"  after {self.cpu.instructions} instructions, seed {self.config.seed}"
        )
        report = self._describe(headline, thread)
        from emulator import bundle  # only for a bug of ours: it imports what a run never needs

        path = bundle.write(self, error, report)
        report += f"\nemulator: reproducer bundle (with the Python traceback) in {path}" if path else ""
        return Outcome(exitcodes.INTERNAL_ERROR, "internal-error", report=report, bundle=path)

    def _describe(self, headline: str, thread: Thread) -> str:
        """``headline`` and where every thread is; just the headline if the machine is too broken
        to describe (a bug of ours, an interrupt in the middle of a syscall)."""
        try:
            return describe_stop(self, headline, thread)
        except Exception as e:
            return f"{headline}\n  (no thread report: {type(e).__name__}: {e})"

    def _budget_reached(self, thread: Thread) -> Outcome:
        headline = (
            f"emulator: instruction limit reached: --max-instructions {self.config.limits.instructions}"
        )
        return Outcome(
            exitcodes.INSTRUCTION_BUDGET, "instruction-budget", report=self._describe(headline, thread)
        )

    def _stopped(self, thread: Thread, reason: str) -> Outcome:
        """The watchdog stopped the guest: host time ran out, or Ctrl-C."""
        if reason == "timeout":
            headline = (
                f"emulator: time limit reached: --timeout {self.config.limits.timeout:g} s of host time"
            )
            return Outcome(exitcodes.TIMEOUT, "timeout", report=self._describe(headline, thread))
        headline = f"emulator: interrupted (Ctrl-C) after {self.cpu.instructions} guest instructions"
        return Outcome(exitcodes.INTERRUPTED, "interrupted", report=self._describe(headline, thread))


def _runs(segments: Sequence[Segment]) -> list[tuple[int, int, int]]:
    """The segments' pages as (start, end, prot) runs of equal protection; a page two segments
    share gets both protections. Computed from the segment boundaries, not page by page: a
    fuzzed 2 GiB p_memsz cost half a million dict entries and seconds here."""
    bounds = sorted({page_down(s.vaddr) for s in segments} | {page_up(s.end) for s in segments})
    runs: list[tuple[int, int, int]] = []
    for start, end in itertools.pairwise(bounds):
        inside = [s.prot for s in segments if page_down(s.vaddr) < end and page_up(s.end) > start]
        if not inside:
            continue
        prot = functools.reduce(operator.or_, inside)
        if runs and runs[-1][1] == start and runs[-1][2] == prot:
            runs[-1] = (runs[-1][0], end, prot)
        else:
            runs.append((start, end, prot))
    return runs


def _comm(path: str) -> str:
    return os.path.basename(path)[:15]
