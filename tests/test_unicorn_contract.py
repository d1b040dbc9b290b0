"""The unicorn behaviour the emulator relies on, pinned so an upgrade that breaks it fails here.

Each test names the machine code it runs; the code is assembled by hand so
the tests need nothing but unicorn.
"""

from __future__ import annotations

import ctypes
import gc

import pytest
import unicorn
from unicorn import UC_ARCH_X86, UC_HOOK_INSN, UC_MODE_64, UC_PROT_ALL, UC_PROT_READ, Uc, UcError
from unicorn import x86_const as x86

from emulator.clock import TSC_PER_INSTRUCTION
from emulator.cpu import CPUID_LEAVES, Cpu

CODE = 0x10000
SYSCALL = b"\x0f\x05"
NOP = b"\x90"


def test_pinned_version() -> None:
    assert unicorn.__version__ == "2.1.4"


def _cpu(code: bytes, on_syscall=None) -> Cpu:
    """A CPU with ``code`` mapped at CODE; by default a syscall ends the run."""
    cpu = Cpu(on_syscall or (lambda: cpu.stop()))
    cpu.uc.mem_map(CODE, 0x1000)
    cpu.uc.mem_write(CODE, code)
    return cpu


def test_syscall_hook_sees_rip_at_the_instruction_and_stop_resumes_after_it() -> None:
    seen = []
    cpu: Cpu

    def on_syscall() -> None:
        seen.append(cpu.rip())
        cpu.stop()

    cpu = _cpu(NOP + SYSCALL + NOP * 4, on_syscall)
    cpu.run(CODE, 1000)
    assert seen == [CODE + 1]
    assert cpu.rip() == CODE + 3  # the instruction after syscall, nothing re-executed


def test_syscall_hook_does_not_clobber_rcx_r11() -> None:
    cpu: Cpu

    def on_syscall() -> None:
        cpu.stop()

    cpu = _cpu(SYSCALL + NOP, on_syscall)
    cpu.uc.reg_write(x86.UC_X86_REG_RCX, 0x1234)
    cpu.uc.reg_write(x86.UC_X86_REG_R11, 0x5678)
    cpu.run(CODE, 100)
    assert cpu.uc.reg_read(x86.UC_X86_REG_RCX) == 0x1234
    assert cpu.uc.reg_read(x86.UC_X86_REG_R11) == 0x5678


def test_context_carries_fs_base_and_can_be_edited() -> None:
    uc = Uc(UC_ARCH_X86, UC_MODE_64)
    uc.reg_write(x86.UC_X86_REG_FS_BASE, 0xC000_0000)
    uc.reg_write(x86.UC_X86_REG_R13, 7)
    ctx = uc.context_save()
    ctx.reg_write(x86.UC_X86_REG_RAX, 0)
    ctx.reg_write(x86.UC_X86_REG_FS_BASE, 0xDEAD_0000)
    uc.reg_write(x86.UC_X86_REG_FS_BASE, 1)
    uc.reg_write(x86.UC_X86_REG_R13, 1)
    uc.context_restore(ctx)
    assert uc.reg_read(x86.UC_X86_REG_FS_BASE) == 0xDEAD_0000
    assert uc.reg_read(x86.UC_X86_REG_R13) == 7


def test_cpuid_is_answered_from_our_table() -> None:
    cpu = _cpu(b"\x0f\xa2" + SYSCALL)  # cpuid
    cpu.uc.reg_write(x86.UC_X86_REG_RAX, 1)
    cpu.run(CODE, 100)
    assert cpu.uc.reg_read(x86.UC_X86_REG_ECX) == CPUID_LEAVES[(1, 0)][2]
    assert not cpu.uc.reg_read(x86.UC_X86_REG_ECX) & (1 << 28)  # no AVX
    assert not cpu.uc.reg_read(x86.UC_X86_REG_ECX) & (1 << 30)  # no RDRAND


@pytest.mark.parametrize("insn", [b"\x0f\x31", b"\x0f\x01\xf9"], ids=["rdtsc", "rdtscp"])
def test_time_stamp_counter_reads_are_virtual(insn: bytes) -> None:
    """Both instructions: Go's cputicks prefers RDTSCP, which a hook on RDTSC alone misses."""
    cpu = _cpu(b"\x48\xc7\xc1\xff\x00\x00\x00" + insn + SYSCALL)  # mov rcx, 0xff; insn
    cpu.run(CODE, 100)
    tsc = (cpu.uc.reg_read(x86.UC_X86_REG_RDX) << 32) | cpu.uc.reg_read(x86.UC_X86_REG_EAX)
    assert tsc == cpu.instructions * TSC_PER_INSTRUCTION  # the block's count, not the host's TSC
    if insn == b"\x0f\x01\xf9":
        assert cpu.uc.reg_read(x86.UC_X86_REG_RCX) == 0  # TSC_AUX: CPU 0


def test_native_block_hook_counts_instructions_exactly_and_ends_the_slice() -> None:
    # mov ecx, 1000; loop: dec ecx; jnz loop; syscall
    code = b"\xb9\xe8\x03\x00\x00" + b"\xff\xc9" + b"\x75\xfc" + SYSCALL
    cpu = _cpu(code)
    assert not cpu.run(CODE, 10**9)
    assert cpu.instructions == 1 + 2 * 1000 + 1
    cpu2 = _cpu(code)
    assert cpu2.run(CODE, 501)  # the slice ends inside the loop, at a block boundary
    assert 501 <= cpu2.instructions <= 503
    ecx = cpu2.uc.reg_read(x86.UC_X86_REG_ECX)
    assert ecx == 1000 - (cpu2.instructions - 1) // 2
    assert cpu2.rip() == CODE + 5  # resumable at the loop head
    cpu2.run(cpu2.rip(), 10**9)
    assert cpu2.instructions == cpu.instructions


def test_unmapped_access_raises_and_names_the_address() -> None:
    cpu = _cpu(b"\x48\x8b\x04\x25\x08\x00\x00\x00")  # mov rax, [8]
    with pytest.raises(UcError) as e:
        cpu.run(CODE, 100)
    assert e.value.errno == unicorn.UC_ERR_READ_UNMAPPED
    assert cpu.last_fault is not None and cpu.last_fault.address == 8


def test_whole_region_protect_does_not_split_regions() -> None:
    uc = Uc(UC_ARCH_X86, UC_MODE_64)
    uc.mem_map(0x20_0000, 0x40_0000, UC_PROT_ALL)
    uc.mem_protect(0x20_0000, 0x40_0000, UC_PROT_READ)
    assert [(b, e) for b, e, _ in uc.mem_regions()] == [(0x20_0000, 0x5F_FFFF)]


def test_rdtsc_hook_is_accepted_by_the_c_api() -> None:
    from unicorn.unicorn_py3.unicorn import uc_hook_h, uclib

    uc = Uc(UC_ARCH_X86, UC_MODE_64)
    callback = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p, ctypes.c_void_p)(lambda *_: 1)
    status = uclib.uc_hook_add(
        uc._uch,
        ctypes.byref(uc_hook_h()),
        UC_HOOK_INSN,
        callback,
        None,
        ctypes.c_uint64(1),
        ctypes.c_uint64(0),
        ctypes.c_int(x86.UC_X86_INS_RDTSC),
    )
    assert status == 0


def test_closing_a_cpu_early_leaves_the_bindings_finalizer_nothing_to_free() -> None:
    """Cpu.close calls uc_close itself and zeroes the handle object; the binding's finalizer holds
    that same object, so when the Uc is collected it skips it instead of closing it twice."""
    cpu = _cpu(NOP + SYSCALL)
    uc = cpu.uc
    finalizer_args = uc._Uc__finalizer.peek()[2]
    assert finalizer_args[0] is uc._uch
    cpu.run(CODE, 100)
    cpu.close()
    assert not finalizer_args[0]  # NULL: release_handle does nothing with it
    del cpu, uc
    gc.collect()  # a double uc_close would crash the process here
