"""Where a Go binary's bytes go: size by package, from symbol sizes.

Text comes from every function (``.symtab`` sizes, or the pclntab's function
bounds when the binary is stripped); data and rodata from ``.symtab``'s object
symbols when present. The linker emits strings, type descriptors and the
function tables as bulk symbols (``go:string.*``, ``type:*``, ``runtime.pclntab``)
without a size, so those are counted by section, not charged to a package.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from loader.elffile import ElfFile
from loader.symbols import Symbol
from loader.symtab import STT_FUNC, STT_OBJECT, defined_symbols

SHN_LORESERVE = 0xFF00


@dataclass(frozen=True)
class ElfSymbol:
    """A defined symbol of ``.symtab``: functions and data objects alike."""

    name: str
    addr: int
    size: int
    section: str
    is_function: bool


def elf_symbols(elf: ElfFile) -> list[ElfSymbol]:
    """Every defined, named function and object symbol in ``.symtab``, by address; [] if stripped."""
    sections = elf.sections
    found = [
        ElfSymbol(name, value, size, sections[shndx].name, kind == STT_FUNC)
        for name, kind, shndx, value, size in defined_symbols(elf.data, sections)
        if kind in (STT_FUNC, STT_OBJECT) and shndx < min(SHN_LORESERVE, len(sections))
    ]
    found.sort(key=lambda s: (s.addr, s.name))
    return found


# A package path ends at the first "." after its last "/": "internal/poll.(*FD).Write" -> "internal/poll".
_PACKAGE = re.compile(r"^((?:[^./]*/)*[^./]*)\.")


def package_of(symbol: str) -> str:
    """The Go package a symbol belongs to ("" for linker-made names such as ``go:string.*``)."""
    if symbol.startswith(("go:", "type:", "$", "_", "gclocals")):
        return ""
    match = _PACKAGE.match(symbol)
    return match.group(1) if match else ""


@dataclass
class PackageSize:
    package: str
    text: int = 0
    data: int = 0  # rodata, data, bss and noptr variants: sized object symbols

    @property
    def total(self) -> int:
        return self.text + self.data


@dataclass
class SizeReport:
    """Bytes by package, plus the sections that no package owns."""

    file_size: int
    packages: list[PackageSize]  # largest first
    sections: dict[str, int] = field(default_factory=dict)  # allocated section sizes
    source: str = "symtab"  # or "pclntab" (stripped: text only)

    @property
    def text_size(self) -> int:
        return self.sections.get(".text", 0)


_SECTIONS_SHOWN = (
    ".text",
    ".rodata",
    ".gopclntab",
    ".go.type",
    ".typelink",
    ".itablink",
    ".noptrdata",
    ".data",
    ".bss",
    ".noptrbss",
)


def size_by_package(
    elf: ElfFile, functions: Iterable[Symbol], symbols: list[ElfSymbol] | None = None
) -> SizeReport:
    """Sizes by package; ``functions`` is the binary's function table (symtab or pclntab)."""
    symbols = elf_symbols(elf) if symbols is None else symbols
    by_name: dict[str, PackageSize] = {}

    def charge(name: str) -> PackageSize:
        pkg = package_of(name) or "(linker)"
        return by_name.setdefault(pkg, PackageSize(pkg))

    for func in functions:
        charge(func.name).text += func.size
    for sym in symbols:
        if not sym.is_function and sym.size:
            charge(sym.name).data += sym.size
    sections: dict[str, int] = {}
    debug = 0
    for s in elf.sections:
        if s.name.startswith(".debug_") or s.name == ".zdebug":
            debug += s.sh_size
        elif s.name in _SECTIONS_SHOWN or s.name in (".symtab", ".strtab"):
            sections[s.name] = s.sh_size
    if debug:
        sections["DWARF (.debug_*)"] = debug
    packages = sorted(by_name.values(), key=lambda p: (-p.total, p.package))
    return SizeReport(len(elf.data), packages, sections, "symtab" if symbols else "pclntab")
