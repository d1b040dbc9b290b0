"""Time calls, all on the virtual clock: a sleep never waits on the host."""

from __future__ import annotations

import struct

from syscalls import errno
from syscalls.abi import write_i64
from syscalls.futex import CLOCK_REALTIME, NSEC_PER_SEC, deadline_on_monotonic, read_timespec
from syscalls.kernel import Kernel, Task, handles
from syscalls.outcome import Block, Sleep

TIMER_ABSTIME = 1


def _timespec(ns: int) -> bytes:
    return struct.pack("<qq", ns // NSEC_PER_SEC, ns % NSEC_PER_SEC)


def _now(k: Kernel, clock_id: int) -> int | None:
    try:
        return k.clock.now(clock_id)
    except KeyError:
        return None


@handles
def clock_gettime(k: Kernel, t: Task, clockid: int, tp: int) -> int:
    ns = _now(k, clockid)
    if ns is None:
        return -errno.EINVAL
    k.mem.write(tp, _timespec(ns))
    return 0


@handles
def clock_getres(k: Kernel, t: Task, clockid: int, res: int) -> int:
    if _now(k, clockid) is None:
        return -errno.EINVAL
    if res:
        k.mem.write(res, _timespec(1))
    return 0


@handles
def gettimeofday(k: Kernel, t: Task, tv: int, tz: int) -> int:
    ns = k.clock.now(CLOCK_REALTIME)
    if tv:
        k.mem.write(tv, struct.pack("<qq", ns // NSEC_PER_SEC, ns % NSEC_PER_SEC // 1000))
    if tz:
        k.mem.write(tz, bytes(8))
    return 0


@handles
def time(k: Kernel, t: Task, tloc: int) -> int:
    sec = k.clock.now(CLOCK_REALTIME) // NSEC_PER_SEC
    if tloc:
        write_i64(k.mem, tloc, sec)
    return sec


@handles
def nanosleep(k: Kernel, t: Task, req: int, rem: int):
    ns = read_timespec(k, req)
    if ns is None:
        return -errno.EINVAL
    return Block(Sleep(), k.clock.monotonic() + ns)


@handles
def clock_nanosleep(k: Kernel, t: Task, clockid: int, flags: int, req: int, rem: int):
    if _now(k, clockid) is None:
        return -errno.EINVAL
    ns = read_timespec(k, req)
    if ns is None:
        return -errno.EINVAL
    return Block(
        Sleep(), deadline_on_monotonic(k, ns, absolute=bool(flags & TIMER_ABSTIME), clock_id=clockid)
    )
