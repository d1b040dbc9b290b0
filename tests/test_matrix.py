"""``python -m emulator matrix``: toolchains x fixtures, the drift between versions, golden traces."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from stracing import needs_strace

from emulator import cli, matrix, toolchains
from emulator.matrix import Cell, check_golden, drift, run_cell, update_golden
from emulator.normalize import normalize
from emulator.stracelog import parse_strace


def _cell(version: str, fixture: str, **fields: object) -> Cell:
    base: dict[str, object] = {"outcome_same": {"exit status": True, "stdout": True, "stderr": True}}
    return Cell(version, fixture, **{**base, **fields})  # type: ignore[arg-type]


def test_epoll_data_is_an_address_so_tagged_pointers_compare_as_a_renaming() -> None:
    text = (
        "1 epoll_ctl(4, EPOLL_CTL_ADD, 3, {events=EPOLLIN|EPOLLET, data={u32=2919235585, "
        "u64=4578118425271861249}}) = -1 EPERM (Operation not permitted)\n"
        "1 epoll_ctl(4, EPOLL_CTL_ADD, 5, {events=EPOLLIN, data={u32=0, u64=0}}) = 0\n"
    )
    first, second = normalize(parse_strace(text)).threads[0]
    assert first.args[3] == "{events=EPOLLIN|EPOLLET, data=ADDR1}"
    assert second.args[3] == "{events=EPOLLIN, data={u32=0, u64=0}}"  # zero is no pointer


def test_drift_separates_stable_calls_from_timing_ones_in_release_order() -> None:
    cells = [
        _cell("1.23.9", "hello", native_profile={"eventfd2": 1, "mmap": 22, "futex": 9}),
        _cell("1.22.10", "hello", native_profile={"pipe2": 1, "mmap": 21, "futex": 4, "write": 1}),
        _cell("1.23.9", "panic", error="build failed"),  # a cell that did not run has no profile
    ]
    (d,) = drift(cells)
    assert (d.fixture, d.before, d.after) == ("hello", "1.22.10", "1.23.9")
    assert d.appeared == {"eventfd2": 1}
    assert d.vanished == {"pipe2": 1, "write": 1}
    assert d.changed == {"mmap": (21, 22)}
    assert d.variable == {"futex": (4, 9)}
    assert d.describe() == "+eventfd2 1, -pipe2 1, -write 1, mmap 21->22"


def test_reports_in_every_format() -> None:
    cells = [
        _cell("1.27.3", "hello", instructions=291_099, emulation_seconds=0.1),
        _cell(
            "1.27.3",
            "argsenv",
            outcome_same={"exit status": False, "stdout": True, "stderr": True},
            differences=3,
            diff_text="  ~ write <&> differs\n",
        ),
        Cell("1.27.3", "panic", error="strace is not installed", diff_text="Traceback ..."),
    ]
    drifts = [matrix.Drift("hello", "1.26.6", "1.27.3", {"pread64": 1}, {}, {}, {"futex": (6, 8)})]
    text = matrix.render_text(cells, drifts)
    assert "291,099" in text and "3 differences" in text and "2 of 3 cells differ" in text
    assert "1.26.6 -> 1.27.3: +pread64 1" in text and "timing-class: futex 6->8" in text
    markdown = matrix.render_markdown(cells, drifts)
    assert markdown.startswith("| Go | fixture |") and "| hello | 1.26.6 | 1.27.3 | +pread64 1 |" in markdown
    data = json.loads(matrix.render_json(cells, drifts))
    assert data["ok"] is False and [c["clean"] for c in data["cells"]] == [True, False, False]
    assert data["drift"][0]["appeared"] == {"pread64": 1}
    suite = ET.fromstring(matrix.render_junit(cells, drifts)).find("testsuite")
    assert suite is not None and suite.get("tests") == "3"
    assert (suite.get("failures"), suite.get("errors")) == ("1", "1")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    failure = cases["argsenv"].find("failure")
    assert failure is not None and failure.text == "  ~ write <&> differs\n"
    assert "exit status" in (failure.get("message") or "")
    assert cases["panic"].find("error") is not None and cases["hello"].find("failure") is None


def test_unknown_fixture_and_malformed_version_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["matrix", "--fixture", "nope"]) == 64
    assert cli.main(["matrix", "--go", "1.21; rm -rf /"]) == 64
    assert "not a Go version" in capsys.readouterr().err


@needs_strace
def test_argsenv_reads_the_matrix_file_and_matches_linux() -> None:
    cell = run_cell(toolchains.DEFAULT_GO, "argsenv")
    assert cell.clean, cell.diff_text
    assert cell.native_profile["read"] >= 2 and "epoll_ctl" in cell.native_profile
    assert f'"{matrix.WORKDIR_TOKEN}/{matrix.ARGSENV_FILE}"' in cell.golden  # no temp dir in it
    assert cell.instructions > 100_000 and cell.emulation_seconds > 0


@needs_strace
def test_parallel_cells_come_back_in_matrix_order() -> None:
    lines: list[str] = []
    cells = matrix.run_matrix(["1.26.6", "1.27.3"], ["hello"], jobs=2, progress=lines.append)
    assert [c.name for c in cells] == ["1.26.6 hello", "1.27.3 hello"]
    assert all(c.clean for c in cells), [c.diff_text for c in cells]
    assert sorted(line.split()[0] for line in lines) == ["[1/2]", "[2/2]"]


@needs_strace
def test_golden_traces_update_verify_and_catch_a_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["matrix", "--go", toolchains.DEFAULT_GO, "--fixture", "hello", "--fixture", "argsenv"]
    out = tmp_path / "report.json"
    assert cli.main([*base, "--update-golden", str(tmp_path), "--format", "json", "--output", str(out)]) == 0
    assert json.loads(out.read_text())["ok"] is True
    stored = tmp_path / toolchains.DEFAULT_GO / "hello.trace"
    text = stored.read_text()
    assert text.startswith("# exit status: 0\n# stdout sha256: ") and "== thread 0 ==" in text
    assert 'write(1, "Hello, World!\\n", 14) = 14' in text

    assert cli.main([*base, "--golden", str(tmp_path)]) == 0
    assert "golden traces: 2 of 2 match" in capsys.readouterr().err

    lines = text.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("write(1, "))
    lines[at] = 'write(1, "Hello, Mars!\\n", 13) = 13\n'
    stored.write_text("".join(lines))
    assert cli.main([*base, "--golden", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"--- {stored} (stored)" in err and f"+++ {toolchains.DEFAULT_GO} hello (this run)" in err
    assert '-write(1, "Hello, Mars!\\n", 13) = 13' in err
    assert '+write(1, "Hello, World!\\n", 14) = 14' in err
    assert "golden traces: 1 of 2 match" in err


def test_golden_check_names_missing_files_and_cells_that_did_not_run(tmp_path: Path) -> None:
    ran = _cell("1.27.3", "hello", golden="# exit status: 0\n")
    assert update_golden(tmp_path, [ran, Cell("1.27.3", "panic", error="boom")]) == [
        tmp_path / "1.27.3" / "hello.trace"
    ]
    problems = check_golden(
        tmp_path, [ran, _cell("1.27.3", "recursion"), Cell("1.27.3", "panic", error="boom")]
    )
    assert len(problems) == 2
    assert "no golden trace" in problems[0] and "did not run (boom)" in problems[1]
