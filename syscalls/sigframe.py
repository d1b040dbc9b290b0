"""The x86-64 ``rt_sigframe``, byte for byte as Linux builds it (arch/x86/kernel/signal.c).

Pure layout: the machine supplies the registers and writes the bytes; the
handler of rt_sigreturn reads them back. Go's signal handler reads and edits
``uc_mcontext`` (it redirects RIP/RSP to inject ``sigpanic``), so the offsets
must be the kernel's.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from syscalls.abi import GuestMemory

SA_SIGINFO = 0x4
SA_RESTORER = 0x0400_0000
SA_ONSTACK = 0x0800_0000
SA_RESTART = 0x1000_0000
SA_NODEFER = 0x4000_0000
SA_RESETHAND = 0x8000_0000
SIG_DFL, SIG_IGN = 0, 1
SS_ONSTACK, SS_DISABLE = 1, 2
UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS = 0x2, 0x4
SEGV_MAPERR, SEGV_ACCERR = 1, 2
FPE_INTDIV = 1
ILL_ILLOPN = 2
TRAP_BRKPT = 1
SI_TKILL = -6
USER_CS, USER_SS = 0x33, 0x2B

RED_ZONE = 128
FXSAVE_SIZE = 512
# struct sigcontext's general registers, in the kernel's order.
SIGCONTEXT_REGS = (
    "r8",
    "r9",
    "r10",
    "r11",
    "r12",
    "r13",
    "r14",
    "r15",
    "rdi",
    "rsi",
    "rbp",
    "rbx",
    "rdx",
    "rax",
    "rcx",
    "rsp",
    "rip",
    "eflags",
)
_STACK_T = struct.Struct("<QiiQ")  # ss_sp, ss_flags, pad, ss_size
_SIGCONTEXT = struct.Struct("<18Q4H4QQ8Q")  # gregs, cs gs fs ss, err trapno oldmask cr2, fpstate, reserved
_UCONTEXT = struct.Struct("<QQ24s256sQ")  # uc_flags, uc_link, uc_stack, uc_mcontext, uc_sigmask
SIGINFO_SIZE = 128
PRETCODE = 0
UCONTEXT = 8
SIGINFO = UCONTEXT + _UCONTEXT.size  # 312
FRAME_SIZE = SIGINFO + SIGINFO_SIZE  # 440: sizeof(struct rt_sigframe)
MCONTEXT = UCONTEXT + 40
FPSTATE_PTR = MCONTEXT + 18 * 8 + 8 + 4 * 8


@dataclass(frozen=True)
class SignalInfo:
    """The siginfo a handler sees: fault fields (si_addr) or sender fields (si_pid, si_uid)."""

    signo: int
    code: int
    addr: int | None = None
    pid: int = 0
    uid: int = 0

    def pack(self) -> bytes:
        head = struct.pack("<iiii", self.signo, 0, self.code, 0)
        if self.addr is not None:
            body = struct.pack("<Q", self.addr)
        else:
            body = struct.pack("<iI", self.pid, self.uid)
        return (head + body).ljust(SIGINFO_SIZE, b"\0")


@dataclass(frozen=True)
class Trap:
    """What the CPU recorded about the exception (sigcontext's trapno, err, cr2)."""

    trapno: int = 0
    err: int = 0
    cr2: int = 0


@dataclass
class UserContext:
    """The interrupted registers a frame saves: SIGCONTEXT_REGS plus the fxsave image."""

    regs: dict[str, int]
    fxsave: bytes


@dataclass(frozen=True)
class SignalFrame:
    """A built frame: write ``data`` at ``address``; the handler starts with rsp = ``address``."""

    address: int
    data: bytes

    @property
    def siginfo(self) -> int:
        return self.address + SIGINFO

    @property
    def ucontext(self) -> int:
        return self.address + UCONTEXT


def stack_flags(sp: int, altstack: tuple[int, int, int]) -> int:
    """sas_ss_flags(): is ``sp`` on the alternate stack, or is there none."""
    ss_sp, flags, size = altstack
    if flags & SS_DISABLE or size == 0:
        return SS_DISABLE
    return SS_ONSTACK if ss_sp < sp <= ss_sp + size else 0


def build_frame(
    ctx: UserContext,
    *,
    flags: int,
    restorer: int,
    altstack: tuple[int, int, int],
    info: SignalInfo,
    trap: Trap,
    oldmask: int,
) -> SignalFrame:
    """get_sigframe() then setup_rt_frame(): below the red zone or atop the alternate stack,
    the fxsave area 64-byte aligned, the frame so that (rsp + 8) % 16 == 0 at entry."""
    sp = ctx.regs["rsp"] - RED_ZONE
    if flags & SA_ONSTACK and stack_flags(sp, altstack) == 0:
        sp = altstack[0] + altstack[2]
    fpstate = (sp - FXSAVE_SIZE) & ~63
    frame = ((fpstate - FRAME_SIZE) & ~15) - 8
    mcontext = _SIGCONTEXT.pack(
        *(ctx.regs[name] & 0xFFFF_FFFF_FFFF_FFFF for name in SIGCONTEXT_REGS),
        USER_CS,
        0,
        0,
        USER_SS,
        trap.err,
        trap.trapno,
        oldmask & 0xFFFF_FFFF_FFFF_FFFF,
        trap.cr2,
        fpstate,
        *([0] * 8),
    )
    uc_stack = _STACK_T.pack(altstack[0], stack_flags(ctx.regs["rsp"], altstack), 0, altstack[2])
    ucontext = _UCONTEXT.pack(UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS, 0, uc_stack, mcontext, oldmask)
    head = struct.pack("<Q", restorer) + ucontext + info.pack()
    data = head + bytes(fpstate - frame - len(head)) + ctx.fxsave.ljust(FXSAVE_SIZE, b"\0")
    return SignalFrame(frame, data)


def read_frame(mem: GuestMemory, frame: int) -> tuple[UserContext, int]:
    """restore_sigcontext(): the registers and the signal mask saved at ``frame``."""
    raw = mem.read(frame + UCONTEXT, _UCONTEXT.size)
    _flags, _link, _stack, mcontext, sigmask = _UCONTEXT.unpack(raw)
    fields = _SIGCONTEXT.unpack(mcontext)
    regs = dict(zip(SIGCONTEXT_REGS, fields[: len(SIGCONTEXT_REGS)], strict=True))
    fpstate = fields[len(SIGCONTEXT_REGS) + 8]
    fxsave = mem.read(fpstate, FXSAVE_SIZE) if fpstate else b""
    return UserContext(regs, fxsave), sigmask
