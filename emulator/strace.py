"""StraceWriter: syscall events as strace -f prints them.

``[pid N]`` prefixes appear once more than one thread is alive, as strace
does; the line itself comes from the syscall's declaration in
``syscalls.table`` (its argument kinds), so there is one source of truth.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from emulator.events import Event, ExitEvent, SignalEvent, SyscallEvent, ThreadEvent
from syscalls.flags import render_signal
from syscalls.sigframe import SignalInfo
from syscalls.table import lookup, render_call

# si_code names as strace prints them: per signal, then the ones any signal may carry.
_SI_CODES = {
    (11, 1): "SEGV_MAPERR",
    (11, 2): "SEGV_ACCERR",
    (8, 1): "FPE_INTDIV",
    (4, 2): "ILL_ILLOPN",
    (5, 1): "TRAP_BRKPT",
}
_SI_CODES_ANY = {0: "SI_USER", 0x80: "SI_KERNEL", -6: "SI_TKILL"}


def format_call(event: SyscallEvent) -> str:
    if event.decoded is None:
        raise ValueError("syscall recorded without decoded arguments (record_syscalls was off)")
    return render_call(lookup(event.nr), event.decoded, event.decoded_result)


def format_signal(info: SignalInfo) -> str:
    """``--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL} ---``"""
    name = render_signal(info.signo)
    code = _SI_CODES.get((info.signo, info.code)) or _SI_CODES_ANY.get(info.code) or str(info.code)
    if info.addr is not None:
        rest = "si_addr=" + (f"{info.addr:#x}" if info.addr else "NULL")
    else:
        rest = f"si_pid={info.pid}, si_uid={info.uid}"
    return f"--- {name} {{si_signo={name}, si_code={code}, {rest}}} ---"


class StraceWriter:
    """A sink: one line per finished syscall, plus strace's exit lines."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.alive: set[int] = set()

    def __call__(self, event: Event) -> None:
        if isinstance(event, ThreadEvent):
            (self.alive.add if event.what == "start" else self.alive.discard)(event.tid)
        elif isinstance(event, SyscallEvent):
            prefix = f"[pid {event.tid:>5}] " if len(self.alive) > 1 else ""
            self.out.write(prefix + format_call(event) + "\n")
        elif isinstance(event, SignalEvent):
            prefix = f"[pid {event.tid:>5}] " if len(self.alive) > 1 else ""
            self.out.write(prefix + format_signal(event.info) + "\n")
        elif isinstance(event, ExitEvent):
            if event.signal is not None:
                self.out.write(f"+++ killed by signal {event.signal} +++\n")
            elif event.reason == "exit":
                self.out.write(f"+++ exited with {event.status} +++\n")
        self.out.flush()


def format_syscalls(events: Iterable[SyscallEvent]) -> list[str]:
    """Lines without thread prefixes (for the API and tests)."""
    return [format_call(e) for e in events]
