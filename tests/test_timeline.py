"""The pictures and the data: Chrome trace-event JSON, Mermaid, JSON lines that round-trip."""

from __future__ import annotations

import io
import json
import re

from conftest import built

from emulator import api
from emulator.cli import main as cli_main
from emulator.eventlog import EventLog, read_events
from emulator.events import CallEvent, GoEvent, SyscallEvent, ThreadEvent
from emulator.mermaid import flowchart, sequence
from emulator.timeline import build

REQUIRED = {
    "B": {"name", "ph", "ts", "pid", "tid"},
    "E": {"ph", "ts", "pid", "tid"},
    "X": {"name", "ph", "ts", "dur", "pid", "tid"},
    "i": {"name", "ph", "ts", "pid", "tid", "s"},
    "C": {"name", "ph", "ts", "pid", "args"},
    "M": {"name", "ph", "pid", "tid", "args"},
}


def check_trace(trace: dict) -> None:
    """The trace-event format's rules that viewers rely on."""
    assert isinstance(trace["traceEvents"], list)
    open_spans: dict[int, list[str]] = {}
    last_ts: dict[int, float] = {}
    named = set()
    for event in trace["traceEvents"]:
        ph = event["ph"]
        assert ph in REQUIRED, ph
        assert REQUIRED[ph] <= event.keys(), (ph, event)
        if ph == "M":
            if event["name"] == "thread_name":
                named.add(event["tid"])
            continue
        tid, ts = event["tid"], event["ts"]
        assert isinstance(ts, int | float) and ts >= last_ts.get(tid, 0), f"ts goes back on {tid}"
        last_ts[tid] = ts
        if ph == "B":
            open_spans.setdefault(tid, []).append(event["name"])
        elif ph == "E":
            assert open_spans.get(tid), f"E without B on {tid}"
            name = open_spans[tid].pop()
            assert event.get("name", name) == name
        elif ph == "X":
            assert event["dur"] >= 0
    assert all(not spans for spans in open_spans.values()), "unmatched B"
    assert set(last_ts) <= named, "a track without a thread_name"


def test_timeline_of_hello_is_valid_trace_event_json(tmp_path) -> None:
    out = tmp_path / "trace.json"
    status = cli_main(["run", str(built("hello")), "--timeline", str(out)])
    assert status == 0
    trace = json.loads(out.read_text())
    check_trace(trace)
    events = trace["traceEvents"]
    assert {e["tid"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"} == {1000, 1001, 1002}
    assert all(e["pid"] == 1000 for e in events)
    assert any(e["ph"] == "X" and e["name"] == "write" for e in events)
    assert any(e["ph"] == "B" and e["name"] == "main.main" for e in events)
    assert any(e["ph"] == "i" and e["name"] == "goroutine" for e in events)


def test_timeline_of_goroutines_across_threads_is_valid() -> None:
    result = api.run(built("goroutines"), calls="main.*,runtime.main,runtime.gcStart,sync.*")
    trace = build(result.events, pid=1000)
    check_trace(trace)
    events = trace["traceEvents"]
    spans = {e["name"] for e in events if e["ph"] == "B"}
    assert {"main.main", "main.main.func1", "sync.(*WaitGroup).Wait"} <= spans
    threads = {e.tid for e in result.events if isinstance(e, ThreadEvent)}
    assert len(threads) > 1 and {e["tid"] for e in events if e["ph"] != "M"} == threads  # a track each


def test_mermaid_diagrams_are_well_formed() -> None:
    result = api.run(built("hello"), calls="")
    chart = flowchart(result.events).splitlines()
    assert chart[0] == "flowchart TD"
    nodes = {}
    for line in chart[1:]:
        node = re.fullmatch(r'    (n\d+)(?:\["([^"]+)"\]|\(\["([^"]+)"\]\))', line)
        edge = re.fullmatch(r"    (n\d+) -->\|(\d+)\| (n\d+)", line)
        assert node or edge, line
        if node:
            nodes[node.group(1)] = node.group(2) or node.group(3)
        else:
            assert edge.group(1) in nodes and edge.group(3) in nodes
    assert {"runtime.main", "main.main", "fmt.Println (inlined)", "write()"} <= set(nodes.values())
    seq = sequence(result.events).splitlines()
    assert seq[0] == "sequenceDiagram"
    participants = {
        m.group(1) for line in seq if (m := re.fullmatch(r"    participant (\S+)(?: as .+)?", line))
    }
    for line in seq[1:]:
        if "participant" in line:
            continue
        message = re.fullmatch(r"    (\S+?)(->>|-->>)(\S+?): .+", line)
        note = re.fullmatch(r"    Note (?:over|right of) (\S+?): .+", line)
        assert message or note, line
        used = [message.group(1), message.group(3)] if message else [note.group(1)]
        assert set(used) <= participants, line
    assert any("write = 14" in line for line in seq)


def test_event_lines_round_trip(tmp_path) -> None:
    result = api.run(built("hello"), calls="")
    buffer = io.StringIO()
    sink = EventLog(buffer)
    for event in result.events:
        sink(event)
    lines = buffer.getvalue().splitlines()
    assert len(lines) == len(result.events)
    for line in lines:
        obj = json.loads(line)
        assert set(obj) == {"kind", "thread", "goroutine", "instructions", "details"}
    back = read_events(lines)
    for before, after in zip(result.events, back, strict=True):
        if isinstance(before, CallEvent | GoEvent):
            assert after == before
        elif isinstance(before, SyscallEvent):
            assert (after.name, after.args, after.result, after.instructions) == (
                before.name,
                before.args,
                before.result,
                before.instructions,
            )
        else:
            assert type(after) is type(before) and after.instructions == before.instructions
    write = next(json.loads(x) for x in lines if '"name":"write"' in x)
    assert write["details"]["text"] == 'write(1, "Hello, World!\\n", 14) = 14' and write["goroutine"] == 1


def test_cli_events_file_and_bad_path(tmp_path, capsys) -> None:
    out = tmp_path / "events.jsonl"
    assert cli_main(["run", str(built("hello")), "--events", str(out)]) == 0
    kinds = {json.loads(line)["kind"] for line in out.read_text().splitlines()}
    assert {"syscall", "thread", "phase", "goroutine", "alloc", "exit"} <= kinds
    assert cli_main(["run", str(built("hello")), "--events", str(tmp_path / "no" / "such" / "f")]) == 64
    assert "cannot write --events" in capsys.readouterr().err
