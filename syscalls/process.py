"""Process identity, limits and accounting: ids, uname, sysinfo, rusage, rlimits, affinity,
prctl, getrandom; and the refusal of new processes (execve, fork), which are not emulated.

Every answer comes from the KernelConfig or the virtual clock, so a run is
deterministic: CPU time is guest instructions, uptime is virtual time.
"""

from __future__ import annotations

import struct

from syscalls import errno
from syscalls.abi import write_u32
from syscalls.futex import NSEC_PER_SEC
from syscalls.kernel import Kernel, Task, handles
from syscalls.kinds import signed32

RLIM_INFINITY = 0xFFFF_FFFF_FFFF_FFFF
RLIMIT_STACK, RLIMIT_NOFILE, RLIMIT_AS = 3, 7, 9
RLIMIT_NLIMITS = 16
PR_SET_NAME, PR_GET_NAME = 15, 16
GRND_NONBLOCK, GRND_RANDOM, GRND_INSECURE = 1, 2, 4
UNAME_RELEASE = b"6.1.0-emulator"
_RLIMIT = struct.Struct("<QQ")
RUSAGE_SELF, RUSAGE_CHILDREN, RUSAGE_THREAD = 0, -1, 1
CLOCK_PROCESS_CPUTIME_ID = 2
_NS_PER_TICK = NSEC_PER_SEC // 100  # USER_HZ
# uptime, loads[3], totalram, freeram, sharedram, bufferram, totalswap, freeswap, procs (+pad),
# totalhigh, freehigh, mem_unit (+padding to 112 bytes)
_SYSINFO = struct.Struct("<q3Q6QH6xQQI4x")
_RUSAGE = struct.Struct("<4q14q")  # ru_utime, ru_stime (timevals), then 14 longs from ru_maxrss
MEMBARRIER_CMD_QUERY = 0
# GLOBAL, GLOBAL_EXPEDITED, REGISTER_GLOBAL_EXPEDITED, PRIVATE_EXPEDITED, REGISTER_PRIVATE_EXPEDITED
_MEMBARRIER_COMMANDS = (1, 2, 4, 8, 16)
_MEMBARRIER_SUPPORTED = sum(_MEMBARRIER_COMMANDS)
_MEMBARRIER_NEEDS_REGISTRATION = {8: 16}  # PRIVATE_EXPEDITED after REGISTER_PRIVATE_EXPEDITED


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
    """CPUs 0 .. --cpus-1, for any of our threads."""
    size = (k.config.cpus + 63) // 64 * 8
    if cpusetsize < size or cpusetsize % 8:
        return -errno.EINVAL
    if pid and k.threads.task(pid) is None:
        return -errno.ESRCH
    k.mem.write(mask, ((1 << k.config.cpus) - 1).to_bytes(size, "little"))
    return size


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


@handles
def getgroups(k: Kernel, t: Task, size: int, list_: int) -> int:
    """One supplementary group, the user's own, as for a fresh login."""
    groups = [k.config.gid]
    size = signed32(size)
    if size == 0:
        return len(groups)
    if size < len(groups):
        return -errno.EINVAL
    k.mem.write(list_, struct.pack(f"<{len(groups)}I", *groups))
    return len(groups)


def _own(k: Kernel, pid: int) -> bool:
    return signed32(pid) in (0, k.config.pid)


@handles
def getpgrp(k: Kernel, t: Task) -> int:
    return k.config.pid  # a shell starts each job in a process group of its own


@handles
def getpgid(k: Kernel, t: Task, pid: int) -> int:
    return k.config.pid if _own(k, pid) else -errno.ESRCH


@handles
def getsid(k: Kernel, t: Task, pid: int) -> int:
    return k.config.pid - 1 if _own(k, pid) else -errno.ESRCH  # the session of the shell (our parent)


@handles
def setsid(k: Kernel, t: Task) -> int:
    return -errno.EPERM  # a process group leader (getpgrp() == getpid()) cannot start a session


@handles
def sysinfo(k: Kernel, t: Task, info: int) -> int:
    """Uptime on the virtual clock; RAM is the memory limit, free what is not committed."""
    total, free = k.mem.limit, max(k.mem.limit - k.mem.committed, 0)
    uptime = k.clock.monotonic() // NSEC_PER_SEC
    procs = len(k.threads.tasks())
    k.mem.write(info, _SYSINFO.pack(uptime, 0, 0, 0, total, free, 0, 0, 0, 0, procs, 0, 0, 1))
    return 0


def _timeval(ns: int) -> tuple[int, int]:
    return ns // NSEC_PER_SEC, ns % NSEC_PER_SEC // 1000


@handles
def getrusage(k: Kernel, t: Task, who: int, usage: int) -> int:
    """All CPU time is user time (system calls cost no guest instructions); children: none.
    Per-thread CPU time is not kept, so RUSAGE_THREAD reports the process's."""
    who = signed32(who)
    if who not in (RUSAGE_SELF, RUSAGE_CHILDREN, RUSAGE_THREAD):
        return -errno.EINVAL
    cpu = 0 if who == RUSAGE_CHILDREN else k.clock.now(CLOCK_PROCESS_CPUTIME_ID)
    maxrss = 0 if who == RUSAGE_CHILDREN else k.mem.committed // 1024
    k.mem.write(usage, _RUSAGE.pack(*_timeval(cpu), 0, 0, maxrss, *([0] * 13)))
    return 0


@handles
def times(k: Kernel, t: Task, buf: int) -> int:
    """CPU time in clock ticks (USER_HZ); the result is ticks since boot."""
    if buf:
        k.mem.write(buf, struct.pack("<4q", k.clock.now(CLOCK_PROCESS_CPUTIME_ID) // _NS_PER_TICK, 0, 0, 0))
    return k.clock.monotonic() // _NS_PER_TICK


@handles
def getcpu(k: Kernel, t: Task, cpu: int, node: int, tcache: int) -> int:
    """Thread n runs on CPU n mod --cpus: a fixed answer within the affinity mask."""
    if cpu:
        write_u32(k.mem, cpu, (t.tid - k.config.pid) % k.config.cpus)
    if node:
        write_u32(k.mem, node, 0)
    return 0


@handles
def membarrier(k: Kernel, t: Task, cmd: int, flags: int, cpu_id: int) -> int:
    """One CPU runs every guest thread in turn: every barrier is already there."""
    if cmd == MEMBARRIER_CMD_QUERY:
        return _MEMBARRIER_SUPPORTED
    if flags or cmd not in _MEMBARRIER_COMMANDS:
        return -errno.EINVAL
    if cmd in _MEMBARRIER_NEEDS_REGISTRATION and _MEMBARRIER_NEEDS_REGISTRATION[cmd] not in k.registrations:
        return -errno.EPERM
    k.registrations.add(cmd)
    return 0


@handles
def execve(k: Kernel, t: Task, pathname: int, argv: int, envp: int) -> int:
    return k.refuse("execve")


@handles
def execveat(k: Kernel, t: Task, dirfd: int, pathname: int, argv: int, envp: int, flags: int) -> int:
    return k.refuse("execveat")


@handles
def fork(k: Kernel, t: Task) -> int:
    return k.refuse("fork")


@handles
def vfork(k: Kernel, t: Task) -> int:
    return k.refuse("vfork")


WNOHANG, WUNTRACED, WEXITED, WCONTINUED, WNOWAIT = 1, 2, 4, 8, 0x1000000
_WAIT_CLONE_BITS = 0x20000000 | 0x40000000 | 0x80000000  # __WNOTHREAD, __WALL, __WCLONE
P_ALL, P_PID, P_PGID, P_PIDFD = 0, 1, 2, 3


@handles
def wait4(k: Kernel, t: Task, pid: int, wstatus: int, options: int, rusage: int) -> int:
    """The guest never has a child (fork and execve are refused): after Linux's argument
    checks every wait answers ECHILD, which is what os.Process.Wait reports."""
    if options & ~(WNOHANG | WUNTRACED | WCONTINUED | _WAIT_CLONE_BITS):
        return -errno.EINVAL
    if signed32(pid) == -(2**31):
        return -errno.ESRCH
    return -errno.ECHILD


@handles
def waitid(k: Kernel, t: Task, idtype: int, ident: int, infop: int, options: int, rusage: int) -> int:
    """As wait4: no children, so ECHILD once the arguments pass Linux's checks."""
    if options & ~(WNOHANG | WNOWAIT | WEXITED | WUNTRACED | WCONTINUED | _WAIT_CLONE_BITS):
        return -errno.EINVAL
    if not options & (WEXITED | WUNTRACED | WCONTINUED):
        return -errno.EINVAL
    ident = signed32(ident)
    if (idtype == P_PID and ident <= 0) or (idtype == P_PGID and ident < 0):
        return -errno.EINVAL
    if idtype == P_PIDFD:  # pidfd_open is refused, so no descriptor is a pidfd
        return -errno.EINVAL if ident in k.fds.files else -errno.EBADF
    if idtype not in (P_ALL, P_PID, P_PGID):
        return -errno.EINVAL
    return -errno.ECHILD
