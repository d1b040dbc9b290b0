"""Signal bookkeeping: actions, masks, alternate stacks.

Delivery (rt_sigframe, rt_sigreturn) is not emulated yet: a Go hello only
needs the bookkeeping to succeed. tgkill/tkill to our own threads is accepted
and dropped, which Go tolerates (its async preemption is best effort).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from syscalls import errno
from syscalls.abi import read_u64, write_u64
from syscalls.kernel import Kernel, Task, handles

NSIG = 64
SIGKILL, SIGSTOP = 9, 19
SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK = 0, 1, 2
SS_ONSTACK, SS_DISABLE = 1, 2
MINSIGSTKSZ = 2048
_SIGACTION = struct.Struct("<QQQQ")  # handler, flags, restorer, mask (kernel layout)
_STACK_T = struct.Struct("<QiiQ")  # ss_sp, ss_flags, padding, ss_size
_UNBLOCKABLE = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1))


@dataclass
class SignalTable:
    """Process-wide signal dispositions (shared by all threads, as CLONE_SIGHAND makes them)."""

    actions: dict[int, tuple[int, int, int, int]] = field(default_factory=dict)
    dropped: list[tuple[int, int]] = field(default_factory=list)  # (tid, signal) sent but not delivered

    def action(self, sig: int) -> tuple[int, int, int, int]:
        return self.actions.get(sig, (0, 0, 0, 0))


def _valid(sig: int) -> bool:
    return 1 <= sig <= NSIG


@handles
def rt_sigaction(k: Kernel, t: Task, sig: int, act: int, oact: int, sigsetsize: int) -> int:
    if sigsetsize != 8 or not _valid(sig):
        return -errno.EINVAL
    if act and sig in (SIGKILL, SIGSTOP):
        return -errno.EINVAL
    new = _SIGACTION.unpack(k.mem.read(act, _SIGACTION.size)) if act else None
    if oact:
        k.mem.write(oact, _SIGACTION.pack(*k.signals.action(sig)))
    if new is not None:
        handler, flags, restorer, mask = new
        k.signals.actions[sig] = (handler, flags, restorer, mask & ~_UNBLOCKABLE)
    return 0


@handles
def rt_sigprocmask(k: Kernel, t: Task, how: int, set_: int, oset: int, sigsetsize: int) -> int:
    if sigsetsize != 8:
        return -errno.EINVAL
    old = t.sigmask
    if set_:
        value = read_u64(k.mem, set_)
        if how == SIG_BLOCK:
            t.sigmask = old | value
        elif how == SIG_UNBLOCK:
            t.sigmask = old & ~value
        elif how == SIG_SETMASK:
            t.sigmask = value
        else:
            return -errno.EINVAL
        t.sigmask &= ~_UNBLOCKABLE
    if oset:
        write_u64(k.mem, oset, old)
    return 0


@handles
def sigaltstack(k: Kernel, t: Task, ss: int, old_ss: int) -> int:
    new = _STACK_T.unpack(k.mem.read(ss, _STACK_T.size)) if ss else None
    if old_ss:
        sp, flags, size = t.altstack
        k.mem.write(old_ss, _STACK_T.pack(sp, flags, 0, size))
    if new is not None:
        sp, flags, _, size = new
        if flags & ~SS_DISABLE:
            return -errno.EINVAL
        if flags & SS_DISABLE:
            t.altstack = (0, SS_DISABLE, 0)
        elif size < MINSIGSTKSZ:
            return -errno.ENOMEM
        else:
            t.altstack = (sp, 0, size)
    return 0


def _send(k: Kernel, tid: int, sig: int) -> int:
    if not 0 <= sig <= NSIG:
        return -errno.EINVAL
    if not k.threads.exists(tid):
        return -errno.ESRCH
    if sig:
        k.signals.dropped.append((tid, sig))
    return 0


@handles
def tgkill(k: Kernel, t: Task, tgid: int, tid: int, sig: int) -> int:
    if tgid != k.config.pid:
        return -errno.ESRCH
    return _send(k, tid, sig)


@handles
def tkill(k: Kernel, t: Task, tid: int, sig: int) -> int:
    return _send(k, tid, sig)
