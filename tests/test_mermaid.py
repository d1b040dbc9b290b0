"""Mermaid itself accepts the diagrams of ``--mermaid``.

The structural checks in test_timeline.py know our own line shapes; these hand
the written file to the real Mermaid parser (``mermaid.parse``, the npm package
pinned in tests/mermaid/, installed by ``make mermaid``), which is what a viewer
runs before drawing. Where node or the package is missing the tests skip with
the reason, except when MERMAID_REQUIRED is set (``.ci/run`` sets it): then they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import built

from emulator.cli import main as cli_main
from emulator.events import CallEvent, GoEvent, SyscallEvent, ThreadEvent
from emulator.mermaid import flowchart, sequence

PARSER = Path(__file__).parent / "mermaid"


def parser_problem() -> str | None:
    """Why the Mermaid parser cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed (apt-get install nodejs npm, then make mermaid)"
    if not (PARSER / "node_modules" / "mermaid" / "package.json").is_file():
        return "the Mermaid parser is not installed (make mermaid)"
    return None


@pytest.fixture
def mermaid_parse():
    """Runs tests/mermaid/parse.mjs on Mermaid or Markdown text: (exit status, one verdict per diagram)."""
    problem = parser_problem()
    if problem is not None:
        if os.environ.get("MERMAID_REQUIRED"):
            pytest.fail(f"MERMAID_REQUIRED is set but {problem}")
        pytest.skip(problem)

    def parse(text: str) -> tuple[int, list[dict]]:
        done = subprocess.run(
            ["node", str(PARSER / "parse.mjs")], input=text, capture_output=True, text=True, timeout=120
        )
        assert done.returncode in (0, 1), done.stderr
        return done.returncode, [json.loads(line) for line in done.stdout.splitlines()]

    return parse


def written(tmp_path: Path, name: str, version: str) -> str:
    """The file ``emulator run FIXTURE --mermaid FILE`` writes."""
    out = tmp_path / "bootstrap.md"
    assert cli_main(["run", str(built(name, version)), "--mermaid", str(out)]) == 0
    return out.read_text()


@pytest.mark.parametrize(
    ("name", "version"), [("hello", "1.21.13"), ("hello", "1.27.3"), ("goroutines", "1.27.3")]
)
def test_mermaid_accepts_the_bootstrap_diagrams(tmp_path, mermaid_parse, name, version) -> None:
    status, verdicts = mermaid_parse(written(tmp_path, name, version))
    assert verdicts == [{"ok": True, "type": "flowchart-v2"}, {"ok": True, "type": "sequence"}]
    assert status == 0


def test_mermaid_rejects_a_broken_diagram(tmp_path, mermaid_parse) -> None:
    """The same path fails when Mermaid says no: hello's document with one label left unclosed."""
    document = written(tmp_path, "hello", "1.27.3")
    broken = document.replace('"]\n', "]\n", 1)
    assert broken != document
    status, verdicts = mermaid_parse(broken)
    assert status == 1
    assert [v["ok"] for v in verdicts] == [False, True]
    assert verdicts[0]["error"].startswith("Parse error on line")


def test_names_that_are_mermaid_syntax_stay_labels(mermaid_parse) -> None:
    """Go symbols and runtime text with quotes, brackets, ``;``, ``#`` or keywords still parse."""
    names = ['type:.eq.struct { A int "json:\\"a\\"" }', "a;b", "x#y", "main.(*T).m", "a|b", "end", "x{y}"]
    events = [CallEvent(i, 1, "call", name, min(i, 1)) for i, name in enumerate(names)]
    events.append(ThreadEvent(len(names), 2, "start", 1))
    for i, name in enumerate(names):
        events.append(GoEvent(100 + i, 1, "phase", None, {"phase": name}))
        events.append(GoEvent(200 + i, 2, "goroutine", None, {"start": name, "goid": i}))
        events.append(SyscallEvent(300 + i, 2, i, 1, name, (), None, 1))
    chart, seq = flowchart(events), sequence(events)
    assert mermaid_parse(chart) == (0, [{"ok": True, "type": "flowchart-v2"}]), chart
    assert mermaid_parse(seq) == (0, [{"ok": True, "type": "sequence"}]), seq
    assert chart.count("-->") == len(names) - 1 and "x{y}" in chart  # every name is a node
    assert "go x{y} (goroutine 6)" in seq and "end = 1" in seq
