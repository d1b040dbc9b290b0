"""Lenient reading of ELF section headers.

Sections are optional for running a program (Linux ignores them), so a damaged
section header table must never stop loading: every reader here returns an
empty result instead of raising.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from loader.elf import ElfHeader

SHT_NULL = 0
SHT_PROGBITS = 1
SHT_SYMTAB = 2
SHT_STRTAB = 3
SHT_NOBITS = 8

SHN_UNDEF = 0
SHN_XINDEX = 0xFFFF

ELF64_SHDR = struct.Struct("<IIQQQQIIQQ")

# No sane executable has this many sections; bounds work on garbage headers.
MAX_SECTIONS = 1 << 16


@dataclass(frozen=True)
class SectionHeader:
    """One Elf64_Shdr with its name resolved from the section name string table."""

    name: str
    sh_type: int
    sh_flags: int
    sh_addr: int
    sh_offset: int
    sh_size: int
    sh_link: int
    sh_info: int
    sh_addralign: int
    sh_entsize: int


def parse_section_headers(data: bytes, ehdr: ElfHeader) -> tuple[SectionHeader, ...]:
    """All section headers, or () if the table is missing or malformed."""
    if ehdr.e_shoff == 0 or ehdr.e_shentsize != ELF64_SHDR.size:
        return ()
    raw = _raw_headers(data, ehdr)
    if not raw:
        return ()
    strtab = _shstrtab(data, ehdr, raw)
    return tuple(SectionHeader(string_at(strtab, fields[0]), *fields[1:]) for fields in raw)


def _raw_headers(data: bytes, ehdr: ElfHeader) -> list[tuple[int, ...]]:
    """Unpacked Elf64_Shdr tuples, honouring extended numbering (e_shnum 0)."""
    if ehdr.e_shoff + ELF64_SHDR.size > len(data):
        return []
    count = ehdr.e_shnum
    if count == 0:
        count = ELF64_SHDR.unpack_from(data, ehdr.e_shoff)[5]  # section 0's sh_size
    if count > MAX_SECTIONS or ehdr.e_shoff + count * ELF64_SHDR.size > len(data):
        return []
    return [ELF64_SHDR.unpack_from(data, ehdr.e_shoff + i * ELF64_SHDR.size) for i in range(count)]


def _shstrtab(data: bytes, ehdr: ElfHeader, raw: list[tuple[int, ...]]) -> bytes:
    index = ehdr.e_shstrndx
    if index == SHN_XINDEX:
        index = raw[0][6]  # section 0's sh_link
    if not 0 < index < len(raw):
        return b""
    fields = raw[index]
    return _slice(data, fields[4], fields[5]) if fields[1] == SHT_STRTAB else b""


def string_at(strtab: bytes, offset: int) -> str:
    """NUL-terminated string at ``offset`` of a string table; "" when out of range."""
    if offset >= len(strtab):
        return ""
    end = strtab.find(b"\0", offset)
    return strtab[offset : end if end >= 0 else len(strtab)].decode("utf-8", "replace")


def _slice(data: bytes, offset: int, size: int) -> bytes:
    """data[offset:offset+size] if it lies entirely in the file, else b""."""
    if offset + size > len(data):
        return b""
    return data[offset : offset + size]


def section_bytes(data: bytes, section: SectionHeader) -> bytes:
    """The file contents of a section; b"" for SHT_NOBITS or a range outside the file."""
    if section.sh_type == SHT_NOBITS:
        return b""
    return _slice(data, section.sh_offset, section.sh_size)


def find_section(sections: tuple[SectionHeader, ...], name: str) -> SectionHeader | None:
    """The first section called ``name``."""
    for section in sections:
        if section.name == name:
            return section
    return None
