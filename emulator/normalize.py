"""Normalisation: make two strace logs of one program comparable call by call.

Two runs of the same Go binary differ in ways that say nothing about the
kernel underneath: where mmap put things, what the thread ids were, how often
a thread slept or woke another, what the host's cgroup files held.  Each rule
below removes one such difference and has a name, so a comparison can say
which rules it used and a user can switch one off (``rules=...``).

Rules that rewrite values keep the call in its sequence; rules that
*classify* set a call aside in a named class, compared as a class (counts by
name) instead of one by one.  ``host-files`` does both: a host file's
open..close becomes one entry compared by path and result class only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from emulator.stracelog import CREATING_CALLS, StraceCall, StraceEvent, StraceExit, StraceLog, StraceSignal

__all__ = [
    "CLASSES",
    "DEFAULT_RULES",
    "RULES",
    "SET_ASIDE",
    "Entry",
    "NormalLog",
    "Rule",
    "normalize",
]


@dataclass(frozen=True)
class Rule:
    name: str
    why: str


RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule(
            "addresses",
            "hex values >= 0x10000 are where the kernel or Go's allocator put things: ADDR1, ...; "
            "so is epoll_event's data, where Go keeps a (tagged) pointer to its pollDesc",
        ),
        Rule("thread-ids", "tids are the host's: TID0 (main), TID1, ... by creation order"),
        Rule("fd-paths", "-y/-yy decorations (3</path>) are stripped so such logs compare with plain ones"),
        Rule("timing", "futex, sleeps, yields, preemption signals, epoll waits come and go with timing"),
        Rule("clock", "clock reads that escaped the vDSO (or had none to go to)"),
        Rule("thread-creation", "how many threads Go starts depends on timing and CPUs: clone and its mask"),
        Rule(
            "heap-growth",
            "Go's heap grows in 4 MiB commits and 64 MiB arenas: with Go 1.26's random heap base, "
            "how often is chance",
        ),
        Rule("host-files", "/proc and /sys files are the host's: compared by path and result class only"),
        Rule("host-values", "CPU ids, cpumask size, std stream modes, uname and random bytes are the host's"),
        Rule(
            "moved",
            "the same call elsewhere (another place, another thread) is moved, not missing: Go maps memory "
            "when it runs out and runs goroutines on any free thread",
        ),
        Rule("startup", "the first execve is strace starting the program, not the program"),
        Rule("exits", "strace prints one exit line per thread; the process's status is compared on its own"),
    )
}
DEFAULT_RULES = frozenset(RULES)

# Classes: the set-aside ones are compared by count, the others call by call.
TIMING, CLOCK, THREADS, HEAP, STARTUP, EXITS = "timing", "clock", "threads", "heap-growth", "startup", "exits"
HOST_FILE, HOST_VALUE = "host-file", "host-value"
SET_ASIDE = frozenset({TIMING, CLOCK, THREADS, HEAP, STARTUP, EXITS})
CLASSES = (TIMING, CLOCK, THREADS, HEAP, STARTUP, EXITS, HOST_FILE, HOST_VALUE)

TIMING_CALLS = frozenset(
    {
        "futex",
        "nanosleep",
        "clock_nanosleep",
        "sched_yield",
        "tgkill",
        "tkill",
        "rt_sigreturn",
        "restart_syscall",
        # Go calls getpid only to preempt (tgkill(getpid(), tid, SIGURG)); gettid is in every
        # thread's start-up, at fixed places, so it stays compared.
        "getpid",
        "epoll_wait",
        "epoll_pwait",
        "epoll_pwait2",
    }
)
TIMING_SIGNALS = frozenset({"SIGURG"})
CLOCK_CALLS = frozenset({"clock_gettime", "gettimeofday", "time", "clock_getres"})
HOST_PATH_PREFIXES = ("/proc/", "/sys/")
OPEN_CALLS = {"open": 0, "openat": 1, "creat": 0, "openat2": 1}  # -> index of the path argument
STD_FDS = frozenset({"0", "1", "2"})
HEAP_CHUNK = 4 << 20  # Go's pallocChunkBytes: the heap is committed (sysMap) in these
HEAP_ARENA = 64 << 20  # Go's heapArenaBytes: reserved at a hint address, one at a time
ARENA_METADATA_MAX = 1 << 20  # the heapArena struct mapped right after a reservation (69648 bytes in 1.27)

# Where thread ids appear besides the pid prefix.
TID_RESULTS = CREATING_CALLS | {"gettid", "getpid", "set_tid_address"}
TID_ARGS = {"tgkill": (0, 1), "tkill": (0,), "kill": (0,), "prlimit64": (0,), "sched_getaffinity": (0,),
            "sched_setaffinity": (0,), "wait4": (0,), "waitid": (1,), "tgsigqueueinfo": (0, 1)}  # fmt: skip

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"(?:\.\.\.)?')
_HEX = re.compile(r"(?<![\w.])0x[0-9a-fA-F]+(?![\w])")
_FD_PATH = re.compile(r"(?<![\w])(-?\d+)(?: /\*[^*]*\*/)?<(?:[^<>]|<[^<>]*>)*>")
_EPOLL_DATA = re.compile(r"data=\{u32=\d+, u64=(\d+)\}")  # u32 is u64's low half
_SI_PID = re.compile(r"(si_pid=)(\d+)")
_NUMBERED = re.compile(r"\b(ADDR|TID)\d+\b")
_PROC_PID = re.compile(r"^/proc/\d+/")
ADDRESS_MIN = 0x10000


def _outside_strings(text: str, fn: Callable[[str], str]) -> str:
    """Apply ``fn`` to the parts of ``text`` that are not quoted strings."""
    out, last = [], 0
    for m in _STRING.finditer(text):
        out.append(fn(text[last : m.start()]))
        out.append(m.group())
        last = m.end()
    out.append(fn(text[last:]))
    return "".join(out)


@dataclass
class Entry:
    """One normalised call, signal or exit (or a host file's whole open..close)."""

    thread: int  # creation index: 0 is the main thread
    name: str
    args: tuple[str, ...]
    result: str
    cls: str | None
    events: list[StraceEvent]

    @property
    def lines(self) -> tuple[int, ...]:
        return tuple(n for e in self.events for n in e.lines)

    @property
    def line(self) -> int:
        return self.events[0].lines[0]

    def text(self) -> str:
        if self.name.startswith(("---", "+++")):
            return " ".join((self.name, *self.args, self.name[:3]))
        return f"{self.name}({', '.join(self.args)}) = {self.result}"

    @property
    def key(self) -> str:
        """What alignment compares: the text with ADDRn/TIDn unnumbered."""
        return _NUMBERED.sub(r"\1", self.text())


@dataclass
class NormalLog:
    log: StraceLog
    rules: frozenset[str]
    tids: dict[int, int]  # pid -> creation index
    threads: dict[int, list[Entry]]  # compared entries, per thread, in order
    set_aside: dict[str, list[Entry]] = field(default_factory=dict)
    addresses: dict[int, str] = field(default_factory=dict)

    def pid_of(self, thread: int) -> int:
        return next(pid for pid, index in self.tids.items() if index == thread)

    def entries(self, thread: int) -> list[Entry]:
        """Compared and set-aside entries of one thread, in log order."""
        mine = [e for es in self.set_aside.values() for e in es if e.thread == thread]
        return sorted([*self.threads.get(thread, []), *mine], key=lambda e: e.line)


class _Renamer:
    def __init__(self, rules: frozenset[str], tids: dict[int, int]) -> None:
        self.rules = rules
        self.tids = tids
        self.addresses: dict[int, str] = {}

    def _address(self, value: int) -> str:
        if value not in self.addresses:
            self.addresses[value] = f"ADDR{len(self.addresses) + 1}"
        return self.addresses[value]

    def addr(self, match: re.Match[str]) -> str:
        value = int(match.group(), 16)
        return match.group() if value < ADDRESS_MIN else self._address(value)

    def epoll_data(self, match: re.Match[str]) -> str:
        """``data={u32=N, u64=M}`` -> ``data=ADDRn``: a pollDesc pointer (Go 1.21) or a tagged one."""
        value = int(match.group(1))
        return match.group() if value < ADDRESS_MIN else f"data={self._address(value)}"

    def tid(self, text: str) -> str:
        """``3883`` -> ``TID0`` when it is a known tid (0 means "the caller" and stays)."""
        if "thread-ids" not in self.rules or not text.isdigit() or text == "0":
            return text
        index = self.tids.get(int(text))
        return text if index is None else f"TID{index}"

    def value(self, text: str) -> str:
        if "fd-paths" in self.rules:
            text = _outside_strings(text, lambda s: _FD_PATH.sub(r"\1", s))
        if "addresses" in self.rules:
            text = _outside_strings(text, lambda s: _HEX.sub(self.addr, _EPOLL_DATA.sub(self.epoll_data, s)))
        return text

    def call(self, call: StraceCall) -> tuple[tuple[str, ...], str]:
        args = [self.value(a) for a in call.args]
        for i in TID_ARGS.get(call.name, ()):
            if i < len(args):
                args[i] = self.tid(args[i])
        shown = self.value(call.result_text or "")
        if call.name in TID_RESULTS:
            shown = self.tid(shown)
        result = " ".join(x for x in (shown, call.errno, call.annotation) if x)
        if call.result is None:
            result = "<unfinished>"
        return tuple(args), result

    def signal_info(self, info: str) -> str:
        info = self.value(info)
        return _SI_PID.sub(lambda m: m.group(1) + self.tid(m.group(2)), info)


def _host_values(name: str, args: tuple[str, ...], result: str) -> tuple[tuple[str, ...], str] | None:
    """Masked arguments and result when the call shows host facts, else None."""
    if name == "sched_getaffinity" and len(args) == 3:
        cpus = len(args[2].strip("[]").split()) if args[2].startswith("[") else args[2]
        return (*args[:2], f"[{cpus} CPUs]"), ("SIZE" if not result.startswith("-") else result)
    if name == "fcntl" and len(args) == 2 and args[0] in STD_FDS and args[1] == "F_GETFL":
        return args, "FLAGS" if not result.startswith("-") else result
    if name == "uname" and args:
        return ("{...}",), result
    if name == "getrandom" and args:
        return ("BYTES", *args[1:]), result
    return None


def _host_path(path: str) -> str | None:
    """The compared form of a host-specific path, or None for an ordinary file."""
    if not path.startswith('"'):
        return None
    bare = path.strip('"')
    if not bare.startswith(HOST_PATH_PREFIXES):
        return None
    bare = _PROC_PID.sub("/proc/self/", bare)
    if bare.startswith("/sys/fs/cgroup/"):
        bare = "/sys/fs/cgroup/*"  # v1 or v2, and which controller files: the host's layout
    return f'"{bare}"'


def _result_class(result: str) -> str:
    parts = result.split()
    return parts[1] if parts and parts[0] == "-1" and len(parts) > 1 else "fd"


def normalize(log: StraceLog, rules: Iterable[str] = DEFAULT_RULES) -> NormalLog:
    """Apply ``rules`` (names from RULES) to a parsed log."""
    chosen = frozenset(rules)
    unknown = chosen - DEFAULT_RULES
    if unknown:
        raise ValueError(f"unknown normalisation rules: {', '.join(sorted(unknown))}")
    tids = {pid: i for i, pid in enumerate(log.creation_order())}
    renamer = _Renamer(chosen, tids)
    normal = NormalLog(log, chosen, tids, {i: [] for i in tids.values()})
    entries = [_entry(event, tids[event.pid], renamer, chosen) for event in log.events]
    normal.addresses = {value: name for value, name in renamer.addresses.items()}
    if "startup" in chosen:
        first = next((e for e in entries if e.thread == 0), None)
        if first is not None and first.name == "execve":
            first.cls = STARTUP
    if "host-files" in chosen:
        entries = _collapse_host_files(entries)
    for entry in entries:
        if entry.cls in SET_ASIDE:
            normal.set_aside.setdefault(entry.cls, []).append(entry)
        else:
            normal.threads.setdefault(entry.thread, []).append(entry)
    if "thread-creation" in chosen:
        for thread, seq in normal.threads.items():
            normal.threads[thread] = _set_aside_thread_creation(seq, normal.set_aside)
    if "heap-growth" in chosen:
        for thread, seq in normal.threads.items():
            normal.threads[thread] = _set_aside_arenas(seq, normal.set_aside)
    return normal


def _entry(event: StraceEvent, thread: int, renamer: _Renamer, rules: frozenset[str]) -> Entry:
    if isinstance(event, StraceSignal):
        cls = TIMING if "timing" in rules and event.signal in TIMING_SIGNALS else None
        info = renamer.signal_info(event.info)
        return Entry(thread, f"--- {event.signal}", (info,) if info else (), "", cls, [event])
    if isinstance(event, StraceExit):
        cls = EXITS if "exits" in rules else None
        what = event.text().removeprefix("+++ ").removesuffix(" +++")
        return Entry(thread, "+++", (what,), "", cls, [event])
    args, result = renamer.call(event)
    cls: str | None = None
    if "timing" in rules and (event.name in TIMING_CALLS or _cut_off(event)):
        cls = TIMING  # a call the exit cut off mid-way is timing too
    elif "clock" in rules and event.name in CLOCK_CALLS:
        cls = CLOCK
    elif "heap-growth" in rules and _is_heap_commit(event.name, args):
        cls = HEAP
    elif "host-values" in rules:
        masked = _host_values(event.name, args, result)
        if masked is not None:
            args, result = masked
            cls = HOST_VALUE
    return Entry(thread, event.name, args, result, cls, [event])


def _cut_off(call: StraceCall) -> bool:
    """A call that never returned because exit_group ended its thread: strace shows ``= ?``, and
    ``???()`` when the thread was caught between syscalls. Only timing decides which calls these are."""
    never_return = call.name in ("exit", "exit_group", "rt_sigreturn", "execve")
    return call.result is None or call.name == "???" or (call.result == "?" and not never_return)


def _is_heap_commit(name: str, args: tuple[str, ...]) -> bool:
    """``mmap(ADDR, 4194304, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS, -1, 0)``."""
    if name != "mmap" or len(args) != 6 or not args[1].isdigit():
        return False
    size = int(args[1])
    return (
        size % HEAP_CHUNK == 0
        and size > 0
        and args[2] == "PROT_READ|PROT_WRITE"
        and "MAP_FIXED" in args[3].split("|")
        and args[4] == "-1"
    )


def _mmap_args(entry: Entry) -> tuple[str, int, str, str] | None:
    """(addr, length, prot, flags) of an anonymous mmap entry."""
    args = entry.args
    if entry.name != "mmap" or len(args) != 6 or not args[1].isdigit() or args[4] != "-1":
        return None
    return args[0], int(args[1]), args[2], args[3]


def _set_aside_arenas(seq: list[Entry], set_aside: dict[str, list[Entry]]) -> list[Entry]:
    """A 64 MiB PROT_NONE reservation at a hint, and the arena metadata mapped right after it."""
    keep: list[Entry] = []
    taken: list[Entry] = []
    after_reservation = False
    for entry in seq:
        mmap = _mmap_args(entry)
        if mmap is not None and mmap[0] != "NULL" and mmap[1] == HEAP_ARENA and mmap[2] == "PROT_NONE":
            taken.append(entry)
            after_reservation = True
            continue
        if after_reservation and mmap is not None and mmap[0] == "NULL" and mmap[1] < ARENA_METADATA_MAX:
            taken.append(entry)  # the arena's metadata
        else:
            keep.append(entry)
        after_reservation = False
    for entry in taken:
        entry.cls = HEAP
    if taken:
        set_aside.setdefault(HEAP, []).extend(taken)
        set_aside[HEAP].sort(key=lambda e: (e.thread, e.line))
    return keep


def _collapse_host_files(entries: list[Entry]) -> list[Entry]:
    """Fold each host file's open, reads and close into one entry at the open.

    fds are the process's, so sessions are followed across threads; entries
    with the same path following each other in a thread merge (Go reads
    cgroup v1's two files where v2 has one).
    """
    out: list[Entry] = []
    sessions: dict[str, Entry] = {}  # fd -> session entry
    for entry in entries:
        if entry.cls is None and entry.name in OPEN_CALLS and len(entry.args) > OPEN_CALLS[entry.name]:
            path = _host_path(entry.args[OPEN_CALLS[entry.name]])
            if path is not None:
                result = _result_class(entry.result)
                session = Entry(entry.thread, "host-file", (path,), result, HOST_FILE, list(entry.events))
                previous = next(
                    (e for e in reversed(out) if e.thread == entry.thread and e.cls not in SET_ASIDE), None
                )
                if previous is not None and previous.key == session.key:
                    previous.events += session.events
                    session = previous
                else:
                    out.append(session)
                if result == "fd":
                    sessions[entry.result.split()[0]] = session
                continue
        fd = _fd_used(entry)
        if fd is not None and fd in sessions and entry.cls not in SET_ASIDE:
            sessions[fd].events += entry.events
            if entry.name == "close":
                del sessions[fd]
            continue
        out.append(entry)
    return out


def _fd_used(entry: Entry) -> str | None:
    if entry.name == "epoll_ctl" and len(entry.args) > 2:
        return entry.args[2]
    if entry.name == "mmap" and len(entry.args) > 4:
        return entry.args[4]
    return entry.args[0] if entry.args and entry.args[0].isdigit() else None


def _is_mask_all(entry: Entry) -> bool:
    return entry.name == "rt_sigprocmask" and entry.args[:2] == ("SIG_SETMASK", "~[]")


def _is_mask_restore(entry: Entry) -> bool:
    return entry.name == "rt_sigprocmask" and len(entry.args) > 2 and entry.args[0] == "SIG_SETMASK" \
        and entry.args[2] == "NULL"  # fmt: skip


def _set_aside_thread_creation(seq: list[Entry], set_aside: dict[str, list[Entry]]) -> list[Entry]:
    """clone and the signal mask Go blocks around it (``~[]`` before, restored after)."""
    keep: list[Entry] = []
    taken: list[Entry] = []
    i = 0
    while i < len(seq):
        entry = seq[i]
        if entry.name in CREATING_CALLS:
            entry.cls = THREADS
            taken.append(entry)
            if keep and _is_mask_all(keep[-1]):
                before = keep.pop()
                before.cls = THREADS
                taken.append(before)
            if i + 1 < len(seq) and _is_mask_restore(seq[i + 1]):
                seq[i + 1].cls = THREADS
                taken.append(seq[i + 1])
                i += 1
        else:
            keep.append(entry)
        i += 1
    if taken:
        bucket = set_aside.setdefault(THREADS, [])
        bucket.extend(taken)
        bucket.sort(key=lambda e: (e.thread, e.line))
    return keep
