"""Process identity and limits: ids, uname, rlimits, affinity, prctl, getrandom."""

from __future__ import annotations

import struct

from syscalls import errno
from syscalls.kernel import Kernel, Task, handles

RLIM_INFINITY = 0xFFFF_FFFF_FFFF_FFFF
RLIMIT_STACK, RLIMIT_NOFILE, RLIMIT_AS = 3, 7, 9
RLIMIT_NLIMITS = 16
PR_SET_NAME, PR_GET_NAME = 15, 16
GRND_NONBLOCK, GRND_RANDOM, GRND_INSECURE = 1, 2, 4
UNAME_RELEASE = b"6.1.0-emulator"
_RLIMIT = struct.Struct("<QQ")


def default_rlimits() -> dict[int, tuple[int, int]]:
    """What a fresh login shell typically has; the rest unlimited."""
    limits = {r: (RLIM_INFINITY, RLIM_INFINITY) for r in range(RLIMIT_NLIMITS)}
    limits[RLIMIT_STACK] = (8 << 20, RLIM_INFINITY)
    limits[RLIMIT_NOFILE] = (1024, 4096)
    limits[4] = (0, RLIM_INFINITY)  # RLIMIT_CORE
    limits[8] = (8 << 20, 8 << 20)  # RLIMIT_MEMLOCK
    return limits


@handles
def getpid(k: Kernel, t: Task) -> int:
    return k.config.pid


@handles
def getppid(k: Kernel, t: Task) -> int:
    return k.config.pid - 1


@handles
def getuid(k: Kernel, t: Task) -> int:
    return k.config.uid


@handles
def geteuid(k: Kernel, t: Task) -> int:
    return k.config.uid


@handles
def getgid(k: Kernel, t: Task) -> int:
    return k.config.gid


@handles
def getegid(k: Kernel, t: Task) -> int:
    return k.config.gid


@handles
def uname(k: Kernel, t: Task, buf: int) -> int:
    fields = (
        b"Linux",
        k.config.hostname.encode(),
        UNAME_RELEASE,
        b"#1 SMP PREEMPT_DYNAMIC",
        b"x86_64",
        b"(none)",
    )
    k.mem.write(buf, b"".join(f[:64].ljust(65, b"\0") for f in fields))
    return 0


@handles
def sched_getaffinity(k: Kernel, t: Task, pid: int, cpusetsize: int, mask: int) -> int:
    if cpusetsize < 8 or cpusetsize % 8:
        return -errno.EINVAL
    k.mem.write(mask, ((1 << k.config.cpus) - 1).to_bytes(8, "little"))
    return 8


@handles
def getrandom(k: Kernel, t: Task, buf: int, buflen: int, flags: int) -> int:
    if flags & ~(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE):
        return -errno.EINVAL
    count = min(buflen, 32 << 20)
    k.mem.write(buf, k.random.randbytes(count))
    return count


def _get_set_rlimit(k: Kernel, resource: int, new: int, old: int) -> int:
    if not 0 <= resource < RLIMIT_NLIMITS:
        return -errno.EINVAL
    if new:
        cur, maximum = _RLIMIT.unpack(k.mem.read(new, _RLIMIT.size))
        if cur > maximum:
            return -errno.EINVAL
        if maximum > k.rlimits[resource][1]:
            return -errno.EPERM  # an unprivileged process cannot raise a hard limit (nor escape --max-fds)
    if old:
        k.mem.write(old, _RLIMIT.pack(*k.rlimits[resource]))
    if new:
        k.rlimits[resource] = (cur, maximum)
    return 0


@handles
def prlimit64(k: Kernel, t: Task, pid: int, resource: int, new_limit: int, old_limit: int) -> int:
    if pid not in (0, k.config.pid):
        return -errno.ESRCH
    return _get_set_rlimit(k, resource, new_limit, old_limit)


@handles
def getrlimit(k: Kernel, t: Task, resource: int, rlim: int) -> int:
    return _get_set_rlimit(k, resource, 0, rlim)


@handles
def setrlimit(k: Kernel, t: Task, resource: int, rlim: int) -> int:
    return _get_set_rlimit(k, resource, rlim, 0)


@handles
def prctl(k: Kernel, t: Task, option: int, arg2: int, arg3: int, arg4: int, arg5: int) -> int:
    if option == PR_SET_NAME:
        t.name = k.mem.read_cstring(arg2, 16)[:15].decode("latin-1")
        return 0
    if option == PR_GET_NAME:
        k.mem.write(arg2, t.name.encode("latin-1")[:15].ljust(16, b"\0"))
        return 0
    return -errno.EINVAL
