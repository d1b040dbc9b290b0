"""Mermaid pictures of the observed bootstrap: a flowchart of the call path and a sequence diagram.

Both are drawn from the run's events (the call path of ``--calls`` and the Go
runtime events), so they show what happened, not what the source says should:

- the flowchart follows the first thread's recorded calls down to ``max_depth``,
  one node per distinct function, an edge per caller -> callee (numbered in
  order of first call), with syscalls as leaf nodes;
- the sequence diagram has one participant per thread plus "kernel": syscalls
  go to the kernel, thread and goroutine creations go between threads, and the
  phases are notes.

Render with any Mermaid viewer (e.g. mermaid.live, or a ```mermaid block on GitHub).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from emulator.events import CallEvent, Event, GoEvent, SyscallEvent, ThreadEvent

_MAX_NODES = 80
_MAX_MESSAGES = 120


def _label(text: str) -> str:
    """Mermaid-safe quoted label text."""
    return text.replace('"', "#quot;")


def flowchart(events: Sequence[Event], max_depth: int = 6) -> str:
    """``flowchart TD`` of the main thread's call path."""
    main_tid = next((e.tid for e in events if isinstance(e, CallEvent)), None)
    ids: dict[str, str] = {}
    edges: list[tuple[str, str]] = []
    seen_edges: set[tuple[str, str]] = set()
    stack: list[str] = []
    last_at_depth: dict[int, str] = {}

    def node(name: str) -> str | None:
        if name not in ids:
            if len(ids) >= _MAX_NODES:
                return None
            ids[name] = f"n{len(ids)}"
        return ids[name]

    for event in events:
        if getattr(event, "tid", None) != main_tid:
            continue
        if isinstance(event, CallEvent) and event.kind == "call" and event.depth <= max_depth:
            me = node(event.function + (" (inlined)" if event.inlined else ""))
            if me is None:
                continue
            last_at_depth[event.depth] = event.function + (" (inlined)" if event.inlined else "")
            del stack[event.depth :]
            parent = last_at_depth.get(event.depth - 1) if event.depth else None
            if parent is not None and (parent, last_at_depth[event.depth]) not in seen_edges:
                seen_edges.add((parent, last_at_depth[event.depth]))
                edges.append((parent, last_at_depth[event.depth]))
            stack.append(event.function)
        elif isinstance(event, SyscallEvent) and stack and event.name in ("write", "exit_group", "clone"):
            leaf = f"{event.name}()"
            me = node(leaf)
            parent = last_at_depth.get(len(stack) - 1)
            if me is not None and parent is not None and (parent, leaf) not in seen_edges:
                seen_edges.add((parent, leaf))
                edges.append((parent, leaf))
    lines = ["flowchart TD"]
    for name, ident in ids.items():
        shape = f'{ident}(["{_label(name)}"])' if name.endswith("()") else f'{ident}["{_label(name)}"]'
        lines.append(f"    {shape}")
    for i, (a, b) in enumerate(edges, 1):
        if a in ids and b in ids:
            lines.append(f"    {ids[a]} -->|{i}| {ids[b]}")
    return "\n".join(lines) + "\n"


def sequence(events: Sequence[Event]) -> str:
    """``sequenceDiagram`` of threads, the kernel and the runtime's milestones."""
    lines = ["sequenceDiagram"]
    threads: list[int] = []
    body: list[str] = []

    def who(tid: int) -> str:
        if tid not in threads:
            threads.append(tid)
        return f"T{tid}"

    for event in events:
        if len(body) >= _MAX_MESSAGES:
            break
        if isinstance(event, SyscallEvent):
            if event.name in ("rt_sigaction", "rt_sigprocmask", "sigaltstack", "mmap", "munmap", "madvise"):
                continue  # the bulk of start-up; the flowchart and --strace have them
            result = "?" if event.result is None else str(event.result)
            body.append(f"    {who(event.tid)}->>kernel: {event.name} = {result}")
        elif isinstance(event, ThreadEvent) and event.what == "start" and event.parent is not None:
            parent = who(event.parent)
            body.append(f"    {parent}-->>{who(event.tid)}: clone")
        elif isinstance(event, GoEvent) and event.kind == "phase":
            body.append(f"    Note over {who(event.tid)}: {event.details.get('phase')}")
        elif isinstance(event, GoEvent) and event.kind == "goroutine":
            start, goid = event.details.get("start"), event.details.get("goid")
            body.append(f"    Note right of {who(event.tid)}: go {start} (goroutine {goid})")
        elif isinstance(event, GoEvent) and event.kind == "init":
            body.append(f"    Note right of {who(event.tid)}: init {event.details.get('package')}")
    lines += [f"    participant T{tid} as thread {tid}" for tid in threads]
    lines.append("    participant kernel")
    return "\n".join(lines + [re.sub(r"[;#]", " ", line) for line in body]) + "\n"


def document(events: Sequence[Event]) -> str:
    """A Markdown file with both diagrams in ```mermaid blocks."""
    return (
        "# Observed bootstrap\n\n## Call path (main thread)\n\n```mermaid\n"
        + flowchart(events)
        + "```\n\n## Threads and the kernel\n\n```mermaid\n"
        + sequence(events)
        + "```\n"
    )
