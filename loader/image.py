"""The memory image of a static x86-64 ELF executable, as Linux's execve would map it.

``load_image`` validates the file strictly where Linux would refuse it (ELF
header, program headers, PT_LOAD layout) and leniently where Linux does not
look (section headers, symbols, Go build info), so a damaged symbol table
costs symbols, never the ability to run.
"""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from loader import buildinfo
from loader.elf import (
    ET_DYN,
    PAGE_SIZE,
    PF_R,
    PF_W,
    PF_X,
    PT_GNU_STACK,
    PT_LOAD,
    PT_PHDR,
    ElfHeader,
    ProgramHeader,
    check_load_segments,
    interpreter,
    is_shared_library,
    parse_elf_header,
    parse_program_headers,
)
from loader.errors import BadSegment, DynamicallyLinked, FileMissing, UnsupportedType
from loader.sections import SectionHeader, parse_section_headers
from loader.segmap import SegmentMap
from loader.symbols import Symbol, SymbolTable, symbols_from_elf

PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4

T = TypeVar("T")

DEFAULT_PIE_BASE = 0x555555554000

# What a damaged optional table may throw at us; such damage only loses information.
_LENIENT_ERRORS = (struct.error, IndexError, ValueError, OverflowError)


@dataclass(frozen=True)
class Segment:
    """One PT_LOAD: ``data`` (p_filesz bytes) at ``vaddr``, zeros from there up to ``memsz``."""

    vaddr: int
    memsz: int
    data: bytes
    prot: int

    @property
    def end(self) -> int:
        return self.vaddr + self.memsz


@dataclass(frozen=True)
class Image:
    """Everything needed to map the program and build its initial stack."""

    path: str
    entry: int
    load_bias: int
    segments: tuple[Segment, ...]
    phdr_addr: int
    phent: int
    phnum: int
    exec_stack: bool
    symbols: SymbolTable
    go_version: str | None


def load_image(path: str | os.PathLike[str], *, pie_base: int = DEFAULT_PIE_BASE) -> Image:
    """Read and validate the executable at ``path``; raise a LoaderError if it cannot run."""
    if pie_base % PAGE_SIZE:
        raise ValueError(f"pie_base {pie_base:#x} is not page aligned")
    name = os.fspath(path)
    data = _read_file(name)
    ehdr = parse_elf_header(data, name)
    phdrs = parse_program_headers(data, ehdr, name)
    _refuse_dynamic(data, ehdr, phdrs, name)
    loads = sorted((ph for ph in phdrs if ph.p_type == PT_LOAD), key=lambda ph: ph.p_vaddr)
    bias = _load_bias(ehdr, loads, pie_base)
    check_load_segments(loads, len(data), bias, name)
    _check_entry(ehdr, loads, name)
    sections = _lenient(lambda: parse_section_headers(data, ehdr), ())
    segmap = SegmentMap(data, loads)
    return Image(
        path=name,
        entry=ehdr.e_entry + bias,
        load_bias=bias,
        segments=tuple(_segment(data, ph, bias) for ph in loads if ph.p_memsz),
        phdr_addr=_phdr_addr(ehdr, phdrs, loads, bias),
        phent=ehdr.e_phentsize,
        phnum=ehdr.e_phnum,
        exec_stack=_exec_stack(phdrs),
        symbols=SymbolTable.deferred(lambda: _symbols(data, sections, segmap, bias)),
        go_version=_lenient(lambda: buildinfo.go_version(data, sections, segmap), None),
    )


def _read_file(name: str) -> bytes:
    """The whole file; FileMissing for anything execve would fail to open as a regular file."""
    try:
        info = os.stat(name)
        if stat.S_ISDIR(info.st_mode):
            raise FileMissing(name, "is a directory, not an executable")
        if not stat.S_ISREG(info.st_mode):
            raise FileMissing(name, "is not a regular file")
        with open(name, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise FileMissing(name, "no such file") from None
    except PermissionError:
        raise FileMissing(name, "permission denied: cannot read the file") from None
    except OSError as exc:
        raise FileMissing(name, f"cannot read the file: {exc.strerror or exc}") from None
    except ValueError:  # e.g. a NUL byte in the path
        raise FileMissing(name.replace("\0", "\\0"), "not a valid file name") from None


def _refuse_dynamic(data: bytes, ehdr: ElfHeader, phdrs: tuple[ProgramHeader, ...], name: str) -> None:
    """We run static executables only: no dynamic linker, no shared libraries."""
    interp = interpreter(data, phdrs)
    if interp is not None:
        raise DynamicallyLinked(
            name,
            f"dynamically linked (PT_INTERP {interp}); build it statically: CGO_ENABLED=0 go build",
        )
    if ehdr.e_type == ET_DYN:
        why = is_shared_library(data, ehdr, phdrs)
        if why is not None:
            raise UnsupportedType(name, f"is a shared library (ET_DYN that {why}), not an executable")


def _load_bias(ehdr: ElfHeader, loads: list[ProgramHeader], pie_base: int) -> int:
    """0 for ET_EXEC; for a static PIE, the shift that puts its first page at ``pie_base``."""
    if ehdr.e_type != ET_DYN or not loads:
        return 0
    return pie_base - (loads[0].p_vaddr & ~(PAGE_SIZE - 1))


def _check_entry(ehdr: ElfHeader, loads: list[ProgramHeader], name: str) -> None:
    for ph in loads:
        if ph.p_vaddr <= ehdr.e_entry < ph.p_vaddr + ph.p_memsz:
            return
    raise BadSegment(name, f"entry point {ehdr.e_entry:#x} lies in no PT_LOAD segment")


def _segment(data: bytes, ph: ProgramHeader, bias: int) -> Segment:
    prot = (
        (PROT_READ if ph.p_flags & PF_R else 0)
        | (PROT_WRITE if ph.p_flags & PF_W else 0)
        | (PROT_EXEC if ph.p_flags & PF_X else 0)
    )
    return Segment(ph.p_vaddr + bias, ph.p_memsz, data[ph.p_offset : ph.p_offset + ph.p_filesz], prot)


def _phdr_addr(
    ehdr: ElfHeader, phdrs: tuple[ProgramHeader, ...], loads: list[ProgramHeader], bias: int
) -> int:
    """AT_PHDR: PT_PHDR's address, else where the PT_LOAD covering e_phoff maps it (0 if none)."""
    for ph in phdrs:
        if ph.p_type == PT_PHDR:
            return ph.p_vaddr + bias
    for ph in loads:
        if ph.p_offset <= ehdr.e_phoff < ph.p_offset + ph.p_filesz:
            return ph.p_vaddr + (ehdr.e_phoff - ph.p_offset) + bias
    return 0


def _exec_stack(phdrs: tuple[ProgramHeader, ...]) -> bool:
    """PT_GNU_STACK's PF_X; without PT_GNU_STACK x86-64 Linux gives an executable stack."""
    for ph in phdrs:
        if ph.p_type == PT_GNU_STACK:
            return bool(ph.p_flags & PF_X)
    return True


def _symbols(
    data: bytes, sections: tuple[SectionHeader, ...], segmap: SegmentMap, bias: int
) -> tuple[list[Symbol], str]:
    return _lenient(lambda: symbols_from_elf(data, sections, segmap, bias), ([], "none"))


def _lenient(read: Callable[[], T], fallback: T) -> T:
    """Run a reader of optional data, turning damage into ``fallback``."""
    try:
        return read()
    except _LENIENT_ERRORS:
        return fallback
