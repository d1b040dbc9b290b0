"""The run's limits, and the watchdog that stops the guest from outside the run loop.

Two kinds of limit. Those the guest meets as a Linux resource limit (memory,
threads, file descriptors, bytes written) answer a syscall with an errno, as
the kernel would, and the run goes on: the guest decides what happens (Go
prints its own fatal error). Those that are the emulator's own (guest
instructions, host time, Ctrl-C) end the run with a report and a status of
ours (``emulator.exitcodes``). The trace-size limit only truncates the trace.

A second Ctrl-C raises KeyboardInterrupt in the main thread, for the one case
the first cannot reach: the main thread blocked in a host call (a guest
reading the terminal), which Python retries after running the handler.

Stopping from outside: unicorn holds the main thread inside ``emu_start``
(ctypes releases the GIL there, but Python runs no signal handler until it
returns), and an asynchronous ``uc_emu_stop`` can re-execute an instruction
(FACTS.md). So the watchdog thread instead sets the native block hook's
deadline to 0: the CPU stops at the next block boundary exactly as at the end
of a time slice, and what the guest did up to there is a prefix of the
deterministic run.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
import time
from dataclasses import dataclass
from typing import TextIO

from syscalls.kernel import DEFAULT_MAX_THREADS, DEFAULT_MAX_WRITE_BYTES, GuestLimits

DEFAULT_MEMORY_LIMIT = 4 << 30
DEFAULT_MAX_TRACE_BYTES = 1 << 30


@dataclass(frozen=True)
class Limits:
    """Every limit of a run; None is unlimited. Part of the run's identity except ``timeout``."""

    instructions: int | None = None  # guest instructions, then exit INSTRUCTION_BUDGET
    timeout: float | None = None  # host seconds, then exit TIMEOUT
    memory: int = DEFAULT_MEMORY_LIMIT  # committed guest bytes, then mmap/brk answer ENOMEM
    threads: int = DEFAULT_MAX_THREADS  # live guest threads (RLIMIT_NPROC), then clone answers EAGAIN
    fds: int | None = None  # open descriptors (RLIMIT_NOFILE), then EMFILE; None: 1024 soft, 4096 hard
    write_bytes: int | None = DEFAULT_MAX_WRITE_BYTES  # to files and stdout/stderr: EFBIG + SIGXFSZ
    trace_bytes: int | None = DEFAULT_MAX_TRACE_BYTES  # of each trace output, then a truncation marker

    def guest(self) -> GuestLimits:
        """The part the kernel enforces."""
        return GuestLimits(threads=self.threads, fds=self.fds, write_bytes=self.write_bytes)


# What a limit the guest met (an errno, counted by the kernel) is called in the note at exit.
GUEST_LIMIT_FLAGS = {
    "memory": ("--memory-limit", "ENOMEM"),
    "threads": ("--max-threads", "EAGAIN"),
    "fds": ("--max-fds", "EMFILE"),
    "write-bytes": ("--max-write-bytes", "EFBIG"),
}


def describe_limit_hits(hits: dict[str, int], limits: Limits) -> str:
    """One line per limit the guest ran into: the guest saw only the errno, the user should know why."""
    values = {
        "memory": limits.memory,
        "threads": limits.threads,
        "fds": limits.fds,
        "write-bytes": limits.write_bytes,
    }
    lines = []
    for name, count in sorted(hits.items()):
        flag, err = GUEST_LIMIT_FLAGS[name]
        value = values[name]
        setting = f"{flag} {value}" if value is not None else f"{flag} (the guest's own rlimit)"
        lines.append(f"emulator: limit reached: {setting}: {count} syscall(s) answered {err}")
    return "\n".join(lines)


class Watchdog:
    """Stops the CPU on Ctrl-C or when the host-time limit passes, then says why.

    ``stop`` is the native work counter's deadline setter; the run loop reads
    ``reason`` between slices. Ctrl-C is caught only in the main thread (where
    Python delivers signals); the handler is restored on exit.
    """

    def __init__(self, stop_cpu, timeout: float | None, catch_interrupt: bool = True) -> None:
        self._stop_cpu = stop_cpu
        self.timeout = timeout
        self.reason: str | None = None  # "timeout" or "interrupted"
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._catch = catch_interrupt and threading.current_thread() is threading.main_thread()
        self._pipe: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None
        self._old_handler = None
        self._old_wakeup = -1
        self._presses = 0

    def trip(self, reason: str) -> None:
        """Stop the guest at the next block boundary (idempotent; the first reason wins)."""
        if self.reason is None:
            self.reason = reason
        self._stop_cpu()

    def check(self) -> str | None:
        """Between slices: why the run must stop now, if it must."""
        if self.reason is None and self._deadline is not None and time.monotonic() >= self._deadline:
            self.reason = "timeout"
        return self.reason

    def __enter__(self) -> Watchdog:
        if not self._catch and self._deadline is None:
            return self
        self._pipe = os.pipe()
        for fd in self._pipe:
            os.set_blocking(fd, False)
        if self._catch:
            self._old_handler = signal.signal(signal.SIGINT, self._on_sigint)
            # The C-level handler writes the signal number here at once, even inside emu_start.
            self._old_wakeup = signal.set_wakeup_fd(self._pipe[1], warn_on_full_buffer=False)
        self._thread = threading.Thread(target=self._watch, name="emulator-watchdog", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._pipe is None:
            return
        if self._catch:
            signal.set_wakeup_fd(self._old_wakeup)
            signal.signal(signal.SIGINT, self._old_handler)
        with contextlib.suppress(OSError):
            os.write(self._pipe[1], b"\0")  # 0 is no signal: the watcher's cue to leave
        if self._thread is not None:
            self._thread.join()
        for fd in self._pipe:
            os.close(fd)
        self._pipe = None

    def _on_sigint(self, _signo: int, _frame: object) -> None:
        """Python's own handler, run by the main thread between bytecodes. The watcher thread
        already stopped the CPU; a second Ctrl-C raises, to break out of a blocking host call
        (a guest reading the terminal), which Python otherwise retries after the handler."""
        self._presses += 1
        if self._presses > 1:
            raise KeyboardInterrupt
        self.trip("interrupted")

    def _watch(self) -> None:
        assert self._pipe is not None
        read_end = self._pipe[0]
        while True:
            wait = None if self._deadline is None else max(0.0, self._deadline - time.monotonic())
            ready, _, _ = select.select([read_end], [], [], wait)
            if not ready:
                self.trip("timeout")
                return
            try:
                data = os.read(read_end, 64)
            except BlockingIOError:
                continue
            if signal.SIGINT in data:
                self.trip("interrupted")
            if 0 in data:
                return


class LimitedText:
    """A trace output that stops after ``limit`` bytes with one truncation marker line.

    The run goes on: the trace observes the guest and must not change how the
    run ends. ``truncated`` tells the caller to say so at exit.
    """

    def __init__(self, out: TextIO, limit: int | None) -> None:
        self.out = out
        self.limit = limit
        self.written = 0
        self.truncated = False

    def write(self, text: str) -> int:
        if self.truncated:
            return len(text)
        size = len(text.encode("utf-8", "replace"))
        if self.limit is not None and self.written + size > self.limit:
            self.truncated = True
            self.out.write(f"... trace truncated: --max-trace-bytes {self.limit} reached ...\n")
            return len(text)
        self.written += size
        return self.out.write(text)

    def flush(self) -> None:
        self.out.flush()
