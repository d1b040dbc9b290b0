"""Fuzzing the strace-log reader and what consumes its result (``emulator diff --native``).

tests/test_stracelog.py mutates whole lines of recorded logs; here the lines
are generated from strace's grammar (pid columns, times, nested structures,
strings with escapes, unfinished/resumed pairs, signals, exits, strace's own
messages) and then damaged character by character, so the damage lands
inside the forms the reader must keep whole. The contract, from
emulator/stracelog.py: a log parses, or raises ``ParseError`` naming a line
of it; ``strict=False`` never raises; a parsed log can always be compared
with a run of ours and rendered.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import pytest
from conftest import built, examples
from hypothesis import event, given
from hypothesis import strategies as st

from emulator import api, cli, exitcodes
from emulator.api import DEFAULT_ENV
from emulator.diff import diff_logs, render_html, render_text
from emulator.strace import StraceWriter
from emulator.stracelog import ParseError, StraceLog, parse_strace, read_strace

PIDS = st.integers(1, 1 << 22)
NUMBER = st.one_of(
    st.integers(-(1 << 70), 1 << 70).map(str),
    st.integers(0, 1 << 64).map(hex),
    st.sampled_from(["?", "NULL", "-1", "0", "AT_FDCWD", "O_RDONLY|O_CLOEXEC", "0x7f"]),
)
ESCAPES = st.sampled_from(
    ["\\n", "\\t", '\\"', "\\\\", "\\0", "\\x7f", "\\377", "(", ")", ",", "{", "]", "<"]
)
STRING = st.lists(st.one_of(st.text("abc /.=", max_size=6), ESCAPES), max_size=6).map(
    lambda parts: '"' + "".join(parts) + '"'
)
ATOM = st.one_of(
    NUMBER,
    STRING,
    STRING.map(lambda s: s + "..."),
    st.sampled_from(["/* 3 vars */", "3</dev/null>", "3<socket:[123]>", "[]", "{}", "~[RTMIN RT_1]"]),
)
ARGUMENT = st.recursive(
    ATOM,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(
            st.tuples(st.sampled_from(["sa_handler", "tv_sec", "st_mode", "si_signo"]), inner), max_size=3
        ).map(lambda kv: "{" + ", ".join(f"{k}={v}" for k, v in kv) + "}"),
        st.tuples(st.sampled_from(["makedev", "htons", "inet_addr"]), inner).map(
            lambda fa: f"{fa[0]}({fa[1]})"
        ),
    ),
    max_leaves=6,
)
ARGS = st.lists(ARGUMENT, max_size=5).map(", ".join)
NAME = st.sampled_from(["read", "write", "openat", "mmap", "futex", "clone", "exit_group", "rt_sigaction"])
RESULT = st.one_of(
    NUMBER,
    st.sampled_from(
        ["-1 ENOENT (No such file or directory)", "? ERESTARTSYS (To be restarted)", "0 <unavailable>"]
    ),
    st.tuples(st.integers(0, 9), st.sampled_from(["</dev/null>", "<pipe:[7]>"])).map(
        lambda t: f"{t[0]}{t[1]}"
    ),
)
PREFIX = st.one_of(
    st.just(""),
    PIDS.map(lambda p: f"[pid {p:5}] "),
    PIDS.map(lambda p: f"{p}  "),
    st.sampled_from(["12:00:01 ", "12:00:01.123456 ", "1700000000.123456 ", "  0.000123 ", "[00007f12] "]),
)
BODY = st.one_of(
    st.tuples(NAME, ARGS, RESULT).map(lambda t: f"{t[0]}({t[1]}) = {t[2]}"),
    st.tuples(NAME, ARGS, RESULT).map(lambda t: f"{t[0]}({t[1]}) = {t[2]} <0.000017>"),
    st.tuples(NAME, ARGS).map(lambda t: f"{t[0]}({t[1]} <unfinished ...>"),
    st.tuples(NAME, ARGS, RESULT).map(lambda t: f"<... {t[0]} resumed>{t[1]}) = {t[2]}"),
    st.tuples(NAME, ARGS).map(lambda t: f"{t[0]}({t[1]}) = ?"),
    st.sampled_from(["SIGSEGV", "SIGURG", "SIGCHLD", "SIGRT_1"]).map(
        lambda s: f"--- {s} {{si_signo={s}, si_code=SI_USER, si_pid=1}} ---"
    ),
    st.integers(0, 300).map(lambda n: f"+++ exited with {n} +++"),
    st.sampled_from(["+++ killed by SIGKILL +++", "+++ killed by SIGSEGV (core dumped) +++"]),
    PIDS.map(lambda p: f"strace: Process {p} attached"),
    st.just("strace: Process 7 detached"),
)
LINE = st.tuples(PREFIX, BODY).map("".join)
DAMAGE = st.lists(
    st.tuples(
        st.sampled_from(["insert", "delete", "replace", "cut"]), st.integers(0, 1 << 16), st.text(max_size=3)
    ),
    max_size=4,
)


def damaged(lines: list[str], damage: list[tuple[str, int, str]]) -> str:
    text = "\n".join(lines) + "\n"
    for how, at, piece in damage:
        at %= len(text) + 1
        if how == "insert":
            text = text[:at] + piece + text[at:]
        elif how == "delete":
            text = text[:at] + text[at + 1 + len(piece) :]
        elif how == "replace":
            text = text[:at] + piece + text[at + len(piece) :]
        else:
            text = text[:at]
    return text


@functools.cache
def our_log() -> StraceLog:
    """Our own trace of hello, the other side of every comparison."""
    buffer = io.StringIO()
    api.run(built("hello"), env=DEFAULT_ENV, sinks=[StraceWriter(buffer)])
    return parse_strace(buffer.getvalue(), source="emulator")


def parses_or_names_a_line(text: str) -> StraceLog | None:
    total = max(text.count("\n"), 1)
    try:
        log = parse_strace(text, source="native.log")
    except ParseError as e:
        assert 1 <= e.line <= total + 1, (e.line, total)
        assert str(e).startswith(f"native.log:{e.line}: ")
        event(f"ParseError: {e.reason.split(':')[0][:40]}")
        return None
    assert all(1 <= n <= total + 1 for ev in log.events for n in ev.lines)
    event("parsed")
    return log


@examples(normal=120, long=5000)
@given(lines=st.lists(LINE, min_size=1, max_size=12), damage=DAMAGE)
def test_generated_and_damaged_logs_parse_or_raise_a_parse_error(lines: list[str], damage: list) -> None:
    text = damaged(lines, damage)
    log = parses_or_names_a_line(text)
    lenient = parse_strace(text, strict=False)  # never raises: what it cannot read goes to unparsed
    assert all(line >= 1 for line, _ in lenient.unparsed)
    if log is not None:
        report = diff_logs(log, our_log())  # what `emulator diff --native` does with it next
        render_text(report)
        render_html(report)


@examples(normal=30, long=1000)
@given(lines=st.lists(LINE, min_size=1, max_size=8), raw=st.binary(max_size=16), pid=PIDS)
def test_log_files_with_bytes_that_are_not_utf8_and_ff_sets(
    tmp_path: Path, lines: list[str], raw: bytes, pid: int
) -> None:
    """read_strace on a file and on a -ff set (FILE.PID): undecodable bytes included."""
    data = ("\n".join(lines) + "\n").encode() + raw + b"\n"
    single = tmp_path / "one.log"
    single.write_bytes(data)
    ff = tmp_path / "ff"
    (tmp_path / f"ff.{pid}").write_bytes(data)
    (tmp_path / f"ff.{pid + 1}").write_bytes(b"exit_group(0) = ?\n+++ exited with 0 +++\n")
    for path in (single, ff):
        try:
            read_strace(path)
        except ParseError as e:
            assert e.source is not None and e.line >= 1
        read_strace(path, strict=False)


# `emulator diff --native FILE` on damaged logs: a comparison, or one line and status 64.
CLI_LOGS = {
    "unterminated-string": 'write(1, "Hello\n',
    "unbalanced-struct": "rt_sigaction(SIGSEGV, {sa_handler=0x1, sa_mask=[}, NULL, 8) = 0\n",
    "resumed-without-unfinished": "[pid 7] <... futex resumed>) = 0\n",
    "not-strace-at-all": "\x00\xff binary junk\n",
    "huge-numbers": f"write(1, {1 << 80}, {1 << 80}) = {1 << 80}\n+++ exited with 0 +++\n",
    "only-an-exit": "+++ exited with 0 +++\n",
}


@pytest.mark.parametrize("case", sorted(CLI_LOGS))
def test_diff_with_a_damaged_native_log(tmp_path: Path, capfd: pytest.CaptureFixture[str], case: str) -> None:
    log = tmp_path / "native.log"
    log.write_text(CLI_LOGS[case], errors="surrogateescape")
    status = cli.main(["diff", str(built("hello")), "--native", str(log)])
    out, err = capfd.readouterr()
    assert "Traceback" not in err
    if status == exitcodes.USAGE:
        assert err.count("\n") == 1 and err.startswith(f"emulator: {log}:"), err
    else:  # compared: hello's real run against a log of something else differs
        assert status == 1 and "main thread" in out, (status, out, err)
