"""StraceLog: read ``strace -f`` output (strace 5.x and 6.x) back into records.

Both sides of ``python -m emulator diff`` go through this one reader: the
native run's log and our own ``--strace`` text, so a difference in how a
call is *written* shows up as a difference, not as a parser quirk.

What it understands:

* pid prefixes: ``[pid  123] `` (strace writing to stderr), ``123  ``
  (``-o FILE``), none (a lone tracee, ``-ff`` files, lines before the first
  clone); ``-ff`` file sets ``FILE.PID`` via :func:`read_strace`;
* ``-t``/``-tt``/``-ttt``/``-r`` timestamps, ``-T`` durations, ``-i``;
* ``<unfinished ...>`` / ``<... NAME resumed>`` pairs, merged per pid into
  one call at the position of its entry; ``<unfinished ...>) = ?``;
* ``--- SIGNAL {...} ---``, ``+++ exited with N +++``, ``+++ killed by SIGX
  +++``, ``+++ superseded by execve in pid N +++``;
* ``strace: ...`` messages, also the "Process N attached" that strace
  writes into the middle of another line on stderr.

Arguments are split at top-level commas only: quoted strings (escapes,
``"..."...`` truncation), ``/* comments */``, ``{structs}``, ``[arrays]``,
``f(calls)`` and ``-y``'s ``3</path>`` stay whole.  Anything else is a
:class:`ParseError` naming the line; nothing else is ever raised.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ParseError",
    "StraceCall",
    "StraceEvent",
    "StraceExit",
    "StraceLog",
    "StraceNote",
    "StraceSignal",
    "parse_strace",
    "read_strace",
    "split_args",
    "unquote",
]

# Creating a thread or process: the result is the new tid.
CREATING_CALLS = frozenset({"clone", "clone3", "fork", "vfork"})

PID_MAX = 1 << 22  # Linux's PID_MAX_LIMIT: a bigger leading number is a -ttt timestamp, not a pid

_UNFINISHED = "<unfinished ...>"
_DETACHED = "<detached ...>"

_PREFIX = re.compile(
    r"(?:\[pid\s+(?P<bracketed>\d+)\]\s+|(?P<bare>\d+)\s+(?=\S))?"  # -f pid
    r"(?:\s*(?P<ts>\d+(?::\d\d:\d\d)?(?:\.\d+)?)\s+"  # -t / -tt / -ttt / -r
    r"(?:\(\+\s*(?P<rel>\d+(?:\.\d+)?)\)\s+)?)?"  # -r alongside -t*
    r"(?:\[\s*(?P<ip>[0-9a-f?]+)\]\s+)?"  # -i
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\?+")
_RESUMED = re.compile(r"<\.\.\. (?P<name>[A-Za-z0-9_?]+) resumed>")
_DURATION = re.compile(r"\s+<(?P<t>\d+(?:\.\d+)?|\?)>$")
_RESULT = re.compile(
    r"(?P<value>-?\d+|0x[0-9a-fA-F]+|\?)"
    r"(?P<fd><[^>]*>)?"  # -y: 3</path>
    r"(?:\s+(?P<errno>E[A-Z0-9_]+))?"
    r"(?:\s+(?P<note>\(.*\)))?"
    r"(?:\s+(?P<mark><unavailable>))?$"  # strace 6: the tracee is gone, its registers with it
)
_SIGNAL = re.compile(r"--- (?P<sig>SIG[A-Z0-9_+-]+)(?: (?P<info>.*))? ---$")
_STOPPED = re.compile(r"--- stopped by (?P<sig>SIG[A-Z0-9_+-]+) ---$")
_EXIT = re.compile(
    r"\+\+\+ (?:exited with (?P<status>\d+)"
    r"|killed by (?P<sig>SIG[A-Z0-9_+-]+|signal \d+)(?P<core> \(core dumped\))?"
    r"|superseded by execve in pid (?P<exec>\d+)) \+\+\+$"
)
# strace's own messages start with its argv[0]: "strace: " or "/usr/bin/strace: "
_MESSAGE = re.compile(r'(?:[./][^\s:"]*/)?strace: ')
_ATTACHED = re.compile(_MESSAGE.pattern + r"Process \d+ (?:attached|detached)$")


class ParseError(ValueError):
    """A line the reader cannot make sense of; ``line`` is 1-based."""

    def __init__(self, message: str, line: int, text: str = "", source: str | None = None) -> None:
        self.reason = message
        self.line = line
        self.text = text
        self.source = source
        where = f"{source}:{line}" if source else f"line {line}"
        shown = text if len(text) <= 120 else text[:117] + "..."
        super().__init__(f"{where}: {message}: {shown!r}" if text else f"{where}: {message}")


@dataclass
class StraceCall:
    """One syscall; an ``<unfinished ...>``/``resumed`` pair is one call with two lines.

    ``result`` is an int for a number (decimal or hex), ``"?"`` for no
    return, None when the call never finished in the log.  ``args_complete``
    is False when strace never printed the rest of the arguments (the thread
    died inside the call, or the log ended).
    """

    pid: int
    name: str
    args: list[str]
    result: int | str | None
    errno: str | None
    lines: tuple[int, ...]
    raw: str
    result_text: str | None = None  # as printed: "0x7f..", "-1", "?", "3</dev/null>"
    annotation: str | None = None  # "(flags O_RDWR)", "(No such file or directory)"
    timestamp: str | None = None
    duration: float | None = None
    args_complete: bool = True

    @property
    def line(self) -> int:
        return self.lines[0]

    @property
    def finished(self) -> bool:
        return self.result is not None

    def text(self) -> str:
        """The call as strace writes it on one line, without pid, time or padding."""
        inner = ", ".join(self.args)
        if not self.args_complete:
            inner += (" " if inner else "") + _UNFINISHED
        head = f"{self.name}({inner})"
        if self.result_text is None:
            return head
        tail = " ".join(x for x in (self.result_text, self.errno, self.annotation) if x)
        return f"{head} = {tail}"


@dataclass
class StraceSignal:
    """``--- SIGURG {si_signo=SIGURG, ...} ---`` (``info`` is the part after the name)."""

    pid: int
    signal: str
    info: str
    lines: tuple[int, ...]
    raw: str
    timestamp: str | None = None
    stopped: bool = False  # "--- stopped by SIGSTOP ---"

    @property
    def line(self) -> int:
        return self.lines[0]

    def text(self) -> str:
        if self.stopped:
            return f"--- stopped by {self.signal} ---"
        return f"--- {self.signal} {self.info} ---" if self.info else f"--- {self.signal} ---"


@dataclass
class StraceExit:
    """``+++ exited with N +++`` / ``+++ killed by SIGX +++`` / ``+++ superseded by execve ... +++``."""

    pid: int
    kind: str  # "exited", "killed" or "superseded"
    status: int | None
    signal: str | None
    lines: tuple[int, ...]
    raw: str
    core_dumped: bool = False
    timestamp: str | None = None

    @property
    def line(self) -> int:
        return self.lines[0]

    def text(self) -> str:
        return self.raw[self.raw.find("+++") :]


@dataclass
class StraceNote:
    """A message of strace's own (``strace: Process 12 attached``)."""

    pid: int | None
    text: str
    line: int


StraceEvent = StraceCall | StraceSignal | StraceExit


@dataclass
class StraceLog:
    """Everything in one log, in order; a call sits where its entry was printed."""

    events: list[StraceEvent]
    notes: list[StraceNote] = field(default_factory=list)
    unparsed: list[tuple[int, str]] = field(default_factory=list)  # strict=False only
    main_pid: int = 0
    source: str | None = None

    @property
    def calls(self) -> list[StraceCall]:
        return [e for e in self.events if isinstance(e, StraceCall)]

    @property
    def signals(self) -> list[StraceSignal]:
        return [e for e in self.events if isinstance(e, StraceSignal)]

    @property
    def exits(self) -> list[StraceExit]:
        return [e for e in self.events if isinstance(e, StraceExit)]

    @property
    def pids(self) -> list[int]:
        """Every pid, in order of first appearance."""
        return list(dict.fromkeys(e.pid for e in self.events))

    def creation_order(self) -> list[int]:
        """The main pid, then each new thread in the order its clone was called."""
        order = [self.main_pid]
        for call in self.calls:
            if call.name in CREATING_CALLS and isinstance(call.result, int) and call.result > 0:
                order.append(call.result)
        order.extend(self.pids)
        return list(dict.fromkeys(order))

    def by_pid(self) -> dict[int, list[StraceEvent]]:
        threads: dict[int, list[StraceEvent]] = {pid: [] for pid in self.creation_order()}
        for event in self.events:
            threads[event.pid].append(event)
        return {pid: events for pid, events in threads.items() if events}

    def exit_of(self, pid: int) -> StraceExit | None:
        for event in reversed(self.events):
            if isinstance(event, StraceExit) and event.pid == pid:
                return event
        return None


# --- arguments ------------------------------------------------------------------------------

_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {")", "]", "}"}


class _ArgError(ValueError):
    """Raised inside a line; the caller turns it into a ParseError with the line number."""


def _opens_angle(text: str, i: int, arg_start: int) -> bool:
    """``<`` that opens ``-y``'s ``3</path>`` or ``<... resuming ...>``, not a ``<<`` shift."""
    if text.startswith("<<", i) or (i and text[i - 1] == "<"):
        return False
    if text.startswith("<...", i):
        return True
    prev = text[i - 1] if i else ""
    return (prev.isdigit() or prev in ">/") and i > arg_start


_SPECIAL = re.compile(r'["(),\[\]{}<>/]')
_STRING_REST = re.compile(r'(?:[^"\\]|\\.)*"', re.DOTALL)  # after the opening quote


def _scan_args(text: str, start: int) -> tuple[list[str], int, str]:
    """Split arguments from ``start`` (just after the ``(``) to the closing ``)``.

    Returns the arguments, the index after the terminator, and which one it
    was: ``")"``, ``"unfinished"`` or ``"detached"``.
    """
    args: list[str] = []
    stack: list[str] = []
    arg_start = start
    i = start
    while True:
        special = _SPECIAL.search(text, i)
        if special is None:
            raise _ArgError("no closing parenthesis")
        i = special.start()
        c = text[i]
        if c == '"':
            closing = _STRING_REST.match(text, i + 1)
            if closing is None:
                raise _ArgError("unterminated string")
            i = closing.end()
            continue
        if c == "/":
            if text.startswith("/*", i):
                end = text.find("*/", i + 2)
                if end < 0:
                    raise _ArgError("unterminated comment")
                i = end + 2
            else:
                i += 1
            continue
        if not stack:
            if c == "<":
                for marker, kind in ((_UNFINISHED, "unfinished"), (_DETACHED, "detached")):
                    if text.startswith(marker, i):
                        last = text[arg_start:i].strip()
                        if last:
                            args.append(last)
                        return args, i + len(marker), kind
            if c == ")":
                last = text[arg_start:i].strip()
                if last or args:
                    args.append(last)
                return args, i + 1, ")"
            if c == ",":
                args.append(text[arg_start:i].strip())
                arg_start = i + 1
                i += 1
                continue
        if c in _OPENERS:
            stack.append(_OPENERS[c])
        elif c == "<" and _opens_angle(text, i, arg_start if not stack else 0):
            stack.append(">")
        elif c == ">" and stack and stack[-1] == ">":
            stack.pop()
        elif c in _CLOSERS:
            if not stack or stack[-1] != c:
                raise _ArgError(f"unbalanced {c!r}")
            stack.pop()
        i += 1


def split_args(text: str) -> list[str]:
    """Top-level arguments of ``a, {b, c}, "d,e"`` (no parentheses around)."""
    args, end, _ = _scan_args(text + ")", 0)
    if end != len(text) + 1:
        raise ValueError(f"unbalanced argument text: {text!r}")
    return args


_ESCAPES = {"n": 10, "t": 9, "r": 13, "v": 11, "f": 12, "a": 7, "b": 8, "e": 27}


def unquote(arg: str) -> tuple[bytes, bool] | None:
    """``"a\\nb"...`` -> ``(b"a\\nb", True)`` (truncated); None if not a string argument."""
    if len(arg) < 2 or arg[0] != '"':
        return None
    body, truncated = arg, False
    if body.endswith('"...'):
        body, truncated = body[:-3], True
    if not body.endswith('"') or len(body) < 2:
        return None
    out = bytearray()
    s = body[1:-1]
    i = 0
    while i < len(s):
        c = s[i]
        if c != "\\" or i + 1 >= len(s):
            out += c.encode("utf-8", "surrogateescape")
            i += 1
            continue
        nxt = s[i + 1]
        if nxt == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", s[i + 2 : i + 4]):
            out.append(int(s[i + 2 : i + 4], 16))
            i += 4
        elif nxt in "01234567":
            digits = re.match(r"[0-7]{1,3}", s[i + 1 :])
            assert digits is not None
            out.append(int(digits.group(), 8) & 0xFF)
            i += 1 + len(digits.group())
        else:
            out.append(_ESCAPES.get(nxt, ord(nxt) if ord(nxt) < 256 else 63))
            i += 2
    return bytes(out), truncated


# --- lines ----------------------------------------------------------------------------------


@dataclass
class _Line:
    """One physical line (or two, when strace cut it with "Process N attached")."""

    lines: tuple[int, ...]
    raw: str
    pid: int | None
    body: str
    timestamp: str | None


@dataclass
class _Pending:
    """An ``<unfinished ...>`` call waiting for its ``resumed`` line."""

    index: int  # its slot in the event list
    name: str
    head: str  # "name(args so far" without the marker
    line: _Line


def _physical_lines(text: str, notes: list[StraceNote]) -> Iterator[tuple[tuple[int, ...], str]]:
    """Numbered lines, those that strace cut with a "Process N attached" joined again.

    On stderr strace writes that message into whatever line is half printed
    and goes on with the line after it; the message goes to ``notes``.
    """
    raw_lines = text.split("\n")
    if raw_lines and raw_lines[-1] == "":
        raw_lines.pop()
    carried: tuple[tuple[int, ...], str] | None = None
    for number, raw in enumerate(raw_lines, 1):
        numbers, line = (number,), raw.removesuffix("\r")
        if carried is not None:
            numbers, line = (*carried[0], number), carried[1] + line
            carried = None
        match = _ATTACHED.search(line)
        if match and match.start() > 0 and not _MESSAGE.match(line):
            notes.append(StraceNote(None, match.group(), number))
            carried = (numbers, line[: match.start()])
            continue
        yield numbers, line
    if carried is not None:
        yield carried


def _split_prefix(line: str) -> tuple[int | None, str | None, str]:
    match = _PREFIX.match(line)
    if match is None:  # the pattern is all optional, so this does not happen
        return None, None, line
    pid_text = match.group("bracketed") or match.group("bare")
    ts = match.group("ts")
    body = line[match.end() :]
    if match.group("bare") and int(pid_text) >= PID_MAX and ts is None:
        # "1700000000 name(...)": a whole-second unix timestamp, not a pid
        return None, pid_text, body
    return (int(pid_text) if pid_text else None), ts, body


def _parse_result(rest: str) -> tuple[int | str | None, str | None, str | None, str | None, float | None]:
    """``= VALUE [ERRNO] [(note)] [<T>]`` -> result, result_text, errno, note, duration."""
    rest = rest.strip()
    if not rest.startswith("="):
        raise _ArgError("expected ' = ' after the arguments")
    rest = rest[1:].strip()
    duration = None
    timed = _DURATION.search(rest)
    if timed:
        duration = None if timed.group("t") == "?" else float(timed.group("t"))
        rest = rest[: timed.start()]
    match = _RESULT.match(rest)
    if match is None:
        if not rest:
            raise _ArgError("empty result")
        return rest, rest, None, None, duration
    value_text = match.group("value")
    value: int | str
    if value_text == "?":
        value = "?"
    elif value_text.startswith("0x"):
        value = int(value_text, 16)
    else:
        value = int(value_text)
    result_text = value_text + (match.group("fd") or "")
    note = " ".join(x for x in (match.group("note"), match.group("mark")) if x) or None
    return value, result_text, match.group("errno"), note, duration


class _Reader:
    def __init__(self, source: str | None, strict: bool, pid: int | None) -> None:
        self.source = source
        self.strict = strict
        self.fixed_pid = pid
        self.events: list[StraceEvent | None] = []
        self.pending: dict[int | None, _Pending] = {}
        self.notes: list[StraceNote] = []
        self.unparsed: list[tuple[int, str]] = []

    def error(self, message: str, line: _Line) -> None:
        if self.strict:
            raise ParseError(message, line.lines[-1], line.raw, self.source)
        self.unparsed.append((line.lines[-1], line.raw))

    def read(self, text: str) -> StraceLog:
        lines: list[_Line] = []
        for numbers, raw in _physical_lines(text, self.notes):
            if _MESSAGE.match(raw) or not raw.strip():
                if raw.strip():
                    self.notes.append(StraceNote(self.fixed_pid, raw, numbers[0]))
                continue
            pid, ts, body = _split_prefix(raw)
            if self.fixed_pid is not None:
                pid = self.fixed_pid if pid is None else pid
            lines.append(_Line(numbers, raw, pid, body, ts))
        _assign_lone_pids(lines)
        for line in lines:
            self.line(line)
        for pending in self.pending.values():
            self.flush(pending)
        events = [e for e in self.events if e is not None]
        main = self.fixed_pid if self.fixed_pid is not None else _main_pid(lines, events)
        for event in events:
            if event.pid == 0:  # unprefixed before anyone was known
                event.pid = main
        return StraceLog(events, self.notes, self.unparsed, main, self.source)

    def line(self, line: _Line) -> None:
        body = line.body
        try:
            if body.startswith("---"):
                self.signal(line)
            elif body.startswith("+++"):
                self.exit(line)
            elif body.startswith("<..."):
                self.resumed(line)
            else:
                self.call(line)
        except _ArgError as e:
            self.error(str(e), line)

    def signal(self, line: _Line) -> None:
        stopped = _STOPPED.match(line.body)
        match = stopped or _SIGNAL.match(line.body)
        if match is None:
            raise _ArgError("not a signal line")
        info = match.groupdict().get("info") or ""
        signal = StraceSignal(line.pid or 0, match.group("sig"), info, line.lines, line.raw, line.timestamp)
        signal.stopped = stopped is not None
        self.events.append(signal)

    def exit(self, line: _Line) -> None:
        match = _EXIT.match(line.body)
        if match is None:
            raise _ArgError("not an exit line")
        pending = self.pending.pop(line.pid, None)
        if pending is not None:
            self.flush(pending)
        pid = line.pid or 0  # 0: unprefixed, settled once the main pid is known
        if match.group("status") is not None:
            record = StraceExit(pid, "exited", int(match.group("status")), None, line.lines, line.raw)
        elif match.group("exec") is not None:
            record = StraceExit(pid, "superseded", None, None, line.lines, line.raw)
        else:
            signal = match.group("sig")
            if signal.startswith("signal "):  # our own writer's "killed by signal 11"
                signal = _signal_name(int(signal.split()[1]))
            record = StraceExit(pid, "killed", None, signal, line.lines, line.raw, bool(match.group("core")))
        record.timestamp = line.timestamp
        self.events.append(record)

    def resumed(self, line: _Line) -> None:
        match = _RESUMED.match(line.body)
        if match is None:
            raise _ArgError("malformed '<... resumed>'")
        pending = self.pending.pop(line.pid, None)
        if pending is None and line.pid is not None and None in self.pending:
            # begun while the tracee was alone (no prefix), resumed once strace -f added one
            pending = self.pending.pop(None)
        if pending is None:
            raise _ArgError(f"{match.group('name')} resumed, but no unfinished call of this pid")
        if pending.name != match.group("name"):
            self.pending[line.pid] = pending
            raise _ArgError(
                f"{match.group('name')} resumed, but this pid's unfinished call is {pending.name}"
            )
        rest = line.body[match.end() :]
        if rest.startswith(" ") and not rest.startswith(" " + _UNFINISHED):
            rest = rest[1:]  # strace 4.x wrote "<... name resumed> )"
        merged = _Line(
            (*pending.line.lines, *line.lines),
            pending.line.raw + "\n" + line.raw,
            line.pid,
            pending.head + rest,
            pending.line.timestamp,
        )
        self.call(merged, slot=pending.index)

    def call(self, line: _Line, slot: int | None = None) -> None:
        """A whole call, or its entry (``<unfinished ...>``); ``slot``: where its entry was."""
        body = line.body
        name_match = _NAME.match(body)
        if name_match is None or not body.startswith("(", name_match.end()):
            raise _ArgError("not a syscall line")
        name = name_match.group()
        args, end, how = _scan_args(body, name_match.end() + 1)
        rest = body[end:].strip()
        if how == ")" or (how == "unfinished" and rest.startswith(")")):
            # "<unfinished ...>) = ?": the thread left the call, strace never saw the rest of it
            result, result_text, errno, note, duration = _parse_result(rest if how == ")" else rest[1:])
            call = StraceCall(line.pid or 0, name, args, result, errno, line.lines, line.raw, result_text,
                              note, line.timestamp, duration, args_complete=how == ")")  # fmt: skip
            self.store(call, slot)
            return
        marker = _UNFINISHED if how == "unfinished" else _DETACHED
        if rest:
            raise _ArgError(f"text after {marker}")
        if slot is not None:
            raise _ArgError("a resumed call cannot be unfinished again")
        if line.pid in self.pending:
            previous = self.pending.pop(line.pid)
            self.flush(previous)
            if self.strict:
                raise _ArgError(f"{previous.name} of this pid is still unfinished")
        self.events.append(None)  # the call's place, filled when it resumes
        pending = _Pending(len(self.events) - 1, name, body[: end - len(marker)].removesuffix(" "), line)
        if how == "detached":
            self.flush(pending)
        else:
            self.pending[line.pid] = pending

    def store(self, call: StraceCall, slot: int | None) -> None:
        if slot is None:
            self.events.append(call)
        else:
            self.events[slot] = call

    def flush(self, pending: _Pending) -> None:
        """An unfinished call that never resumed: keep what strace printed of it."""
        head = pending.head
        name_end = len(pending.name) + 1
        args = _scan_args(head + " " + _UNFINISHED, name_end)[0]
        line = pending.line
        self.events[pending.index] = StraceCall(
            line.pid or 0, pending.name, args, None, None, line.lines, line.raw,
            timestamp=line.timestamp, args_complete=False,
        )  # fmt: skip


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"


def _assign_lone_pids(lines: list[_Line]) -> None:
    """Give an unprefixed line the pid of the one live tracee, if there is exactly one.

    strace -f writes no prefix while only one tracee is alive: before the
    first clone (then nobody is known yet: the main pid, settled later), and
    again once the others have exited.
    """
    alive: set[int] = set()
    for line in lines:
        if line.pid is None and len(alive) == 1:
            line.pid = next(iter(alive))
        if line.pid is not None:
            alive.add(line.pid)
            if line.body.startswith("+++"):
                alive.discard(line.pid)


def _main_pid(lines: list[_Line], events: list[StraceEvent]) -> int:
    """The first prefixed pid that no clone created (or a lone tracee's getpid), else 0."""
    created = {
        e.result for e in events if isinstance(e, StraceCall) and e.name in CREATING_CALLS
        and isinstance(e.result, int)
    }  # fmt: skip
    prefixed = [line.pid for line in lines if line.pid is not None]
    main = next((p for p in prefixed if p not in created), prefixed[0] if prefixed else None)
    if main is not None:
        return main
    own = (e.result for e in events if isinstance(e, StraceCall) and e.name in ("getpid", "gettid"))
    return next((r for r in own if isinstance(r, int) and r > 0), 0)


def parse_strace(
    text: str, *, pid: int | None = None, source: str | None = None, strict: bool = True
) -> StraceLog:
    """Read one log's text.  ``pid`` is for ``-ff`` files, whose lines carry none.

    With ``strict=False`` lines that are not strace's (a program's own output
    on the same terminal) go to ``unparsed`` instead of raising ParseError.
    """
    return _Reader(source, strict, pid).read(text)


def _ff_files(path: Path) -> list[tuple[int, Path]]:
    files = []
    for candidate in path.parent.glob(path.name + ".*"):
        suffix = candidate.name[len(path.name) + 1 :]
        if suffix.isdigit():
            files.append((int(suffix), candidate))
    return sorted(files)


def read_strace(path: str | Path, *, strict: bool = True) -> StraceLog:
    """A log file, or the ``FILE.PID`` set that ``strace -ff -o FILE`` writes.

    ``-ff`` files hold one pid each and no common order; they are joined in
    creation order (the main pid first), each file's events in its own order,
    and line numbers stay those of each pid's own file.
    """
    path = Path(path)
    if path.is_file():
        return parse_strace(path.read_text(errors="surrogateescape"), source=str(path), strict=strict)
    files = _ff_files(path)
    if not files:
        raise FileNotFoundError(f"no strace log {path} (nor -ff files {path}.PID)")
    parts = [
        parse_strace(f.read_text(errors="surrogateescape"), pid=pid, source=str(f), strict=strict)
        for pid, f in files
    ]
    return _join(parts, str(path))


def _join(parts: Iterable[StraceLog], source: str) -> StraceLog:
    logs = list(parts)
    created = {
        c.result for log in logs for c in log.calls if c.name in CREATING_CALLS and isinstance(c.result, int)
    }
    main = next((log.main_pid for log in logs if log.main_pid not in created), logs[0].main_pid)
    joined = StraceLog([], [], [], main, source)
    by_pid = {log.main_pid: log for log in logs}
    order = [main]
    for log in [by_pid[main], *logs]:
        for call in log.calls:
            if call.name in CREATING_CALLS and isinstance(call.result, int):
                order.append(call.result)
    for pid in [*dict.fromkeys(order), *by_pid]:
        log = by_pid.pop(pid, None)
        if log is not None:
            joined.events += log.events
            joined.notes += log.notes
            joined.unparsed += log.unparsed
    return joined
