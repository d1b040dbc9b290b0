"""Scheduler: which guest thread runs next, deterministically.

Round robin over a FIFO run queue; the running thread is not in the queue.
A thread leaves the CPU when it blocks, exits, yields, or uses up its slice
of guest instructions. Blocked threads wake on a futex wake or at their
deadline on the virtual clock.
"""

from __future__ import annotations

from collections import deque

from emulator.threads import Thread, ThreadState
from syscalls.outcome import FutexWait, ObjectWait, Sleep

QUANTUM = 2_000_000  # instructions per slice (2 ms of virtual time)


class Deadlock(Exception):
    """Every thread waits and no timer can wake any of them."""

    def __init__(self, threads: list[Thread]) -> None:
        self.threads = threads
        super().__init__("all threads are blocked and no timer is pending")


class Scheduler:
    def __init__(self) -> None:
        self.threads: dict[int, Thread] = {}
        self._runqueue: deque[Thread] = deque()
        self.created = 0

    def add(self, thread: Thread) -> None:
        self.threads[thread.tid] = thread
        self.created += 1
        self._runqueue.append(thread)

    def remove(self, thread: Thread) -> None:
        thread.state = ThreadState.EXITED
        self.threads.pop(thread.tid, None)
        if thread in self._runqueue:
            self._runqueue.remove(thread)

    def block(
        self, thread: Thread, wait: FutexWait | Sleep | ObjectWait, deadline: int | None, timeout_result: int
    ) -> None:
        thread.state = ThreadState.BLOCKED
        thread.wait, thread.deadline, thread.timeout_result = wait, deadline, timeout_result

    def wake(self, thread: Thread, result: int) -> None:
        thread.state = ThreadState.RUNNABLE
        thread.wait, thread.deadline, thread.result = None, None, result
        thread.sigwait = 0
        self._runqueue.append(thread)

    def requeue(self, thread: Thread) -> None:
        self._runqueue.append(thread)

    def has_runnable(self) -> bool:
        return bool(self._runqueue)

    def pop_runnable(self) -> Thread | None:
        return self._runqueue.popleft() if self._runqueue else None

    def next_deadline(self) -> int | None:
        deadlines = [t.deadline for t in self.threads.values() if t.deadline is not None]
        return min(deadlines) if deadlines else None

    def due(self, now: int) -> list[Thread]:
        """Blocked threads whose deadline has passed, earliest first (ties by tid)."""
        due = [t for t in self.threads.values() if t.deadline is not None and t.deadline <= now]
        return sorted(due, key=lambda t: (t.deadline, t.tid))
