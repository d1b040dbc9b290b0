"""Tests of loader.load_image on real Go binaries and on deliberately broken ELF files.

Go binaries are the hello fixture built by the project's pinned toolchains
(``emulator.toolchains``; ``make fixtures-all`` builds them all).
"""

from __future__ import annotations

import os
import shutil
import struct
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import built
from elftools.elf.elffile import ELFFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import loader
from emulator.toolchains import DEFAULT_GO, GO_VERSIONS
from loader import (
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    BadSegment,
    DynamicallyLinked,
    FileMissing,
    LoaderError,
    NotAnElf,
    TruncatedElf,
    UnsupportedType,
    WrongClass,
    WrongEndianness,
    WrongMachine,
    build_initial_stack,
    load_image,
)

# --------------------------------------------------------------------------
# Go toolchains and binaries


def default_version() -> str:
    return DEFAULT_GO


@pytest.fixture(scope="session")
def go_build() -> Callable[[str, bool], Path]:
    """build(version, stripped) -> the hello fixture built by that toolchain."""
    return lambda version, stripped: built("hello", version, stripped)


@pytest.fixture(scope="session")
def hello(go_build: Callable[[str, bool], Path]) -> Path:
    return go_build(default_version(), False)


@pytest.fixture(scope="session")
def hello_stripped(go_build: Callable[[str, bool], Path]) -> Path:
    return go_build(default_version(), True)


# --------------------------------------------------------------------------
# Raw ELF helpers, written independently of loader.elf so they check it

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")
SHDR = struct.Struct("<IIQQQQIIQQ")
PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE, PT_PHDR = 1, 2, 3, 4, 6
PT_GNU_STACK = 0x6474E551
PF_X, PF_W, PF_R = 1, 2, 4


def elf_header(data: bytes) -> dict[str, int]:
    names = "e_type e_machine e_version e_entry e_phoff e_shoff e_flags e_ehsize e_phentsize e_phnum"
    names += " e_shentsize e_shnum e_shstrndx"
    return dict(zip(names.split(), EHDR.unpack_from(data)[1:], strict=True))


def program_headers(data: bytes) -> list[list[int]]:
    eh = elf_header(data)
    return [list(PHDR.unpack_from(data, eh["e_phoff"] + i * PHDR.size)) for i in range(eh["e_phnum"])]


def with_phdr(data: bytes, index: int, **fields: int) -> bytes:
    """``data`` with fields (p_type, p_flags, p_offset, ...) of program header ``index`` replaced."""
    order = ["p_type", "p_flags", "p_offset", "p_vaddr", "p_paddr", "p_filesz", "p_memsz", "p_align"]
    ph = program_headers(data)[index]
    for name, value in fields.items():
        ph[order.index(name)] = value
    at = elf_header(data)["e_phoff"] + index * PHDR.size
    return data[:at] + PHDR.pack(*ph) + data[at + PHDR.size :]


def with_header(data: bytes, **fields: int) -> bytes:
    eh = elf_header(data)
    eh.update(fields)
    return EHDR.pack(data[:16], *eh.values()) + data[EHDR.size :]


def load_indexes(data: bytes) -> list[int]:
    return [i for i, ph in enumerate(program_headers(data)) if ph[0] == PT_LOAD]


def tiny_elf(
    *,
    e_type: int = 2,
    e_machine: int = 62,
    entry: int = 0x401000,
    base: int = 0x400000,
    extra: list[tuple[int, int, int, int, int, int, int]] | None = None,
    tail: bytes = b"",
) -> bytes:
    """A minimal static executable: headers and a jmp-to-self, one R+X PT_LOAD over the file.

    ``extra`` program headers are (p_type, p_flags, p_offset, p_vaddr, p_filesz, p_memsz, p_align);
    ``tail`` is appended after the code (at file offset 0x1010) for PT_INTERP strings and the like.
    """
    extra = extra or []
    body = b"\xeb\xfe".ljust(0x10, b"\x90") + tail
    size = 0x1000 + len(body)
    phdrs = [(PT_LOAD, PF_R | PF_X, 0, base, size, size, 0x1000)]
    phdrs += list(extra)
    ident = b"\x7fELF\x02\x01\x01".ljust(16, b"\0")
    head = EHDR.pack(ident, e_type, e_machine, 1, entry, 64, 0, 0, 64, PHDR.size, len(phdrs), 0, 0, 0)
    for p_type, flags, offset, vaddr, filesz, memsz, align in phdrs:
        head += PHDR.pack(p_type, flags, offset, vaddr, vaddr, filesz, memsz, align)
    return head.ljust(0x1000, b"\0") + body


def write(tmp_path: Path, data: bytes, name: str = "prog") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def expect(tmp_path: Path, data: bytes, error: type[LoaderError], *words: str) -> LoaderError:
    """Loading ``data`` raises exactly ``error`` whose message names the file and ``words``."""
    path = write(tmp_path, data)
    with pytest.raises(LoaderError) as info:
        load_image(path)
    assert type(info.value) is error, info.value.message
    message = info.value.message
    assert str(path) in message and "\n" not in message
    for word in words:
        assert word in message, message
    return info.value


# --------------------------------------------------------------------------
# Real Go binaries


def test_go_binary_loads(hello: Path) -> None:
    data = hello.read_bytes()
    image = load_image(hello)
    eh = elf_header(data)
    assert image.path == str(hello)
    assert image.load_bias == 0
    assert image.entry == eh["e_entry"]
    assert image.entry == image.symbols.address_of("_rt0_amd64_linux")
    assert image.symbols.lookup(image.entry) == ("_rt0_amd64_linux", 0)
    assert image.go_version == f"go{default_version()}"
    assert image.exec_stack is False
    assert (image.phent, image.phnum) == (56, eh["e_phnum"])
    phdr = next(ph for ph in program_headers(data) if ph[0] == PT_PHDR)
    assert image.phdr_addr == phdr[3] == 0x400040


def test_go_segments_match_program_headers(hello: Path) -> None:
    data = hello.read_bytes()
    image = load_image(hello)
    loads = [ph for ph in program_headers(data) if ph[0] == PT_LOAD]
    assert [seg.vaddr for seg in image.segments] == sorted(ph[3] for ph in loads)
    assert [seg.prot for seg in image.segments] == [
        PROT_READ | PROT_EXEC,
        PROT_READ,
        PROT_READ | PROT_WRITE,
    ]
    for seg, (_, _, offset, _, _, filesz, memsz, _) in zip(image.segments, loads, strict=True):
        assert seg.data == data[offset : offset + filesz]
        assert seg.memsz == memsz
    bss = image.segments[-1]
    assert bss.memsz > len(bss.data), "Go's data segment ends in .bss/.noptrbss"
    text = image.segments[0]
    assert text.vaddr <= image.entry < text.vaddr + text.memsz


def test_go_symbols_from_symtab(hello: Path) -> None:
    symbols = load_image(hello).symbols
    assert symbols.source == "symtab"
    assert len(symbols) > 1000
    addrs = [s.addr for s in symbols]
    assert addrs == sorted(addrs)
    main = symbols.address_of("main.main")
    assert main is not None and symbols.lookup(main + 1) == ("main.main", 1)
    rt0 = symbols.address_of("runtime.rt0_go")
    assert rt0 is not None and rt0 == symbols.address_of("runtime.rt0_go.abi0")
    name, offset = symbols.lookup(rt0) or ("", -1)
    assert symbols.display_name(name) == "runtime.rt0_go" and offset == 0
    sizes = {s.name: s.size for s in symbols}
    assert symbols.lookup(main + sizes["main.main"]) != ("main.main", sizes["main.main"])
    assert symbols.address_of("no.such.function") is None
    assert symbols.lookup(0x1000) is None


def test_go_stripped_symbols_from_pclntab(hello_stripped: Path) -> None:
    image = load_image(hello_stripped)
    assert image.symbols.source == "pclntab"
    assert image.go_version == f"go{default_version()}"
    assert image.symbols.address_of("_rt0_amd64_linux") == image.entry
    assert image.symbols.lookup(image.entry + 2) == ("_rt0_amd64_linux", 2)


@pytest.mark.parametrize("version", GO_VERSIONS)
def test_stripped_and_unstripped_symbols_agree(go_build: Callable[[str, bool], Path], version: str) -> None:
    full = load_image(go_build(version, False))
    stripped = load_image(go_build(version, True))
    assert (full.symbols.source, stripped.symbols.source) == ("symtab", "pclntab")
    assert full.go_version == stripped.go_version == f"go{version}"
    for name in ("runtime.main", "main.main", "runtime.rt0_go", "runtime.rt0_go.abi0", "_rt0_amd64_linux"):
        addr = full.symbols.address_of(name)
        assert addr is not None, name
        assert stripped.symbols.address_of(name) == addr, name
    # Every pclntab function is a .symtab function at the same address.
    # (.symtab spells Go's middle dot as ".", the pclntab keeps it.)
    in_symtab = {(full.symbols.display_name(s.name), s.addr) for s in full.symbols}
    in_pclntab = {(s.name.replace("\u00b7", "."), s.addr) for s in stripped.symbols}
    assert in_pclntab <= in_symtab
    assert len(in_pclntab) >= len(in_symtab) - 2  # .symtab adds runtime.text and runtime.etext


def test_pclntab_found_without_section_headers(hello: Path, hello_stripped: Path, tmp_path: Path) -> None:
    """With e_shoff gone, symbols come from scanning segments for the pclntab magic."""
    reference = load_image(hello).symbols
    for source in (hello, hello_stripped):
        data = with_header(source.read_bytes(), e_shoff=0, e_shnum=0, e_shstrndx=0)
        image = load_image(write(tmp_path, data))
        assert image.symbols.source == "pclntab"
        assert image.go_version == f"go{default_version()}"
        for name in ("main.main", "runtime.main", "runtime.rt0_go", "_rt0_amd64_linux"):
            assert image.symbols.address_of(name) == reference.address_of(name), name


def test_text_section_used_when_moduledata_is_not_found(
    hello: Path, hello_stripped: Path, tmp_path: Path
) -> None:
    """Recent pclntabs lack textStart; without moduledata the .text section gives it."""
    data = bytearray(hello_stripped.read_bytes())
    with open(hello_stripped, "rb") as f:
        pclntab_addr = ELFFile(f).get_section_by_name(".gopclntab")["sh_addr"]
    pointer = pclntab_addr.to_bytes(8, "little")
    hits = 0
    for start in range(0, len(data) - 8, 8):
        if data[start : start + 8] == pointer:
            data[start : start + 8] = bytes(8)
            hits += 1
    assert hits >= 1, "moduledata.pcHeader should point at the pclntab"
    image = load_image(write(tmp_path, bytes(data)))
    reference = load_image(hello).symbols
    for name in ("main.main", "runtime.main", "_rt0_amd64_linux"):
        assert image.symbols.address_of(name) == reference.address_of(name), name


@pytest.mark.parametrize(
    "damage",
    [
        {"e_shoff": 0xFFFF_FFFF_FFFF},
        {"e_shnum": 0xFFFF},
        {"e_shentsize": 3},
        {"e_shstrndx": 0xFFF0},
    ],
    ids=["shoff", "shnum", "shentsize", "shstrndx"],
)
def test_malformed_section_headers_still_load(hello: Path, tmp_path: Path, damage: dict[str, int]) -> None:
    data = with_header(hello.read_bytes(), **damage)
    image = load_image(write(tmp_path, data))
    assert image.symbols.source in ("symtab", "pclntab")
    assert image.symbols.address_of("main.main") == load_image(hello).symbols.address_of("main.main")


def test_garbage_symtab_falls_back_to_pclntab(hello: Path, tmp_path: Path) -> None:
    """A .symtab whose sh_link names no string table is ignored in favour of the pclntab."""
    data = bytearray(hello.read_bytes())
    eh = elf_header(bytes(data))
    for i in range(eh["e_shnum"]):
        at = eh["e_shoff"] + i * SHDR.size
        fields = list(SHDR.unpack_from(data, at))
        if fields[1] == 2:  # SHT_SYMTAB
            fields[6] = 0  # sh_link
            data[at : at + SHDR.size] = SHDR.pack(*fields)
    image = load_image(write(tmp_path, bytes(data)))
    assert image.symbols.source == "pclntab"
    assert image.symbols.address_of("main.main") is not None


def test_load_time(hello: Path, hello_stripped: Path) -> None:
    """load_image must stay fast: the target is well under 50 ms for a 2 MB Go binary."""
    for path in (hello, hello_stripped):
        best_load = best_total = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            image = load_image(path)
            loaded = time.perf_counter()
            len(image.symbols)
            done = time.perf_counter()
            best_load = min(best_load, loaded - start)
            best_total = min(best_total, done - start)
        assert best_load < 0.050, f"{path.name}: load_image took {best_load * 1000:.1f} ms"
        assert best_total < 0.100, f"{path.name}: with symbols {best_total * 1000:.1f} ms"


class StackReader:
    """Decodes argc/argv/envp/auxv from initial stack bytes, as a libc start routine would."""

    def __init__(self, stack: loader.InitialStack) -> None:
        self.stack = stack
        at = stack.sp
        self.argc = self.word(at)
        self.argv = [self.cstring(self.word(at + 8 * (1 + i))) for i in range(self.argc)]
        at += 8 * (self.argc + 2)
        self.envp: list[bytes] = []
        while self.word(at):
            self.envp.append(self.cstring(self.word(at)))
            at += 8
        self.auxv: dict[int, int] = {}
        at += 8
        while self.word(at):
            self.auxv[self.word(at)] = self.word(at + 8)
            at += 16

    def word(self, addr: int) -> int:
        offset = addr - self.stack.sp
        return int.from_bytes(self.stack.data[offset : offset + 8], "little")

    def cstring(self, addr: int) -> bytes:
        offset = addr - self.stack.sp
        return self.stack.data[offset : self.stack.data.index(b"\0", offset)]


def test_initial_stack_for_go_binary(hello: Path) -> None:
    image = load_image(hello)
    top = 0x7FFF_FFFF_F000
    stack = build_initial_stack(
        image,
        argv=[b"hello", b"-v"],
        envp=[b"HOME=/", b"GODEBUG=x=1"],
        random16=bytes(range(16)),
        stack_top=top,
        execfn=b"/bin/hello",
        hwcap=0x178BFBFF,
    )
    assert stack.sp % 16 == 0 and stack.sp + len(stack.data) == top
    reader = StackReader(stack)
    assert reader.argv == [b"hello", b"-v"] and reader.envp == [b"HOME=/", b"GODEBUG=x=1"]
    auxv = reader.auxv
    assert auxv[3] == image.phdr_addr and auxv[4] == 56 and auxv[5] == image.phnum  # AT_PHDR/PHENT/PHNUM
    assert auxv[9] == image.entry and auxv[6] == 4096  # AT_ENTRY, AT_PAGESZ
    assert auxv[25] == stack.random_addr  # AT_RANDOM
    assert reader.cstring(auxv[31]) == b"/bin/hello"  # AT_EXECFN
    assert reader.cstring(auxv[15]) == b"x86_64"  # AT_PLATFORM
    assert stack.data[stack.random_addr - stack.sp :][:16] == bytes(range(16))
    assert reader.word(top - 8) == 0


# --------------------------------------------------------------------------
# Files that are not runnable ELF executables


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope"
    with pytest.raises(FileMissing) as info:
        load_image(path)
    assert str(path) in info.value.message and "no such file" in info.value.message


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(FileMissing, match="directory"):
        load_image(tmp_path)


def test_nul_in_path() -> None:
    with pytest.raises(FileMissing, match="not a valid file name"):
        load_image("bad\0name")


def test_fifo_is_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(FileMissing, match="not a regular file"):
        load_image(fifo)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path, tiny_elf())
    path.chmod(0)
    with pytest.raises(FileMissing, match="permission denied"):
        load_image(path)


@pytest.mark.parametrize("data", [b"", b"\x7fE", b"#!/bin/sh\necho hi\n", b"MZ" + bytes(100)])
def test_not_an_elf(tmp_path: Path, data: bytes) -> None:
    expect(tmp_path, data, NotAnElf)


def test_elf32(tmp_path: Path) -> None:
    # A minimal ELF32 header: class 1, i386.
    ident = b"\x7fELF\x01\x01\x01".ljust(16, b"\0")
    data = ident + struct.pack("<HHIIIIIHHHHHH", 2, 3, 1, 0x8048000, 52, 0, 0, 52, 32, 1, 40, 0, 0)
    expect(tmp_path, data, WrongClass, "32-bit")


def test_invalid_class(tmp_path: Path) -> None:
    expect(tmp_path, tiny_elf()[:4] + b"\x07" + tiny_elf()[5:], WrongClass, "class 7")


def test_big_endian(tmp_path: Path) -> None:
    data = bytearray(tiny_elf())
    data[5] = 2
    expect(tmp_path, bytes(data), WrongEndianness, "big-endian")


@pytest.mark.parametrize(
    ("machine", "name"), [(183, "AArch64"), (3, "i386"), (243, "RISC-V"), (9999, "9999")]
)
def test_wrong_machine(tmp_path: Path, machine: int, name: str) -> None:
    expect(tmp_path, tiny_elf(e_machine=machine), WrongMachine, name)


@pytest.mark.parametrize(
    ("e_type", "words"),
    [(1, ("relocatable", "ET_REL")), (4, ("core dump", "ET_CORE")), (0, ("ET_NONE",)), (0xFE00, ("0xfe00",))],
)
def test_unsupported_type(tmp_path: Path, e_type: int, words: tuple[str, ...]) -> None:
    expect(tmp_path, tiny_elf(e_type=e_type), UnsupportedType, *words)


def test_shared_library_without_entry(tmp_path: Path) -> None:
    expect(tmp_path, tiny_elf(e_type=3, entry=0, base=0), UnsupportedType, "shared library", "no entry")


def test_shared_library_with_soname(tmp_path: Path) -> None:
    # PT_DYNAMIC at file offset 0x1010: DT_SONAME, DT_NULL.
    dynamic = struct.pack("<qQqQ", 14, 1, 0, 0)
    extra = [(PT_DYNAMIC, PF_R, 0x1010, 0x1010, len(dynamic), len(dynamic), 8)]
    data = tiny_elf(e_type=3, entry=0x1000, base=0, extra=extra, tail=dynamic)
    expect(tmp_path, data, UnsupportedType, "shared library", "DT_SONAME")


def test_static_pie_is_loaded_at_pie_base(tmp_path: Path) -> None:
    path = write(tmp_path, tiny_elf(e_type=3, entry=0x1000, base=0))
    image = load_image(path)
    assert image.load_bias == 0x555555554000
    assert image.entry == 0x555555555000
    assert image.segments[0].vaddr == 0x555555554000
    assert image.phdr_addr == 0x555555554040  # computed from the PT_LOAD covering e_phoff
    other = load_image(path, pie_base=0x7F0000000000)
    assert other.entry == 0x7F0000001000 and other.load_bias == 0x7F0000000000
    with pytest.raises(ValueError):
        load_image(path, pie_base=0x1234)


def test_tiny_static_executable(tmp_path: Path) -> None:
    image = load_image(write(tmp_path, tiny_elf()))
    assert image.entry == 0x401000 and image.load_bias == 0
    assert [(s.vaddr, s.memsz, s.prot) for s in image.segments] == [(0x400000, 0x1010, PROT_READ | PROT_EXEC)]
    assert image.exec_stack is True  # no PT_GNU_STACK
    assert image.go_version is None
    assert image.symbols.source == "none" and len(image.symbols) == 0
    assert image.symbols.lookup(image.entry) is None


def test_gnu_stack_flags(tmp_path: Path) -> None:
    for flags, expected in ((PF_R | PF_W, False), (PF_R | PF_W | PF_X, True)):
        data = tiny_elf(extra=[(PT_GNU_STACK, flags, 0, 0, 0, 0, 16)])
        assert load_image(write(tmp_path, data)).exec_stack is expected


def test_interp(tmp_path: Path) -> None:
    interp = b"/lib64/ld-linux-x86-64.so.2\0"
    extra = [(PT_INTERP, PF_R, 0x1010, 0x401010, len(interp), len(interp), 1)]
    error = expect(tmp_path, tiny_elf(extra=extra, tail=interp), DynamicallyLinked)
    assert error.message == (
        f"{tmp_path / 'prog'}: dynamically linked (PT_INTERP /lib64/ld-linux-x86-64.so.2); "
        "build it statically: CGO_ENABLED=0 go build"
    )


def test_system_dynamic_executable() -> None:
    """A real distribution binary (a dynamically linked PIE) is refused with the interpreter named."""
    ls = shutil.which("ls")
    if ls is None or not Path(ls).read_bytes().startswith(b"\x7fELF\x02\x01"):
        pytest.skip("no x86-64 ELF ls here")
    if Path(ls).read_bytes()[18] != 62:
        pytest.skip("ls is not an x86-64 binary")
    with pytest.raises(DynamicallyLinked, match="ld-linux"):
        load_image(ls)


@pytest.mark.parametrize("cut", [16, 40, 63, 64, 100, 64 + 56 * 5 - 1])
def test_truncated_headers(hello: Path, tmp_path: Path, cut: int) -> None:
    data = hello.read_bytes()
    assert 64 + 56 * elf_header(data)["e_phnum"] - 1 >= cut
    expect(tmp_path, data[:cut], TruncatedElf)


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_truncated_segments(hello: Path, tmp_path: Path, where: str) -> None:
    data = hello.read_bytes()
    end = max(ph[2] + ph[5] for ph in program_headers(data) if ph[0] == PT_LOAD)
    cut = {"start": 0x2000, "middle": end // 2, "end": end - 1}[where]
    expect(tmp_path, data[:cut], BadSegment, "outside the file")


def test_truncated_after_segments_still_loads(hello: Path, tmp_path: Path) -> None:
    """Cutting off what lies past the last PT_LOAD (.symtab, section headers) loses nothing needed."""
    data = hello.read_bytes()
    end = max(ph[2] + ph[5] for ph in program_headers(data) if ph[0] == PT_LOAD)
    image = load_image(write(tmp_path, data[:end]))
    assert image.symbols.source == "pclntab"
    assert image.symbols.address_of("main.main") == load_image(hello).symbols.address_of("main.main")


def test_truncated_tiny(tmp_path: Path) -> None:
    expect(tmp_path, tiny_elf()[:10], TruncatedElf)


def test_segment_outside_file(hello: Path, tmp_path: Path) -> None:
    data = hello.read_bytes()
    first = load_indexes(data)[0]
    expect(tmp_path, with_phdr(data, first, p_offset=len(data) + 0x1000), BadSegment, "outside the file")


def test_filesz_bigger_than_memsz(hello: Path, tmp_path: Path) -> None:
    data = hello.read_bytes()
    last = load_indexes(data)[-1]
    memsz = program_headers(data)[last][6]
    expect(tmp_path, with_phdr(data, last, p_filesz=memsz + 1), BadSegment, "p_filesz", "p_memsz")


def test_overlapping_segments(hello: Path, tmp_path: Path) -> None:
    data = hello.read_bytes()
    first, second = load_indexes(data)[:2]
    vaddr = program_headers(data)[first][3] + 0x1000 + program_headers(data)[second][2] % 0x1000
    expect(tmp_path, with_phdr(data, second, p_vaddr=vaddr), BadSegment, "overlap")


def test_absurd_memsz(hello: Path, tmp_path: Path) -> None:
    data = hello.read_bytes()
    last = load_indexes(data)[-1]
    expect(tmp_path, with_phdr(data, last, p_memsz=5 << 30), BadSegment, "4 GiB")


@pytest.mark.parametrize("vaddr", [0x7FFF_FFFF_F000, 0xFFFF_FFFF_FFFF_F000], ids=["47-bit", "wraps"])
def test_segment_beyond_user_space(tmp_path: Path, vaddr: int) -> None:
    extra = [(PT_LOAD, PF_R | PF_W, 0x1000, vaddr, 0x10, 0x2000, 0x1000)]
    expect(tmp_path, tiny_elf(extra=extra), BadSegment, "47-bit")


def test_segment_below_mmap_min_addr(tmp_path: Path) -> None:
    expect(tmp_path, tiny_elf(base=0, entry=0x1000), BadSegment, "mmap_min_addr")


def test_misaligned_segment(hello: Path, tmp_path: Path) -> None:
    data = hello.read_bytes()
    last = load_indexes(data)[-1]
    vaddr = program_headers(data)[last][3]
    expect(tmp_path, with_phdr(data, last, p_vaddr=vaddr + 0x10), BadSegment, "misaligned")


def test_misaligned_against_page(tmp_path: Path) -> None:
    extra = [(PT_LOAD, PF_R | PF_W, 0x1000, 0x600010, 0x10, 0x10, 1)]
    expect(tmp_path, tiny_elf(extra=extra), BadSegment, "page size")


def test_align_not_power_of_two(tmp_path: Path) -> None:
    extra = [(PT_LOAD, PF_R | PF_W, 0x1000, 0x601000, 0x10, 0x10, 0x3000)]
    expect(tmp_path, tiny_elf(extra=extra), BadSegment, "power of two")


def test_no_load_segment(hello: Path, tmp_path: Path) -> None:
    data = hello.read_bytes()
    for index in load_indexes(data):
        data = with_phdr(data, index, p_type=PT_NOTE)
    expect(tmp_path, data, BadSegment, "no PT_LOAD")


def test_no_program_headers(tmp_path: Path) -> None:
    expect(tmp_path, with_header(tiny_elf(), e_phnum=0), BadSegment, "no program headers")


def test_bad_phentsize(tmp_path: Path) -> None:
    expect(tmp_path, with_header(tiny_elf(), e_phentsize=32), BadSegment, "e_phentsize")


def test_entry_outside_segments(tmp_path: Path) -> None:
    expect(tmp_path, tiny_elf(entry=0x900000), BadSegment, "entry point")


def test_exit_codes_are_distinct() -> None:
    classes = [
        FileMissing,
        NotAnElf,
        WrongClass,
        WrongEndianness,
        WrongMachine,
        UnsupportedType,
        TruncatedElf,
        BadSegment,
        DynamicallyLinked,
    ]
    assert [c.exit_code for c in classes] == list(range(80, 89))
    assert LoaderError.exit_code not in range(80, 89)
    assert all(issubclass(c, LoaderError) for c in classes)
    assert str(NotAnElf("x", "not an ELF file")) == "x: not an ELF file"


# --------------------------------------------------------------------------
# Robustness: random damage must give a LoaderError or a usable image


def _exercise(path: Path) -> None:
    """Load and touch everything lazily computed; only LoaderError may escape."""
    try:
        image = load_image(path)
    except LoaderError as exc:
        assert exc.message.startswith(str(path)) and "\n" not in exc.message
        return
    symbols = image.symbols
    assert symbols.source in ("symtab", "pclntab", "none")
    for sym in list(symbols)[:50]:
        symbols.lookup(sym.addr)
    symbols.lookup(image.entry)
    symbols.address_of("main.main")
    build_initial_stack(
        image, argv=[b"x"], envp=[], random16=bytes(16), stack_top=0x7FFF_FFFF_F000, execfn=b"x", hwcap=0
    )


_mutations = st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), min_size=1, max_size=24)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mutations")


@pytest.mark.parametrize("stripped", [False, True], ids=["full", "stripped"])
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=_mutations, cut=st.one_of(st.none(), st.integers(0, 8192)))
def test_random_header_damage(
    go_build: Callable[[str, bool], Path],
    scratch: Path,
    stripped: bool,
    mutations: list[tuple[int, int]],
    cut: int | None,
) -> None:
    data = bytearray(go_build(default_version(), stripped).read_bytes())
    for offset, value in mutations:
        data[offset] = value
    if cut is not None and cut < 4096:
        del data[cut:]
    path = scratch / ("stripped" if stripped else "full")
    path.write_bytes(bytes(data))
    _exercise(path)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), min_size=1, max_size=8))
def test_random_pclntab_damage(hello_stripped: Path, scratch: Path, mutations: list[tuple[int, int]]) -> None:
    """Damage at the start of .gopclntab (header, functab) costs symbols at worst."""
    data = bytearray(hello_stripped.read_bytes())
    start = data.find(b"\xf1\xff\xff\xff\x00\x00\x01\x08")
    if start < 0:
        start = data.find(b"\xf0\xff\xff\xff\x00\x00\x01\x08")
    assert start > 0
    for offset, value in mutations:
        data[start + offset] = value
    path = scratch / "pclntab"
    path.write_bytes(bytes(data))
    _exercise(path)
