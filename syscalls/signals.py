"""Signal bookkeeping: actions, masks, alternate stacks, and the return from a handler.

The machine delivers signals (it builds the frame from the CPU's registers,
syscalls/sigframe.py lays it out); rt_sigreturn reads the frame back here.
tgkill/tkill make a signal pending on the target thread; the machine delivers
it when that thread next runs (Go preempts goroutines with SIGURG this way).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from syscalls import errno
from syscalls.abi import read_u64, write_u64
from syscalls.kernel import Kernel, Task, handles
from syscalls.outcome import Outcome, RestoreContext
from syscalls.sigframe import SI_TKILL, SignalInfo, read_frame

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
    # tid -> signal -> its siginfo: sent, not yet delivered (a standard signal is pending at most once)
    pending: dict[int, dict[int, SignalInfo]] = field(default_factory=dict)

    def action(self, sig: int) -> tuple[int, int, int, int]:
        return self.actions.get(sig, (0, 0, 0, 0))

    def deliverable(self, tid: int, sigmask: int) -> SignalInfo | None:
        """The lowest pending signal ``sigmask`` does not block, taken off the queue."""
        queue = self.pending.get(tid)
        if not queue:
            return None
        for sig in sorted(queue):
            if not sigmask & (1 << (sig - 1)):
                return queue.pop(sig)
        return None

    def has_deliverable(self, tid: int, sigmask: int) -> bool:
        queue = self.pending.get(tid)
        return bool(queue) and any(not sigmask & (1 << (sig - 1)) for sig in queue)


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
        info = SignalInfo(sig, SI_TKILL, pid=k.config.pid, uid=k.config.uid)
        k.signals.pending.setdefault(tid, {}).setdefault(sig, info)
    return 0


@handles
def tgkill(k: Kernel, t: Task, tgid: int, tid: int, sig: int) -> int:
    if tgid != k.config.pid:
        return -errno.ESRCH
    return _send(k, tid, sig)


@handles
def tkill(k: Kernel, t: Task, tid: int, sig: int) -> int:
    return _send(k, tid, sig)


@handles
def rt_sigreturn(k: Kernel, t: Task) -> Outcome:
    """The handler's ``ret`` popped pretcode, so the frame starts 8 bytes below RSP."""
    context, sigmask = read_frame(k.mem, k.threads.stack_pointer() - 8)
    t.sigmask = sigmask & ~_UNBLOCKABLE
    return RestoreContext(context)
