"""The guest's vDSO: the time calls Linux answers without entering the kernel.

Natively a Go program makes no clock_gettime syscall: the kernel maps a small
shared object, the vDSO, into every process, AT_SYSINFO_EHDR points the
runtime at it, and the runtime calls its ``__vdso_clock_gettime``, which reads
the TSC and the kernel's time data on a read-only "vvar" page. This module
builds that object by hand: an ELF whose dynamic symbols and versions satisfy
Go's parser (runtime/vdso_linux.go) and readelf, and whose code reads our
virtual TSC (one tick per nanosecond of guest time, see emulator.clock) plus a
per-clock offset from the vvar page, which the machine rewrites whenever the
clock jumps over a sleep. Values stay functions of the instruction count, so
traces stay deterministic. Clocks the kernel's vDSO does not answer (the CPU
clocks, the alarm clocks, unknown ids) take the real syscall, as there.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from emulator.clock import (
    CLOCK_BOOTTIME,
    CLOCK_MONOTONIC,
    CLOCK_MONOTONIC_COARSE,
    CLOCK_MONOTONIC_RAW,
    CLOCK_REALTIME,
    CLOCK_REALTIME_COARSE,
    CLOCK_TAI,
)

PAGE = 0x1000
# Three mappings, in Linux's (6.13+) order and sizes, so that the guest's own mmaps land where they
# do natively: [vvar] (our time data, on its first page), [vvar_vclock] (Linux's paravirtual clock
# pages, unused here), then [vdso], the image padded.
VVAR_SIZE = 4 * PAGE
VCLOCK_SIZE = 2 * PAGE
VDSO_SIZE = 2 * PAGE
VVAR_FROM_VDSO = -(VVAR_SIZE + VCLOCK_SIZE)  # where [vvar] starts: the code reaches it RIP-relative

# The vvar page: one u64 per clock id 0..MAX_CLOCK_ID at VVAR_CLOCK_OFFSETS,
# what that clock reads minus the TSC. Zero for clocks the vDSO does not answer.
MAX_CLOCK_ID = 15
VVAR_CLOCK_OFFSETS = 0
# The clocks Linux's vDSO answers itself (hres, coarse and raw); the rest take the syscall.
SERVED_CLOCKS = (
    CLOCK_REALTIME,
    CLOCK_MONOTONIC,
    CLOCK_MONOTONIC_RAW,
    CLOCK_REALTIME_COARSE,
    CLOCK_MONOTONIC_COARSE,
    CLOCK_BOOTTIME,
    CLOCK_TAI,
)
RESOLUTION_NS = 1  # what clock_getres answers, as our syscall does

SONAME = b"linux-vdso.so.1"
VERSION = b"LINUX_2.6"
FUNCTIONS = ("clock_gettime", "gettimeofday", "time", "getcpu", "clock_getres")
SYS_CLOCK_GETTIME, SYS_CLOCK_GETRES = 228, 229
NSEC_PER_SEC, NSEC_PER_USEC, USEC_PER_SEC = 1_000_000_000, 1_000, 1_000_000

# ELF constants the image uses.
ET_DYN, EM_X86_64 = 3, 62
PT_LOAD, PT_DYNAMIC = 1, 2
PF_X, PF_R = 1, 4
SHT_PROGBITS, SHT_STRTAB, SHT_HASH, SHT_DYNAMIC, SHT_DYNSYM = 1, 3, 5, 6, 11
SHT_GNU_VERDEF, SHT_GNU_VERSYM = 0x6FFFFFFD, 0x6FFFFFFF
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 1, 2, 4
SHN_ABS = 0xFFF1
STB_GLOBAL, STB_WEAK = 1, 2
STT_OBJECT, STT_FUNC = 1, 2
DT_NULL, DT_HASH, DT_STRTAB, DT_SYMTAB, DT_STRSZ, DT_SYMENT, DT_SONAME = 0, 4, 5, 6, 10, 11, 14
DT_VERSYM, DT_VERDEF, DT_VERDEFNUM = 0x6FFFFFF0, 0x6FFFFFFC, 0x6FFFFFFD
VER_FLG_BASE = 1
EHDR_SIZE, PHDR_SIZE, SHDR_SIZE, SYM_SIZE, DYN_SIZE = 64, 56, 64, 24, 16
VERDEF_SIZE, VERDAUX_SIZE = 20, 8


def elf_hash(name: bytes) -> int:
    """The SysV ELF hash that DT_HASH buckets and Verdef entries use."""
    h = 0
    for byte in name:
        h = ((h << 4) + byte) & 0xFFFF_FFFF
        high = h & 0xF000_0000
        if high:
            h ^= high >> 24
        h &= ~high & 0xFFFF_FFFF
    return h


def vvar(offsets: Mapping[int, int]) -> bytes:
    """The vvar page's contents for ``offsets``: clock id -> what it reads minus the TSC."""
    words = [offsets.get(clock_id, 0) & 0xFFFF_FFFF_FFFF_FFFF for clock_id in range(MAX_CLOCK_ID + 1)]
    return struct.pack(f"<{len(words)}Q", *words)


@dataclass(frozen=True)
class Symbol:
    name: str
    offset: int  # from the start of the image
    size: int
    weak: bool = False


@dataclass(frozen=True)
class Line:
    """One instruction of the listing: where it is, its bytes, and how capstone prints it."""

    offset: int
    encoding: bytes
    text: str


@dataclass(frozen=True)
class VdsoImage:
    data: bytes  # the ELF, VDSO_SIZE bytes
    symbols: dict[str, Symbol]  # dynamic symbols by name (functions only)
    listing: tuple[Line, ...]  # every instruction of .text (tests check it against capstone)
    text_start: int
    text_end: int

    def lookup(self, offset: int) -> tuple[str, int] | None:
        """The ``__vdso_`` function containing image ``offset``, and the offset into it."""
        for sym in self.symbols.values():
            if not sym.weak and sym.offset <= offset < sym.offset + sym.size:
                return sym.name, offset - sym.offset
        return None


# -- the code ----------------------------------------------------------------

_SHORT_JUMPS = {"ja": 0x77, "jae": 0x73, "je": 0x74}


def _imm(value: int) -> str:
    """An immediate as capstone prints it: decimal up to 9, hex above."""
    return str(value) if 0 <= value <= 9 else f"{value:#x}"


@dataclass
class _Assembler:
    """Machine code written one instruction at a time, each with its Intel syntax.

    Jumps are short (rel8) to labels resolved at the end; vvar loads are
    RIP-relative, so the code runs wherever the image is mapped.
    """

    origin: int  # image offset of the first byte
    code: bytearray = field(default_factory=bytearray)
    lines: list[Line] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)
    _jumps: list[tuple[int, str]] = field(default_factory=list)  # (index in lines, label)

    @property
    def here(self) -> int:
        return self.origin + len(self.code)

    def label(self, name: str) -> None:
        self.labels[name] = self.here

    def align(self, boundary: int) -> None:
        while self.here % boundary:
            self.insn("cc", "int3")

    def insn(self, hex_bytes: str, text: str) -> None:
        self._emit(bytes.fromhex(hex_bytes), text)

    def jump(self, mnemonic: str, target: str) -> None:
        self._jumps.append((len(self.lines), target))
        self._emit(bytes([_SHORT_JUMPS[mnemonic], 0]), mnemonic)

    def rip_relative(self, hex_prefix: str, text: str, target: int) -> None:
        """``text`` with ``{}`` where the operand [rip + disp32] reaching image offset ``target`` goes."""
        prefix = bytes.fromhex(hex_prefix)
        disp = target - (self.here + len(prefix) + 4)
        operand = f"[rip {'+' if disp >= 0 else '-'} {abs(disp):#x}]"
        self._emit(prefix + struct.pack("<i", disp), text.format(operand))

    def finish(self) -> bytes:
        for index, target in self._jumps:
            line = self.lines[index]
            rel = self.labels[target] - (line.offset + len(line.encoding))
            if not -128 <= rel <= 127:
                raise ValueError(f"jump to {target} out of rel8 range")
            encoding = line.encoding[:1] + struct.pack("<b", rel)
            self.lines[index] = Line(line.offset, encoding, f"{line.text} {self.labels[target]:#x}")
            self.code[line.offset - self.origin + 1] = encoding[1]
        return bytes(self.code)

    def _emit(self, encoding: bytes, text: str) -> None:
        self.lines.append(Line(self.here, encoding, text))
        self.code += encoding


def _read_tsc(a: _Assembler) -> None:
    """rax = the TSC. Our TSC ticks once per guest nanosecond, so clock = rax + vvar offset."""
    a.insn("0f 31", "rdtsc")  # edx:eax = TSC
    a.insn("48 c1 e2 20", f"shl rdx, {_imm(32)}")
    a.insn("48 09 d0", "or rax, rdx")


def _divide(a: _Assembler, divisor: int) -> None:
    """rax, rdx = rax // divisor, rax % divisor (unsigned)."""
    a.insn("31 d2", "xor edx, edx")
    a.insn("b9" + struct.pack("<I", divisor).hex(), f"mov ecx, {_imm(divisor)}")
    a.insn("48 f7 f1", "div rcx")


def _check_served(a: _Assembler, fallback: str) -> None:
    """Jump to ``fallback`` unless the clock id in edi is one the vDSO answers; leaves it in rcx."""
    mask = sum(1 << c for c in SERVED_CLOCKS)
    a.insn("89 f9", "mov ecx, edi")  # clockid_t is an int: rdi's upper half may be anything
    a.insn("83 f9" + bytes([MAX_CLOCK_ID]).hex(), f"cmp ecx, {_imm(MAX_CLOCK_ID)}")
    a.jump("ja", fallback)  # unsigned: negative ids (CPU clocks of other processes) too
    a.insn("b8" + struct.pack("<I", mask).hex(), f"mov eax, {_imm(mask)}")
    a.insn("0f a3 c8", "bt eax, ecx")
    a.jump("jae", fallback)  # bit clear


def _syscall(a: _Assembler, number: int) -> None:
    """The kernel's own answer, arguments untouched in rdi and rsi."""
    a.insn("b8" + struct.pack("<I", number).hex(), f"mov eax, {_imm(number)}")
    a.insn("0f 05", "syscall")
    a.insn("c3", "ret")


def _clock_gettime(a: _Assembler) -> None:
    """int clock_gettime(clockid_t clock [edi], struct timespec *ts [rsi])"""
    _check_served(a, "clock_gettime.syscall")
    _read_tsc(a)
    a.rip_relative("48 8d 15", "lea rdx, {}", VVAR_FROM_VDSO + VVAR_CLOCK_OFFSETS)
    a.insn("48 03 04 ca", "add rax, qword ptr [rdx + rcx*8]")  # rax = the clock in ns
    _divide(a, NSEC_PER_SEC)
    a.insn("48 89 06", "mov qword ptr [rsi], rax")  # tv_sec
    a.insn("48 89 56 08", "mov qword ptr [rsi + 8], rdx")  # tv_nsec
    a.insn("31 c0", "xor eax, eax")
    a.insn("c3", "ret")
    a.label("clock_gettime.syscall")
    _syscall(a, SYS_CLOCK_GETTIME)


def _realtime_ns(a: _Assembler) -> None:
    """rax = CLOCK_REALTIME in ns."""
    _read_tsc(a)
    a.rip_relative(
        "48 03 05", "add rax, qword ptr {}", VVAR_FROM_VDSO + VVAR_CLOCK_OFFSETS + 8 * CLOCK_REALTIME
    )


def _gettimeofday(a: _Assembler) -> None:
    """int gettimeofday(struct timeval *tv [rdi], struct timezone *tz [rsi])"""
    a.insn("48 85 ff", "test rdi, rdi")
    a.jump("je", "gettimeofday.zone")
    _realtime_ns(a)
    _divide(a, NSEC_PER_USEC)
    _divide(a, USEC_PER_SEC)
    a.insn("48 89 07", "mov qword ptr [rdi], rax")  # tv_sec
    a.insn("48 89 57 08", "mov qword ptr [rdi + 8], rdx")  # tv_usec
    a.label("gettimeofday.zone")
    a.insn("48 85 f6", "test rsi, rsi")
    a.jump("je", "gettimeofday.done")
    a.insn("48 c7 06 00 00 00 00", "mov qword ptr [rsi], 0")  # UTC, no DST
    a.label("gettimeofday.done")
    a.insn("31 c0", "xor eax, eax")
    a.insn("c3", "ret")


def _time(a: _Assembler) -> None:
    """time_t time(time_t *tloc [rdi])"""
    _realtime_ns(a)
    _divide(a, NSEC_PER_SEC)
    a.insn("48 85 ff", "test rdi, rdi")
    a.jump("je", "time.done")
    a.insn("48 89 07", "mov qword ptr [rdi], rax")
    a.label("time.done")
    a.insn("c3", "ret")


def _getcpu(a: _Assembler) -> None:
    """int getcpu(unsigned *cpu [rdi], unsigned *node [rsi], void *cache): CPU 0 of node 0."""
    a.insn("48 85 ff", "test rdi, rdi")
    a.jump("je", "getcpu.node")
    a.insn("c7 07 00 00 00 00", "mov dword ptr [rdi], 0")
    a.label("getcpu.node")
    a.insn("48 85 f6", "test rsi, rsi")
    a.jump("je", "getcpu.done")
    a.insn("c7 06 00 00 00 00", "mov dword ptr [rsi], 0")
    a.label("getcpu.done")
    a.insn("31 c0", "xor eax, eax")
    a.insn("c3", "ret")


def _clock_getres(a: _Assembler) -> None:
    """int clock_getres(clockid_t clock [edi], struct timespec *res [rsi])"""
    _check_served(a, "clock_getres.syscall")
    a.insn("48 85 f6", "test rsi, rsi")
    a.jump("je", "clock_getres.done")
    a.insn("48 c7 06 00 00 00 00", "mov qword ptr [rsi], 0")
    a.insn(
        "48 c7 46 08" + struct.pack("<I", RESOLUTION_NS).hex(),
        f"mov qword ptr [rsi + 8], {_imm(RESOLUTION_NS)}",
    )
    a.label("clock_getres.done")
    a.insn("31 c0", "xor eax, eax")
    a.insn("c3", "ret")
    a.label("clock_getres.syscall")
    _syscall(a, SYS_CLOCK_GETRES)


_WRITERS = {
    "clock_gettime": _clock_gettime,
    "gettimeofday": _gettimeofday,
    "time": _time,
    "getcpu": _getcpu,
    "clock_getres": _clock_getres,
}


def _assemble(origin: int) -> tuple[bytes, tuple[Line, ...], dict[str, tuple[int, int]]]:
    """The .text section at image offset ``origin``; each function's (offset, size)."""
    a = _Assembler(origin)
    spans: dict[str, tuple[int, int]] = {}
    for name in FUNCTIONS:
        a.align(16)
        start = a.here
        _WRITERS[name](a)
        spans[name] = (start, a.here - start)
    return a.finish(), tuple(a.lines), spans


# -- the ELF around it ---------------------------------------------------------


class _Strings:
    """A string table: NUL first, each string once."""

    def __init__(self) -> None:
        self.data = bytearray(b"\0")
        self._offsets: dict[bytes, int] = {}

    def add(self, s: bytes) -> int:
        if s not in self._offsets:
            self._offsets[s] = len(self.data)
            self.data += s + b"\0"
        return self._offsets[s]


def _align(value: int, boundary: int) -> int:
    return (value + boundary - 1) & ~(boundary - 1)


@dataclass(frozen=True)
class _Section:
    name: str
    type: int
    flags: int
    data: bytes
    align: int
    link: str = ""
    info: int = 0
    entsize: int = 0


def _dynsym_names() -> list[tuple[str, bool]]:
    """Symbols after the null one: each function as __vdso_NAME and as the weak alias NAME."""
    return [(n, weak) for f in FUNCTIONS for n, weak in ((f"__vdso_{f}", False), (f, True))]


def _hash_table(names: list[bytes]) -> bytes:
    """DT_HASH over the symbol table (index 0 is the null symbol)."""
    nbucket = 3
    buckets, chains = [0] * nbucket, [0] * (len(names) + 1)
    for index, name in enumerate(names, start=1):
        b = elf_hash(name) % nbucket
        chains[index], buckets[b] = buckets[b], index
    return struct.pack(f"<{2 + nbucket + len(chains)}I", nbucket, len(chains), *buckets, *chains)


def _verdefs(strings: _Strings) -> bytes:
    """Two version definitions: the file itself (VER_FLG_BASE), then LINUX_2.6 (index 2)."""
    out = b""
    for ndx, (name, flags) in enumerate(((SONAME, VER_FLG_BASE), (VERSION, 0)), start=1):
        last = ndx == 2
        out += struct.pack(
            "<HHHHIII",
            1,
            flags,
            ndx,
            1,
            elf_hash(name),
            VERDEF_SIZE,
            0 if last else VERDEF_SIZE + VERDAUX_SIZE,
        )
        out += struct.pack("<II", strings.add(name), 0)
    return out


@functools.cache
def image() -> VdsoImage:
    """The vDSO, laid out like the kernel's: tables, then .text, then section headers."""
    functions = _dynsym_names()
    strings = _Strings()
    names = [n.encode() for n, _ in functions] + [VERSION]
    name_offsets = [strings.add(n) for n in names]
    soname = strings.add(SONAME)
    verdef = _verdefs(strings)
    versym = struct.pack(f"<{len(names) + 1}H", 0, *[2] * len(names))  # all LINUX_2.6
    hash_table = _hash_table(names)
    dynsym_size = SYM_SIZE * (len(names) + 1)

    # Offsets of the tables before .text depend only on sizes, so place them first.
    layout: dict[str, int] = {}
    pos = EHDR_SIZE + 2 * PHDR_SIZE
    sizes = [
        (".hash", len(hash_table), 8),
        (".dynsym", dynsym_size, 8),
        (".dynstr", len(strings.data), 1),
        (".gnu.version", len(versym), 2),
        (".gnu.version_d", len(verdef), 8),
        (".dynamic", DYN_SIZE * 10, 8),
    ]
    for name, size, alignment in sizes:
        pos = _align(pos, alignment)
        layout[name] = pos
        pos += size
    text_start = _align(pos, 16)
    text, listing, spans = _assemble(text_start)
    text_end = text_start + len(text)

    text_index = 7  # section header index of .text, below
    symbols: dict[str, Symbol] = {}
    dynsym = bytes(SYM_SIZE)
    for (name, weak), name_offset in zip(functions, name_offsets[:-1], strict=True):
        offset, size = spans[name.removeprefix("__vdso_")]
        symbols[name] = Symbol(name, offset, size, weak)
        info = ((STB_WEAK if weak else STB_GLOBAL) << 4) | STT_FUNC
        dynsym += struct.pack("<IBBHQQ", name_offset, info, 0, text_index, offset, size)
    dynsym += struct.pack("<IBBHQQ", name_offsets[-1], (STB_GLOBAL << 4) | STT_OBJECT, 0, SHN_ABS, 0, 0)
    dynamic = b"".join(
        struct.pack("<qQ", tag, value)
        for tag, value in (
            (DT_SONAME, soname),
            (DT_HASH, layout[".hash"]),
            (DT_STRTAB, layout[".dynstr"]),
            (DT_SYMTAB, layout[".dynsym"]),
            (DT_STRSZ, len(strings.data)),
            (DT_SYMENT, SYM_SIZE),
            (DT_VERDEF, layout[".gnu.version_d"]),
            (DT_VERDEFNUM, 2),
            (DT_VERSYM, layout[".gnu.version"]),
            (DT_NULL, 0),
        )
    )
    sections = [
        _Section(".hash", SHT_HASH, SHF_ALLOC, hash_table, 8, ".dynsym", entsize=4),
        _Section(".dynsym", SHT_DYNSYM, SHF_ALLOC, dynsym, 8, ".dynstr", info=1, entsize=SYM_SIZE),
        _Section(".dynstr", SHT_STRTAB, SHF_ALLOC, bytes(strings.data), 1),
        _Section(".gnu.version", SHT_GNU_VERSYM, SHF_ALLOC, versym, 2, ".dynsym", entsize=2),
        _Section(".gnu.version_d", SHT_GNU_VERDEF, SHF_ALLOC, verdef, 8, ".dynstr", info=2),
        _Section(".dynamic", SHT_DYNAMIC, SHF_ALLOC | SHF_WRITE, dynamic, 8, ".dynstr", entsize=DYN_SIZE),
        _Section(".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, text, 16),
    ]
    data = _link(sections, layout | {".text": text_start}, text_end)
    if len(data) > VDSO_SIZE:
        raise ValueError(f"the vDSO image is {len(data)} bytes, more than {VDSO_SIZE}")
    return VdsoImage(data + bytes(VDSO_SIZE - len(data)), symbols, listing, text_start, text_end)


def _link(sections: list[_Section], offsets: dict[str, int], load_end: int) -> bytes:
    """Headers, the sections at ``offsets``, then .shstrtab and the section header table."""
    out = bytearray(load_end)
    for s in sections:
        out[offsets[s.name] : offsets[s.name] + len(s.data)] = s.data
    shstrtab = _Strings()
    section_names = [shstrtab.add(s.name.encode()) for s in sections]
    shstrtab_name = shstrtab.add(b".shstrtab")
    shstrtab_offset = len(out)
    out += shstrtab.data
    shoff = _align(len(out), 8)
    out += bytes(shoff - len(out))
    index = {s.name: i for i, s in enumerate(sections, start=1)}
    out += bytes(SHDR_SIZE)  # the null section
    for s, name in zip(sections, section_names, strict=True):
        offset = offsets[s.name]
        link = index.get(s.link, 0)
        out += struct.pack(
            "<IIQQQQIIQQ",
            name,
            s.type,
            s.flags,
            offset,
            offset,
            len(s.data),
            link,
            s.info,
            s.align,
            s.entsize,
        )
    out += struct.pack(
        "<IIQQQQIIQQ", shstrtab_name, SHT_STRTAB, 0, 0, shstrtab_offset, len(shstrtab.data), 0, 0, 1, 0
    )
    shnum = len(sections) + 2
    ehdr = struct.pack(
        "<4sBBBBB7xHHIQQQIHHHHHH",
        b"\x7fELF",
        2,  # ELFCLASS64
        1,  # little-endian
        1,  # EV_CURRENT
        0,  # ELFOSABI_SYSV
        0,
        ET_DYN,
        EM_X86_64,
        1,
        0,  # no entry point
        EHDR_SIZE,
        shoff,
        0,
        EHDR_SIZE,
        PHDR_SIZE,
        2,
        SHDR_SIZE,
        shnum,
        shnum - 1,  # .shstrtab is last
    )
    dynamic = next(s for s in sections if s.type == SHT_DYNAMIC)
    phdrs = struct.pack("<IIQQQQQQ", PT_LOAD, PF_R | PF_X, 0, 0, 0, load_end, load_end, PAGE)
    phdrs += struct.pack(
        "<IIQQQQQQ",
        PT_DYNAMIC,
        PF_R,
        offsets[".dynamic"],
        offsets[".dynamic"],
        offsets[".dynamic"],
        len(dynamic.data),
        len(dynamic.data),
        8,
    )
    out[: EHDR_SIZE + len(phdrs)] = ehdr + phdrs
    return bytes(out)
