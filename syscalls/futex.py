"""futex(2): the wait/wake half the Go runtime and libc threads rely on."""

from __future__ import annotations

from syscalls import errno
from syscalls.abi import read_i64, read_u32
from syscalls.kernel import Kernel, Task, handles
from syscalls.outcome import Block, FutexWait

FUTEX_WAIT, FUTEX_WAKE = 0, 1
FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET = 9, 10
FUTEX_PRIVATE_FLAG = 128
FUTEX_CLOCK_REALTIME = 256
FUTEX_BITSET_MATCH_ANY = 0xFFFF_FFFF
CLOCK_REALTIME, CLOCK_MONOTONIC = 0, 1
NSEC_PER_SEC = 1_000_000_000


def read_timespec(k: Kernel, addr: int) -> int | None:
    """A struct timespec as nanoseconds; None for an invalid one."""
    sec, nsec = read_i64(k.mem, addr), read_i64(k.mem, addr + 8)
    if sec < 0 or not 0 <= nsec < NSEC_PER_SEC:
        return None
    return sec * NSEC_PER_SEC + nsec


def deadline_on_monotonic(k: Kernel, value: int, *, absolute: bool, clock_id: int) -> int:
    """Turn a timeout into a deadline on the monotonic clock the scheduler keeps."""
    mono = k.clock.monotonic()
    if not absolute:
        return mono + value
    return mono + max(value - k.clock.now(clock_id), 0)


@handles
def futex(k: Kernel, t: Task, uaddr: int, op: int, val: int, timeout: int, uaddr2: int, val3: int):
    cmd = op & ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)
    if uaddr % 4:
        return -errno.EINVAL
    if cmd in (FUTEX_WAIT, FUTEX_WAIT_BITSET):
        bitset = val3 & 0xFFFF_FFFF if cmd == FUTEX_WAIT_BITSET else FUTEX_BITSET_MATCH_ANY
        if bitset == 0:
            return -errno.EINVAL
        deadline = None
        if timeout:
            ns = read_timespec(k, timeout)
            if ns is None:
                return -errno.EINVAL
            clock = CLOCK_REALTIME if op & FUTEX_CLOCK_REALTIME else CLOCK_MONOTONIC
            deadline = deadline_on_monotonic(k, ns, absolute=cmd == FUTEX_WAIT_BITSET, clock_id=clock)
        if read_u32(k.mem, uaddr) != val & 0xFFFF_FFFF:
            return -errno.EAGAIN
        # Linux restarts an interrupted wait only without a timeout (ERESTARTSYS, else EINTR).
        return Block(
            FutexWait(uaddr, bitset), deadline, timeout_result=-errno.ETIMEDOUT, sa_restart=deadline is None
        )
    if cmd in (FUTEX_WAKE, FUTEX_WAKE_BITSET):
        bitset = val3 & 0xFFFF_FFFF if cmd == FUTEX_WAKE_BITSET else FUTEX_BITSET_MATCH_ANY
        if bitset == 0:
            return -errno.EINVAL
        return k.threads.futex_wake(uaddr, val & 0x7FFF_FFFF, bitset)
    return -errno.ENOSYS
