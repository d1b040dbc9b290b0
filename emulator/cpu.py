"""The one unicorn CPU shared by every guest thread, and the hooks it runs.

Only three things cross from native code into Python: the ``syscall``
instruction, ``cpuid``/``rdtsc`` (so the guest sees a fixed machine and a
virtual time stamp counter) and invalid memory accesses (to name the faulting
address). Everything per block stays native (``emulator/_native.c``).
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import struct
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from unicorn import (
    UC_ARCH_X86,
    UC_HOOK_BLOCK,
    UC_HOOK_CODE,
    UC_HOOK_INSN,
    UC_HOOK_INTR,
    UC_HOOK_MEM_FETCH_PROT,
    UC_HOOK_MEM_FETCH_UNMAPPED,
    UC_HOOK_MEM_READ_PROT,
    UC_HOOK_MEM_READ_UNMAPPED,
    UC_HOOK_MEM_WRITE_PROT,
    UC_HOOK_MEM_WRITE_UNMAPPED,
    UC_MODE_64,
    Uc,
    UcError,
)
from unicorn import x86_const as x86
from unicorn.unicorn_py3.unicorn import uc_hook_h, uclib

from emulator import _native
from emulator.clock import TSC_PER_INSTRUCTION
from syscalls.sigframe import FXSAVE_SIZE, SIGCONTEXT_REGS, SignalFrame, UserContext

# Registers carrying a syscall's number and arguments, in ABI order.
SYSCALL_REGS = (
    x86.UC_X86_REG_RAX,
    x86.UC_X86_REG_RDI,
    x86.UC_X86_REG_RSI,
    x86.UC_X86_REG_RDX,
    x86.UC_X86_REG_R10,
    x86.UC_X86_REG_R8,
    x86.UC_X86_REG_R9,
)

# General registers in the order reports print them.
GENERAL_REGS = {
    "rax": x86.UC_X86_REG_RAX,
    "rbx": x86.UC_X86_REG_RBX,
    "rcx": x86.UC_X86_REG_RCX,
    "rdx": x86.UC_X86_REG_RDX,
    "rsi": x86.UC_X86_REG_RSI,
    "rdi": x86.UC_X86_REG_RDI,
    "rbp": x86.UC_X86_REG_RBP,
    "rsp": x86.UC_X86_REG_RSP,
    "r8": x86.UC_X86_REG_R8,
    "r9": x86.UC_X86_REG_R9,
    "r10": x86.UC_X86_REG_R10,
    "r11": x86.UC_X86_REG_R11,
    "r12": x86.UC_X86_REG_R12,
    "r13": x86.UC_X86_REG_R13,
    "r14": x86.UC_X86_REG_R14,
    "r15": x86.UC_X86_REG_R15,
    "rip": x86.UC_X86_REG_RIP,
    "rflags": x86.UC_X86_REG_RFLAGS,
    "fs_base": x86.UC_X86_REG_FS_BASE,
}

_SIGCONTEXT_UC_REGS = tuple(
    x86.UC_X86_REG_RFLAGS if name == "eflags" else getattr(x86, f"UC_X86_REG_{name.upper()}")
    for name in SIGCONTEXT_REGS
)
_XMM_REGS = tuple(getattr(x86, f"UC_X86_REG_XMM{i}") for i in range(16))
_ST_REGS = tuple(getattr(x86, f"UC_X86_REG_FP{i}") for i in range(8))
_FXSAVE_HEAD = struct.Struct("<HHBxHQQII")  # fcw fsw ftw(abridged) fop fip fdp mxcsr mxcsr_mask
_ST_SLOT = struct.Struct("<QH6x")
MXCSR_DEFAULT, FPCW_DEFAULT, MXCSR_MASK = 0x1F80, 0x37F, 0xFFFF
_EFLAGS_CLEARED_FOR_HANDLER = (1 << 8) | (1 << 10) | (1 << 16)  # TF, DF, RF

# The fixed CPU the guest sees: unicorn's default x86-64 model as it answers
# natively, minus RDRAND (nondeterministic) and the hypervisor bit. No AVX, so
# Go takes its SSE paths, which unicorn implements.
CPUID_LEAVES: dict[tuple[int, int], tuple[int, int, int, int]] = {
    (0x0, 0): (0xD, 0x756E6547, 0x6C65746E, 0x49656E69),  # "GenuineIntel"
    (0x1, 0): (0x306C4, 0x800, 0x0ED82203 & ~(1 << 30), 0x78BFBFD),
    (0x4, 0): (0x121, 0x1C0003F, 0x3F, 0x1),
    (0x6, 0): (0x4, 0x0, 0x0, 0x0),
    (0x7, 0): (0x0, 0x389, 0x0, 0x0),
    (0xD, 0): (0x7, 0x240, 0x340, 0x0),
    (0xD, 1): (0x1, 0x0, 0x0, 0x0),
    (0x80000000, 0): (0x80000008, 0x756E6547, 0x6C65746E, 0x49656E69),
    (0x80000001, 0): (0x306C4, 0x0, 0x21, 0x28100800),
    (0x80000002, 0): (0x65746E49, 0x6F43206C, 0x50206572, 0x65636F72),
    (0x80000003, 0): (0x726F7373, 0x61482820, 0x6C657773, 0x296C),
    (0x80000008, 0): (0x3028, 0x0, 0x0, 0x0),
}
# Leaves whose answer depends on the sub-leaf in ECX.
_SUBLEAF_LEAVES = {0x4, 0x7, 0xB, 0xD}

CS_ARCH_X86, CS_MODE_64 = 3, 8  # capstone 5's cs_arch and cs_mode values


def _libcapstone() -> ctypes.CDLL:
    """capstone's C library, loaded directly: the block hook only needs cs_disasm_iter, and importing
    the Python module costs a third of our start-up."""
    spec = importlib.util.find_spec("capstone")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("capstone is not installed")
    return ctypes.CDLL(f"{spec.submodule_search_locations[0]}/lib/libcapstone.so")


def _close_capstone(lib: ctypes.CDLL, handle: ctypes.c_size_t, insn: int) -> None:
    lib.cs_free(ctypes.c_void_p(insn), ctypes.c_size_t(1))
    lib.cs_close(ctypes.byref(handle))


def _address(function: ctypes._CFuncPtr) -> int:
    return ctypes.cast(function, ctypes.c_void_p).value


class _BlockEntry(ctypes.Structure):
    _fields_ = [("address", ctypes.c_uint64), ("size", ctypes.c_uint32), ("instructions", ctypes.c_uint32)]


class WorkCounter(ctypes.Structure):
    """Shared with the native block hook (``struct work_counter`` in _native.c)."""

    _fields_ = [
        ("instructions", ctypes.c_uint64),
        ("blocks", ctypes.c_uint64),
        ("deadline", ctypes.c_uint64),
        ("expired", ctypes.c_uint64),
        ("stop", ctypes.c_void_p),
        ("mem_read", ctypes.c_void_p),
        ("disasm_iter", ctypes.c_void_p),
        ("insn", ctypes.c_void_p),
        ("capstone", ctypes.c_size_t),
        ("decoded", ctypes.c_uint64),
        ("reg_write", ctypes.c_void_p),
        ("rax", ctypes.c_int32),
        ("rdx", ctypes.c_int32),
        ("rcx", ctypes.c_int32),
        ("rbp", ctypes.c_int32),
        ("tsc_per_instruction", ctypes.c_uint64),
        ("entries", ctypes.c_void_p),
        ("entry_ends", ctypes.c_void_p),
        ("entry_count", ctypes.c_uint64),
        ("records", ctypes.c_void_p),
        ("record_count", ctypes.c_uint64),
        ("record_capacity", ctypes.c_uint64),
        ("previous_block", ctypes.c_uint64),
        ("reg_read_batch", ctypes.c_void_p),
        ("entry_regs", ctypes.c_int32 * 6),
        ("cache", _BlockEntry * _native.cache_slots()),
    ]


ENTRY_REGS = (
    x86.UC_X86_REG_RSP,
    x86.UC_X86_REG_R14,
    x86.UC_X86_REG_RAX,
    x86.UC_X86_REG_RBX,
    x86.UC_X86_REG_RCX,
    x86.UC_X86_REG_RDI,
)


class EntryRecord(NamedTuple):
    """A recorded function entry: where, when, on which stack, with which first arguments.

    The fields of ``struct entry_record`` in _native.c, in its order: the native engine builds one
    (a tuple, no Python call) only for an entry that has watchers."""

    instructions: int
    pc: int
    source_block: int  # start of the block that called or jumped here
    return_address: int  # the word at RSP: the caller's pc after a call
    stack_lo: int  # g.stack of the g in R14 (0 when R14 is not readable)
    stack_hi: int
    rsp: int
    g: int  # R14: the current g in ABIInternal code
    rax: int
    rbx: int
    rcx: int
    rdi: int
    rax_word0: int  # the two words RAX points at (0 where it points nowhere): the stack bounds of
    rax_word1: int  # a *g argument such as copystack's, read before the function runs


@dataclass
class MemoryFault:
    """The invalid access unicorn reported last: what, where."""

    access: str  # "read", "write" or "fetch"
    address: int
    size: int
    unmapped: bool


# unicorn passes the access type (UC_MEM_*) to invalid-memory hooks.
_UC_MEM_KINDS = {
    19: ("read", True),
    20: ("write", True),
    21: ("fetch", True),
    22: ("write", False),
    23: ("read", False),
    24: ("fetch", False),
}


class Cpu:
    """The unicorn engine with our hooks installed."""

    def __init__(self, on_syscall: Callable[[], None]) -> None:
        self.uc = Uc(UC_ARCH_X86, UC_MODE_64)
        libcapstone = _libcapstone()
        self._capstone = ctypes.c_size_t()
        if libcapstone.cs_open(CS_ARCH_X86, CS_MODE_64, ctypes.byref(self._capstone)) != 0:
            raise RuntimeError("capstone cannot decode x86-64")
        libcapstone.cs_malloc.restype = ctypes.c_void_p
        libcapstone.cs_malloc.argtypes = [ctypes.c_size_t]
        insn = libcapstone.cs_malloc(self._capstone.value)
        if not insn:
            raise RuntimeError("capstone cannot allocate an instruction")
        # cs_close when the Cpu goes, or at close(): each open handle holds about 100 KiB natively.
        self._release_capstone = weakref.finalize(self, _close_capstone, libcapstone, self._capstone, insn)
        self.work = WorkCounter()
        self.work.stop = _address(uclib.uc_emu_stop)
        self.work.mem_read = _address(uclib.uc_mem_read)
        # read_memory(address, size) -> bytes, None where nothing is mapped; no access checks.
        self.read_memory: Callable[[int, int], bytes | None] = functools.partial(
            _native.read_memory, ctypes.addressof(self.work), self.uc._uch.value
        )
        self.work.disasm_iter = _address(libcapstone.cs_disasm_iter)
        self.work.insn = insn
        self.work.capstone = self._capstone.value
        self.work.deadline = 2**64 - 1
        self._syscall_ids = (ctypes.c_int * len(SYSCALL_REGS))(*SYSCALL_REGS)
        self._syscall_vals = [ctypes.c_uint64() for _ in SYSCALL_REGS]
        self._syscall_ptrs = (ctypes.c_void_p * len(SYSCALL_REGS))(
            *(ctypes.addressof(v) for v in self._syscall_vals)
        )
        self.last_fault: MemoryFault | None = None
        self.last_interrupt: int | None = None
        self.stop_requested = False
        self._add_native_hook(UC_HOOK_BLOCK, _native.block_hook_address(), ctypes.addressof(self.work))
        self.uc.hook_add(UC_HOOK_INTR, self._on_interrupt)
        self.uc.hook_add(UC_HOOK_INSN, lambda uc, _: on_syscall(), aux1=x86.UC_X86_INS_SYSCALL)
        self.uc.hook_add(UC_HOOK_INSN, self._on_cpuid, aux1=x86.UC_X86_INS_CPUID)
        self.work.reg_write = _address(uclib.uc_reg_write)
        self.work.rax, self.work.rdx, self.work.rcx = (
            x86.UC_X86_REG_RAX,
            x86.UC_X86_REG_RDX,
            x86.UC_X86_REG_RCX,
        )
        self.work.rbp = x86.UC_X86_REG_RBP
        self.work.tsc_per_instruction = TSC_PER_INSTRUCTION
        self.work.reg_read_batch = _address(uclib.uc_reg_read_batch)
        self.work.entry_regs[:] = ENTRY_REGS
        self._entries: ctypes.Array[ctypes.c_uint64] | None = None
        self._entry_ends: ctypes.Array[ctypes.c_uint64] | None = None
        # RDTSC natively: the Python binding refuses this hook, and every vDSO clock read runs one.
        self._add_native_hook(
            UC_HOOK_INSN, _native.rdtsc_hook_address(), ctypes.addressof(self.work), insn=x86.UC_X86_INS_RDTSC
        )
        self._add_native_hook(  # Go's cputicks uses RDTSCP when CPUID offers it, as ours does
            UC_HOOK_INSN,
            _native.rdtscp_hook_address(),
            ctypes.addressof(self.work),
            insn=x86.UC_X86_INS_RDTSCP,
        )
        self.uc.hook_add(
            UC_HOOK_MEM_READ_UNMAPPED
            | UC_HOOK_MEM_WRITE_UNMAPPED
            | UC_HOOK_MEM_FETCH_UNMAPPED
            | UC_HOOK_MEM_READ_PROT
            | UC_HOOK_MEM_WRITE_PROT
            | UC_HOOK_MEM_FETCH_PROT,
            self._on_bad_access,
        )

    def close(self) -> None:
        """Free the engine (guest memory, translated code) and the disassembler now.

        The hooks make the Cpu, its Uc and the Machine one reference cycle, so
        without this they wait for Python's cycle collector, which cannot see
        the tens of MiB of native memory behind a few small objects: a loop of
        runs then holds several dead engines. Nothing may use the Cpu after.
        """
        self._release_capstone()
        self.read_memory = lambda address, size: None
        handle = self.uc._uch
        if handle:
            uclib.uc_close(handle)
            handle.value = None  # the binding's finalizer holds this same object: it then skips it
        if self.work.records:  # the entry recorder's buffer: __del__ no longer sees it once work is gone
            _native.release_entries(ctypes.addressof(self.work))
        del self.work  # its 1 MiB block cache was the native hooks' to use

    # -- hooks -------------------------------------------------------------

    def _add_native_hook(self, kind: int, callback: int, user_data: int, insn: int | None = None) -> None:
        """A hook whose callback is C code in _native.c (``insn`` for instruction hooks)."""
        extra = () if insn is None else (ctypes.c_int(insn),)
        status = uclib.uc_hook_add(
            self.uc._uch,
            ctypes.byref(uc_hook_h()),
            kind,
            ctypes.c_void_p(callback),
            ctypes.c_void_p(user_data),
            ctypes.c_uint64(1),
            ctypes.c_uint64(0),
            *extra,
        )
        if status != 0:
            raise RuntimeError(f"uc_hook_add failed with unicorn error {status}")

    def add_probe(self, address: int, callback: Callable[[], None]) -> None:
        """Call ``callback`` each time the instruction at ``address`` is about to run.

        A code hook bounded to one address: unicorn instruments only that
        instruction when it translates it, so probes cost nothing elsewhere.
        Add probes before the first run (translated blocks are not revisited).
        """
        self.uc.hook_add(
            UC_HOOK_CODE, lambda _uc, _addr, _size, _data: callback(), begin=address, end=address
        )

    def record_entries(self, ranges: dict[int, int]) -> None:
        """Record natively each time a block starting at one of the addresses runs.

        ``ranges`` maps each address to the end of its function (Go enters
        functions only by call or jump, so an entry always starts a block); a
        loop back to the entry from inside, at the same RSP, is recorded once.
        Set before the first run: blocks are flagged when first decoded. Read
        the records with entry_feeder.
        """
        ordered = sorted(ranges)
        self._entries = (ctypes.c_uint64 * len(ordered))(*ordered)
        self._entry_ends = (ctypes.c_uint64 * len(ordered))(*(ranges[a] for a in ordered))
        self.work.entries = ctypes.addressof(self._entries)
        self.work.entry_ends = ctypes.addressof(self._entry_ends)
        self.work.entry_count = len(ordered)

    def entry_feeder(self, engine: _native.CallEngine) -> Callable[[int, bool], None]:
        """``feed(tid, at_syscall)``: hand the entries recorded since the last feed, oldest first,
        to ``engine`` (emulator/calls.py), then let it close the frames of thread ``tid`` that
        returned before this stop (``at_syscall``: stopped at a syscall instruction). One native
        call, made at every pause of a recorded run."""
        counter = ctypes.addressof(self.work)
        return functools.partial(_native.feed_entries, counter, engine, self.uc._uch.value)

    def __del__(self) -> None:
        work = getattr(self, "work", None)
        if work is not None and work.records:
            _native.release_entries(ctypes.addressof(work))

    def _on_interrupt(self, uc: Uc, intno: int, _data: object) -> None:
        """A CPU exception (divide error, int3, #UD ...): the guest gets a signal."""
        self.last_interrupt = intno
        uc.emu_stop()

    def _on_cpuid(self, uc: Uc, _data: object) -> int:
        leaf = uc.reg_read(x86.UC_X86_REG_EAX)
        sub = uc.reg_read(x86.UC_X86_REG_ECX) if leaf in _SUBLEAF_LEAVES else 0
        eax, ebx, ecx, edx = CPUID_LEAVES.get((leaf, sub), (0, 0, 0, 0))
        uc.reg_write_batch(
            (
                (x86.UC_X86_REG_RAX, eax),
                (x86.UC_X86_REG_RBX, ebx),
                (x86.UC_X86_REG_RCX, ecx),
                (x86.UC_X86_REG_RDX, edx),
            )
        )
        return 1  # skip the real instruction

    def _on_bad_access(
        self, uc: Uc, access: int, address: int, size: int, _value: int, _data: object
    ) -> bool:
        kind, unmapped = _UC_MEM_KINDS.get(access, ("access", True))
        self.last_fault = MemoryFault(kind, address, size, unmapped)
        return False  # not handled: unicorn stops with the matching error

    # -- running -----------------------------------------------------------

    @property
    def instructions(self) -> int:
        """Guest instructions executed so far: the deterministic measure of guest work."""
        return self.work.instructions

    def run(self, rip: int, budget: int) -> bool:
        """Run from ``rip`` for about ``budget`` instructions; True if the slice ran out.

        The slice ends at the first block boundary at or past the budget.
        """
        self.work.deadline = self.work.instructions + max(budget, 1)
        if self.stop_requested:  # request_stop raced with the line above: honour it
            self.work.deadline = 0
        self.work.expired = 0
        self.work.previous_block = 0  # the last block may have been another thread's
        self.last_fault = None
        self.last_interrupt = None
        self.uc.emu_start(rip, 0xFFFF_FFFF_FFFF_FFFF)
        return bool(self.work.expired)

    def stop(self) -> None:
        self.uc.emu_stop()

    def request_stop(self) -> None:
        """Stop at the next block boundary, as at a slice's end; safe from another host thread
        (an asynchronous ``uc_emu_stop`` can re-execute an instruction, FACTS.md)."""
        self.stop_requested = True
        self.work.deadline = 0

    # -- registers ---------------------------------------------------------

    def syscall_args(self) -> list[int]:
        """Number then six arguments of the syscall being executed (one ctypes call: this is hot)."""
        status = uclib.uc_reg_read_batch(
            self.uc._uch, self._syscall_ids, self._syscall_ptrs, len(SYSCALL_REGS)
        )
        if status != 0:
            raise UcError(status)
        return [v.value for v in self._syscall_vals]

    def set_result(self, value: int) -> None:
        self.uc.reg_write(x86.UC_X86_REG_RAX, value & 0xFFFF_FFFF_FFFF_FFFF)

    def rip(self) -> int:
        return self.uc.reg_read(x86.UC_X86_REG_RIP)

    def registers(self) -> dict[str, int]:
        values = self.uc.reg_read_batch(tuple(GENERAL_REGS.values()))
        return dict(zip(GENERAL_REGS, values, strict=True))

    # -- signal frames ---------------------------------------------------------

    def user_context(self, rip: int) -> UserContext:
        """The registers a signal frame saves, interrupted at ``rip``."""
        values = self.uc.reg_read_batch(_SIGCONTEXT_UC_REGS)
        regs = dict(zip(SIGCONTEXT_REGS, values, strict=True))
        regs["rip"] = rip
        return UserContext(regs, self.fxsave())

    def fxsave(self) -> bytes:
        """The 512-byte FXSAVE image of the x87/SSE state."""
        uc = self.uc
        tags = uc.reg_read(x86.UC_X86_REG_FPTAG)
        abridged = sum(1 << i for i in range(8) if (tags >> (2 * i)) & 3 != 3)
        head = _FXSAVE_HEAD.pack(
            uc.reg_read(x86.UC_X86_REG_FPCW),
            uc.reg_read(x86.UC_X86_REG_FPSW),
            abridged,
            uc.reg_read(x86.UC_X86_REG_FOP) & 0x7FF,
            uc.reg_read(x86.UC_X86_REG_FIP),
            uc.reg_read(x86.UC_X86_REG_FDP),
            uc.reg_read(x86.UC_X86_REG_MXCSR),
            MXCSR_MASK,
        )
        st = b"".join(_ST_SLOT.pack(*uc.reg_read(r)) for r in _ST_REGS)
        xmm = b"".join(v.to_bytes(16, "little") for v in uc.reg_read_batch(_XMM_REGS))
        return (head + st + xmm).ljust(FXSAVE_SIZE, b"\0")

    def fxrstor(self, image: bytes) -> None:
        """Load an FXSAVE image back (status word before the stack registers it numbers)."""
        uc = self.uc
        fcw, fsw, abridged, _fop, _fip, _fdp, mxcsr, _mask = _FXSAVE_HEAD.unpack_from(image)
        uc.reg_write(x86.UC_X86_REG_FPCW, fcw)
        uc.reg_write(x86.UC_X86_REG_FPSW, fsw)
        uc.reg_write(x86.UC_X86_REG_FPTAG, sum(0 if abridged >> i & 1 else 3 << (2 * i) for i in range(8)))
        uc.reg_write(x86.UC_X86_REG_MXCSR, mxcsr & MXCSR_MASK)
        for i, reg in enumerate(_ST_REGS):
            uc.reg_write(reg, _ST_SLOT.unpack_from(image, 32 + 16 * i))
        for i, reg in enumerate(_XMM_REGS):
            uc.reg_write(reg, int.from_bytes(image[160 + 16 * i : 176 + 16 * i], "little"))

    def restore_context(self, context: UserContext) -> None:
        """rt_sigreturn: every saved register back, FS base untouched."""
        regs = context.regs
        self.uc.reg_write_batch(
            [(reg, regs[name]) for name, reg in zip(SIGCONTEXT_REGS, _SIGCONTEXT_UC_REGS, strict=True)]
        )
        if context.fxsave:
            self.fxrstor(context.fxsave)

    def enter_handler(self, handler: int, signo: int, frame: SignalFrame) -> None:
        """The registers Linux sets for a handler: arguments, stack, clean FP state, no TF/DF."""
        flags = self.uc.reg_read(x86.UC_X86_REG_RFLAGS) & ~_EFLAGS_CLEARED_FOR_HANDLER
        self.uc.reg_write_batch(
            [
                (x86.UC_X86_REG_RIP, handler),
                (x86.UC_X86_REG_RDI, signo),
                (x86.UC_X86_REG_RSI, frame.siginfo),
                (x86.UC_X86_REG_RDX, frame.ucontext),
                (x86.UC_X86_REG_RAX, 0),
                (x86.UC_X86_REG_RSP, frame.address),
                (x86.UC_X86_REG_RFLAGS, flags),
                (x86.UC_X86_REG_MXCSR, MXCSR_DEFAULT),
                (x86.UC_X86_REG_FPCW, FPCW_DEFAULT),
                (x86.UC_X86_REG_FPSW, 0),
                (x86.UC_X86_REG_FPTAG, 0xFFFF),
            ]
        )
        for reg in _XMM_REGS:
            self.uc.reg_write(reg, 0)
