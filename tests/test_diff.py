"""``python -m emulator diff``: the native strace of a fixture against the emulator's own."""

from __future__ import annotations

import inspect
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import built
from stracing import needs_strace, record

from emulator import api, cli, diff, toolchains
from emulator.diff import compare_runs, diff_logs, record_emulated, record_native, render_text
from emulator.normalize import SET_ASIDE
from emulator.strace import StraceWriter
from emulator.stracelog import parse_strace

# Where the emulator genuinely differs from Linux in hello's main thread after normalisation:
# (key of the native entry or None, key of the emulator entry or None) -> why.  Empty: none left.
KNOWN_DIFFERENCES: dict[tuple[str | None, str | None], str] = {}


def _unexplained(report: diff.DiffReport) -> list[tuple[str | None, str | None]]:
    return [
        (d.native.key if d.native else None, d.emulator.key if d.emulator else None)
        for d in report.main.differences
        if not d.explained
    ]


@needs_strace
@pytest.mark.parametrize("version", toolchains.GO_VERSIONS)
def test_hello_main_thread_differs_only_in_named_classes(version: str) -> None:
    path = built("hello", version)
    native = record_native(path, env=api.DEFAULT_ENV)
    emulated = record_emulated(path, env=api.DEFAULT_ENV)
    report = compare_runs(native, emulated)
    text = render_text(report)
    assert [(c.what, c.same) for c in report.outcome] == [
        ("exit status", True),
        ("stdout", True),
        ("stderr", True),
    ], text
    assert report.main.native_pid == native.log.main_pid and report.main.emulator_pid == 1000
    assert report.main.matched > 140, text
    unexplained = _unexplained(report)
    assert [u for u in unexplained if u not in KNOWN_DIFFERENCES] == [], text
    classes = {c.name for c in report.classes}
    assert {"timing", "threads", "startup", "exits", "host-file", "host-value"} <= classes, text


@needs_strace
def test_clock_reads_without_a_vdso_fall_in_the_clock_class() -> None:
    path = built("hello")
    options = {"vdso": False} if "vdso" in inspect.signature(api.run).parameters else {}
    emulated = record_emulated(path, env=api.DEFAULT_ENV, **options)
    assert any(c.name == "clock_gettime" for c in emulated.log.calls)
    report = compare_runs(record_native(path, env=api.DEFAULT_ENV), emulated)
    assert _unexplained(report) == []
    (clock,) = [c for c in report.classes if c.name == "clock"]
    assert clock.set_aside and clock.counts[1] > 0


def _emulator_log_text(fixture: str = "hello") -> str:
    out = io.StringIO()
    api.run(built(fixture), sinks=[StraceWriter(out)])
    return out.getvalue()


def test_a_log_against_itself_matches_everything() -> None:
    log = parse_strace(_emulator_log_text("goroutines"))
    report = diff_logs(log, log)
    assert report.exit_code == 0 and report.unexplained == 0
    assert all(t.paired and t.differences == [] for t in report.threads)
    assert report.main.matched > 100
    assert all(n == m for c in report.classes for n, m in c.by_name.values())


def test_missing_extra_and_mismatched_calls_carry_both_line_numbers() -> None:
    lines = _emulator_log_text().splitlines()
    write = next(i for i, line in enumerate(lines) if line.startswith("[pid  1000] write(1,"))
    fcntl = next(i for i, line in enumerate(lines) if "fcntl(0, F_GETFD) = 0" in line)
    changed = list(lines)
    changed[fcntl] = changed[fcntl].replace("F_GETFD) = 0", "F_GETFD) = -1 EBADF (Bad file descriptor)")
    del changed[write]
    changed.insert(3, "getuid() = 0")
    report = diff_logs(parse_strace("\n".join(lines)), parse_strace("\n".join(changed)))
    kinds = {d.kind: d for d in report.main.differences}
    assert set(kinds) == {"missing", "extra", "mismatch"} and report.exit_code == 1
    assert kinds["missing"].native is not None and kinds["missing"].native.lines == (write + 1,)
    assert kinds["extra"].emulator is not None and kinds["extra"].emulator.lines == (4,)
    mismatch = kinds["mismatch"]
    assert mismatch.native is not None and mismatch.emulator is not None
    assert (mismatch.native.lines, mismatch.emulator.lines) == ((fcntl + 1,), (fcntl + 2,))
    assert mismatch.details == ["result: 0 | -1 EBADF (Bad file descriptor)"]
    text = render_text(report)
    assert f"- native:{write + 1}  write(1" in text and "+ emulator:4  getuid() = 0" in text
    assert f"~ native:{fcntl + 1} emulator:{fcntl + 2}  fcntl" in text
    assert "\x1b[" in render_text(report, color=True) and "\x1b[" not in text


def test_addresses_must_be_renamed_consistently() -> None:
    native = parse_strace(
        "mmap(NULL, 8192, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000\n"
        "mmap(NULL, 8192, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f1000000000\n"
        "munmap(0x7f0000000000, 8192) = 0\n"
    )
    consistent = parse_strace(
        "mmap(NULL, 8192, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x20000\n"
        "mmap(NULL, 8192, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x30000\n"
        "munmap(0x20000, 8192) = 0\n"
    )
    swapped = parse_strace(
        "mmap(NULL, 8192, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x20000\n"
        "mmap(NULL, 8192, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x30000\n"
        "munmap(0x30000, 8192) = 0\n"
    )
    assert diff_logs(native, consistent).exit_code == 0
    report = diff_logs(native, swapped)
    (problem,) = report.main.differences
    assert problem.kind == "mismatch" and problem.native is not None and problem.native.name == "munmap"
    assert "ADDR1 | ADDR2" in problem.details[0]


def test_a_call_made_on_another_thread_is_moved_not_missing() -> None:
    native = parse_strace(
        "10  clone(child_stack=0x7f0000000000, flags=CLONE_VM|CLONE_THREAD) = 11\n"
        '10  write(1, "hi\\n", 3) = 3\n'
        "11  gettid() = 11\n"
        "11  exit_group(0) = ?\n"
    )
    emulated = parse_strace(
        "[pid  1000] clone(child_stack=0x7f0000000000, flags=CLONE_VM|CLONE_THREAD) = 1001\n"
        '[pid  1000] write(1, "hi\\n", 3) = 3\n'
        "[pid  1001] gettid() = 1001\n"
        "[pid  1000] exit_group(0) = ?\n"
    )
    report = diff_logs(native, emulated)
    assert report.exit_code == 0
    (moved,) = report.main.differences + report.threads[1].differences
    assert moved.kind == "moved" and moved.thread == (1, 0) and moved.explained
    assert "thread #1 -> #0" in render_text(report)
    strict = diff_logs(native, emulated, rules=diff.DEFAULT_RULES - {"moved"})
    assert strict.exit_code == 1


@needs_strace
def test_cli_diff_json_and_a_recorded_native_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["diff", "hello", "--json", "--keep-logs", str(tmp_path)])
    report = json.loads(capsys.readouterr().out)
    assert status == report["exit_code"]
    assert [o["same"] for o in report["outcome"]] == [True, True, True]
    main = report["threads"][0]
    assert main["role"] == "main thread" and main["matched"] > 140
    assert [d for d in main["differences"] if not d["explained"]] == []
    assert set(report["classes"]) >= {"timing", "threads", "startup", "exits"}
    assert all(report["classes"][c]["set_aside"] for c in SET_ASIDE if c in report["classes"])
    assert (tmp_path / "native.strace").is_file() and (tmp_path / "emulator.strace").is_file()

    log = record(tmp_path / "recorded.log", "hello", "-f")
    status = cli.main(["diff", str(built("hello")), "--native", str(log)])
    out = capsys.readouterr().out
    assert out.startswith(f"native log: {log}\nemulator log: not kept")
    assert "exit status: same (0)" in out and "stdout: not recorded on both sides" in out
    assert status in (0, 1)


def test_cli_diff_errors(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["diff", "hello", "--without", "bogus"]) == 64
    assert "unknown rule 'bogus'" in capsys.readouterr().err
    assert cli.main(["diff", "hello", "--native", "/nonexistent/strace.log"]) == 64
    assert "no strace log" in capsys.readouterr().err
    monkeypatch.setattr(diff.shutil, "which", lambda _name: None)
    assert cli.main(["diff", "hello"]) == 69
    assert "strace is not installed" in capsys.readouterr().err


class _Cells(HTMLParser):
    """The text of each td, by its class, and every start tag seen."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.rows: list[str] = []
        self.cells: dict[str, list[str]] = {}
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        css = dict(attrs).get("class") or ""
        if tag == "tr":
            self.rows.append(css)
        if tag == "td" and css in ("native", "emulator"):
            self._in = css
            self.cells.setdefault(css, []).append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self.cells[self._in][-1] += data


def test_html_page_shows_both_sides_escaped_with_the_mismatch_marked(tmp_path: Path) -> None:
    text = _emulator_log_text("hello")
    changed = text.replace('"Hello, World!\\n", 14', '"<b>&Hello</b>\\n", 14')
    assert changed != text
    report = diff_logs(parse_strace(text), parse_strace(changed))
    page = diff.render_html(report)
    parser = _Cells()
    parser.feed(page)
    parser.close()
    assert "b" not in parser.tags and "script" not in parser.tags  # the guest's text stayed text
    assert 'write(1, "Hello, World!\\n", 14) = 14' in parser.cells["native"]
    assert 'write(1, "<b>&Hello</b>\\n", 14) = 14' in parser.cells["emulator"]
    assert parser.rows.count("mismatch") == 1 and parser.rows.count("same") > 100
    assert sum(role == "h2" for role in parser.tags) == len(report.threads)


@needs_strace
def test_diff_html_flag_writes_the_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "diff.html"
    assert cli.main(["diff", "hello", "--html", str(page)]) == 0
    capsys.readouterr()
    parser = _Cells()
    parser.feed(page.read_text(encoding="utf-8"))
    assert parser.cells["native"] and parser.cells["emulator"]
