"""Function symbols of the guest binary: address -> name and name -> address.

The emulator uses this to show where the guest is (``lookup``) and to find
runtime functions by name (``address_of``). Symbols come from ``.symtab``
when present, else from Go's pclntab, else there are none.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from loader import moduledata, pclntab
from loader.sections import SectionHeader, find_section, section_bytes
from loader.segmap import SegmentMap
from loader.symtab import function_symbols

_ABI_SUFFIXES = (".abi0", ".abiinternal")


@dataclass(frozen=True)
class Symbol:
    """A function: absolute start address and size in bytes (0 when unknown)."""

    name: str
    addr: int
    size: int


class SymbolTable:
    """Function symbols sorted by address, built on first use when given a builder."""

    def __init__(self, symbols: Iterable[Symbol] = (), source: str = "none") -> None:
        self._build: Callable[[], tuple[list[Symbol], str]] | None = None
        self._index(list(symbols), source)

    @classmethod
    def deferred(cls, build: Callable[[], tuple[list[Symbol], str]]) -> SymbolTable:
        """A table whose symbols are read only when first needed (keeps loading fast)."""
        table = cls()
        table._build = build
        return table

    def _index(self, symbols: list[Symbol], source: str) -> None:
        # At one address, prefer the symbol with a size (runtime.text shares its
        # address with the first real function but has size 0).
        self._symbols = sorted(symbols, key=lambda s: (s.addr, -s.size, s.name))
        self._source = source
        self._covering: list[Symbol] = []
        for sym in self._symbols:
            if not self._covering or self._covering[-1].addr != sym.addr:
                self._covering.append(sym)
        self._starts = [s.addr for s in self._covering]
        self._by_name: dict[str, int] = {}
        self._by_display_name: dict[str, int] = {}
        for sym in self._symbols:
            self._by_name.setdefault(sym.name, sym.addr)
            self._by_display_name.setdefault(_loose_key(sym.name), sym.addr)

    def _ready(self) -> None:
        if self._build is not None:
            build, self._build = self._build, None
            self._index(*build())

    @property
    def source(self) -> str:
        """Where the symbols came from: "symtab", "pclntab" or "none"."""
        self._ready()
        return self._source

    def __len__(self) -> int:
        self._ready()
        return len(self._symbols)

    def __iter__(self) -> Iterator[Symbol]:
        self._ready()
        return iter(self._symbols)

    def __repr__(self) -> str:
        if self._build is not None:
            return "SymbolTable(<not loaded yet>)"
        return f"SymbolTable({len(self._symbols)} symbols from {self._source})"

    def lookup(self, addr: int) -> tuple[str, int] | None:
        """(name, offset) of the function containing ``addr``, or None.

        A sized symbol covers [addr, addr+size); one of unknown size runs up to
        the next symbol (the last such one covers only its own address).
        """
        self._ready()
        i = bisect.bisect_right(self._starts, addr) - 1
        if i < 0:
            return None
        sym = self._covering[i]
        if sym.size:
            end = sym.addr + sym.size
        elif i + 1 < len(self._starts):
            end = self._starts[i + 1]
        else:
            end = sym.addr + 1
        return (sym.name, addr - sym.addr) if addr < end else None

    def address_of(self, name: str) -> int | None:
        """Start address of the function ``name``.

        ABI suffixes such as ``.abi0`` are optional, and ``·`` matches ``.``: the
        linker writes ``.`` into .symtab where the pclntab keeps Go's middle dot.
        """
        self._ready()
        if name in self._by_name:
            return self._by_name[name]
        return self._by_display_name.get(_loose_key(name))

    def sized(self, name: str) -> Symbol | None:
        """The symbol with a size at ``address_of(name)``: where the function's code starts and ends."""
        addr = self.address_of(name)
        if addr is None:
            return None
        return next((s for s in self if s.addr == addr and s.size), None)

    @staticmethod
    def display_name(name: str) -> str:
        """``name`` without Go's ABI suffix (``runtime.rt0_go.abi0`` -> ``runtime.rt0_go``)."""
        for suffix in _ABI_SUFFIXES:
            if name.endswith(suffix):
                return name[: -len(suffix)]
        return name


def _loose_key(name: str) -> str:
    """The name as address_of compares it: no ABI suffix, middle dots as dots."""
    return SymbolTable.display_name(name).replace("\u00b7", ".")


def symbols_from_elf(
    data: bytes, sections: tuple[SectionHeader, ...], segmap: SegmentMap, load_bias: int
) -> tuple[list[Symbol], str]:
    """The best available function symbols, with ``load_bias`` applied, and their source."""
    found = function_symbols(data, sections)
    if found:
        return [Symbol(name, value + load_bias, size) for name, value, size in found], "symtab"
    funcs = go_functions(data, sections, segmap)
    if funcs:
        return [Symbol(f.name, f.entry + load_bias, f.end - f.entry) for f in funcs], "pclntab"
    return [], "none"


def go_functions(data: bytes, sections: tuple[SectionHeader, ...], segmap: SegmentMap) -> list[pclntab.Func]:
    """Functions from the first pclntab that parses and points into executable code."""
    found = locate_pclntab(data, sections, segmap)
    return found.functions if found is not None else []


@dataclass(frozen=True)
class LocatedPclntab:
    """The binary's pclntab: where it is, its bytes, header, runtime.text and functions."""

    addr: int
    blob: bytes
    header: pclntab.PcHeader
    text: int
    functions: list[pclntab.Func]


def locate_pclntab(
    data: bytes, sections: tuple[SectionHeader, ...], segmap: SegmentMap
) -> LocatedPclntab | None:
    """The first pclntab that parses and points into executable code."""
    for addr, blob in _pclntab_candidates(data, sections, segmap):
        try:
            header = pclntab.parse_header(blob)
            text = header.text_start or _text_start(sections, segmap, addr, header)
            funcs = pclntab.functions(blob, text)
        except pclntab.PclntabError:
            continue
        if _in_code(segmap, funcs[0].entry) and _in_code(segmap, funcs[-1].end - 1):
            return LocatedPclntab(addr, blob, header, text, funcs)
    return None


def _pclntab_candidates(
    data: bytes, sections: tuple[SectionHeader, ...], segmap: SegmentMap
) -> Iterator[tuple[int, bytes]]:
    """The .gopclntab section first, then magic numbers found in read-only segments."""
    section = find_section(sections, ".gopclntab")
    if section is not None:
        blob = section_bytes(data, section)
        if blob:
            yield section.sh_addr, blob
    read_only = ((r.vaddr, r.data) for r in segmap.regions if not r.writable)
    yield from pclntab.find_candidates(read_only)


def _text_start(
    sections: tuple[SectionHeader, ...], segmap: SegmentMap, addr: int, header: pclntab.PcHeader
) -> int:
    """runtime.text: from moduledata, else the .text section (0 if neither is found)."""
    if not header.entries_relative_to_text:
        return 0
    text = moduledata.text_start(segmap, addr, header)
    if text is not None:
        return text
    section = find_section(sections, ".text")
    return section.sh_addr if section is not None else 0


def _in_code(segmap: SegmentMap, addr: int) -> bool:
    region = segmap.region_at(addr)
    return region is not None and region.executable
