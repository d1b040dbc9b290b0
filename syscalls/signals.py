"""Signal bookkeeping: actions, masks, alternate stacks, sending, waiting, and the return
from a handler.

The machine delivers signals (it builds the frame from the CPU's registers,
syscalls/sigframe.py lays it out); rt_sigreturn reads the frame back here.
tgkill/tkill make a signal pending on the target thread, kill on the thread
Linux would pick (on the process while every thread blocks it); the machine delivers it when
such a thread next runs (Go preempts goroutines with SIGURG this way, and
os/signal.Notify sees what a program sends itself). A thread blocked in a
syscall is interrupted first (-EINTR, or a restart under SA_RESTART).
Signals whose action is to ignore them are dropped when sent, as Linux does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from syscalls import errno
from syscalls.abi import read_u64, write_u64
from syscalls.futex import read_timespec
from syscalls.kernel import Kernel, Task, handles
from syscalls.outcome import Block, ObjectWait, Outcome, RestoreContext
from syscalls.sigframe import SI_TKILL, SIG_DFL, SIG_IGN, SignalInfo, read_frame

NSIG = 64
SIGKILL, SIGSTOP = 9, 19
SI_USER = 0
# Signals whose default action is to do nothing (the stop signals too: the emulator cannot stop).
IGNORED_BY_DEFAULT = frozenset({17, 18, 19, 20, 21, 22, 23, 28})  # CHLD CONT STOP TSTP TTIN TTOU URG WINCH
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
    shared: dict[int, SignalInfo] = field(default_factory=dict)  # sent to the process (kill)

    def action(self, sig: int) -> tuple[int, int, int, int]:
        return self.actions.get(sig, (0, 0, 0, 0))

    def ignored(self, sig: int) -> bool:
        handler = self.action(sig)[0]
        return handler == SIG_IGN or (handler == SIG_DFL and sig in IGNORED_BY_DEFAULT)

    def take(self, tid: int, wanted: int) -> SignalInfo | None:
        """The lowest pending signal of ``tid`` in the set ``wanted`` (its own first, then the
        process's), taken off its queue."""
        for queue in (self.pending.get(tid), self.shared):
            if queue:
                for sig in sorted(queue):
                    if wanted & (1 << (sig - 1)):
                        return queue.pop(sig)
        return None

    def deliverable(self, tid: int, sigmask: int) -> SignalInfo | None:
        """The lowest pending signal ``sigmask`` does not block, taken off its queue."""
        return self.take(tid, ~sigmask)

    def has_deliverable(self, tid: int, sigmask: int) -> bool:
        return any(
            queue and any(not sigmask & (1 << (sig - 1)) for sig in queue)
            for queue in (self.pending.get(tid), self.shared)
        )

    def pending_set(self, tid: int) -> int:
        bits = 0
        for sig in (*self.pending.get(tid, ()), *self.shared):
            bits |= 1 << (sig - 1)
        return bits


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


def _wants(k: Kernel, t: Task, sig: int) -> bool:
    """``t`` would take ``sig`` now: it does not block it, or it waits for it in rt_sigtimedwait."""
    bit = 1 << (sig - 1)
    return not t.sigmask & bit or bool(t.sigwait & bit)


def _alert(k: Kernel, t: Task, sig: int) -> None:
    """``sig`` is now pending for ``t``: wake its rt_sigtimedwait, or interrupt its blocking call."""
    if t.sigwait & (1 << (sig - 1)):
        k.threads.wake_all(_sigwait_key(t.tid))
    elif _wants(k, t, sig):
        k.threads.interrupt(t.tid, sig)


def _send(k: Kernel, t: Task, tid: int, sig: int) -> int:
    if not 0 <= sig <= NSIG:
        return -errno.EINVAL
    target = k.threads.task(tid)
    if target is None:
        return -errno.ESRCH
    if not sig or (k.signals.ignored(sig) and _wants(k, target, sig)):
        return 0  # an ignored signal is discarded unless blocked (its action may change meanwhile)
    _queue(k, t, target, SignalInfo(sig, SI_TKILL, pid=k.config.pid, uid=k.config.uid))
    return 0


def _queue(k: Kernel, sender: Task, target: Task, info: SignalInfo) -> None:
    """Pending on ``target`` (once: a standard signal does not queue twice), which is told."""
    queue = k.signals.pending.setdefault(target.tid, {})
    if info.signo not in queue:
        queue[info.signo] = info
        if target is not sender:
            _alert(k, target, info.signo)


@handles
def kill(k: Kernel, t: Task, pid: int, sig: int) -> int:
    """To our own process (pid, 0 or our group). Linux's choice of taker (complete_signal): the
    main thread if it does not block the signal, else the first thread that does not; it is
    interrupted if it waits. If every thread blocks it, it stays pending on the process."""
    pid = pid - (1 << 64) if pid >= 1 << 63 else pid
    if not 0 <= sig <= NSIG:
        return -errno.EINVAL
    if pid not in (0, k.config.pid, -k.config.pid):
        return -errno.ESRCH  # kill(-1) reaches every process but ours; there are no others
    if not sig or k.signals.ignored(sig) or sig in k.signals.shared:
        return 0
    info = SignalInfo(sig, SI_USER, pid=k.config.pid, uid=k.config.uid)
    target = next((task for task in k.threads.tasks() if _wants(k, task, sig)), None)
    if target is None:
        k.signals.shared[sig] = info
        return 0
    _queue(k, t, target, info)
    return 0


@handles
def tgkill(k: Kernel, t: Task, tgid: int, tid: int, sig: int) -> int:
    if tgid != k.config.pid:
        return -errno.ESRCH
    return _send(k, t, tid, sig)


@handles
def tkill(k: Kernel, t: Task, tid: int, sig: int) -> int:
    return _send(k, t, tid, sig)


@handles
def rt_sigpending(k: Kernel, t: Task, set_: int, sigsetsize: int) -> int:
    """Pending signals the caller blocks (the others would have been delivered)."""
    if sigsetsize > 8:
        return -errno.EINVAL
    k.mem.write(set_, (k.signals.pending_set(t.tid) & t.sigmask).to_bytes(8, "little")[:sigsetsize])
    return 0


def _sigwait_key(tid: int) -> tuple[str, int]:
    return ("sigwait", tid)


@handles
def rt_sigtimedwait(k: Kernel, t: Task, set_: int, info: int, timeout: int, sigsetsize: int) -> Outcome:
    """Take a pending signal of the set, or wait for one (-EAGAIN at the timeout); a signal
    outside the set with a handler interrupts the wait (-EINTR)."""
    if sigsetsize != 8:
        return -errno.EINVAL
    wanted = read_u64(k.mem, set_) & ~_UNBLOCKABLE
    taken = k.signals.take(t.tid, wanted)
    if taken is not None:
        if info:
            k.mem.write(info, taken.pack())
        return taken.signo
    ns = read_timespec(k, timeout) if timeout else None
    if timeout and ns is None:
        return -errno.EINVAL
    if ns == 0:
        return -errno.EAGAIN
    t.sigwait = wanted  # the scheduler clears it when the wait ends
    deadline = None if ns is None else k.clock.monotonic() + ns
    return Block(ObjectWait(_sigwait_key(t.tid), "rt_sigtimedwait"), deadline, -errno.EAGAIN, restart=True)


@handles
def rt_sigsuspend(k: Kernel, t: Task, mask: int, sigsetsize: int) -> Outcome:
    """Wait under a temporary mask until a signal's handler runs (or it kills): -EINTR, and the
    handler's frame carries the mask from before, which rt_sigreturn puts back."""
    if sigsetsize != 8:
        return -errno.EINVAL
    t.saved_sigmask = t.sigmask
    t.sigmask = read_u64(k.mem, mask) & ~_UNBLOCKABLE
    if k.signals.has_deliverable(t.tid, t.sigmask):
        return -errno.EINTR
    return Block(ObjectWait(("sigsuspend", t.tid), "rt_sigsuspend"))


@handles
def rt_sigreturn(k: Kernel, t: Task) -> Outcome:
    """The handler's ``ret`` popped pretcode, so the frame starts 8 bytes below RSP."""
    context, sigmask = read_frame(k.mem, k.threads.stack_pointer() - 8)
    t.sigmask = sigmask & ~_UNBLOCKABLE
    return RestoreContext(context)
