"""FutexTable: who sleeps on which futex word, in arrival order."""

from __future__ import annotations

from collections import defaultdict

from emulator.threads import Thread
from syscalls.outcome import FutexWait


class FutexTable:
    """Wait queues keyed by guest address (one process: private and shared are the same)."""

    def __init__(self) -> None:
        self._queues: defaultdict[int, list[Thread]] = defaultdict(list)

    def enqueue(self, thread: Thread, addr: int) -> None:
        self._queues[addr].append(thread)

    def dequeue(self, addr: int, count: int, bitset: int) -> list[Thread]:
        """Remove and return up to ``count`` waiters whose bitset matches, oldest first."""
        queue = self._queues.get(addr)
        if not queue:
            return []
        woken = []
        for thread in list(queue):
            if len(woken) >= count:
                break
            wait = thread.wait
            if isinstance(wait, FutexWait) and wait.bitset & bitset:
                queue.remove(thread)
                woken.append(thread)
        if not queue:
            del self._queues[addr]
        return woken

    def cancel(self, thread: Thread) -> None:
        """Take a thread off its queue (its wait timed out)."""
        wait = thread.wait
        if isinstance(wait, FutexWait) and thread in self._queues.get(wait.addr, ()):
            self._queues[wait.addr].remove(thread)
            if not self._queues[wait.addr]:
                del self._queues[wait.addr]
