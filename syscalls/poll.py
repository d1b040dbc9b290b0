"""Polling: epoll instances, poll/ppoll and eventfds, enough for Go's netpoller.

Go registers every file it opens with its netpoller; regular files answer
EPERM, as on Linux, and stay blocking. The netpoller's wake-up eventfd (Go
1.23+) or pipe (Go 1.21, 1.22: syscalls/pipes.py) and its waits with
timeouts work on the virtual clock. Go registers pipes edge-triggered
(EPOLLET): an always-writable pipe reported on every wait would spin the
netpoller, so an edge-triggered interest is reported once per change of its
file (``notify``). Sockets come with networking.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from syscalls import errno
from syscalls.abi import read_u64, write_u64
from syscalls.files import OpenFile
from syscalls.futex import read_timespec
from syscalls.kernel import Kernel, Task, handles
from syscalls.kinds import signed32
from syscalls.outcome import Block, ObjectWait, Sleep
from syscalls.process import RLIMIT_NOFILE

EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD = 1, 2, 3
EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP = 0x1, 0x4, 0x8, 0x10
EPOLLONESHOT, EPOLLET = 1 << 30, 1 << 31
POLLNVAL = 0x20
EPOLL_CLOEXEC = 0o2000000
EFD_SEMAPHORE, EFD_NONBLOCK, EFD_CLOEXEC = 1, 0o4000, 0o2000000
_EVENT = struct.Struct("<IQ")  # struct epoll_event is packed on x86-64: 12 bytes
_COUNTER_MAX = 0xFFFF_FFFF_FFFF_FFFE


@dataclass(eq=False)
class EventFd(OpenFile):
    counter: int = 0
    semaphore: bool = False

    def ready(self) -> int:
        return (EPOLLIN if self.counter else 0) | EPOLLOUT

    def read(self, k: Kernel, buf: int, count: int):
        """The counter (or 1 in semaphore mode), then zero; blocks while it is zero."""
        if count < 8:
            return -errno.EINVAL
        if not self.counter:
            if self.flags & EFD_NONBLOCK:
                return -errno.EAGAIN
            return Block(ObjectWait(self, "eventfd"), restart=True, sa_restart=True)
        value = 1 if self.semaphore else self.counter
        write_u64(k.mem, buf, value)
        self.counter -= value
        return 8

    def write(self, k: Kernel, buf: int, count: int) -> int:
        if count < 8:
            return -errno.EINVAL
        value = read_u64(k.mem, buf)
        if value > _COUNTER_MAX:
            return -errno.EINVAL
        if self.counter + value > _COUNTER_MAX:
            return -errno.EAGAIN
        self.counter += value
        notify(k, self)
        return 8


@dataclass
class Interest:
    """One fd in an epoll's interest list; ``armed``: its file changed since it was last reported
    (what an edge-triggered or one-shot interest waits for)."""

    file: OpenFile
    events: int
    data: int
    armed: bool = True
    disabled: bool = False  # a one-shot interest after its report, until EPOLL_CTL_MOD


@dataclass(eq=False)
class Epoll(OpenFile):
    interest: dict[int, Interest] = field(default_factory=dict)

    def ready(self) -> int:
        return 0  # nested epoll is accepted but never reports itself ready


POLL_KEY = "poll"  # what poll/ppoll wait on: any file's change wakes them to look again


def notify(k: Kernel, key: object) -> None:
    """``key`` changed: wake the threads blocked on it, in poll, and on every epoll watching a
    file of it (arming its edge-triggered interests)."""
    k.threads.wake_all(key)
    k.threads.wake_all(POLL_KEY)
    for ep in list(k.fds.files.values()):
        if not isinstance(ep, Epoll):
            continue
        watching = [i for i in ep.interest.values() if i.file.wait_key() is key]
        for interest in watching:
            interest.armed = True
        if watching:
            k.threads.wake_all(ep)


def _ready_events(k: Kernel, ep: Epoll, maxevents: int) -> list[tuple[int, int]]:
    found = []
    for fd, interest in list(ep.interest.items()):
        if k.fds.files.get(fd) is not interest.file:
            del ep.interest[fd]  # closed: Linux drops it from every interest list
            continue
        if interest.disabled or (interest.events & EPOLLET and not interest.armed):
            continue
        ready = interest.file.ready() or 0
        events = ready & (interest.events | EPOLLERR | EPOLLHUP)  # errors and hang-ups always count
        if events:
            found.append((events, interest.data))
            interest.armed = False
            interest.disabled = bool(interest.events & EPOLLONESHOT)
            if len(found) == maxevents:
                break
    return found


def _wait(k: Kernel, epfd: int, events: int, maxevents: int, timeout_ns: int | None):
    ep = k.fds.get(epfd)
    if not isinstance(ep, Epoll) or not 0 < maxevents <= 1 << 20:
        return -errno.EINVAL
    ready = _ready_events(k, ep, maxevents)
    if ready:
        k.mem.write(events, b"".join(_EVENT.pack(mask, data) for mask, data in ready))
        return len(ready)
    if timeout_ns == 0:
        return 0
    deadline = None if timeout_ns is None else k.clock.monotonic() + timeout_ns
    if not ep.interest:
        return Block(Sleep(), deadline) if deadline is not None else Block(ObjectWait(ep, "epoll (no fds)"))
    return Block(ObjectWait(ep, f"epoll fd {epfd}"), deadline, timeout_result=0, restart=True)


def _timeout_ms(timeout: int) -> int | None:
    timeout = signed32(timeout)
    return None if timeout < 0 else timeout * 1_000_000


@handles
def epoll_create1(k: Kernel, t: Task, flags: int) -> int:
    if flags & ~EPOLL_CLOEXEC:
        return -errno.EINVAL
    return k.fds.install(Epoll("anon_inode:[eventpoll]"), cloexec=bool(flags & EPOLL_CLOEXEC))


@handles
def epoll_create(k: Kernel, t: Task, size: int) -> int:
    return epoll_create1(k, t, 0) if size > 0 else -errno.EINVAL


@handles
def epoll_ctl(k: Kernel, t: Task, epfd: int, op: int, fd: int, event: int) -> int:
    ep, target = k.fds.get(epfd), k.fds.get(fd)
    if not isinstance(ep, Epoll) or target is ep:
        return -errno.EINVAL
    if target.ready() is None:
        return -errno.EPERM  # regular files and our standard streams do not support polling
    if op == EPOLL_CTL_DEL:
        return 0 if ep.interest.pop(fd, None) is not None else -errno.ENOENT
    mask, data = _EVENT.unpack(k.mem.read(event, _EVENT.size))
    if op == EPOLL_CTL_ADD and fd in ep.interest:
        return -errno.EEXIST
    if op == EPOLL_CTL_MOD and fd not in ep.interest:
        return -errno.ENOENT
    if op not in (EPOLL_CTL_ADD, EPOLL_CTL_MOD):
        return -errno.EINVAL
    ep.interest[fd] = Interest(target, mask, data)
    k.threads.wake_all(ep)
    return 0


@handles
def epoll_wait(k: Kernel, t: Task, epfd: int, events: int, maxevents: int, timeout: int):
    return _wait(k, epfd, events, maxevents, _timeout_ms(timeout))


@handles
def epoll_pwait(
    k: Kernel, t: Task, epfd: int, events: int, maxevents: int, timeout: int, sigmask: int, sigsetsize: int
):
    return _wait(k, epfd, events, maxevents, _timeout_ms(timeout))


@handles
def epoll_pwait2(
    k: Kernel, t: Task, epfd: int, events: int, maxevents: int, timeout: int, sigmask: int, sigsetsize: int
):
    ns = read_timespec(k, timeout) if timeout else None
    if timeout and ns is None:
        return -errno.EINVAL
    return _wait(k, epfd, events, maxevents, ns)


@handles
def eventfd2(k: Kernel, t: Task, initval: int, flags: int) -> int:
    if flags & ~(EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC):
        return -errno.EINVAL
    f = EventFd(
        "anon_inode:[eventfd]",
        counter=initval & 0xFFFF_FFFF,
        semaphore=bool(flags & EFD_SEMAPHORE),
        flags=flags & EFD_NONBLOCK | 2,
    )
    return k.fds.install(f, cloexec=bool(flags & EFD_CLOEXEC))


@handles
def eventfd(k: Kernel, t: Task, initval: int) -> int:
    return eventfd2(k, t, initval, 0)


_POLLFD = struct.Struct("<ihh")  # fd, events, revents


def _poll(k: Kernel, fds: int, nfds: int, timeout_ns: int | None):
    """Level-triggered readiness of each pollfd; files that cannot be polled are always ready
    (a regular file never blocks), closed fds answer POLLNVAL."""
    if nfds > k.rlimits[RLIMIT_NOFILE][0]:
        return -errno.EINVAL
    entries = [_POLLFD.unpack(k.mem.read(fds + i * _POLLFD.size, _POLLFD.size)) for i in range(nfds)]
    count = 0
    answers = []
    for fd, events, _ in entries:
        if fd < 0:
            revents = 0
        elif (f := k.fds.files.get(fd)) is None:
            revents = POLLNVAL
        else:
            ready = f.ready()
            ready = EPOLLIN | EPOLLOUT if ready is None else ready
            revents = ready & ((events & 0xFFFF) | EPOLLERR | EPOLLHUP)
        count += bool(revents)
        answers.append(_POLLFD.pack(fd, events, revents))
    if count or timeout_ns == 0:
        if answers:
            k.mem.write(fds, b"".join(answers))
        return count
    deadline = None if timeout_ns is None else k.clock.monotonic() + timeout_ns
    return Block(ObjectWait(POLL_KEY, "poll"), deadline, timeout_result=0, restart=True)


@handles
def poll(k: Kernel, t: Task, fds: int, nfds: int, timeout: int):
    return _poll(k, fds, nfds, _timeout_ms(timeout))


@handles
def ppoll(k: Kernel, t: Task, fds: int, nfds: int, tmo_p: int, sigmask: int, sigsetsize: int):
    ns = read_timespec(k, tmo_p) if tmo_p else None
    if tmo_p and ns is None:
        return -errno.EINVAL
    return _poll(k, fds, nfds, ns)
