"""Reports for the ways a run can end badly: a guest fault, a deadlock.

Each reads like the kernel's own message (signal, faulting address, where)
plus what a Go engineer needs: the symbolized RIP and the instruction.
"""

from __future__ import annotations

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
from emulator.cpu import MemoryFault

if TYPE_CHECKING:
    from emulator.machine import Machine
    from emulator.threads import Thread

SIGNAL_NAMES = {4: "SIGILL", 5: "SIGTRAP", 7: "SIGBUS", 8: "SIGFPE", 11: "SIGSEGV"}
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


def describe_location(machine: Machine, rip: int) -> str:
    """``0x47e3a3 main.main+0x23``: an address with the function it is in."""
    found = machine.image.symbols.lookup(rip)
    if found is not None:
        name, offset = found
        return f"{rip:#x} {machine.image.symbols.display_name(name)}+{offset:#x}"
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
    regs = machine.cpu.registers()
    rip = regs["rip"]
    name = SIGNAL_NAMES.get(fault.signal, f"signal {fault.signal}")
    lines = [
        f"emulator: guest killed by {name}: {fault.cause}",
        f"  thread {thread.tid} at {describe_location(machine, rip)}: {disassemble_at(machine, rip)}",
        "  " + " ".join(f"{k}={v:#x}" for k, v in regs.items()),
    ]
    return DescribedFault(fault.signal, "\n".join(lines))


def describe_deadlock(machine: Machine, threads: list[Thread]) -> str:
    lines = ["emulator: deadlock: every guest thread is blocked and no timer is pending"]
    for t in sorted(threads, key=lambda t: t.tid):
        lines.append(
            f"  thread {t.tid} ({t.name}) waits on {t.describe_wait()} at {describe_location(machine, t.rip)}"
        )
    return "\n".join(lines)
