"""The strace reader on real strace output, recorded here from native runs of the Go fixtures.

Every log below is made by running /usr/bin/strace on a fixture binary in this
test session (skipped, with the reason, where strace is missing or ptrace is
not permitted).  The reader must take all of strace's forms: ``-f -o`` pid
columns, ``[pid N]`` on stderr, ``-ff`` files, ``-tt -T`` and ``-ttt -r``
times, ``-yy`` fd paths, interleaved ``<unfinished ...>``/``resumed`` pairs;
and our own ``--strace`` text, which must read back to exactly the events it
was written from.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from conftest import built
from hypothesis import given, settings
from hypothesis import strategies as st
from stracing import needs_strace, record, strace_problem

from emulator import api
from emulator.strace import StraceWriter, format_call
from emulator.stracelog import (
    ParseError,
    StraceCall,
    StraceExit,
    StraceSignal,
    parse_strace,
    read_strace,
    split_args,
    unquote,
)


class Logs:
    """The recorded logs of this module, made once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hello = record(root / "hello.log", "hello", "-f")
        self.goroutines = record(root / "goroutines.log", "goroutines", "-f")
        self.timed = record(root / "timed.log", "goroutines", "-f", "-tt", "-T")
        self.unix_relative = record(root / "unix.log", "hello", "-f", "-ttt", "-r")
        self.stderr = record(root / "stderr.log", "goroutines", "-f", to_stderr=True)
        self.missing = record(root / "missing.log", "argsenv", "-f", args=("/nonexistent/file",))
        self.decorated = record(root / "decorated.log", "argsenv", "-f", "-yy", args=(__file__,))
        self.ff = root / "ff"
        record(self.ff, "goroutines", "-ff")

    def single_files(self) -> list[Path]:
        return [self.hello, self.goroutines, self.timed, self.unix_relative, self.missing, self.decorated]


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Logs:
    if strace_problem() is not None:
        pytest.skip(str(strace_problem()))
    return Logs(tmp_path_factory.mktemp("strace"))


def _body(raw: str) -> str:
    """A single strace line without pid, time, padding before '=' and -T duration."""
    body = re.sub(r"^(\[pid\s+\d+\]\s+|\d+\s+)", "", raw)
    body = re.sub(r"^\d+(:\d\d:\d\d)?(\.\d+)?\s+(\(\+\s*[\d.]+\)\s+)?", "", body)
    body = re.sub(r"\)\s+= ", ") = ", body)
    return re.sub(r" <\d+\.\d+>$", "", body)


# --- real logs ------------------------------------------------------------------------------


@needs_strace
def test_every_line_of_every_log_is_read_once(logs: Logs) -> None:
    for path in [*logs.single_files(), logs.stderr]:
        log = read_strace(path)
        total = len(path.read_text().splitlines())
        in_events = [n for e in log.events for n in e.lines]
        assert log.unparsed == []
        assert len(in_events) == len(set(in_events)), path.name  # no line in two events
        # a note may share its line with an event: strace wrote it into the middle of one
        assert set(in_events) | {note.line for note in log.notes} == set(range(1, total + 1)), path.name


@needs_strace
def test_one_line_calls_render_back_to_their_line(logs: Logs) -> None:
    checked = 0
    for path in [*logs.single_files(), logs.stderr]:
        for call in read_strace(path).calls:
            if len(call.lines) == 1 and call.args_complete:
                assert call.text() == _body(call.raw), f"{path.name}:{call.line}"
                checked += 1
    assert checked > 500


@needs_strace
def test_interleaved_unfinished_and_resumed_lines_merge_per_pid(logs: Logs) -> None:
    log = read_strace(logs.goroutines)
    merged = [c for c in log.calls if len(c.lines) == 2]
    assert merged, "goroutines under strace -f always interleaves its threads"
    for call in merged:
        first, second = call.raw.split("\n")
        assert first.endswith("<unfinished ...>") and f"<... {call.name} resumed>" in second
        assert first.split()[0] == second.split()[0] == str(call.pid)
        head = _body(first).removesuffix("<unfinished ...>").removesuffix(" ")
        rest = _body(second).split("resumed>", 1)[1]
        if call.args_complete:
            assert call.text() == head + rest
    clones = [c for c in log.calls if c.name == "clone"]
    assert clones and all(c.args[-1].startswith("tls=") and isinstance(c.result, int) for c in clones)
    # Each thread's calls are in the order it made them.
    for events in log.by_pid().values():
        starts = [e.lines[0] for e in events]
        assert starts == sorted(starts)


@needs_strace
def test_pids_main_thread_and_creation_order(logs: Logs) -> None:
    log = read_strace(logs.goroutines)
    assert log.calls[0].name == "execve" and log.calls[0].pid == log.main_pid
    created = [c.result for c in log.calls if c.name == "clone"]
    assert log.creation_order() == [log.main_pid, *created]
    assert set(log.pids) == set(log.creation_order())
    for pid in log.pids:
        end = log.exit_of(pid)
        assert end is not None and (end.kind, end.status) == ("exited", 0)
    gettids = [c for c in log.calls if c.name == "gettid"]
    assert gettids and all(c.result == c.pid for c in gettids)


@needs_strace
def test_stderr_form_with_pid_brackets_and_no_prefix_before_the_first_clone(logs: Logs) -> None:
    log = read_strace(logs.stderr)
    text = logs.stderr.read_text()
    assert "[pid " in text and not text.startswith("[pid")
    first_clone = next(c for c in log.calls if c.name == "clone")
    assert all(c.pid == log.main_pid for c in log.calls if c.line < first_clone.line)
    assert all(c.args[-1].startswith("tls=") for c in log.calls if c.name == "clone")
    assert log.exit_of(log.main_pid) is not None


def test_attached_message_inside_a_line_is_taken_out() -> None:
    # strace 6.1 on stderr writes "Process N attached" into the line it interrupts (copied from a run).
    text = (
        "rt_sigprocmask(SIG_SETMASK, ~[], [], 8) = 0\n"
        "clone(child_stack=0x1c7c70ff2000, flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD"
        "|CLONE_SYSVSEM|CLONE_SETTLSstrace: Process 4689 attached\n"
        ", tls=0x1c7c70ffe090) = 4689\n"
        "[pid  4689] gettid( <unfinished ...>\n"
        "[pid  4688] rt_sigprocmask(SIG_SETMASK, [],  <unfinished ...>\n"
        "[pid  4689] <... gettid resumed>)       = 4689\n"
        "[pid  4689] tgkill(4688, 4688, SIGURGstrace: Process 4691 attached\n"
        " <unfinished ...>\n"
        "[pid  4688] <... rt_sigprocmask resumed>NULL, 8) = 0\n"
        "[pid  4689] <... tgkill resumed>)       = 0\n"
        "[pid  4689] <... nanosleep resumed> <unfinished ...>) = ?\n"
    )
    with pytest.raises(ParseError) as error:
        parse_strace(text)
    assert error.value.line == 11  # nanosleep resumed with nothing unfinished
    log = parse_strace(text.rsplit("\n", 2)[0] + "\n")
    assert log.main_pid == 4688
    clone, gettid, mask, tgkill = log.calls[1:]  # each where its entry was printed
    assert (clone.pid, clone.args[-1], clone.result, clone.lines) == (
        4688,
        "tls=0x1c7c70ffe090",
        4689,
        (2, 3),
    )
    assert (mask.args, mask.lines) == (["SIG_SETMASK", "[]", "NULL", "8"], (5, 9))
    assert (gettid.pid, gettid.result) == (4689, 4689)
    assert (tgkill.args, tgkill.lines) == (["4688", "4688", "SIGURG"], (7, 8, 10))
    assert [n.text for n in log.notes] == ["strace: Process 4689 attached", "strace: Process 4691 attached"]


def test_a_thread_leaving_mid_call_keeps_what_strace_printed() -> None:
    # strace 6.1 -f -o at exit_group, lines copied from runs of hello
    log = parse_strace(
        "4629  nanosleep({tv_sec=0, tv_nsec=20000},  <unfinished ...>\n"
        "4698  futex(0xf2c3ed7f160, FUTEX_WAKE_PRIVATE, 1 <unfinished ...>\n"
        "4630  syscall_0xfffffffffffffff5(0x1, 0x1, 0x3345d9d86e80, 0, 0, 0x3345d9d8c010 <unfinished ...>\n"
        "4628  exit_group(0)                     = ?\n"
        "4629  <... nanosleep resumed> <unfinished ...>) = ?\n"
        "4698  <... futex resumed>) = ? <unavailable>\n"
        "4629  +++ exited with 0 +++\n"
        "4630  +++ killed by SIGPIPE +++\n"
    )
    nanosleep, futex, cut, exit_group = log.calls
    assert (nanosleep.pid, nanosleep.args, nanosleep.result, nanosleep.args_complete) == (
        4629,
        ["{tv_sec=0, tv_nsec=20000}"],
        "?",
        False,
    )
    assert (
        nanosleep.lines == (1, 5)
        and nanosleep.text() == "nanosleep({tv_sec=0, tv_nsec=20000} <unfinished ...>) = ?"
    )
    assert (futex.result, futex.annotation, futex.lines) == ("?", "<unavailable>", (2, 6))
    assert cut.name.startswith("syscall_0x") and cut.result is None and len(cut.args) == 6
    killed = log.exit_of(4630)
    assert killed is not None and (killed.kind, killed.signal, killed.status) == ("killed", "SIGPIPE", None)
    assert exit_group.text() == "exit_group(0) = ?" and log.main_pid == 4629  # no clone seen: first pid


def test_other_forms_strace_writes() -> None:
    # forms these fixtures do not produce: restarts, ERESTART*, poll results, futex ops, -e inject
    text = (
        "restart_syscall(<... resuming interrupted read ...>) = 0\n"
        "read(0, 0x7ffd5a1b, 10) = ? ERESTARTSYS (To be restarted if SA_RESTART is set)\n"
        "poll([{fd=3, events=POLLIN}], 1, 10) = 1 ([{fd=3, revents=POLLIN}])\n"
        "futex(0x4c, FUTEX_WAKE_OP_PRIVATE, 1, 1, 0x48, FUTEX_OP_SET<<28|0<<12|FUTEX_OP_CMP_GT<<24|0x1) = 1\n"
        'openat(AT_FDCWD, "a\\"b, c)", O_RDONLY) = -1 ENOENT (No such file or directory) (INJECTED)\n'
        "--- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=12, si_uid=0, si_status=0} ---\n"
        "--- stopped by SIGSTOP ---\n"
        "+++ killed by SIGSEGV (core dumped) +++\n"
    )
    log = parse_strace(text)
    assert [e.text() for e in log.events] == text.splitlines()
    restart, read, poll, futex, openat = log.calls
    assert restart.args == ["<... resuming interrupted read ...>"]
    assert (read.result, read.errno) == ("?", "ERESTARTSYS")
    assert (poll.result, poll.annotation) == (1, "([{fd=3, revents=POLLIN}])")
    assert len(futex.args) == 6
    assert openat.args[1] == '"a\\"b, c)"' and unquote(openat.args[1]) == (b'a"b, c)', False)
    end = log.exits[0]
    assert (end.kind, end.signal, end.core_dumped) == ("killed", "SIGSEGV", True)


@needs_strace
def test_ff_files_are_one_log_per_pid(logs: Logs) -> None:
    files = sorted(logs.root.glob("ff.*"))
    assert len(files) >= 2
    log = read_strace(logs.ff)
    assert set(log.pids) == {int(f.suffix[1:]) for f in files}
    assert log.calls[0].name == "execve" and log.calls[0].pid == log.main_pid
    created = [c.result for c in log.calls if c.name == "clone"]
    assert log.creation_order() == [log.main_pid, *created]
    assert all(len(c.lines) == 1 for c in log.calls), "-ff never interleaves"
    for f in files:
        one = read_strace(f)  # alone, a file's pid comes from its own gettid/getpid
        assert one.unparsed == [] and one.pids == [int(f.suffix[1:])]


@needs_strace
def test_tt_and_T_give_times_and_durations(logs: Logs) -> None:
    log = read_strace(logs.timed)
    clock = re.compile(r"\d\d:\d\d:\d\d\.\d{6}$")
    assert all(e.timestamp is not None and clock.match(e.timestamp) for e in log.events)
    finished = [c for c in log.calls if c.result not in (None, "?")]
    assert finished and all(c.duration is not None and c.duration >= 0 for c in finished)
    assert any(len(c.lines) == 2 for c in log.calls)
    stamps = [e.timestamp for e in sorted(log.events, key=lambda e: e.lines[0])]
    assert stamps == sorted(stamps)  # type: ignore[type-var]


@needs_strace
def test_unix_and_relative_times(logs: Logs) -> None:
    log = read_strace(logs.unix_relative)
    assert all(e.timestamp is not None and float(e.timestamp) > 1e9 for e in log.events)
    assert log.calls[0].name == "execve"


@needs_strace
def test_results_errnos_annotations_and_strings(logs: Logs) -> None:
    log = read_strace(logs.missing)
    missing = next(c for c in log.calls if c.name == "openat" and '"/nonexistent/file"' in c.args)
    assert (missing.result, missing.errno, missing.annotation) == (
        -1,
        "ENOENT",
        "(No such file or directory)",
    )
    fcntl = next(c for c in log.calls if c.name == "fcntl" and c.args[1] == "F_GETFL")
    assert isinstance(fcntl.result, int) and fcntl.annotation is not None
    assert fcntl.annotation.startswith("(flags O_")
    mmap = next(c for c in log.calls if c.name == "mmap")
    assert isinstance(mmap.result, int) and mmap.result >= 0x10000 and mmap.result_text.startswith("0x")
    assert next(c for c in log.calls if c.name == "exit_group").result == "?"
    writes = [c for c in log.calls if c.name == "write"]
    assert unquote(writes[0].args[1]) == (b'args: ["/nonexistent/file"]\n', False)
    cgroup = next(c for c in log.calls if c.name == "read" and c.args[1].endswith('"...'))
    data, truncated = unquote(cgroup.args[1])  # type: ignore[misc]
    assert truncated and len(data) == 32
    rt = next(c for c in log.calls if c.name == "rt_sigaction" and c.args[1] != "NULL")
    assert rt.args[1].startswith("{sa_handler=") and rt.args[1].endswith("}") and len(rt.args) == 4


@needs_strace
def test_fd_paths_of_yy_stay_inside_their_argument(logs: Logs) -> None:
    log = read_strace(logs.decorated)
    reads = [c for c in log.calls if c.name == "read" and "<" in c.args[0]]
    assert reads and all(len(c.args) == 3 for c in reads)
    opened = next(c for c in log.calls if c.name == "openat" and __file__ in c.args[1])
    assert opened.result_text is not None and opened.result_text.endswith(f"{__file__}>")
    assert opened.args[0].startswith("AT_FDCWD</")


# --- our own output -------------------------------------------------------------------------


@pytest.mark.parametrize(("fixture", "args"), [("hello", ()), ("goroutines", ()), ("argsenv", ("x",)),
                                               ("panic", ())])  # fmt: skip
def test_our_strace_reads_back_to_the_events_it_was_written_from(fixture: str, args: tuple[str, ...]) -> None:
    out = io.StringIO()
    result = api.run(built(fixture), args, sinks=[StraceWriter(out)])
    log = parse_strace(out.getvalue())
    assert [(c.pid, c.text()) for c in log.calls] == [(e.tid, format_call(e)) for e in result.syscalls]
    assert log.main_pid == result.syscalls[0].tid
    end = log.exit_of(log.main_pid)
    assert end is not None and end.status == result.exit_status


def test_split_args_respects_nesting_and_strings() -> None:
    assert split_args('1, "a, \\"b\\")", {x=[1, 2], y=f(3, 4)}, 0x1 /* c, d */') == [
        "1",
        '"a, \\"b\\")"',
        "{x=[1, 2], y=f(3, 4)}",
        "0x1 /* c, d */",
    ]
    assert split_args("") == []
    assert split_args("FUTEX_OP_SET<<28|0<<12, 3</a,b>") == ["FUTEX_OP_SET<<28|0<<12", "3</a,b>"]
    assert unquote('"\\x41\\0\\377\\n"') == (b"A\x00\xff\n", False)


# --- fuzzing --------------------------------------------------------------------------------

_MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["drop-line", "dup-line", "swap-lines", "cut-line", "insert", "delete", "replace"]),
        st.integers(min_value=0, max_value=10_000),
        st.integers(min_value=0, max_value=10_000),
        st.sampled_from([*list('"\\()[]{}<>,=. -+|/*?x0'), "<unfinished ...>", "<... futex resumed>", "\n"]),
    ),
    min_size=1,
    max_size=6,
)


def _mutate(lines: list[str], mutations: list[tuple[str, int, int, str]]) -> list[str]:
    lines = list(lines)
    for how, a, b, text in mutations:
        if not lines:
            break
        i, j = a % len(lines), b % len(lines)
        line = lines[i]
        k = b % (len(line) + 1)
        if how == "drop-line":
            del lines[i]
        elif how == "dup-line":
            lines.insert(j, line)
        elif how == "swap-lines":
            lines[i], lines[j] = lines[j], lines[i]
        elif how == "cut-line":
            lines[i] = line[:k]
        elif how == "insert":
            lines[i] = line[:k] + text + line[k:]
        elif how == "delete":
            lines[i] = line[:k] + line[k + 1 + a % 8 :]
        else:
            lines[i] = line[:k] + text + line[k + len(text) :]
    return lines


@pytest.fixture(scope="module")
def fuzz_corpus(logs: Logs) -> list[list[str]]:
    return [p.read_text().splitlines() for p in (logs.goroutines, logs.timed, logs.stderr, logs.decorated)]


@needs_strace
@settings(max_examples=150, deadline=None)
@given(which=st.integers(min_value=0, max_value=3), mutations=_MUTATIONS)
def test_mutated_logs_raise_nothing_but_parse_errors(
    fuzz_corpus: list[list[str]], which: int, mutations: list[tuple[str, int, int, str]]
) -> None:
    lines = _mutate(fuzz_corpus[which], mutations)
    text = "\n".join(lines) + "\n"
    total = text.count("\n")
    try:
        log = parse_strace(text)
    except ParseError as e:
        assert 1 <= e.line <= total and str(e).startswith(f"line {e.line}:")
    else:
        assert all(1 <= n <= total for ev in log.events for n in ev.lines)
    lenient = parse_strace(text, strict=False)  # never raises at all
    assert all(1 <= n <= total for n, _ in lenient.unparsed)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*list('abc019_"\\()[]{}<>,=.-+ |/*?:\n'), "[pid 7] ", "+++ ", "--- "])))
def test_arbitrary_text_raises_nothing_but_parse_errors(pieces: list[str]) -> None:
    text = "".join(pieces)
    try:
        log = parse_strace(text)
    except ParseError as e:
        assert e.line >= 1
    else:
        assert all(isinstance(e, StraceCall | StraceSignal | StraceExit) for e in log.events)
