"""Fuzzing the ELF loader with structured mutations of real Go binaries.

Every mutated file either loads, and then runs under a small instruction
budget to a clean end (exit, a guest signal, a deadlock or the budget: never
an internal error), or is refused with a ``LoaderError``: one line, the
file's name first, an exit code of the loader's own. Absurd sizes must be
refused before anything of that size is allocated.

The mutations name ELF fields (header, program headers, section headers)
rather than flipping random bytes (tests/test_loader.py does that), so they
reach the checks behind the first ones: huge p_filesz/p_memsz, e_phnum 65535,
overlapping PT_LOADs, a section name table out of range, a truncated file,
garbage in .gopclntab and .go.buildinfo of stripped builds.
"""

from __future__ import annotations

import functools
import struct
import subprocess
import sys
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import built, examples
from hypothesis import currently_in_test_context, event, given
from hypothesis import strategies as st

from emulator import api
from emulator.toolchains import DEFAULT_GO, GO_VERSIONS
from loader import LoaderError, load_image
from loader.elf import ELF64_EHDR, ELF64_PHDR, PT_LOAD, parse_elf_header
from loader.sections import ELF64_SHDR, find_section, parse_section_headers

# Fields as (offset, struct format): the ELF header, then one entry of each table.
EHDR_FIELDS = {
    "ei_class": (4, "B"),
    "ei_data": (5, "B"),
    "e_type": (16, "H"),
    "e_machine": (18, "H"),
    "e_entry": (24, "Q"),
    "e_phoff": (32, "Q"),
    "e_shoff": (40, "Q"),
    "e_ehsize": (52, "H"),
    "e_phentsize": (54, "H"),
    "e_phnum": (56, "H"),
    "e_shentsize": (58, "H"),
    "e_shnum": (60, "H"),
    "e_shstrndx": (62, "H"),
}
PHDR_FIELDS = {
    "p_type": (0, "I"),
    "p_flags": (4, "I"),
    "p_offset": (8, "Q"),
    "p_vaddr": (16, "Q"),
    "p_filesz": (32, "Q"),
    "p_memsz": (40, "Q"),
    "p_align": (48, "Q"),
}
SHDR_FIELDS = {
    "sh_name": (0, "I"),
    "sh_type": (4, "I"),
    "sh_addr": (16, "Q"),
    "sh_offset": (24, "Q"),
    "sh_size": (32, "Q"),
    "sh_link": (40, "I"),
}

# Values that sit on the edges of the checks, by field width.
EDGES = {
    "B": [0, 1, 2, 3, 0x7F, 0xFF],
    "H": [0, 1, 2, 3, 4, 0x38, 0x40, 0x7FFF, 0xFFFE, 0xFFFF],
    "I": [0, 1, 2, 3, 4, 7, 0x6474E551, 0x7FFF_FFFF, 0xFFFF_FFFF],
    "Q": [
        0,
        1,
        0x1000,
        0x10000,
        0x400000,
        1 << 32,
        (4 << 30) + 1,
        0x7FFF_FFFF_F000,
        0x8000_0000_0000,
        0xFFFF_8000_0000_0000,
        1 << 63,
        (1 << 64) - 1,
    ],
}
BUDGET = 30_000  # guest instructions per run: enough to get into the Go runtime's start-up
OLDEST_GO = GO_VERSIONS[0]
CLEAN_ENDS = {"exit", "signal", "deadlock", "instruction-budget"}
LOADER_CODES = range(79, 89)


@dataclass(frozen=True)
class Layout:
    """Where the tables and Go's metadata sit in an unmutated binary."""

    data: bytes
    phoff: int
    phnum: int
    loads: tuple[int, ...]  # indexes of the PT_LOAD program headers
    shoff: int
    shnum: int
    go_regions: tuple[tuple[int, int], ...]  # (offset, size) of .gopclntab and .go.buildinfo


@functools.cache
def layout(stripped: bool, version: str = DEFAULT_GO) -> Layout:
    data = built("hello", version, stripped).read_bytes()
    header = ELF64_EHDR.unpack_from(data)
    phoff, shoff, phnum, shnum = header[5], header[6], header[10], header[12]
    loads = tuple(
        i for i in range(phnum) if ELF64_PHDR.unpack_from(data, phoff + i * ELF64_PHDR.size)[0] == PT_LOAD
    )
    sections = parse_section_headers(data, parse_elf_header(data, "hello"))
    regions = tuple(
        (s.sh_offset, s.sh_size)
        for name in (".gopclntab", ".go.buildinfo")
        if (s := find_section(sections, name)) is not None
    )
    assert regions, "a Go binary has .gopclntab and .go.buildinfo sections"
    return Layout(data, phoff, phnum, loads, shoff, shnum, regions)


def value_for(fmt: str) -> st.SearchStrategy[int]:
    bits = struct.calcsize(fmt) * 8
    return st.one_of(st.sampled_from(EDGES[fmt]), st.integers(0, (1 << bits) - 1))


def field_edit(table: str, fields: dict[str, tuple[int, str]]) -> st.SearchStrategy[tuple]:
    return st.sampled_from(sorted(fields)).flatmap(
        lambda name: st.tuples(
            st.just(table), st.integers(0, 1 << 16), st.just(name), value_for(fields[name][1])
        )
    )


MUTATION = st.one_of(
    field_edit("ehdr", EHDR_FIELDS),
    field_edit("phdr", PHDR_FIELDS),
    field_edit("shdr", SHDR_FIELDS),
    st.tuples(st.just("overlap"), st.integers(0, 1 << 16), st.integers(0, 1 << 16), st.integers(0, 1 << 20)),
    st.tuples(st.just("go"), st.integers(0, 1), st.integers(0, 1 << 20), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("goword"), st.integers(0, 1), st.integers(0, 15), value_for("Q")),
    st.tuples(st.just("truncate"), st.integers(0, 1 << 24)),
)


def mutate(base: Layout, mutations: list[tuple]) -> bytes:
    """Apply the edits in order, then any truncation; indexes wrap onto the entries that exist."""
    data = bytearray(base.data)
    cut = len(data)
    for mutation in mutations:
        kind = mutation[0]
        if kind == "ehdr":
            offset, fmt = EHDR_FIELDS[mutation[2]]
            struct.pack_into("<" + fmt, data, offset, mutation[3])
        elif kind in ("phdr", "shdr"):
            table, count, size, fields = (
                (base.phoff, base.phnum, ELF64_PHDR.size, PHDR_FIELDS)
                if kind == "phdr"
                else (base.shoff, base.shnum, ELF64_SHDR.size, SHDR_FIELDS)
            )
            offset, fmt = fields[mutation[2]]
            at = table + (mutation[1] % count) * size + offset
            if at + struct.calcsize(fmt) <= len(data):
                struct.pack_into("<" + fmt, data, at, mutation[3])
        elif kind == "overlap":  # one PT_LOAD moved onto (or just into) another
            lower = base.loads[mutation[1] % len(base.loads)]
            upper = base.loads[mutation[2] % len(base.loads)]
            vaddr = ELF64_PHDR.unpack_from(data, base.phoff + lower * ELF64_PHDR.size)[3]
            at = base.phoff + upper * ELF64_PHDR.size + PHDR_FIELDS["p_vaddr"][0]
            if at + 8 <= len(data):
                struct.pack_into("<Q", data, at, (vaddr + (mutation[3] & ~0xFFF)) % (1 << 64))
        elif kind == "go":
            start, size = base.go_regions[mutation[1] % len(base.go_regions)]
            at = start + mutation[2] % max(size, 1)
            data[at : at + len(mutation[3])] = mutation[3]
        elif kind == "goword":  # a header field of .gopclntab or .go.buildinfo: counts, offsets
            start, size = base.go_regions[mutation[1] % len(base.go_regions)]
            struct.pack_into("<Q", data, start + 8 * mutation[2], mutation[3])
        elif kind == "truncate":
            cut = min(cut, mutation[1] % (len(data) + 1))
    return bytes(data[:cut])


def note(what: str) -> None:
    """Count an outcome in hypothesis's statistics (--hypothesis-show-statistics)."""
    if currently_in_test_context():
        event(what)


def loads_or_refuses_cleanly(path: Path) -> api.RunResult | None:
    """The contract: a LoaderError of one line, or an image whose run ends cleanly."""
    try:
        image = load_image(path)
    except LoaderError as e:
        assert e.message.startswith(str(path)) and "\n" not in e.message, e.message
        assert e.exit_code in LOADER_CODES
        note(f"refused: {type(e).__name__}")
        return None
    symbols = image.symbols  # read lazily: damage there must cost symbols, never raise
    symbols.lookup(image.entry)
    symbols.address_of("main.main")
    result = api.run(path, max_instructions=BUDGET)
    assert result.reason in CLEAN_ENDS, result.report
    note(f"ran: {result.reason}")
    return result


# The newest toolchain, full and stripped, and the oldest (another pclntab layout), stripped.
BINARIES = [(DEFAULT_GO, False), (DEFAULT_GO, True), (OLDEST_GO, True)]


@pytest.mark.parametrize(
    ("version", "stripped"), BINARIES, ids=[f"{v}-{'stripped' if s else 'full'}" for v, s in BINARIES]
)
@examples(normal=80, long=2500)
@given(mutations=st.lists(MUTATION, min_size=1, max_size=4))
def test_mutated_go_binary_loads_or_is_refused_cleanly(
    tmp_path: Path, version: str, stripped: bool, mutations: list[tuple]
) -> None:
    path = tmp_path / "mutated"
    path.write_bytes(mutate(layout(stripped, version), mutations))
    loads_or_refuses_cleanly(path)


# Sizes Linux's own checks would let through (or not) that must never become allocations.
HUGE = st.sampled_from([1 << 63, (1 << 64) - 1, 1 << 40, (4 << 30) + 0x1000, 0x7FFF_FFFF_F000, 0x7000_0000])
LOADER_MEMORY_BOUND = 64 << 20


@examples(normal=12, long=300)
@given(index=st.integers(0, 1 << 16), field=st.sampled_from(["p_filesz", "p_memsz", "p_offset"]), size=HUGE)
def test_absurd_sizes_are_refused_before_they_are_allocated(
    tmp_path: Path, index: int, field: str, size: int
) -> None:
    """tracemalloc's peak over load_image stays far below the sizes asked for."""
    base = layout(stripped=True)
    path = tmp_path / "huge"
    path.write_bytes(mutate(base, [("phdr", base.loads[index % len(base.loads)], field, size)]))
    _, peak = python_peak(path)
    assert peak < LOADER_MEMORY_BOUND, f"{peak} bytes allocated for {field}={size:#x}"


def test_load_segments_spanning_more_than_the_memory_limit_are_refused(tmp_path: Path) -> None:
    """Each PT_LOAD under 4 GiB, together far more: refused by the loader, not a crash at mapping."""
    base = layout(stripped=True)
    mutations = [("phdr", i, "p_memsz", 0xF000_0000) for i in base.loads]
    mutations += [("phdr", i, "p_vaddr", 0x1_0000_0000 * (n + 1)) for n, i in enumerate(base.loads)]
    mutations += [("phdr", i, "p_offset", 0) for i in base.loads]
    mutations += [("ehdr", 0, "e_entry", 0x1_0000_0000)]
    path = tmp_path / "spread"
    path.write_bytes(mutate(base, mutations))
    assert loads_or_refuses_cleanly(path) is None


# A few damaged files through the command line, as a user would meet them: refused by the loader,
# or damage only the program itself looks at ("native": it behaves as when run for real).
CLI_CASES = {
    "truncated-in-the-program-headers": ([("truncate", 100)], "refused"),
    "e_phnum-65535": ([("ehdr", 0, "e_phnum", 0xFFFF)], "refused"),
    "p_filesz-2^63": ([("phdr", 2, "p_filesz", 1 << 63)], "refused"),
    "p_memsz-2^64-1": ([("phdr", 2, "p_memsz", (1 << 64) - 1)], "refused"),
    "overlapping-segments": ([("overlap", 2, 3, 0x1000)], "refused"),
    "shstrndx-out-of-range": ([("ehdr", 0, "e_shstrndx", 0xFFF0)], "native"),
    "gopclntab-header-zeroed": ([("go", 0, 0, bytes(64))], "native"),
    "gopclntab-tail-garbage": ([("go", 0, 0x4_0000, b"\xff" * 64)], "native"),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_damaged_files_through_the_command_line(tmp_path: Path, case: str) -> None:
    mutations, expected = CLI_CASES[case]
    path = tmp_path / case
    path.write_bytes(mutate(layout(stripped=True), mutations))
    path.chmod(0o755)
    proc = subprocess.run(
        [sys.executable, "-m", "emulator", "run", str(path), "--max-instructions", "5000000"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in proc.stderr
    if expected == "refused":
        assert proc.returncode in LOADER_CODES, proc.stderr
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"emulator: {path}: "), proc.stderr
        return
    native = subprocess.run([str(path)], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (native.returncode, native.stdout), proc.stderr
    assert proc.stderr.splitlines()[:1] == native.stderr.splitlines()[:1]


def python_peak(path: Path) -> tuple[api.RunResult | None, int]:
    """Load and run ``path``, with the peak of Python allocations meanwhile."""
    tracemalloc.start()
    try:
        return loads_or_refuses_cleanly(path), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_huge_bss_that_fits_is_mapped_lazily(tmp_path: Path) -> None:
    """1.75 GiB of bss loads and runs, and costs Python no more than the unmodified binary (measured:
    9.0 against 8.5 MiB; mapping the image page by page cost 48 MiB)."""
    base = layout(stripped=True)
    plain, bss = tmp_path / "plain", tmp_path / "bss"
    plain.write_bytes(base.data)
    bss.write_bytes(mutate(base, [("phdr", base.loads[-1], "p_memsz", 0x7000_0000)]))
    _, plain_peak = python_peak(plain)
    result, bss_peak = python_peak(bss)
    assert result is not None and result.reason == "instruction-budget"
    assert bss_peak < plain_peak + (8 << 20), (plain_peak, bss_peak)
