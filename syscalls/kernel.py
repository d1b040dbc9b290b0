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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from syscalls import errno
from syscalls.abi import BadAddress, GuestMemory
from syscalls.errno import SyscallError
from syscalls.outcome import Outcome
from syscalls.table import TABLE, Support


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


class Memory(GuestMemory, Protocol):
    """Guest memory plus the mapping operations mmap and friends need."""

    brk_start: int
    brk: int
    limit: int  # bytes the guest may commit (--memory-limit)
    committed: int  # bytes committed now

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

    def tasks(self) -> list[Task]:
        """Every live thread, by thread id."""
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
    exe_path: str = "/proc/self/exe"


Handler = Callable[..., Outcome]
HANDLERS: dict[str, Handler] = {}


def load_handlers() -> dict[str, Handler]:
    """Import every area module (each registers its handlers) and return the registry."""
    from syscalls import files, futex, memory, pipes, poll, process, signals, threads, time  # noqa: F401

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
        self.fds = FdTable()
        self.signals = SignalTable()
        self.rlimits: dict[int, tuple[int, int]] = default_rlimits()
        self.unimplemented: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()  # calls that would start a new process
        self.registrations: set[int] = set()  # membarrier commands registered
        # number -> (name, handler, how many register arguments it takes)
        self._dispatch: dict[int, tuple[str, Handler | None, int]] = {}
        for nr, sc in TABLE.items():
            handler = handlers.get(sc.name)
            self._dispatch[nr] = (sc.name, handler, handler.__code__.co_argcount - 2 if handler else 0)

    def refuse(self, name: str) -> int:
        """A new process (execve, fork, a non-thread clone): not emulated. The guest sees ENOSYS
        (Go's os/exec reports it as an error); the run reports it once, at exit."""
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
        try:
            return handler(self, task, *args[:argc])
        except SyscallError as e:
            return -e.errno
        except BadAddress:
            return -errno.EFAULT
