"""pc -> file:line from the pclntab agrees with the Go toolchain's own ``go tool addr2line``."""

from __future__ import annotations

import dataclasses
import itertools
import subprocess
from pathlib import Path

import pytest
from conftest import built

from emulator.toolchains import go_binary
from loader import pclntab
from loader.elffile import read_elf
from loader.lines import LineTable

CASES = [(v, s) for v in ("1.21.13", "1.27.3") for s in (False, True)]


def _addr2line(version: str, path, pcs: list[int]) -> list[tuple[str, str]]:
    """(function, file:line) per pc, as ``go tool addr2line`` prints them (it reads stdin)."""
    proc = subprocess.run(
        [str(go_binary(version)), "tool", "addr2line", str(path)],
        input="".join(f"{pc:#x}\n" for pc in pcs),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    lines = proc.stdout.splitlines()
    return list(zip(lines[0::2], lines[1::2], strict=True))


def _sample(table: LineTable) -> list[int]:
    """Every instruction boundary the line runs give for main.main, plus pcs spread over all code."""
    pcs = []
    main = next(f for f in table.functions if f.name == "main.main")
    pcs += [run.start for run in table.runs(main)]
    for i, func in enumerate(table.functions[:: max(1, len(table.functions) // 150)]):
        runs = table.runs(func)
        if runs:
            pcs.append(func.entry)
            pcs.append(runs[(i * 7) % len(runs)].start)
            pcs.append(runs[-1].end - 1)
    return pcs


@pytest.mark.parametrize(("version", "stripped"), CASES)
def test_lines_agree_with_go_tool_addr2line(version: str, stripped: bool) -> None:
    path = built("hello", version, stripped=stripped)
    table = LineTable.from_elf(read_elf(path))
    assert table is not None
    pcs = _sample(table)
    assert len(pcs) > 300
    expected = _addr2line(version, path, pcs)
    ours = [table.lookup(pc) for pc in pcs]
    mismatches = [
        (hex(pc), str(got), want)
        for pc, got, (_func, want) in zip(pcs, ours, expected, strict=True)
        if got is None or str(got) != want
    ]
    assert mismatches == []
    functions = [got.function for got in ours if got is not None]
    assert functions == [func for func, _ in expected]


@pytest.mark.parametrize(("version", "stripped"), CASES)
def test_main_main_maps_to_the_fixture_source(version: str, stripped: bool) -> None:
    """Lines 6-8 of fixtures/hello/main.go are func main(), the Println call and the closing brace."""
    source = (Path(__file__).parent.parent / "fixtures/hello/main.go").read_text()
    table = LineTable.from_elf(read_elf(built("hello", version, stripped=stripped)))
    main = next(f for f in table.functions if f.name == "main.main")
    runs = table.runs(main)
    lines = {run.line for run in runs if run.file.endswith("hello/main.go")}
    text = source.splitlines()
    assert text[min(lines) - 1].startswith("func main()")
    assert "fmt.Println" in text[7 - 1]
    assert 7 in lines and text[max(lines) - 1] == "}"
    assert any(run.file == "fmt/print.go" for run in runs)  # Println, inlined
    assert main.start_line == min(lines)
    assert runs[0].start == main.entry and all(a.end == b.start for a, b in itertools.pairwise(runs))


def test_pc_value_tables_decode_as_the_runtime_steps() -> None:
    """runtime.step: zig-zag value delta, then pc delta in quanta; a 0 byte after the first step ends it."""
    header = pclntab.PcHeader(pclntab.GO120_MAGIC, 1, 8, 1, 1, 0x1000, 0, 0, 0, 0, pctab_offset=4)
    # value -1 -> 6 (+7: zig-zag 14) over 4 bytes, then 6 -> 5 (-1: zig-zag 1) over 0x81 bytes
    blob = b"\0" * 5 + bytes([14, 4, 1, 0x81, 0x01, 0])
    assert list(pclntab.pc_values(blob, header, 0, 0x2000)) == []  # offset 0: no table
    assert list(pclntab.pc_values(blob, header, 1, 0x2000)) == [(0x2000, 0x2004, 6), (0x2004, 0x2085, 5)]
    with pytest.raises(pclntab.PclntabError):
        list(pclntab.pc_values(blob[:-3], header, 1, 0x2000))


def test_a_damaged_line_table_costs_lines_not_the_listing() -> None:
    path = built("hello")
    elf = read_elf(path)
    table = LineTable.from_elf(elf)
    main = next(f for f in table.functions if f.name == "main.main")
    damaged = dataclasses.replace(main, pcfile=0xFFFFFFF, pcln=0xFFFFFFF)
    assert table.runs(damaged) == []
    assert table.lookup(main.entry) is not None
