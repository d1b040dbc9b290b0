"""Function symbols from an ELF ``.symtab``.

Go's linker marks every text symbol STT_FUNC and gives it a size, so this is
the most precise symbol source when the binary is not stripped.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from loader.sections import SHN_UNDEF, SHT_STRTAB, SHT_SYMTAB, SectionHeader, section_bytes, string_at

STT_NOTYPE, STT_OBJECT, STT_FUNC = 0, 1, 2

ELF64_SYM = struct.Struct("<IBBHQQ")


def st_type(st_info: int) -> int:
    """ELF64_ST_TYPE: the low four bits of st_info."""
    return st_info & 0xF


def defined_symbols(
    data: bytes, sections: tuple[SectionHeader, ...]
) -> Iterator[tuple[str, int, int, int, int]]:
    """(name, st_type, st_shndx, st_value, st_size) of every defined, named symbol in ``.symtab``."""
    symtab = next((s for s in sections if s.sh_type == SHT_SYMTAB), None)
    if symtab is None or not 0 < symtab.sh_link < len(sections):
        return
    strtab_header = sections[symtab.sh_link]
    if strtab_header.sh_type != SHT_STRTAB:
        return
    raw = section_bytes(data, symtab)
    strtab = section_bytes(data, strtab_header)
    usable = len(raw) - len(raw) % ELF64_SYM.size
    for st_name, st_info, _other, st_shndx, st_value, st_size in ELF64_SYM.iter_unpack(raw[:usable]):
        if st_shndx == SHN_UNDEF:
            continue
        name = string_at(strtab, st_name)
        if name:
            yield name, st_type(st_info), st_shndx, st_value, st_size


def function_symbols(data: bytes, sections: tuple[SectionHeader, ...]) -> list[tuple[str, int, int]]:
    """(name, st_value, st_size) of every defined, named STT_FUNC in ``.symtab``; [] if none."""
    return [
        (name, value, size)
        for name, kind, _shndx, value, size in defined_symbols(data, sections)
        if kind == STT_FUNC
    ]
