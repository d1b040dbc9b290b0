"""What a handler may return besides a plain result.

Blocking, exiting and yielding are values, not calls into the scheduler: the
handler says what should happen and the machine makes it so. A plain ``int``
is the syscall's result (negative: -errno).
"""

from __future__ import annotations

from dataclasses import dataclass

from syscalls.sigframe import UserContext


@dataclass(frozen=True)
class FutexWait:
    """Asleep on a futex word until a matching FUTEX_WAKE."""

    addr: int
    bitset: int = 0xFFFF_FFFF

    def describe(self) -> str:
        return f"futex {self.addr:#x}"


@dataclass(frozen=True)
class Sleep:
    """Asleep until the deadline only (nanosleep, clock_nanosleep)."""

    def describe(self) -> str:
        return "sleep"


@dataclass(frozen=True)
class ObjectWait:
    """Asleep until a kernel object (an epoll instance, an eventfd) changes."""

    key: object
    what: str

    def describe(self) -> str:
        return self.what


@dataclass(frozen=True)
class Block:
    """Park the calling thread on ``wait`` until woken or until ``deadline``.

    ``deadline`` is in virtual CLOCK_MONOTONIC nanoseconds (None: no timeout);
    when it passes first, the call returns ``timeout_result``. With
    ``restart``, a wake-up re-executes the syscall (as the kernel's
    ERESTARTSYS does), so the handler looks again at what changed.

    A signal with a handler interrupts the wait: the call returns -EINTR, or,
    with ``sa_restart`` (the calls ``man 7 signal`` lists as restarted: read
    and write of pipes, futex waits without a timeout) and a handler installed
    with SA_RESTART, runs again once the handler returns.
    """

    wait: FutexWait | Sleep | ObjectWait
    deadline: int | None = None
    timeout_result: int = 0
    restart: bool = False
    sa_restart: bool = False


@dataclass(frozen=True)
class Yield:
    """sched_yield: let the other runnable threads go first."""


@dataclass(frozen=True)
class ExitThread:
    """exit(2): this thread ends."""

    status: int


@dataclass(frozen=True)
class ExitGroup:
    """exit_group(2): the whole process ends."""

    status: int


@dataclass(frozen=True)
class RestoreContext:
    """rt_sigreturn: the thread resumes with these registers (RAX included: no result)."""

    context: UserContext


Outcome = int | Block | Yield | ExitThread | ExitGroup | RestoreContext
