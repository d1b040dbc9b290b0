"""Tests of the pclntab parser on hand-built tables of every layout, and of SymbolTable."""

from __future__ import annotations

import struct

import pytest

from loader import Symbol, SymbolTable
from loader.pclntab import (
    GO12_MAGIC,
    GO116_MAGIC,
    GO118_MAGIC,
    GO120_MAGIC,
    Func,
    PclntabError,
    find_candidates,
    functions,
    parse_header,
)

TEXT = 0x401000
# (name, offset from TEXT); the table ends at TEXT + END.
FUNCS = [("internal/abi.Kind.String", 0x0), ("runtime.rt0_go", 0x40), ("main.main", 0x100)]
END = 0x180


def _names() -> tuple[bytes, list[int]]:
    """A funcnametab and each name's offset in it."""
    table, offsets = b"", []
    for name, _ in FUNCS:
        offsets.append(len(table))
        table += name.encode() + b"\0"
    return table, offsets


def pclntab_118(magic: int = GO120_MAGIC, text_start: int = TEXT) -> bytes:
    """Go 1.18+ layout: 8 header words, functab of uint32 (entryoff, funcoff) pairs."""
    header_size = 8 + 8 * 8
    names, name_offs = _names()
    funcname_off = header_size
    pcln_off = (funcname_off + len(names) + 7) & ~7
    functab_size = 8 * (len(FUNCS) + 1)
    records = b"".join(struct.pack("<Ii", off, name_offs[i]) for i, (_, off) in enumerate(FUNCS))
    functab = b"".join(struct.pack("<II", off, functab_size + 8 * i) for i, (_, off) in enumerate(FUNCS))
    functab += struct.pack("<II", END, 0)
    header = struct.pack("<IBBBB", magic, 0, 0, 1, 8)
    header += struct.pack("<8Q", len(FUNCS), 0, text_start, funcname_off, 0, 0, 0, pcln_off)
    return (header + names).ljust(pcln_off, b"\0") + functab + records


def pclntab_116() -> bytes:
    """Go 1.16 layout: 7 header words, functab of absolute uintptr (entry, funcoff) pairs."""
    header_size = 8 + 7 * 8
    names, name_offs = _names()
    pcln_off = (header_size + len(names) + 7) & ~7
    functab_size = 16 * (len(FUNCS) + 1)
    records = b"".join(struct.pack("<Qi4x", TEXT + off, name_offs[i]) for i, (_, off) in enumerate(FUNCS))
    functab = b"".join(
        struct.pack("<QQ", TEXT + off, functab_size + 16 * i) for i, (_, off) in enumerate(FUNCS)
    )
    functab += struct.pack("<QQ", TEXT + END, 0)
    header = struct.pack("<IBBBB", GO116_MAGIC, 0, 0, 1, 8)
    header += struct.pack("<7Q", len(FUNCS), 0, header_size, 0, 0, 0, pcln_off)
    return (header + names).ljust(pcln_off, b"\0") + functab + records


def pclntab_12() -> bytes:
    """Go 1.2 layout: nfunc, then absolute functab; offsets are from the table start."""
    functab_at = 16
    functab_size = 16 * len(FUNCS) + 8 + 8  # pairs, end pc, filetab offset (padded)
    names_at = functab_at + functab_size + 16 * len(FUNCS)
    names, name_offs = _names()
    records_at = functab_at + functab_size
    functab = b"".join(
        struct.pack("<QQ", TEXT + off, records_at + 16 * i) for i, (_, off) in enumerate(FUNCS)
    )
    functab += struct.pack("<QI4x", TEXT + END, 0)
    records = b"".join(
        struct.pack("<Qi4x", TEXT + off, names_at + name_offs[i]) for i, (_, off) in enumerate(FUNCS)
    )
    header = struct.pack("<IBBBBQ", GO12_MAGIC, 0, 0, 1, 8, len(FUNCS))
    return header + functab + records + names


EXPECTED = [
    Func("internal/abi.Kind.String", TEXT, TEXT + 0x40),
    Func("runtime.rt0_go", TEXT + 0x40, TEXT + 0x100),
    Func("main.main", TEXT + 0x100, TEXT + END),
]


@pytest.mark.parametrize(
    "blob",
    [pclntab_118(GO120_MAGIC), pclntab_118(GO118_MAGIC), pclntab_116(), pclntab_12()],
    ids=["go1.20", "go1.18", "go1.16", "go1.2"],
)
def test_every_layout(blob: bytes) -> None:
    assert functions(blob, TEXT) == EXPECTED


def test_text_start_from_caller_when_header_has_none() -> None:
    blob = pclntab_118(text_start=0)
    assert parse_header(blob).text_start == 0
    assert functions(blob, TEXT) == EXPECTED
    with pytest.raises(PclntabError, match="text start"):
        functions(blob)


def test_header_text_start_wins() -> None:
    assert functions(pclntab_118(), 0x999000) == EXPECTED


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:40],  # header cut short
        lambda b: b[:100],  # functab cut short
        lambda b: b[:8] + struct.pack("<Q", 1 << 40) + b[16:],  # absurd nfunc
        lambda b: b[:6] + b"\x03" + b[7:],  # quantum 3
        lambda b: b"\0" * 8 + b[8:],  # no magic
    ],
    ids=["header", "functab", "nfunc", "quantum", "magic"],
)
def test_malformed_tables_raise_pclntab_error(damage) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PclntabError):
        functions(damage(pclntab_118()), TEXT)


def test_unsorted_functab_is_refused() -> None:
    blob = bytearray(pclntab_118())
    pcln_off = struct.unpack_from("<Q", blob, 8 + 7 * 8)[0]
    struct.pack_into("<I", blob, pcln_off + 8, 0x1000)  # second entry beyond the third
    with pytest.raises(PclntabError, match="sorted"):
        functions(bytes(blob), TEXT)


def test_find_candidates_checks_alignment_and_header() -> None:
    blob = pclntab_118()
    region = b"\xf1\xff\xff\xff\0\0\x03\x08".ljust(16, b"\0") + b"\0" * 5 + b"\0" * 3 + blob
    found = list(find_candidates([(0x500000, region)]))
    assert [addr for addr, _ in found] == [0x500000 + 24]
    assert found[0][1].startswith(blob)


# --------------------------------------------------------------------------
# SymbolTable


def table() -> SymbolTable:
    return SymbolTable(
        [
            Symbol("main.main", 0x1100, 0x40),
            Symbol("runtime.text", 0x1000, 0),
            Symbol("first", 0x1000, 0x20),
            Symbol("runtime.rt0_go.abi0", 0x1200, 0),
            Symbol("after.rt0", 0x1300, 0x10),
            Symbol("runtime.etext", 0x1400, 0),
        ],
        source="symtab",
    )


def test_sorted_iteration_and_len() -> None:
    symbols = table()
    assert len(symbols) == 6 and symbols.source == "symtab"
    assert [s.addr for s in symbols] == sorted(s.addr for s in symbols)


def test_lookup_prefers_sized_symbol_and_respects_size() -> None:
    symbols = table()
    assert symbols.lookup(0x1000) == ("first", 0)
    assert symbols.lookup(0x101F) == ("first", 0x1F)
    assert symbols.lookup(0x1020) is None  # past first's size, before main.main
    assert symbols.lookup(0x1140) is None
    assert symbols.lookup(0x113F) == ("main.main", 0x3F)
    assert symbols.lookup(0xFFF) is None


def test_lookup_unsized_runs_to_next_symbol() -> None:
    symbols = table()
    assert symbols.lookup(0x12FF) == ("runtime.rt0_go.abi0", 0xFF)
    assert symbols.lookup(0x1300) == ("after.rt0", 0)
    assert symbols.lookup(0x1400) == ("runtime.etext", 0)
    assert symbols.lookup(0x1401) is None  # the last unsized symbol covers only itself


def test_address_of_with_and_without_abi_suffix() -> None:
    symbols = table()
    assert symbols.address_of("runtime.rt0_go") == 0x1200
    assert symbols.address_of("runtime.rt0_go.abi0") == 0x1200
    assert symbols.address_of("main.main.abi0") == 0x1100
    assert symbols.address_of("main.main.abiinternal") == 0x1100
    assert symbols.address_of("missing") is None
    assert symbols.address_of("after\u00b7rt0") == 0x1300  # middle dot matches "."


def test_display_name() -> None:
    assert SymbolTable.display_name("runtime.rt0_go.abi0") == "runtime.rt0_go"
    assert SymbolTable.display_name("foo.abiinternal") == "foo"
    assert SymbolTable.display_name("main.main") == "main.main"


def test_deferred_table_builds_once() -> None:
    calls = []

    def build() -> tuple[list[Symbol], str]:
        calls.append(1)
        return [Symbol("f", 0x10, 4)], "pclntab"

    symbols = SymbolTable.deferred(build)
    assert not calls
    assert symbols.lookup(0x11) == ("f", 1)
    assert symbols.source == "pclntab" and len(symbols) == 1
    assert calls == [1]


def test_empty_table() -> None:
    symbols = SymbolTable()
    assert len(symbols) == 0 and symbols.source == "none"
    assert symbols.lookup(0x1000) is None and symbols.address_of("x") is None
