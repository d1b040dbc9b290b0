"""Reports for the ways a run can end badly: a guest fault, a deadlock, a limit, Ctrl-C, our own bug.

Each starts with one line that says why (like the kernel's own message:
signal, faulting address, where), then what a Go engineer needs to see
where every thread was: registers, the symbolized RIP and instruction, a
frame-pointer backtrace, the goroutine, and the last syscalls.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from unicorn import (
    UC_ERR_FETCH_PROT,
    UC_ERR_FETCH_UNMAPPED,
    UC_ERR_INSN_INVALID,
    UC_ERR_READ_PROT,
    UC_ERR_READ_UNMAPPED,
    UC_ERR_WRITE_PROT,
    UC_ERR_WRITE_UNMAPPED,
    UcError,
)

from emulator import vdso
from emulator.backtrace import frame_pcs, goroutine
from emulator.cpu import GENERAL_REGS, MemoryFault
from emulator.events import SyscallEvent
from emulator.threads import SS_DISABLE
from loader import LoaderError
from syscalls.errno import describe as describe_errno
from syscalls.table import lookup

if TYPE_CHECKING:
    from emulator.machine import Machine
    from emulator.threads import Thread
    from loader.lines import LineTable

SIGNAL_NAMES = {4: "SIGILL", 5: "SIGTRAP", 7: "SIGBUS", 8: "SIGFPE", 11: "SIGSEGV"}
REGISTERS_PER_LINE = 6
_VECTOR_NAMES = {
    0: "divide error",
    1: "debug trap",
    3: "breakpoint (int3)",
    4: "overflow",
    5: "bound range exceeded",
    6: "invalid opcode",
    13: "general protection fault",
    14: "page fault",
    16: "x87 floating-point error",
    17: "alignment check",
    19: "SIMD floating-point error",
}
MEMORY_ERRORS = {  # unicorn's memory-fault errors: (access, whether the page was unmapped)
    UC_ERR_READ_UNMAPPED: ("read", True),
    UC_ERR_WRITE_UNMAPPED: ("write", True),
    UC_ERR_FETCH_UNMAPPED: ("fetch", True),
    UC_ERR_READ_PROT: ("read", False),
    UC_ERR_WRITE_PROT: ("write", False),
    UC_ERR_FETCH_PROT: ("fetch", False),
}


@dataclass(frozen=True)
class FaultReport:
    """What went wrong, before we know where."""

    signal: int
    cause: str

    @classmethod
    def from_uc_error(cls, error: UcError, access: MemoryFault | None) -> FaultReport:
        if error.errno == UC_ERR_INSN_INVALID:
            return cls(4, "invalid instruction")
        kind = MEMORY_ERRORS.get(error.errno)
        if kind is None:
            return cls(11, f"CPU error: {error}")
        what, unmapped = kind
        if access is not None:
            what, unmapped = access.access, access.unmapped
            addr = f"{access.address:#x}"
        else:
            addr = "an unknown address"
        problem = "unmapped" if unmapped else "protected"
        return cls(11, f"{what} of {problem} address {addr}")

    @classmethod
    def from_vector(cls, vector: int, signal: int) -> FaultReport:
        return cls(signal, _VECTOR_NAMES.get(vector, f"CPU exception {vector}"))


@dataclass(frozen=True)
class DescribedFault:
    signal: int
    text: str


def source_position(machine: Machine, pc: int) -> str | None:
    """``hello/main.go:7`` for a pc, from the binary's pclntab line table (stripped too).

    Every report location goes through here; the table is read once per binary.
    """
    table = _line_table(machine.image.path)
    found = None if table is None else table.lookup(pc)
    return None if found is None else str(found)


@functools.lru_cache(maxsize=4)
def _line_table(path: str) -> LineTable | None:
    from loader.elffile import read_elf  # only when a report is written: keeps start-up lean
    from loader.lines import LineTable

    try:
        return LineTable.from_elf(read_elf(path))
    except (OSError, LoaderError):  # the file changed or went away since it was loaded
        return None


def function_of(machine: Machine, pc: int) -> str | None:
    found = machine.image.symbols.lookup(pc)
    return None if found is None else found[0]


def describe_location(machine: Machine, rip: int) -> str:
    """``0x47e3a3 main.main+0x23 (main.go:7)``: an address, its function and, if known, its line."""
    found = machine.image.symbols.lookup(rip)
    if found is not None:
        name, offset = found
        where = f"{rip:#x} {machine.image.symbols.display_name(name)}+{offset:#x}"
        line = source_position(machine, rip)
        return f"{where} ({line})" if line else where
    if machine.vdso_base is not None:
        in_vdso = vdso.image().lookup(rip - machine.vdso_base)
        if in_vdso is not None:
            return f"{rip:#x} [vdso] {in_vdso[0]}+{in_vdso[1]:#x}"
    return f"{rip:#x}"


def disassemble_at(machine: Machine, rip: int) -> str:
    try:
        code = bytes(machine.cpu.uc.mem_read(rip, 16))
    except UcError:
        return "(instruction not readable)"
    import capstone  # only on the way out: a fault report

    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    for _addr, _size, mnemonic, operands in md.disasm_lite(code, rip):
        return f"{mnemonic} {operands}".strip()
    return "(not a valid instruction: " + code[:8].hex(" ") + ")"


def describe_fault(machine: Machine, thread: Thread, fault: FaultReport) -> DescribedFault:
    rip = machine.cpu.rip()
    name = SIGNAL_NAMES.get(fault.signal, f"signal {fault.signal}")
    lines = [
        f"emulator: guest killed by {name}: {fault.cause}",
        f"  thread {thread.tid} at {describe_location(machine, rip)}: {disassemble_at(machine, rip)}",
    ]
    return DescribedFault(fault.signal, "\n".join(lines) + "\n" + describe_machine(machine, thread))


def describe_deadlock(machine: Machine, threads: list[Thread]) -> str:
    lines = ["emulator: deadlock: every guest thread is blocked and no timer is pending"]
    for t in sorted(threads, key=lambda t: t.tid):
        lines.append(
            f"  thread {t.tid} ({t.name}) waits on {t.describe_wait()} at {describe_location(machine, t.rip)}"
        )
    return "\n".join(lines) + "\n" + describe_machine(machine, None)


def describe_stop(machine: Machine, headline: str, thread: Thread | None) -> str:
    """A run the emulator ended (a limit, Ctrl-C, our own bug): why, then where everything was."""
    where = ""
    if thread is not None:
        rip = thread_registers(machine, thread)["rip"]
        where = f"\n  thread {thread.tid} at {describe_location(machine, rip)}"
    return headline + where + "\n" + describe_machine(machine, thread)


# -- where every thread is ---------------------------------------------------------


def thread_registers(machine: Machine, thread: Thread) -> dict[str, int]:
    """The thread's registers: the CPU's for the thread on it, its saved context for the others."""
    if thread is machine.current:
        return machine.cpu.registers()
    values = thread.context.reg_read_batch(tuple(GENERAL_REGS.values()))
    return dict(zip(GENERAL_REGS, values, strict=True))


def describe_machine(machine: Machine, first: Thread | None) -> str:
    """Every live thread (``first`` leading), then the last syscalls."""
    threads = sorted(machine.scheduler.threads.values(), key=lambda t: (t is not first, t.tid))
    if first is not None and first not in threads:
        threads.insert(0, first)
    lines: list[str] = []
    for t in threads:
        lines += describe_thread(machine, t, current=t is first)
    lines += describe_recent_syscalls(machine.recent_syscalls())
    return "\n".join(lines)


def describe_thread(machine: Machine, thread: Thread, *, current: bool = False) -> list[str]:
    regs = thread_registers(machine, thread)
    state = "on the CPU" if current else thread.describe_wait()
    ss_sp, ss_flags, ss_size = thread.altstack
    signal_stack = None if ss_flags & SS_DISABLE else (ss_sp, ss_sp + ss_size)
    g = goroutine(machine.mem, machine.image.go_version, regs, signal_stack)
    lines = [f"thread {thread.tid} ({thread.name}), {state}, {g.describe()}:"]
    names = list(regs)
    for i in range(0, len(names), REGISTERS_PER_LINE):
        lines.append("  " + " ".join(f"{k}={regs[k]:#x}" for k in names[i : i + REGISTERS_PER_LINE]))
    pcs = frame_pcs(machine.mem, regs["rip"], regs["rbp"], lambda pc: function_of(machine, pc))
    lines.append("  backtrace (frame pointers):")
    lines += [f"    #{i} {describe_location(machine, pc)}" for i, pc in enumerate(pcs)]
    return lines


def describe_recent_syscalls(recent: Iterable[SyscallEvent]) -> list[str]:
    events = list(recent)
    if not events:
        return ["no syscalls yet"]
    lines = [f"last {len(events)} syscalls, oldest first:"]
    for e in events:
        lines.append(f"  [pid {e.tid:>5}] {format_recent(e)}")
    return lines


def format_recent(event: SyscallEvent) -> str:
    """As strace prints it when arguments were decoded; otherwise raw registers and errno."""
    if event.decoded is not None:
        from emulator.strace import format_call

        return format_call(event)
    sc = lookup(event.nr)
    args = ", ".join(f"{a:#x}" for a in event.args[: len(sc.args)])
    if event.result is None:
        result = "?"
    elif -4096 < event.result < 0:
        result = f"-1 {describe_errno(-event.result)}"
    else:
        result = f"{event.result:#x}" if event.result > 0xFFFF else str(event.result)
    return f"{event.name}({args}) = {result}"
