"""Guest threads: a saved CPU context plus what the kernel keeps per thread."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from unicorn.unicorn_py3.unicorn import UcContext

from syscalls.outcome import FutexWait, ObjectWait, Sleep

SS_DISABLE = 2


class ThreadState(Enum):
    RUNNABLE = "runnable"
    BLOCKED = "blocked"
    EXITED = "exited"


@dataclass(eq=False)
class Thread:
    """One guest thread. Its registers live in ``context`` while it is not on the CPU."""

    tid: int
    context: UcContext
    rip: int
    name: str = ""
    state: ThreadState = ThreadState.RUNNABLE
    wait: FutexWait | Sleep | ObjectWait | None = None
    deadline: int | None = None  # virtual monotonic ns
    timeout_result: int = 0
    result: int | None = None  # RAX to deliver when it next runs (a finished blocking call)
    restart_nr: int | None = None  # a blocked call to re-execute on wake-up (its number)
    sa_restart: bool = False  # a signal handler's interruption restarts the blocked call (SA_RESTART)
    clear_child_tid: int = 0
    robust_list: int = 0
    sigmask: int = 0
    saved_sigmask: int | None = None  # rt_sigsuspend: the mask a handler's frame gives back
    sigwait: int = 0  # rt_sigtimedwait: the signals it waits for
    altstack: tuple[int, int, int] = (0, SS_DISABLE, 0)
    exit_status: int | None = None

    def describe_wait(self) -> str:
        if self.wait is None:
            return self.state.value
        text = self.wait.describe()
        return f"{text} (timeout at {self.deadline} ns)" if self.deadline is not None else text
