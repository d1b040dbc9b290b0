"""The call path of hello, as `run hello --calls` shows it, on every toolchain, stripped or not."""

from __future__ import annotations

import pytest
from conftest import built

from emulator import api
from emulator.calls import DEFAULT_PATTERNS, matches, parse_patterns
from emulator.events import CallEvent, SyscallEvent
from emulator.toolchains import GO_VERSIONS
from loader import load_image
from loader.inline import InlineTree

# What the source says happens, in order, on the main thread (names without ABI suffixes).
HELLO_PATH = [
    "_rt0_amd64_linux",
    "_rt0_amd64",
    "runtime.rt0_go",
    "runtime.args",
    "runtime.osinit",
    "runtime.schedinit",
    "runtime.newproc",
    "runtime.mstart",
    "runtime.main",
    "runtime.doInit1",
    "os.init",
    "main.main",
    "fmt.Println (inlined)",
    "fmt.Fprintln",
    "os.(*File).Write",
    "internal/poll.(*FD).Write",
    "syscall.Write (inlined)",
    'write(1, "Hello, World!\\n", 14) = 14',
    "exit_group(0) = ?",
]


def _in_order(lines: list[str], wanted: list[str]) -> list[str]:
    """The wanted items not found in order (each after the previous one) among the stripped lines."""
    stripped = [line.strip() for line in lines]
    missing, at = [], 0
    for item in wanted:
        try:
            at = stripped.index(item, at) + 1
        except ValueError:
            missing.append(item)
    return missing


@pytest.mark.parametrize("stripped", [False, True], ids=["symtab", "stripped"])
@pytest.mark.parametrize("version", GO_VERSIONS)
def test_hello_call_path_reads_as_the_source(version: str, stripped: bool) -> None:
    path = built("hello", version, stripped=stripped)
    result = api.run(path, calls="")
    assert result.stdout == b"Hello, World!\n"
    lines = result.calls()
    main_thread = lines[
        : next((i for i, line in enumerate(lines[1:], 1) if line.startswith("thread ")), len(lines))
    ]
    assert main_thread[0] == "thread 1000:"
    assert _in_order(main_thread, HELLO_PATH) == []
    # Depth: the write sits below the inlined frames below main.main, which is below runtime.main.
    depth = {line.strip(): (len(line) - len(line.lstrip())) // 2 for line in main_thread}
    assert depth["runtime.main"] < depth["main.main"] < depth["fmt.Println (inlined)"] < depth["fmt.Fprintln"]
    assert depth["fmt.Fprintln"] < depth["internal/poll.(*FD).Write"] < depth["syscall.Write (inlined)"]
    assert depth['write(1, "Hello, World!\\n", 14) = 14'] > depth["syscall.Write (inlined)"]
    assert not any(".abi0" in line for line in lines)


@pytest.mark.parametrize("version", GO_VERSIONS)
def test_a_stripped_binary_shows_the_same_call_path(version: str) -> None:
    """The pclntab names an ABI wrapper as its target (runtime.osinit twice); without .symtab the
    wrapper is recognised by its call to the same-named function, not shown as a second call."""
    paths = [api.run(built("hello", version, stripped=s), calls="").calls() for s in (False, True)]
    assert paths[0][-1].startswith("phases") and paths[1][-1].startswith("phases")
    assert paths[0][:-1] == paths[1][:-1]  # the phases' counts differ a little: the code moved


def test_calls_are_balanced_per_goroutine_and_inlined_frames_marked() -> None:
    result = api.run(built("hello"), calls="")
    calls = [e for e in result.events if isinstance(e, CallEvent)]
    open_frames: dict[tuple[int | None, str], int] = {}
    for e in calls:
        key = (e.goid, e.function)
        open_frames[key] = open_frames.get(key, 0) + (1 if e.kind == "call" else -1)
        assert open_frames[key] >= 0, f"{e.function} returned more often than called"
    assert all(n == 0 for n in open_frames.values())
    println = [e for e in calls if e.function == "fmt.Println"]
    assert println and all(e.inlined for e in println)
    main = next(e for e in calls if e.function == "main.main")
    assert main.goid == 1 and not main.inlined


def test_patterns_select_functions_and_all_records_a_tree() -> None:
    selected = api.run(built("hello"), calls="runtime.main,main.*,fmt.*")
    names = {e.function for e in selected.events if isinstance(e, CallEvent)}
    assert {"runtime.main", "main.main", "fmt.Println", "fmt.Fprintln"} <= names
    assert all(n == "runtime.main" or n.startswith(("main.", "fmt.")) for n in names)
    everything = api.run(built("hello"), calls="all")
    all_names = {e.function for e in everything.events if isinstance(e, CallEvent)}
    assert len(all_names) > 5 * len(names)
    assert {"runtime.mallocgc", "runtime.schedule", "internal/poll.(*FD).Write"} <= all_names
    # The write syscall still sits below syscall.Write in the full tree.
    assert (
        _in_order(
            everything.calls(),
            ["main.main", "syscall.Write (inlined)", 'write(1, "Hello, World!\\n", 14) = 14'],
        )
        == []
    )


@pytest.mark.parametrize("version", GO_VERSIONS)
def test_a_narrow_selection_puts_the_write_under_the_function_still_running(version: str) -> None:
    """With only main.* and fmt.* recorded, no entry follows fmt's padString before the write: the
    stop at the write itself sees that padString returned (its return-address slot is off the frame
    pointer chain), so the write shows under Fprintln, which is still running, as in the source."""
    lines = api.run(built("hello", version), calls="main.*,fmt.*").calls()
    write = next(i for i, line in enumerate(lines) if line.lstrip().startswith("write(1,"))
    depth = len(lines[write]) - len(lines[write].lstrip())
    parent = next(line for line in reversed(lines[:write]) if len(line) - len(line.lstrip()) < depth)
    assert parent.strip() == "fmt.Fprintln"
    assert any(line.strip() == "fmt.(*fmt).padString" for line in lines[:write])


def test_syscall_events_interleave_with_calls_in_instruction_order() -> None:
    result = api.run(built("hello"), calls="")
    main = [e for e in result.events if isinstance(e, CallEvent | SyscallEvent) and e.tid == 1000]
    counts = [e.instructions for e in main if isinstance(e, SyscallEvent) or e.kind == "call"]
    assert counts == sorted(counts)


def test_default_patterns_and_package_init_matching() -> None:
    assert parse_patterns(None) == DEFAULT_PATTERNS
    assert parse_patterns("main.*, fmt.*") == ("main.*", "fmt.*")
    assert parse_patterns("all") == ("all",)
    assert matches("os.init", ("*.init",)) and matches("os.init.0", ("*.init.*",))
    assert not matches("runtime.(*mheap).init", ("*.init", "*.init.*"))


@pytest.mark.parametrize("stripped", [False, True], ids=["symtab", "stripped"])
def test_inline_tree_names_println_inside_main(stripped: bool) -> None:
    image = load_image(built("hello", stripped=stripped))
    tree = InlineTree.from_image(image)
    main = image.symbols.address_of("main.main")
    assert main is not None
    frames = {tree.frames_at(pc) for pc in range(main, main + 256)}
    assert ("fmt.Println",) in frames
    assert () in frames  # main.main's own code


def test_cli_calls_prints_the_path_after_the_guest_output(capfd) -> None:
    from emulator.cli import main

    assert main(["run", str(built("hello")), "--calls=main.*,fmt.*,syscall.*"]) == 0
    out, err = capfd.readouterr()
    assert out == "Hello, World!\n"
    lines = err.splitlines()
    assert lines[0] == "thread 1000:"
    assert (
        _in_order(lines, ["main.main", "fmt.Println (inlined)", "fmt.Fprintln", "syscall.Write (inlined)"])
        == []
    )
    assert 'write(1, "Hello, World!\\n", 14) = 14' in [line.strip() for line in lines]


def test_cli_help_documents_the_observation_flags(capsys) -> None:
    from emulator.cli import main

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    help_text = capsys.readouterr().out
    for flag in ("--calls", "--events", "--timeline", "--mermaid", "PATTERNS", "Perfetto"):
        assert flag in help_text


def test_loops_and_preemption_do_not_look_like_calls() -> None:
    """preempt's spin loops back to its entry and is resumed there after each SIGURG: one call."""
    result = api.run(built("preempt"), calls="main.*")
    spins = [e for e in result.events if isinstance(e, CallEvent) and e.function == "main.spin"]
    assert [e.kind for e in spins] == ["call", "return"]
    assert spins[0].goid not in (None, 1)


def test_direct_recursion_nests() -> None:
    result = api.run(built("recursion"), calls="main.descend", max_instructions=2_000_000)
    depths = [e.depth for e in result.events if isinstance(e, CallEvent) and e.kind == "call"]
    assert len(depths) > 100 and depths == list(range(len(depths)))


def test_signal_handler_nests_under_the_faulting_function() -> None:
    patterns = "main.*,runtime.sigtramp,runtime.sighandler,runtime.sigpanic,runtime.gopanic"
    result = api.run(built("nilderef"), calls=patterns)
    assert result.exit_status == 2
    calls = [e for e in result.events if isinstance(e, CallEvent) and e.kind == "call"]
    first = next(i for i, e in enumerate(calls) if e.function == "runtime.sigtramp")
    deref, sigtramp, sighandler, sigpanic = calls[first - 1 : first + 3]
    assert deref.function == "main.deref" and sigtramp.depth == deref.depth + 1
    assert sighandler.function == "runtime.sighandler" and sighandler.depth == sigtramp.depth + 1
    assert sigpanic.function == "runtime.sigpanic" and sigpanic.depth == deref.depth + 1


def test_a_finished_run_frees_its_call_path() -> None:
    """The frame chains live natively (emulator._native.CallEngine): a loop of runs must not keep them."""
    import gc

    from emulator import _native

    for _ in range(2):
        api.run(built("hello"), calls="")
    gc.collect()
    assert [o for o in gc.get_objects() if type(o) is _native.CallEngine] == []


def test_pc_value_tables_decode_as_the_runtime_does() -> None:
    """runtime.pcvalue: zig-zag value deltas from -1 and pc deltas in quanta, ended by a zero delta."""
    from loader.pclntab import PcHeader, pc_value, pc_values

    header = PcHeader(0xFFFFFFF1, 1, 8, 1, 0, 0, 0, 0, pctab_offset=1)
    # value -1 -> 8 (delta +9, zig-zag 18) for 4 bytes; -> 0 (delta -8, zig-zag 15) for 300 bytes.
    table = bytes([18, 4, 15]) + bytes([0xAC, 0x02]) + b"\0"
    blob = b"xx" + table
    assert list(pc_values(blob, header, 1, 0x1000)) == [(0x1000, 0x1004, 8), (0x1004, 0x1130, 0)]
    assert [pc_value(blob, header, 1, 0x1000, pc) for pc in (0x1000, 0x1003, 0x1004, 0x112F, 0x1130)] == [
        8,
        8,
        0,
        0,
        None,
    ]


def test_phase_summary_adds_up_to_the_run() -> None:
    result = api.run(built("hello"), calls="")
    summary = result.calls()[-1]
    assert summary.startswith("phases (instructions): bootstrap ")
    spans = dict(part.rsplit(" ", 1) for part in summary.split(": ", 1)[1].split(", "))
    assert list(spans) == ["bootstrap", "runtime-init", "package-init", "main", "exit"]
    assert sum(int(v.replace(",", "")) for v in spans.values()) == result.stats.instructions
