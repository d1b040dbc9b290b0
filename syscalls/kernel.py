"""The Linux personality: process-wide kernel state and dispatch to handlers.

A handler is a plain function ``handler(k: Kernel, t: Task, *args) -> Outcome``
registered under its syscall's name with ``@handles``; it lives in the module
of its area (``memory``, ``threads``, ``futex``, ``signals``, ``files``,
``poll``, ``pipes``, ``time``, ``process``). It reaches the machine only through the small
protocols below, so it never touches unicorn.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from syscalls import errno
from syscalls.abi import BadAddress, GuestMemory
from syscalls.errno import LimitError, SyscallError
from syscalls.outcome import Outcome
from syscalls.sigframe import SignalInfo
from syscalls.table import TABLE, Support
from syscalls.vfs import FsConfig, Vfs


class Task(Protocol):
    """The calling thread as handlers see it."""

    tid: int
    name: str
    sigmask: int
    saved_sigmask: int | None  # rt_sigsuspend's mask to restore once a handler returns
    sigwait: int  # the signals an rt_sigtimedwait of this thread waits for
    altstack: tuple[int, int, int]  # ss_sp, ss_flags, ss_size
    clear_child_tid: int
    robust_list: int


class Mapping(Protocol):
    """One VMA as /proc/self/maps shows it."""

    start: int
    end: int
    prot: int
    name: str


class Memory(GuestMemory, Protocol):
    """Guest memory plus the mapping operations mmap and friends need."""

    brk_start: int
    brk: int
    limit: int  # bytes the guest may commit (--memory-limit)
    committed: int  # bytes committed now

    @property
    def vmas(self) -> Iterable[Mapping]:
        """The memory map, in address order (read-only: /proc/self/maps)."""
        ...

    def map(self, start: int, length: int, prot: int, name: str = "", *, replace: bool = True) -> None: ...
    def unmap(self, start: int, length: int) -> None: ...
    def protect(self, start: int, length: int, prot: int) -> None: ...
    def discard(self, start: int, length: int) -> None: ...
    def find_free(self, length: int, hint: int = 0) -> int: ...
    def set_brk(self, new: int) -> int: ...
    def mapped_pages(self, start: int, length: int) -> bool: ...
    def poke(self, addr: int, data: bytes) -> None:
        """Write whatever the protection (file contents into a fresh mapping)."""
        ...


class Clock(Protocol):
    def now(self, clock_id: int) -> int:
        """Nanoseconds on ``clock_id``; raises KeyError for an unknown clock."""
        ...

    def monotonic(self) -> int: ...


class Threads(Protocol):
    """Thread operations that need the CPU or the scheduler."""

    def clone(self, parent: Task, *, stack: int, tls: int | None, clear_child_tid: int) -> int: ...
    def futex_wake(self, addr: int, count: int, bitset: int) -> int: ...
    def wake_all(self, key: object) -> None:
        """Wake every thread in an ObjectWait on ``key``; they retry their syscall."""
        ...

    def task(self, tid: int) -> Task | None:
        """The live thread ``tid``, if there is one."""
        ...

    def tasks(self) -> list[Task]:
        """Every live thread, by thread id (which is creation order)."""
        ...

    def interrupt(self, tid: int, sig: int) -> None:
        """``sig`` is pending for ``tid``: if it waits in a syscall, end the wait (-EINTR, or a
        restart after a SA_RESTART handler where Linux restarts the call)."""
        ...

    def stack_pointer(self) -> int:
        """The calling thread's RSP (rt_sigreturn finds its frame there)."""
        ...

    def set_fs_base(self, value: int) -> None: ...
    def fs_base(self) -> int: ...


class Console(Protocol):
    """The host side of the guest's standard streams."""

    def write(self, fd: int, data: bytes) -> int: ...
    def read(self, fd: int, size: int) -> bytes: ...


RLIMIT_FSIZE, RLIMIT_NPROC, RLIMIT_NOFILE = 1, 6, 7
SIGXFSZ, SI_USER = 25, 0
DEFAULT_MAX_THREADS = 10_000  # Go's own default (debug.SetMaxThreads): Go's message comes first
DEFAULT_MAX_WRITE_BYTES = 1 << 30


@dataclass(frozen=True)
class GuestLimits:
    """The run's limits the guest meets as Linux resource limits: an errno, not the end of the run.

    ``threads`` is RLIMIT_NPROC (clone answers EAGAIN), ``fds`` RLIMIT_NOFILE
    (EMFILE; None keeps a login shell's 1024 soft / 4096 hard), and
    ``write_bytes`` caps all bytes written to files and the standard streams
    together (EFBIG plus SIGXFSZ, as at RLIMIT_FSIZE; None: no cap).
    """

    threads: int = DEFAULT_MAX_THREADS
    fds: int | None = None
    write_bytes: int | None = DEFAULT_MAX_WRITE_BYTES


@dataclass
class KernelConfig:
    """What the guest sees of its world; every field is part of a run's identity."""

    seed: int = 0
    cpus: int = 1
    pid: int = 1000
    uid: int = 1000
    gid: int = 1000
    hostname: str = "emulator"
    argv: list[bytes] = field(default_factory=list)
    envp: list[bytes] = field(default_factory=list)
    exe_path: str = "/proc/self/exe"  # the host path of the guest's binary
    limits: GuestLimits = field(default_factory=GuestLimits)
    filesystem: FsConfig = field(default_factory=FsConfig)


# Calls refused on purpose, by what the program was trying to do (the line printed at exit).
REFUSED = {
    "starts subprocesses": ("execve", "execveat", "fork", "vfork", "clone"),
    "opens network sockets": ("socket", "socketpair"),
}

Handler = Callable[..., Outcome]
HANDLERS: dict[str, Handler] = {}


def load_handlers() -> dict[str, Handler]:
    """Import every area module (each registers its handlers) and return the registry."""
    from syscalls import files, futex, memory, pipes, poll, process, signals, sockets, threads, time  # noqa: F401

    return HANDLERS


def handles(func: Handler) -> Handler:
    """Register ``func`` as the handler of the syscall with the same name."""
    name = func.__name__.rstrip("_")
    if name in HANDLERS:
        raise ValueError(f"two handlers for {name}")
    HANDLERS[name] = func
    return func


class Kernel:
    """One emulated process's kernel state and the dispatch into handlers."""

    def __init__(
        self, config: KernelConfig, mem: Memory, clock: Clock, threads: Threads, console: Console
    ) -> None:
        handlers = load_handlers()
        from syscalls.files import FdTable
        from syscalls.process import default_rlimits
        from syscalls.signals import SignalTable

        self.config = config
        self.mem = mem
        self.clock = clock
        self.threads = threads
        self.console = console
        self.random = random.Random(config.seed)
        self.vfs = Vfs(config.filesystem, self)
        self.initial_stack = (
            b""  # argc, argv, envp and auxv as the process started (set by the loader's caller)
        )
        self.signals = SignalTable()
        self.rlimits: dict[int, tuple[int, int]] = default_rlimits()
        self.rlimits[RLIMIT_NPROC] = (config.limits.threads, config.limits.threads)
        if config.limits.fds is not None:
            self.rlimits[RLIMIT_NOFILE] = (config.limits.fds, config.limits.fds)
        self.fds = FdTable(limit=lambda: self.rlimits[RLIMIT_NOFILE][0])
        self.unimplemented: Counter[str] = Counter()
        self.limit_hits: Counter[str] = Counter()  # limit name -> syscalls it failed
        self.written = 0  # bytes written to files and standard streams, for limits.write_bytes
        self.current: Task | None = None  # the thread whose syscall is being handled
        self.refused: Counter[str] = Counter()  # calls that would start a new process
        self.registrations: set[int] = set()  # membarrier commands registered
        # number -> (name, handler, how many register arguments it takes)
        self._dispatch: dict[int, tuple[str, Handler | None, int]] = {}
        for nr, sc in TABLE.items():
            handler = handlers.get(sc.name)
            self._dispatch[nr] = (sc.name, handler, handler.__code__.co_argcount - 2 if handler else 0)

    def refuse(self, name: str) -> int:
        """A capability we do not emulate yet (REFUSED: new processes, sockets). The guest sees
        ENOSYS (Go reports it as an error); the run reports each kind once, at exit."""
        self.refused[name] += 1
        return -errno.ENOSYS

    def handle(self, task: Task, nr: int, args: list[int]) -> Outcome:
        """Run syscall ``nr``; unknown and unimplemented calls answer -ENOSYS."""
        name, handler, argc = self._dispatch.get(nr, (f"syscall_{nr:#x}", None, 0))
        if handler is None:
            sc = TABLE.get(nr)
            if sc is None or sc.support is Support.NONE:
                self.unimplemented[name] += 1
            return -errno.ENOSYS
        self.current = task
        try:
            return handler(self, task, *args[:argc])
        except LimitError as e:
            self.limit_hits[e.limit] += 1
            return -e.errno
        except SyscallError as e:
            return -e.errno
        except BadAddress:
            return -errno.EFAULT

    def account_write(self, count: int) -> int:
        """How many of ``count`` bytes the current write may take under ``limits.write_bytes``.

        Every write to a file or a standard stream calls this before writing.
        Linux at RLIMIT_FSIZE: a write that would cross the limit is cut short
        to it; one at the limit gets EFBIG and SIGXFSZ (which kills unless
        handled or ignored, as Go ignores it).
        """
        limit = self.config.limits.write_bytes
        room = count if limit is None else min(count, limit - self.written)
        if count and room <= 0:
            if self.current is not None:
                info = SignalInfo(SIGXFSZ, SI_USER, pid=self.config.pid, uid=self.config.uid)
                self.signals.pending.setdefault(self.current.tid, {}).setdefault(SIGXFSZ, info)
            raise LimitError("write-bytes", errno.EFBIG, f"{limit} bytes written")
        self.written += room
        return room
