"""``explain``: each section checked against facts computed independently of it."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from collections import Counter

import pytest
from conftest import built
from elftools.elf.elffile import ELFFile
from guest import elf, exit_group

from emulator import api, cli, exitcodes
from emulator.explain import Explanation, explain, render_markdown, render_text

CASES = [(v, s) for v in ("1.21.13", "1.27.3") for s in (False, True)]


@functools.cache
def explained(version: str, stripped: bool) -> Explanation:
    return explain(built("hello", version, stripped=stripped), "hello")


@functools.cache
def sections(version: str, stripped: bool) -> dict[str, tuple[int, int]]:
    """name -> (address, size) of the allocated sections, read with pyelftools."""
    with open(built("hello", version, stripped=stripped), "rb") as f:
        return {s.name: (s["sh_addr"], s["sh_size"]) for s in ELFFile(f).iter_sections() if s["sh_addr"]}


@functools.cache
def plain_run(version: str, stripped: bool) -> api.RunResult:
    return api.run(built("hello", version, stripped=stripped))


@pytest.mark.parametrize(("version", "stripped"), CASES)
def test_string_literal_lives_in_rodata_without_a_terminator(version: str, stripped: bool) -> None:
    ex = explained(version, stripped)
    start, size = sections(version, stripped)[".rodata"]
    s = ex.string
    assert s is not None and s.text == "Hello, World!"
    assert start <= s.address and s.address + len(s.text) <= start + size
    assert s.section == ".rodata"
    data = built("hello", version, stripped=stripped).read_bytes()
    offset = s.address - start + _file_offset(version, stripped, ".rodata")
    assert data[offset : offset + 14] == b"Hello, World!" + s.followed_by[:1]
    assert s.followed_by[:1] != b"\0"
    with open(built("hello", version, stripped=stripped), "rb") as f:
        loaded = [seg.data() for seg in ELFFile(f).iter_segments() if seg["p_type"] == "PT_LOAD"]
    assert s.copies == sum(seg.count(b"Hello, World!") for seg in loaded) == 1
    assert s.blob == ("" if stripped else "go:string.*")
    # main.main hands fmt a static header {ptr, len} that points at those bytes
    header = data[s.header_address - start + _file_offset(version, stripped, ".rodata") :][:16]
    assert int.from_bytes(header[:8], "little") == s.address
    assert int.from_bytes(header[8:], "little") == 13
    # write(2) took its bytes from the printer's heap buffer, not from .rodata
    write = next(e for e in plain_run(version, stripped).syscalls if e.name == "write")
    assert s.write_buffer == write.args[1] and not start <= write.args[1] < start + size


def _file_offset(version: str, stripped: bool, name: str) -> int:
    with open(built("hello", version, stripped=stripped), "rb") as f:
        return ELFFile(f).get_section_by_name(name)["sh_offset"]


@pytest.mark.parametrize(("version", "stripped"), CASES)
def test_threads_match_the_clones_of_the_same_run(version: str, stripped: bool) -> None:
    ex = explained(version, stripped)
    f = ex.facts
    clones = [e for e in plain_run(version, stripped).syscalls if e.name == "clone"]
    assert f.threads_created == 1 + len(clones)
    main_at = next(m.instructions for m in f.milestones if m.function == "main.main")
    before_main = [e for e in f.syscalls if e.name == "clone" and e.instructions < main_at]
    assert [t.tid for t in f.threads_at_main] == [1000] + [e.result for e in before_main]
    assert sum(t.state == "running main.main" for t in f.threads_at_main) == 1
    assert any(t.role == "sysmon" for t in f.threads_at_main)
    sizes = {t.altstack[1] for t in f.threads_at_main}
    assert sizes == {32 * 1024}  # gsignal stacks: malg(32 KiB) for every M
    # the M numbers: m0 is the first thread, newm numbers the others in the order it starts them
    assert [t.m for t in f.threads_at_main] == list(range(len(f.threads_at_main)))
    assert "  1001  m1  sysmon" in render_text(explained(version, stripped))


@pytest.mark.parametrize(("version", "stripped"), CASES)
def test_every_goroutine_of_hello_exists_before_main(version: str, stripped: bool) -> None:
    """newproc1's events and runtime.allgs agree: hello starts no goroutine of its own."""
    f = explained(version, stripped).facts
    assert f.goroutines_at_main is not None
    assert f.goroutines_created == len(f.goroutines_at_main) == 5


@pytest.mark.parametrize(("version", "stripped"), CASES)
def test_phases_are_contiguous_and_sum_to_the_run(version: str, stripped: bool) -> None:
    f = explained(version, stripped).facts
    names = [p.name.split(" (")[0] for p in f.phases]
    assert names == ["bootstrap", "runtime init", "package inits", "main.main", "exit"]
    assert f.phases[0].start == 0
    assert all(a.end == b.start for a, b in zip(f.phases, f.phases[1:], strict=False))
    assert all(p.instructions > 0 for p in f.phases)
    assert sum(p.instructions for p in f.phases) == f.instructions
    milestones = [m.instructions for m in f.milestones]
    assert milestones == sorted(milestones)
    assert [m.function for m in f.milestones][:2] == ["runtime.rt0_go", "runtime.check"]
    assert f.milestones[-1].function == "main.main"
    inits = [name for p in f.package_inits for name in p.functions]
    assert "os.init" in inits and "runtime.init" not in inits
    assert inits.index("sync.init.0") < inits.index("os.init")  # dependencies first


@pytest.mark.parametrize(("version", "stripped"), CASES)
def test_goroutines_at_main(version: str, stripped: bool) -> None:
    f = explained(version, stripped).facts
    gs = f.goroutines_at_main
    assert gs is not None, f.goroutines_note
    assert [g.goid for g in gs] == list(range(1, len(gs) + 1))
    main = gs[0]
    assert (main.status, main.start_function) == ("running", "runtime.main")
    forcegc = next(g for g in gs if g.start_function == "runtime.forcegchelper")
    # what a goroutine dump prints for it: "goroutine 2 [force gc (idle)]" (needs waitReasonStrings' symbol)
    assert (forcegc.status, forcegc.wait_reason) == ("waiting", "" if stripped else "force gc (idle)")
    arena = [r for r in explained(version, stripped).memory_at_main if r.label.startswith("Go heap arena:")]
    for g in gs:
        assert g.stack_size in (2048, 4096, 8192, 16384, 32768)
        assert any(r.start <= g.stack_lo < g.stack_hi <= r.end for r in arena)


@pytest.mark.parametrize(("version", "stripped"), CASES)
def test_memory_map_labels(version: str, stripped: bool) -> None:
    ex = explained(version, stripped)
    text_addr, text_size = sections(version, stripped)[".text"]
    text = next(r for r in ex.memory_at_main if r.label.startswith(".text"))
    assert text.perms == "r-xp" and text.start <= text_addr and text_addr + text_size <= text.end
    bss_addr, _ = sections(version, stripped)[".bss"]
    data = next(r for r in ex.memory_at_main if r.start <= bss_addr < r.end)
    assert ".bss" in data.label and data.perms == "rw-p"
    assert any(r.label.startswith("main thread stack") and r.size == 8 << 20 for r in ex.memory_at_main)
    arena = [r for r in ex.memory_at_main if r.label.startswith("Go heap arena")]
    hinted = [e for e in ex.facts.syscalls if e.name == "mmap" and e.args[0] and e.result == e.args[0]]
    assert arena and all(any(h.result <= r.start < h.result + h.args[1] for h in hinted) for r in arena)
    if version == "1.21.13":
        assert arena[0].start == 0xC000000000  # the first heap arena hint (Go 1.26+ randomizes it)


@pytest.mark.parametrize(("version", "stripped"), CASES)
def test_println_allocations(version: str, stripped: bool) -> None:
    f = explained(version, stripped).facts
    assert f.println_calls == 1
    allocs = f.println_allocations
    assert 0 < len(allocs) < f.allocations
    assert "fmt.pp" in [a.type_name for a in allocs]  # the cold sync.Pool builds the first printer
    assert sum(a.size for a in allocs) < f.allocated_bytes
    text = render_text(explained(version, stripped))
    assert f"{sum(a.size for a in allocs)} B  {len(allocs)} allocations" in text


@pytest.mark.parametrize(("version", "stripped"), CASES)
def test_package_sizes_fit_in_the_text_section(version: str, stripped: bool) -> None:
    ex = explained(version, stripped)
    _, text_size = sections(version, stripped)[".text"]
    code = sum(p.text for p in ex.sizes.packages)
    assert text_size * 0.95 < code <= text_size
    assert ex.sizes.packages[0].package == "runtime"
    assert ex.file_size == built("hello", version, stripped=stripped).stat().st_size
    if stripped:
        assert all(p.data == 0 for p in ex.sizes.packages)
    else:
        assert sum(p.data for p in ex.sizes.packages) > 0


@pytest.mark.parametrize(("version", "stripped"), CASES)
def test_prologue_and_claims(version: str, stripped: bool) -> None:
    ex = explained(version, stripped)
    assert ex.prologue[0].text == "cmp rsp, qword ptr [r14 + 0x10]"
    assert ex.prologue[1].mnemonic == "jbe"
    assert "call runtime.morestack_noctxt" in [i.text for i in ex.prologue]
    claims = {c.claim: c for c in ex.claims}
    syscalls = {e.name for e in plain_run(version, stripped).syscalls}
    shown = claims["the trace shows mmap, clone, futex, write, exit_group"]
    assert shown.holds == ({"mmap", "clone", "futex", "write", "exit_group"} <= syscalls)
    counts = Counter(e.name for e in plain_run(version, stripped).syscalls)
    assert f"{counts['clone']} clone, {counts['futex']} futex" in shown.measured
    alloc = next(c for c in ex.claims if c.topic == "allocations")
    assert alloc.holds == (len(ex.facts.println_allocations) == 2)
    size = next(c for c in ex.claims if c.claim.startswith("the binary is"))
    expected = 1.5 if stripped else 2.0  # "~2 MB (~1.5 MB stripped)", within a quarter
    mib = built("hello", version, stripped=stripped).stat().st_size / (1 << 20)
    assert size.holds == (abs(mib / expected - 1) <= 0.25)


def test_text_report_sections_follow_the_reference_order() -> None:
    text = render_text(explained("1.27.3", False))
    headings = [line for line in text.splitlines() if line and not line.startswith(" ")][2:]
    order = [
        "Bootstrap",
        "Instructions per phase",
        "Package inits",
        "Threads when main.main starts",
        "Goroutines when main.main starts",
        "Memory when main.main starts",
        "Memory at exit",
        "The string literal",
        "Syscalls by kind",
        "Stack-guard prologue of main.main",
        "Heap allocations of the first fmt.Println",
        "Run totals",
        "Binary size by package",
        "The reference document's claims",
    ]
    assert [next(h for h in headings if h.startswith(o)) for o in order] == [
        h for h in headings if any(h.startswith(o) for o in order)
    ]
    assert len(headings) == len(order)
    markdown = render_markdown(explained("1.27.3", False))
    assert markdown.count("\n## ") == len(order)


def test_cli_explain_formats(capfd: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["explain", "hello", "--go", "1.21.13", "--format", "json"]) == 0
    doc = json.loads(capfd.readouterr().out)
    assert doc["go_version"] == "go1.21.13"
    assert sum(p["instructions"] for p in doc["phases"]) == doc["facts"]["instructions"]
    assert doc["syscalls_by_kind"]["output"] == {"write": 1}
    assert cli.main(["explain", "hello"]) == 0
    out = capfd.readouterr().out
    assert out.startswith("hello: Go 1.27.3, ") and "\nThe reference document's claims, measured\n" in out
    assert cli.main(["explain", "hello", "--format", "yaml"]) == 64
    assert "invalid choice" in capfd.readouterr().err


def test_run_does_not_import_explain_or_capstone(tmp_path) -> None:
    probe = (
        "import sys; from emulator import cli; status = cli.main(['run', sys.argv[1]]); "
        "heavy = ('emulator.explain', 'emulator.facts', 'emulator.disasm', 'capstone', 'loader.lines', "
        "'loader.packages', 'emulator.bundle'); print(sorted(m for m in heavy if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, str(built("hello"))], capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stderr


@pytest.mark.parametrize("version", ["1.21.13", "1.27.3"])
def test_page_allocator_reservations_are_named(version: str) -> None:
    """mpagealloc_64bit.go reserves summary level L as 128 KiB * 8^L (2^14 entries * 8 B, 8x per level)."""
    regions = explained(version, False).memory_at_main
    for level in range(5):
        parts = [r for r in regions if r.label.startswith(f"page allocator summaries, level {level},")]
        assert sum(r.size for r in parts) == (128 * 1024) << (3 * level)
    assert sum(r.size for r in regions if r.label.startswith("page allocator scavenger index")) == 512 << 20
    index = [r for r in regions if r.label == "heap arena index (mheap_.arenas)"]
    assert [r.size for r in index] == [32 << 20]


def test_a_program_that_never_returns_from_main() -> None:
    ex = explain(built("panic"), "panic")
    f = ex.facts
    assert f.exit_status == 2
    assert f.phases[-1].name.startswith("main.main (never returned")
    assert f.phases[-1].end == f.instructions
    assert sum(p.instructions for p in f.phases) == f.instructions


def test_syscalls_before_main_and_guest_arguments() -> None:
    ex = explain(built("argsenv"), "argsenv", ["one", "two"])
    assert ex.facts.stdout.startswith(b'args: ["one" "two"]')
    main_at = next(m.instructions for m in ex.facts.milestones if m.function == "main.main")
    text = render_text(ex)
    rows = {
        line.split()[0]: line.split()
        for line in text.split("Syscalls by kind\n")[1].split("\n\n")[0].splitlines()
    }
    before = sum(e.instructions < main_at for e in ex.facts.syscalls)
    assert rows["total"][1:3] == [str(len(ex.facts.syscalls)), str(before)]
    assert rows["output"][2] == "0"  # every write comes from main.main


def test_explain_refuses_a_program_without_main_main(tmp_path, capfd: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tiny"
    path.write_bytes(elf(exit_group(3)))
    path.chmod(0o755)
    assert cli.main(["explain", str(path)]) == exitcodes.USAGE
    out, err = capfd.readouterr()
    assert out == "" and err == f"emulator: {path}: no main.main; explain reads Go programs\n"
