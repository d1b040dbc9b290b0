"""ELF64 header and program header parsing, with the checks Linux's binfmt_elf makes.

Parsing is done by hand with ``struct`` rather than pyelftools so every way a
file can be malformed turns into one of our ``LoaderError`` classes with a
message that says what is wrong, instead of a library exception.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from loader.errors import (
    BadSegment,
    NotAnElf,
    TruncatedElf,
    UnsupportedType,
    WrongClass,
    WrongEndianness,
    WrongMachine,
)

# e_ident indexes and values
ELFMAG = b"\x7fELF"
EI_CLASS = 4
EI_DATA = 5
EI_VERSION = 6
EI_OSABI = 7
EI_NIDENT = 16
ELFCLASSNONE, ELFCLASS32, ELFCLASS64 = 0, 1, 2
ELFDATANONE, ELFDATA2LSB, ELFDATA2MSB = 0, 1, 2
EV_CURRENT = 1

# e_type
ET_NONE, ET_REL, ET_EXEC, ET_DYN, ET_CORE = 0, 1, 2, 3, 4

# e_machine (only the ones worth naming in an error message)
EM_386 = 3
EM_MIPS = 8
EM_PPC = 20
EM_PPC64 = 21
EM_S390 = 22
EM_ARM = 40
EM_SPARCV9 = 43
EM_IA_64 = 50
EM_X86_64 = 62
EM_AARCH64 = 183
EM_RISCV = 243
EM_LOONGARCH = 258

MACHINE_NAMES: dict[int, str] = {
    0: "no machine",
    EM_386: "i386",
    EM_MIPS: "MIPS",
    EM_PPC: "PowerPC",
    EM_PPC64: "PowerPC64",
    EM_S390: "s390x",
    EM_ARM: "ARM",
    EM_SPARCV9: "SPARC V9",
    EM_IA_64: "IA-64",
    EM_X86_64: "x86-64",
    EM_AARCH64: "AArch64",
    EM_RISCV: "RISC-V",
    EM_LOONGARCH: "LoongArch",
}

# p_type
PT_NULL, PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE, PT_SHLIB, PT_PHDR, PT_TLS = range(8)
PT_GNU_EH_FRAME = 0x6474E550
PT_GNU_STACK = 0x6474E551
PT_GNU_RELRO = 0x6474E552
PT_GNU_PROPERTY = 0x6474E553

# p_flags
PF_X, PF_W, PF_R = 1, 2, 4

# d_tag values we look at to tell a shared library from a static PIE
DT_NULL = 0
DT_SONAME = 14
DT_FLAGS_1 = 0x6FFFFFFB
DF_1_PIE = 0x08000000

ELF64_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
ELF64_PHDR = struct.Struct("<IIQQQQQQ")
ELF64_DYN = struct.Struct("<qQ")

# Linux x86-64 limits: ELF_EXEC_PAGESIZE, TASK_SIZE_MAX (47-bit user space), default mmap_min_addr.
PAGE_SIZE = 0x1000
USER_SPACE_END = 0x7FFF_FFFF_F000
MMAP_MIN_ADDR = 0x10000
MAX_SEGMENT_MEMSZ = 4 << 30
# All PT_LOADs together: the emulator maps the whole image up front inside its guest memory limit
# (4 GiB by default, with the stack and Go's heap still to come), so more than this cannot run.
MAX_IMAGE_MEMSZ = 2 << 30
MAX_PHDR_TABLE = 65536

_TYPE_NAMES = {
    ET_NONE: "an ELF file of no type (ET_NONE)",
    ET_REL: "a relocatable object file (ET_REL), not an executable; link it first",
    ET_CORE: "a core dump (ET_CORE), not an executable",
}


@dataclass(frozen=True)
class ElfHeader:
    """The fields of Elf64_Ehdr that loading needs, named as in the spec."""

    e_type: int
    e_machine: int
    e_version: int
    e_entry: int
    e_phoff: int
    e_shoff: int
    e_flags: int
    e_ehsize: int
    e_phentsize: int
    e_phnum: int
    e_shentsize: int
    e_shnum: int
    e_shstrndx: int


@dataclass(frozen=True)
class ProgramHeader:
    """One Elf64_Phdr."""

    p_type: int
    p_flags: int
    p_offset: int
    p_vaddr: int
    p_paddr: int
    p_filesz: int
    p_memsz: int
    p_align: int


def machine_name(e_machine: int) -> str:
    """Human name of an e_machine value, for error messages."""
    return MACHINE_NAMES.get(e_machine, f"unknown machine {e_machine}")


def parse_elf_header(data: bytes, path: str) -> ElfHeader:
    """Decode and check e_ident and the ELF64 header of an x86-64 executable."""
    if not data.startswith(ELFMAG):
        if len(data) < len(ELFMAG):
            raise NotAnElf(path, f"only {len(data)} bytes long, too short to be an ELF executable")
        raise NotAnElf(path, f"not an ELF file (starts with {data[:4]!r}, not {ELFMAG!r})")
    if len(data) < EI_NIDENT:
        raise TruncatedElf(path, f"ELF identification truncated: file is only {len(data)} bytes")
    _check_ident(data, path)
    if len(data) < ELF64_EHDR.size:
        raise TruncatedElf(
            path, f"ELF header truncated: file is {len(data)} bytes, the header needs {ELF64_EHDR.size}"
        )
    ehdr = ElfHeader(*ELF64_EHDR.unpack_from(data)[1:])
    if ehdr.e_machine != EM_X86_64:
        raise WrongMachine(
            path, f"built for {machine_name(ehdr.e_machine)} (e_machine {ehdr.e_machine}), not x86-64"
        )
    if ehdr.e_type in _TYPE_NAMES:
        raise UnsupportedType(path, f"is {_TYPE_NAMES[ehdr.e_type]}")
    if ehdr.e_type not in (ET_EXEC, ET_DYN):
        raise UnsupportedType(path, f"unknown ELF type e_type={ehdr.e_type:#x}, not an executable")
    return ehdr


def _check_ident(data: bytes, path: str) -> None:
    """Refuse anything but ELFCLASS64 little-endian."""
    ei_class = data[EI_CLASS]
    if ei_class == ELFCLASS32:
        raise WrongClass(path, "is a 32-bit ELF (ELFCLASS32); only 64-bit x86-64 binaries run here")
    if ei_class != ELFCLASS64:
        raise WrongClass(path, f"invalid ELF class {ei_class} in e_ident; expected ELFCLASS64")
    ei_data = data[EI_DATA]
    if ei_data == ELFDATA2MSB:
        raise WrongEndianness(path, "is a big-endian ELF (ELFDATA2MSB); x86-64 is little-endian")
    if ei_data != ELFDATA2LSB:
        raise WrongEndianness(path, f"invalid ELF data encoding {ei_data} in e_ident")


def parse_program_headers(data: bytes, ehdr: ElfHeader, path: str) -> tuple[ProgramHeader, ...]:
    """Decode the program header table, refusing a malformed or truncated one."""
    if ehdr.e_phnum == 0:
        raise BadSegment(path, "has no program headers, so nothing to load (no PT_LOAD)")
    if ehdr.e_phentsize != ELF64_PHDR.size:
        raise BadSegment(
            path, f"program header size e_phentsize={ehdr.e_phentsize}, expected {ELF64_PHDR.size}"
        )
    table_size = ehdr.e_phnum * ELF64_PHDR.size
    if table_size > MAX_PHDR_TABLE:
        raise BadSegment(path, f"absurd number of program headers (e_phnum={ehdr.e_phnum})")
    if ehdr.e_phoff + table_size > len(data):
        raise TruncatedElf(
            path,
            f"program headers at {ehdr.e_phoff:#x}..{ehdr.e_phoff + table_size:#x} "
            f"lie beyond the end of the file ({len(data):#x} bytes)",
        )
    return tuple(
        ProgramHeader(*ELF64_PHDR.unpack_from(data, ehdr.e_phoff + i * ELF64_PHDR.size))
        for i in range(ehdr.e_phnum)
    )


def interpreter(data: bytes, phdrs: Sequence[ProgramHeader]) -> str | None:
    """The PT_INTERP path, or None if the binary asks for no dynamic linker."""
    for ph in phdrs:
        if ph.p_type == PT_INTERP:
            raw = data[ph.p_offset : ph.p_offset + min(ph.p_filesz, 4096)]
            text = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
            return text or "?"
    return None


def is_shared_library(data: bytes, ehdr: ElfHeader, phdrs: Sequence[ProgramHeader]) -> str | None:
    """Why an ET_DYN without PT_INTERP is a library rather than a static PIE, or None."""
    if ehdr.e_entry == 0:
        return "has no entry point"
    tags = dict(_dynamic_entries(data, phdrs))
    if DT_SONAME in tags and not tags.get(DT_FLAGS_1, 0) & DF_1_PIE:
        return "has a DT_SONAME and is not flagged DF_1_PIE"
    return None


def _dynamic_entries(data: bytes, phdrs: Sequence[ProgramHeader]) -> list[tuple[int, int]]:
    """The (d_tag, d_val) pairs of PT_DYNAMIC as stored in the file (unrelocated)."""
    entries: list[tuple[int, int]] = []
    for ph in phdrs:
        if ph.p_type != PT_DYNAMIC:
            continue
        end = min(ph.p_offset + ph.p_filesz, len(data))
        for off in range(ph.p_offset, end - ELF64_DYN.size + 1, ELF64_DYN.size):
            tag, val = ELF64_DYN.unpack_from(data, off)
            if tag == DT_NULL:
                break
            entries.append((tag, val))
    return entries


def check_load_segments(loads: Sequence[ProgramHeader], file_size: int, load_bias: int, path: str) -> None:
    """Refuse PT_LOADs that Linux could not map, or that make no sense."""
    if not loads:
        raise BadSegment(path, "has no PT_LOAD segment, so nothing to load")
    for index, ph in enumerate(loads):
        _check_one_load(ph, index, file_size, load_bias, path)
    total = sum(ph.p_memsz for ph in loads)
    if total > MAX_IMAGE_MEMSZ:
        raise BadSegment(
            path, f"PT_LOAD segments need {total:#x} bytes together, over the 2 GiB an image may use"
        )
    ordered = sorted(loads, key=lambda p: p.p_vaddr)
    for lower, upper in itertools.pairwise(ordered):
        if lower.p_memsz and lower.p_vaddr + lower.p_memsz > upper.p_vaddr:
            raise BadSegment(
                path,
                f"PT_LOAD segments overlap: {_span(lower, load_bias)} and {_span(upper, load_bias)}",
            )


def _span(ph: ProgramHeader, load_bias: int) -> str:
    start = ph.p_vaddr + load_bias
    return f"{start:#x}..{start + ph.p_memsz:#x}"


def _check_one_load(ph: ProgramHeader, index: int, file_size: int, load_bias: int, path: str) -> None:
    """Checks of a single PT_LOAD: file range, sizes, address range and alignment."""
    what = f"PT_LOAD #{index} (vaddr {ph.p_vaddr:#x})"
    if ph.p_filesz > ph.p_memsz:
        raise BadSegment(path, f"{what} has p_filesz {ph.p_filesz:#x} > p_memsz {ph.p_memsz:#x}")
    if ph.p_offset + ph.p_filesz > file_size:
        raise BadSegment(
            path,
            f"{what} file range {ph.p_offset:#x}..{ph.p_offset + ph.p_filesz:#x} "
            f"lies outside the file ({file_size:#x} bytes; truncated?)",
        )
    if ph.p_memsz == 0:
        return  # maps nothing, so where it claims to be does not matter
    if ph.p_memsz > MAX_SEGMENT_MEMSZ:
        raise BadSegment(path, f"{what} has absurd p_memsz {ph.p_memsz:#x} (over 4 GiB)")
    start = ph.p_vaddr + load_bias
    if start < MMAP_MIN_ADDR:
        raise BadSegment(path, f"{what} starts at {start:#x}, below Linux's mmap_min_addr {MMAP_MIN_ADDR:#x}")
    if start + ph.p_memsz > USER_SPACE_END:
        raise BadSegment(
            path,
            f"{what} spans {start:#x}..{start + ph.p_memsz:#x}, beyond the 47-bit user address space",
        )
    if ph.p_align > 1:
        if ph.p_align & (ph.p_align - 1):
            raise BadSegment(path, f"{what} has p_align {ph.p_align:#x}, not a power of two")
        if ph.p_offset % ph.p_align != ph.p_vaddr % ph.p_align:
            raise BadSegment(
                path,
                f"{what} is misaligned: p_offset {ph.p_offset:#x} and p_vaddr differ "
                f"modulo p_align {ph.p_align:#x}",
            )
    if ph.p_offset % PAGE_SIZE != ph.p_vaddr % PAGE_SIZE:
        raise BadSegment(
            path,
            f"{what} is misaligned: p_offset {ph.p_offset:#x} and p_vaddr differ modulo the page size",
        )
