"""Diff a native strace log against the emulator's, thread by thread.

The question it answers: where does our Linux personality behave
differently from Linux for this program?  Both logs are read by
``emulator.stracelog`` and normalised by ``emulator.normalize``; what the
rules set aside is summarised per class, everything else is aligned:

* the main thread as one sequence (difflib on normalised keys, then calls of
  the same name inside a changed region paired up as argument mismatches);
* every other thread paired with one thread of the other side by role: the
  same position in creation order, unless another thread's calls fit better.

Addresses and thread ids are compared as a consistent renaming (a
bijection), not by number, so one extra mmap on one side does not shift
every later ADDRn.  A call missing in one place and extra in another (the
same thread or not) is ``moved``: explained, but listed.  Exit status 0
means nothing unexplained remains.

The native run is made to see what the emulator shows its guest where the
host would differ for no reason of the kernel's: the same environment,
CPUs, fd limit and default signal dispositions.
"""

from __future__ import annotations

import contextlib
import ctypes
import difflib
import io
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from emulator.normalize import CLASSES, CLOCK, DEFAULT_RULES, RULES, SET_ASIDE, Entry, NormalLog, normalize
from emulator.stracelog import StraceLog, parse_strace, read_strace

__all__ = [
    "ClassSummary",
    "DiffReport",
    "Difference",
    "NativeRunError",
    "OutcomeCheck",
    "Run",
    "ThreadDiff",
    "compare_runs",
    "diff_logs",
    "load_native",
    "record_emulated",
    "record_native",
    "render_html",
    "render_text",
    "status_from_log",
]

SIDES = ("native", "emulator")
_SYS_RT_SIGACTION = 13


class NativeRunError(RuntimeError):
    """strace is missing, or may not trace here (ptrace not permitted)."""


@dataclass
class Run:
    """One side: its strace log and, when it was run here, what it printed and its status."""

    log: StraceLog
    stdout: bytes | None = None
    stderr: bytes | None = None
    status: int | None = None
    log_path: str | None = None
    stats: object | None = None  # the emulator's Stats (instructions, time) when it ran here


@dataclass
class Difference:
    """``missing`` (native only), ``extra`` (emulator only), ``mismatch`` (both, not equal),
    or ``moved`` (both, equal, at different places in the thread: explained by the ``moved`` rule).
    """

    kind: str
    thread: tuple[int | None, int | None]  # creation index on each side
    native: Entry | None
    emulator: Entry | None
    details: list[str] = field(default_factory=list)

    @property
    def explained(self) -> bool:
        return self.kind == "moved"

    @property
    def cls(self) -> str | None:
        return (self.native or self.emulator).cls  # type: ignore[union-attr]

    def to_json(self) -> dict[str, object]:
        def side(entry: Entry | None) -> dict[str, object] | None:
            if entry is None:
                return None
            return {"lines": list(entry.lines), "text": entry.text(), "raw": [e.raw for e in entry.events]}

        return {
            "kind": self.kind,
            "class": self.cls,
            "explained": self.explained,
            "native": side(self.native),
            "emulator": side(self.emulator),
            "details": self.details,
        }


@dataclass
class ThreadDiff:
    """One pair of threads (or a thread only one side has)."""

    native: int | None  # creation index
    emulator: int | None
    native_pid: int | None
    emulator_pid: int | None
    matched: int = 0
    differences: list[Difference] = field(default_factory=list)
    calls: tuple[int, int] = (0, 0)  # compared entries on each side

    @property
    def role(self) -> str:
        if self.native == 0 and self.emulator == 0:
            return "main thread"
        if self.native is None:
            return f"thread #{self.emulator} (emulator only)"
        if self.emulator is None:
            return f"thread #{self.native} (native only)"
        same = self.native == self.emulator
        return f"thread #{self.native}" if same else f"thread #{self.native} ~ emulator's #{self.emulator}"

    @property
    def paired(self) -> bool:
        return self.native is not None and self.emulator is not None

    def count(self, kind: str) -> int:
        return sum(d.kind == kind for d in self.differences)

    @property
    def unexplained(self) -> int:
        return sum(not d.explained for d in self.differences) if self.paired else 0


@dataclass
class OutcomeCheck:
    """Exit status, stdout or stderr of both sides; ``same`` is None when one was not recorded."""

    what: str
    native: object
    emulator: object

    @property
    def same(self) -> bool | None:
        if self.native is None or self.emulator is None:
            return None
        return self.native == self.emulator


@dataclass
class ClassSummary:
    """A class of calls: how many on each side, by name."""

    name: str
    set_aside: bool
    by_name: dict[str, tuple[int, int]]
    differing: int = 0  # compared classes: entries of this class among the differences

    @property
    def counts(self) -> tuple[int, int]:
        return sum(n for n, _ in self.by_name.values()), sum(m for _, m in self.by_name.values())


@dataclass
class DiffReport:
    threads: list[ThreadDiff]
    classes: list[ClassSummary]
    rules: list[str]
    outcome: list[OutcomeCheck] = field(default_factory=list)
    sources: tuple[str | None, str | None] = (None, None)
    # The normalised logs compared: every call in its place, for the side-by-side page.
    normal: tuple[NormalLog, NormalLog] | None = field(default=None, repr=False)

    @property
    def main(self) -> ThreadDiff:
        return self.threads[0]

    @property
    def unexplained(self) -> int:
        outcome = sum(check.same is False for check in self.outcome)
        return outcome + sum(t.unexplained for t in self.threads)

    @property
    def exit_code(self) -> int:
        return 0 if self.unexplained == 0 else 1

    def to_json(self) -> dict[str, object]:
        return {
            "exit_code": self.exit_code,
            "unexplained": self.unexplained,
            "rules": self.rules,
            "logs": dict(zip(SIDES, self.sources, strict=True)),
            "outcome": [
                {
                    "what": c.what,
                    "same": c.same,
                    "native": _jsonable(c.native),
                    "emulator": _jsonable(c.emulator),
                }
                for c in self.outcome
            ],
            "threads": [
                {
                    "role": t.role,
                    "native": {"index": t.native, "pid": t.native_pid, "compared": t.calls[0]},
                    "emulator": {"index": t.emulator, "pid": t.emulator_pid, "compared": t.calls[1]},
                    "matched": t.matched,
                    "missing": t.count("missing"),
                    "extra": t.count("extra"),
                    "mismatched": t.count("mismatch"),
                    "moved": t.count("moved"),
                    "paired": t.paired,  # unpaired threads are the threads class's, not compared
                    "differences": [d.to_json() for d in t.differences],
                }
                for t in self.threads
            ],
            "classes": {
                c.name: {
                    "set_aside": c.set_aside,
                    "native": c.counts[0],
                    "emulator": c.counts[1],
                    "differing": c.differing,
                    "by_name": {k: {"native": n, "emulator": m} for k, (n, m) in c.by_name.items()},
                }
                for c in self.classes
            },
        }


def _jsonable(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return value


# --- comparison -----------------------------------------------------------------------------

_TOKEN = re.compile(r"\b((?:ADDR|TID)\d+)\b")


class _Renaming:
    """ADDRn and TIDn paired between the sides: each must always meet the same partner."""

    def __init__(self, tid_pairs: dict[str, str]) -> None:
        self.forward: dict[str, str] = dict(tid_pairs)
        self.backward: dict[str, str] = {v: k for k, v in tid_pairs.items()}

    def conflicts(self, a: str, b: str) -> list[str]:
        """Why ``a`` and ``b`` (equal keys) disagree under the renaming; pairs their tokens if they agree.

        Within one call the tokens must correspond one to one (``mmap(A) = A``
        is not ``mmap(B) = C``).  Across calls a token met again with a
        partner the other side has never shown is re-paired: an address was
        reused for something new on one side only (Go's random heap base,
        munmap then mmap), which says nothing about the kernel.
        """
        left, right = _TOKEN.split(a)[1::2], _TOKEN.split(b)[1::2]
        if len(left) != len(right):
            return [f"{a} | {b}"]
        here = dict(zip(left, right, strict=True))
        if len(set(here.values())) != len(here) or any(
            here[x] != y for x, y in zip(left, right, strict=True)
        ):
            return [f"{' '.join(left)} | {' '.join(right)}: not the same pattern"]
        problems: list[str] = []
        for x, y in here.items():
            was_x, was_y = self.forward.get(x), self.backward.get(y)
            if was_x is not None and was_y is not None and was_x != y:
                problems.append(f"{x} | {y}: earlier {x} went with {was_x}, and {y} with {was_y}")
        if not problems:
            for x, y in here.items():
                self.backward.pop(self.forward.get(x, ""), None)
                self.forward.pop(self.backward.get(y, ""), None)
                self.forward[x], self.backward[y] = y, x
        return problems


def _details(a: Entry, b: Entry) -> list[str]:
    """Which arguments (or the result) of two same-name entries differ."""
    out = []
    for i in range(max(len(a.args), len(b.args))):
        x = a.args[i] if i < len(a.args) else "(none)"
        y = b.args[i] if i < len(b.args) else "(none)"
        if _TOKEN.sub(_kind, x) != _TOKEN.sub(_kind, y):
            out.append(f"arg {i + 1}: {x} | {y}")
    if _TOKEN.sub(_kind, a.result) != _TOKEN.sub(_kind, b.result):
        out.append(f"result: {a.result} | {b.result}")
    return out


def _kind(match: re.Match[str]) -> str:
    return match.group(1).rstrip("0123456789")


def _align(
    a: Sequence[Entry], b: Sequence[Entry], renaming: _Renaming, threads: tuple[int | None, int | None]
) -> tuple[int, list[Difference]]:
    """Matched count and differences between two sequences of compared entries."""
    matched, diffs = 0, []
    ops = difflib.SequenceMatcher(None, [e.key for e in a], [e.key for e in b], autojunk=False).get_opcodes()
    for op, i1, i2, j1, j2 in ops:
        if op == "equal":
            for x, y in zip(a[i1:i2], b[j1:j2], strict=True):
                problems = renaming.conflicts(x.text(), y.text())
                if problems:
                    diffs.append(Difference("mismatch", threads, x, y, problems))
                else:
                    matched += 1
            continue
        # Inside a changed region, calls of the same name pair up as mismatches.
        sub = difflib.SequenceMatcher(
            None, [e.name for e in a[i1:i2]], [e.name for e in b[j1:j2]], autojunk=False
        ).get_opcodes()
        for op2, k1, k2, l1, l2 in sub:
            xs, ys = a[i1 + k1 : i1 + k2], b[j1 + l1 : j1 + l2]
            if op2 == "equal":
                for x, y in zip(xs, ys, strict=True):
                    diffs.append(Difference("mismatch", threads, x, y, _details(x, y)))
            else:
                diffs += [Difference("missing", threads, x, None) for x in xs]
                diffs += [Difference("extra", threads, None, y) for y in ys]
    return matched, diffs


def _pair_moved(diffs: list[Difference], renaming: _Renaming) -> list[Difference]:
    """A missing and an extra entry with the same key are one call, moved."""
    extras: dict[str, list[Difference]] = {}
    for d in diffs:
        if d.kind == "extra" and d.emulator is not None:
            extras.setdefault(d.emulator.key, []).append(d)
    out: list[Difference] = []
    taken: set[int] = set()
    for d in diffs:
        if d.kind == "missing" and d.native is not None and extras.get(d.native.key):
            other = extras[d.native.key].pop(0)
            taken.add(id(other))
            renaming.conflicts(d.native.text(), other.emulator.text())  # type: ignore[union-attr]
            out.append(Difference("moved", d.thread, d.native, other.emulator))
        elif id(d) not in taken:
            out.append(d)
    return [d for d in out if id(d) not in taken]


def _similarity(a: NormalLog, i: int, b: NormalLog, j: int) -> float:
    """How alike two threads are: their compared calls first, then call names and creation order."""
    ka = [e.key for e in a.threads.get(i, [])]
    kb = [e.key for e in b.threads.get(j, [])]
    order = difflib.SequenceMatcher(None, ka, kb, autojunk=False).ratio() if ka or kb else 1.0
    # Which calls a thread makes at all tells sysmon (nanosleep) from an idle M (futex);
    # how often it makes them is timing.  Clock reads depend on the vDSO, not the role.
    na = {e.name for e in a.entries(i) if e.cls != CLOCK}
    nb = {e.name for e in b.entries(j) if e.cls != CLOCK}
    names = len(na & nb) / max(len(na | nb), 1)
    return order + 0.25 * names + 0.25 / (1 + abs(i - j))  # creation order breaks near-ties


def _pair_threads(a: NormalLog, b: NormalLog) -> list[tuple[int | None, int | None]]:
    """Main with main; the others greedily, the most alike pair first."""
    left = sorted(i for i in a.threads if i != 0)
    right = sorted(j for j in b.threads if j != 0)
    scored = sorted((-_similarity(a, i, b, j), abs(i - j), i, j) for i in left for j in right)
    pairs: list[tuple[int | None, int | None]] = [(0, 0)]
    used_a: set[int] = set()
    used_b: set[int] = set()
    for _, _, i, j in scored:
        if i not in used_a and j not in used_b:
            pairs.append((i, j))
            used_a.add(i)
            used_b.add(j)
    pairs += [(i, None) for i in left if i not in used_a]
    pairs += [(None, j) for j in right if j not in used_b]
    return sorted(pairs, key=lambda p: (p[0] if p[0] is not None else 1 << 30, p[1] or 0))


def _pair_moved_across_threads(
    threads: list[ThreadDiff], a: NormalLog, b: NormalLog, renaming: _Renaming
) -> None:
    """A call missing from one thread and extra in another is the same call, made on another M.

    Go runs a goroutine on whichever thread is free: after start-up even the
    main goroutine's write or exit_group may come from another thread.  The
    calls of threads only one side has count here too.
    """
    # (the difference it was, if any; the entry; its thread's creation index)
    Candidate = tuple[Difference | None, Entry, int | None]
    missing: list[Candidate] = []
    extra: dict[str, list[Candidate]] = {}
    for t in threads:
        for d in t.differences:
            if d.kind == "missing" and d.native is not None:
                missing.append((d, d.native, t.native))
            elif d.kind == "extra" and d.emulator is not None:
                extra.setdefault(d.emulator.key, []).append((d, d.emulator, t.emulator))
        if t.native is not None and t.emulator is None:
            missing += [(None, e, t.native) for e in a.threads.get(t.native, [])]
        if t.emulator is not None and t.native is None:
            for e in b.threads.get(t.emulator, []):
                extra.setdefault(e.key, []).append((None, e, t.emulator))
    replaced: dict[int, Difference] = {}  # id of a difference -> the moved one in its place
    removed: set[int] = set()
    for was_missing, entry, i in missing:
        if not extra.get(entry.key):
            continue
        was_extra, other, j = extra[entry.key].pop(0)
        if was_missing is None and was_extra is None:
            continue  # both in threads the other side lacks: the threads class says so already
        renaming.conflicts(entry.text(), other.text())
        moved = Difference("moved", (i, j), entry, other)
        if was_missing is not None:
            replaced[id(was_missing)] = moved
            if was_extra is not None:
                removed.add(id(was_extra))
        elif was_extra is not None:
            replaced[id(was_extra)] = moved
    for t in threads:
        t.differences = [replaced.get(id(d), d) for d in t.differences if id(d) not in removed]


def diff_logs(native: StraceLog, emulated: StraceLog, rules: Iterable[str] = DEFAULT_RULES) -> DiffReport:
    """Align and compare two parsed logs under ``rules``."""
    chosen = frozenset(rules)
    a, b = normalize(native, chosen), normalize(emulated, chosen)
    pairs = _pair_threads(a, b)
    renaming = _Renaming({f"TID{i}": f"TID{j}" for i, j in pairs if i is not None and j is not None})
    threads = []
    for i, j in pairs:
        seq_a = a.threads.get(i, []) if i is not None else []
        seq_b = b.threads.get(j, []) if j is not None else []
        t = ThreadDiff(
            i, j, a.pid_of(i) if i is not None else None, b.pid_of(j) if j is not None else None,
            calls=(len(seq_a), len(seq_b)),
        )  # fmt: skip
        if t.paired:
            t.matched, t.differences = _align(seq_a, seq_b, renaming, (i, j))
            if "moved" in chosen:
                t.differences = _pair_moved(t.differences, renaming)
        threads.append(t)
    if "moved" in chosen:
        _pair_moved_across_threads(threads, a, b, renaming)
    return DiffReport(
        threads,
        _classes(a, b, threads),
        sorted(chosen),
        sources=(native.source, emulated.source),
        normal=(a, b),
    )


def _classes(a: NormalLog, b: NormalLog, threads: list[ThreadDiff]) -> list[ClassSummary]:
    out = []
    for cls in CLASSES:
        if cls in SET_ASIDE:
            na = Counter(e.name for e in a.set_aside.get(cls, []))
            nb = Counter(e.name for e in b.set_aside.get(cls, []))
        else:
            na = Counter(e.name for es in a.threads.values() for e in es if e.cls == cls)
            nb = Counter(e.name for es in b.threads.values() for e in es if e.cls == cls)
        if not na and not nb:
            continue
        names = sorted(set(na) | set(nb), key=lambda n: (-(na[n] + nb[n]), n))
        differing = sum(d.cls == cls for t in threads if t.paired for d in t.differences)
        out.append(ClassSummary(cls, cls in SET_ASIDE, {n: (na[n], nb[n]) for n in names}, differing))
    return out


def compare_runs(native: Run, emulated: Run, rules: Iterable[str] = DEFAULT_RULES) -> DiffReport:
    """diff_logs plus what a user sees first: exit status, stdout and stderr."""
    report = diff_logs(native.log, emulated.log, rules)
    report.outcome = [
        OutcomeCheck("exit status", native.status, emulated.status),
        OutcomeCheck("stdout", native.stdout, emulated.stdout),
        OutcomeCheck("stderr", native.stderr, emulated.stderr),
    ]
    report.sources = (native.log_path or native.log.source, emulated.log_path or emulated.log.source)
    return report


# --- running both sides ---------------------------------------------------------------------


_UNKEPT = "not kept (--keep-logs DIR keeps it)"


def status_from_log(log: StraceLog) -> int | None:
    """The process's exit status as a shell shows it, from the main pid's last +++ line."""
    record = log.exit_of(log.main_pid)
    if record is None:
        return None
    if record.kind == "exited":
        return record.status
    if record.kind == "killed" and record.signal:
        try:
            return 128 + signal.Signals[record.signal].value
        except KeyError:
            return None
    return None


def _default_signal_actions() -> None:
    """Every signal back to SIG_DFL, with rt_sigaction itself: glibc refuses to touch 32 and 33."""
    libc = ctypes.CDLL(None, use_errno=True)
    default = ctypes.create_string_buffer(32)  # struct kernel_sigaction, all zero: SIG_DFL
    for number in range(1, 65):
        if number not in (signal.SIGKILL, signal.SIGSTOP):
            libc.syscall(_SYS_RT_SIGACTION, number, default, None, 8)


def _pin(cpus: int) -> None:
    """In the child: what the emulator shows its guest, where the host's would differ.

    The CPUs and the fd limit (Go sizes itself by them), and default signal
    dispositions with nothing blocked: a shell's background job inherits
    SIGINT and SIGQUIT ignored, GNU make's children SIGRTMIN and SIGRT_1, and
    Go reports and keeps what it inherits.
    """
    from syscalls.process import RLIMIT_NOFILE, default_rlimits

    _default_signal_actions()
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:cpus])
    with contextlib.suppress(OSError, ValueError):  # a lower hard limit than ours: keep the host's
        resource.setrlimit(resource.RLIMIT_NOFILE, default_rlimits()[RLIMIT_NOFILE])


def record_native(
    path: str | os.PathLike[str],
    args: Sequence[str] = (),
    *,
    env: Sequence[str],
    cpus: int = 1,
    log_path: str | os.PathLike[str] | None = None,
    timeout: float = 120,
) -> Run:
    """Run the binary under ``strace -f`` with the emulator's CPUs, fd limit and environment."""
    strace = shutil.which("strace")
    if strace is None:
        raise NativeRunError("strace is not installed")
    with tempfile.TemporaryDirectory(prefix="emulator-diff-") as tmp:
        out = Path(log_path) if log_path is not None else Path(tmp) / "native.strace"
        proc = subprocess.run(
            [strace, "-f", "-q", "-o", str(out), "--", str(path), *args],
            env=dict(pair.split("=", 1) for pair in env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            preexec_fn=lambda: _pin(cpus),
            timeout=timeout,
        )
        text = out.read_text(errors="surrogateescape") if out.exists() else ""
    log = parse_strace(text, source=str(log_path) if log_path else _UNKEPT)
    if not log.events:
        message = proc.stderr.decode(errors="replace").strip().splitlines()
        raise NativeRunError(message[-1] if message else f"strace wrote no log (exit {proc.returncode})")
    status = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    return Run(log, proc.stdout, proc.stderr, status, str(log_path) if log_path else None)


def record_emulated(
    path: str | os.PathLike[str],
    args: Sequence[str] = (),
    *,
    env: Sequence[str],
    cpus: int = 1,
    log_path: str | os.PathLike[str] | None = None,
    **options: object,
) -> Run:
    """Run the binary in the emulator; its --strace text is read back by the same reader.

    ``options`` go to ``emulator.api.run`` as they are (seed, max_instructions, ...).
    """
    from emulator import api
    from emulator.strace import StraceWriter

    buffer = io.StringIO()
    result = api.run(path, args, env=env, cpus=cpus, sinks=[StraceWriter(buffer)], **options)  # type: ignore[arg-type]
    text = buffer.getvalue()
    if log_path is not None:
        Path(log_path).write_text(text)
    log = parse_strace(text, source=str(log_path) if log_path else _UNKEPT)
    kept = str(log_path) if log_path else None
    return Run(log, result.stdout, result.stderr, result.exit_status, kept, stats=result.stats)


def load_native(path: str | os.PathLike[str]) -> Run:
    """A recorded log (``-o FILE`` or an ``-ff`` set): no output to compare, status from the log."""
    log = read_strace(path)
    return Run(log, None, None, status_from_log(log), str(path))


# --- text output ----------------------------------------------------------------------------

_COLOURS = {
    "missing": "31",
    "extra": "32",
    "mismatch": "33",
    "head": "1",
    "dim": "2",
    "ok": "32",
    "bad": "31",
}


def _short(value: object, limit: int = 60) -> str:
    if isinstance(value, bytes):
        text = repr(value)
        return text if len(text) <= limit else text[: limit - 4] + "...'"
    return str(value)


def render_text(report: DiffReport, color: bool = False) -> str:
    """The report for a terminal: outcome, then each thread's differences, then the classes."""

    def paint(kind: str, text: str) -> str:
        return f"\x1b[{_COLOURS[kind]}m{text}\x1b[0m" if color else text

    lines: list[str] = []
    for side, source in zip(SIDES, report.sources, strict=True):
        lines.append(paint("head", f"{side} log: {source or _UNKEPT}"))
    for check in report.outcome:
        if check.same is None:
            lines.append(f"{check.what}: {paint('dim', 'not recorded on both sides')}")
        elif check.same:
            lines.append(f"{check.what}: {paint('ok', 'same')} ({_short(check.native)})")
        else:
            lines.append(
                f"{check.what}: {paint('bad', 'DIFFERENT')}: native {_short(check.native)}, "
                f"emulator {_short(check.emulator)}"
            )
    for t in report.threads:
        pids = f"native pid {t.native_pid or '-'}, emulator pid {t.emulator_pid or '-'}"
        if not t.paired:
            lines.append(
                paint("head", f"{t.role}: {max(t.calls)} compared calls, no counterpart ({pids})")
                + paint("dim", "  [threads class]")
            )
            continue
        counts = (
            f"{t.matched} matched, {t.count('missing')} missing, {t.count('extra')} extra, "
            f"{t.count('mismatch')} mismatched" + (f", {t.count('moved')} moved" if t.count("moved") else "")
        )
        lines.append(paint("head", f"{t.role} ({pids}): {counts}"))
        for d in t.differences:
            lines += _render_difference(d, paint)
    lines.append(paint("head", "classes (native / emulator):"))
    for c in report.classes:
        n, m = c.counts
        names = ", ".join(f"{k} {x}/{y}" for k, (x, y) in c.by_name.items())
        how = "set aside" if c.set_aside else f"compared loosely, {c.differing} differing"
        lines.append(f"  {c.name}: {n} / {m} ({how}): {names}")
    off = [rule for rule in RULES if rule not in report.rules]
    if off:
        lines.append(paint("dim", f"rules switched off: {', '.join(off)}"))
    verdict = "nothing unexplained" if report.exit_code == 0 else f"{report.unexplained} unexplained"
    lines.append(paint("ok" if report.exit_code == 0 else "bad", verdict))
    return "\n".join(lines) + "\n"


def _render_difference(d: Difference, paint) -> list[str]:
    tag = f"[{d.cls}] " if d.cls else ""
    if d.kind == "missing" and d.native is not None:
        return [paint("missing", f"  - native:{_lines(d.native)}  {tag}{d.native.text()}")]
    if d.kind == "extra" and d.emulator is not None:
        return [paint("extra", f"  + emulator:{_lines(d.emulator)}  {tag}{d.emulator.text()}")]
    if d.kind == "moved" and d.native is not None and d.emulator is not None:
        i, j = d.thread
        where = f"native:{_lines(d.native)} emulator:{_lines(d.emulator)}"
        if i != j:
            where += f" (thread #{i} -> #{j})"
        return [paint("dim", f"  > moved {where}  {tag}{d.native.text()}")]
    assert d.native is not None and d.emulator is not None
    out = [
        paint(
            "mismatch", f"  ~ native:{_lines(d.native)} emulator:{_lines(d.emulator)}  {tag}{d.native.name}"
        ),
        f"      native:   {d.native.text()}",
        f"      emulator: {d.emulator.text()}",
    ]
    out += [f"      {detail}" for detail in d.details]
    return out


def _lines(entry: Entry) -> str:
    return ",".join(str(n) for n in entry.lines[:4]) + ("..." if len(entry.lines) > 4 else "")


# --- HTML output ----------------------------------------------------------------------------

_HTML_STYLE = """
body { font: 13px/1.4 system-ui, sans-serif; margin: 1.5em; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; margin-bottom: 1.5em; }
th, td { border: 1px solid #ddd; padding: 2px 6px; vertical-align: top; text-align: left; }
td { font: 12px/1.3 ui-monospace, monospace; white-space: pre-wrap; word-break: break-all; }
td.n { width: 3.5em; color: #888; text-align: right; }
tr.missing td.native { background: #fdd; } tr.extra td.emulator { background: #dfd; }
tr.mismatch td.native, tr.mismatch td.emulator { background: #ffc; }
tr.moved td { color: #777; } .bad { color: #b00; font-weight: bold; } .ok { color: #070; }
"""


def _html_row(kind: str, native: Entry | None, emulator: Entry | None, note: str = "") -> str:
    from html import escape

    def cells(entry: Entry | None, side: str) -> str:
        if entry is None:
            return f'<td class="n"></td><td class="{side}"></td>'
        where = escape(",".join(str(n) for n in entry.lines[:4]))
        return f'<td class="n">{where}</td><td class="{side}">{escape(entry.text())}</td>'

    title = f' title="{escape(note)}"' if note else ""
    return f'<tr class="{kind}"{title}>{cells(native, "native")}{cells(emulator, "emulator")}</tr>'


def render_html(report: DiffReport) -> str:
    """One self-contained page: each thread's calls side by side, differences highlighted.

    The report says what differs; its normalised logs give the matched calls
    around the differences, so a reader sees each one in its place.
    """
    from html import escape

    if report.normal is None:
        raise ValueError("the report carries no normalised logs (made by diff_logs or compare_runs?)")
    native, emulated = report.normal
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>emulator diff</title>',
        f"<style>{_HTML_STYLE}</style></head><body>",
        "<h1>native | emulator</h1>",
        "<ul>",
    ]
    for side, source in zip(SIDES, report.sources, strict=True):
        out.append(f"<li>{side} log: {escape(str(source or _UNKEPT))}</li>")
    for check in report.outcome:
        verdict = "not recorded" if check.same is None else ("same" if check.same else "DIFFERENT")
        css = "bad" if check.same is False else "ok"
        shown = escape(f"{_short(check.native)} | {_short(check.emulator)}")
        out.append(f'<li>{escape(check.what)}: <span class="{css}">{verdict}</span> ({shown})</li>')
    verdict = "nothing unexplained" if report.exit_code == 0 else f"{report.unexplained} unexplained"
    out += ["</ul>", f'<p class="{"ok" if report.exit_code == 0 else "bad"}">{escape(verdict)}</p>']
    for t in report.threads:
        pids = f"native pid {t.native_pid or '-'}, emulator pid {t.emulator_pid or '-'}"
        out.append(f"<h2>{escape(t.role)} ({escape(pids)})</h2>")
        out.append(
            '<table><tr><th class="n">line</th><th>native</th><th class="n">line</th><th>emulator</th></tr>'
        )
        out += _thread_rows(t, native, emulated)
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _thread_rows(t: ThreadDiff, native: NormalLog, emulated: NormalLog) -> list[str]:
    """Matched calls paired in order, each difference at its place on its side."""
    left = native.threads.get(t.native, []) if t.native is not None else []
    right = emulated.threads.get(t.emulator, []) if t.emulator is not None else []
    if not t.paired:
        return [_html_row("missing", e, None) for e in left] + [_html_row("extra", None, e) for e in right]
    differing: dict[int, Difference] = {}
    for d in t.differences:
        for entry in (d.native, d.emulator):
            if entry is not None:
                differing.setdefault(id(entry), d)
    rows, i, j = [], 0, 0
    while i < len(left) or j < len(right):
        a = left[i] if i < len(left) else None
        b = right[j] if j < len(right) else None
        da = differing.get(id(a)) if a is not None else None
        db = differing.get(id(b)) if b is not None else None
        if a is not None and da is not None and da.native is a and da.emulator is b and da.kind == "mismatch":
            rows.append(_html_row("mismatch", a, b, "; ".join(da.details)))
            i, j = i + 1, j + 1
        elif a is not None and da is not None:
            rows.append(_html_row("moved" if da.kind == "moved" else "missing", a, None))
            i += 1
        elif b is not None and db is not None:
            rows.append(_html_row("moved" if db.kind == "moved" else "extra", None, b))
            j += 1
        else:
            rows.append(_html_row("same", a, b))
            i, j = i + (a is not None), j + (b is not None)
    return rows
