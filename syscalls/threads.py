"""Thread calls: clone, exit, exit_group, set_tid_address, arch_prctl, gettid, sched_yield."""

from __future__ import annotations

from syscalls import errno
from syscalls.abi import write_u32, write_u64
from syscalls.errno import LimitError
from syscalls.kernel import RLIMIT_NPROC, Kernel, Task, handles
from syscalls.outcome import ExitGroup, ExitThread, Yield

CLONE_VM = 0x100
CLONE_SIGHAND = 0x800
CLONE_THREAD = 0x10000
CLONE_SETTLS = 0x80000
CLONE_PARENT_SETTID = 0x100000
CLONE_CHILD_CLEARTID = 0x200000
CLONE_CHILD_SETTID = 0x1000000
_THREAD_FLAGS = CLONE_VM | CLONE_SIGHAND | CLONE_THREAD

ARCH_SET_GS, ARCH_SET_FS, ARCH_GET_FS, ARCH_GET_GS = 0x1001, 0x1002, 0x1003, 0x1004


@handles
def clone(k: Kernel, t: Task, flags: int, stack: int, parent_tid: int, child_tid: int, tls: int) -> int:
    if flags & _THREAD_FLAGS != _THREAD_FLAGS:
        return k.refuse("clone")  # a new process (fork, vfork): not emulated
    nproc = k.rlimits[RLIMIT_NPROC][0]
    if len(k.threads.tasks()) >= nproc:
        raise LimitError("threads", errno.EAGAIN, f"RLIMIT_NPROC is {nproc}")
    tid = k.threads.clone(
        t,
        stack=stack,
        tls=tls if flags & CLONE_SETTLS else None,
        clear_child_tid=child_tid if flags & CLONE_CHILD_CLEARTID else 0,
    )
    if flags & CLONE_PARENT_SETTID:
        write_u32(k.mem, parent_tid, tid)
    if flags & CLONE_CHILD_SETTID:
        write_u32(k.mem, child_tid, tid)
    return tid


@handles
def exit(k: Kernel, t: Task, status: int) -> ExitThread:
    return ExitThread(status & 0xFF)


@handles
def exit_group(k: Kernel, t: Task, status: int) -> ExitGroup:
    return ExitGroup(status & 0xFF)


@handles
def set_tid_address(k: Kernel, t: Task, tidptr: int) -> int:
    t.clear_child_tid = tidptr
    return t.tid


@handles
def set_robust_list(k: Kernel, t: Task, head: int, length: int) -> int:
    if length != 24:
        return -errno.EINVAL
    t.robust_list = head
    return 0


@handles
def gettid(k: Kernel, t: Task) -> int:
    return t.tid


@handles
def sched_yield(k: Kernel, t: Task) -> Yield:
    return Yield()


@handles
def arch_prctl(k: Kernel, t: Task, code: int, addr: int) -> int:
    if code == ARCH_SET_FS:
        k.threads.set_fs_base(addr)
        return 0
    if code == ARCH_GET_FS:
        write_u64(k.mem, addr, k.threads.fs_base())
        return 0
    return -errno.EINVAL
