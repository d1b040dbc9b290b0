"""The virtual clock: time is guest work plus slept time, never the host's.

One guest instruction is one nanosecond. When every thread sleeps, the clock
jumps to the earliest deadline, so ``time.Sleep(10 * time.Second)`` costs no
host time. CLOCK_REALTIME starts at a fixed date so every run sees the same.
The TSC ticks once per nanosecond too, so between jumps every clock is the TSC
plus a constant: that is all the vDSO (emulator/vdso.py) needs to know.
"""

from __future__ import annotations

from collections.abc import Callable

NS_PER_INSTRUCTION = 1
TSC_PER_INSTRUCTION = NS_PER_INSTRUCTION  # one tick per nanosecond: clock = TSC + tsc_offset(clock)
BOOT_NS = 100_000_000_000  # monotonic time at the first instruction: 100 s after "boot"
REALTIME_AT_BOOT_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z

CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID = 0, 1, 2, 3
CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME = 4, 5, 6, 7
CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM, CLOCK_TAI = 8, 9, 11
_MONOTONIC_CLOCKS = {
    CLOCK_MONOTONIC,
    CLOCK_MONOTONIC_RAW,
    CLOCK_MONOTONIC_COARSE,
    CLOCK_BOOTTIME,
    CLOCK_BOOTTIME_ALARM,
}
_REALTIME_CLOCKS = {CLOCK_REALTIME, CLOCK_REALTIME_COARSE, CLOCK_REALTIME_ALARM, CLOCK_TAI}
_CPU_CLOCKS = {CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID}


class VirtualClock:
    """Clocks derived from the instruction counter and the time spent asleep."""

    def __init__(self, instructions: Callable[[], int], on_jump: Callable[[], None] | None = None) -> None:
        self._instructions = instructions
        self._on_jump = on_jump  # told when the clock jumps, so the vDSO's offsets can follow
        self.idle_ns = 0

    def monotonic(self) -> int:
        return BOOT_NS + self._instructions() * NS_PER_INSTRUCTION + self.idle_ns

    def now(self, clock_id: int) -> int:
        if clock_id in _MONOTONIC_CLOCKS:
            return self.monotonic()
        if clock_id in _REALTIME_CLOCKS:
            return REALTIME_AT_BOOT_NS + self.monotonic() - BOOT_NS
        if clock_id in _CPU_CLOCKS:
            return self._instructions() * NS_PER_INSTRUCTION
        raise KeyError(clock_id)

    def tsc_offset(self, clock_id: int) -> int:
        """What ``clock_id`` reads minus the TSC; constant until the clock next jumps."""
        return self.now(clock_id) - self._instructions() * TSC_PER_INSTRUCTION

    def sleep_until(self, deadline: int) -> None:
        """Every thread waits: jump forward to ``deadline``."""
        jump = max(deadline - self.monotonic(), 0)
        if jump:
            self.idle_ns += jump
            if self._on_jump is not None:
                self._on_jump()

    def instructions_until(self, deadline: int) -> int:
        return max((deadline - self.monotonic()) // NS_PER_INSTRUCTION, 1)
