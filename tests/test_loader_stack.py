"""Tests of loader.build_initial_stack: the layout Linux's create_elf_tables produces."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loader import Image, SymbolTable, build_initial_stack
from loader.auxv import (
    AT_BASE,
    AT_CLKTCK,
    AT_EGID,
    AT_ENTRY,
    AT_EUID,
    AT_EXECFN,
    AT_FLAGS,
    AT_GID,
    AT_HWCAP,
    AT_HWCAP2,
    AT_NULL,
    AT_PAGESZ,
    AT_PHDR,
    AT_PHENT,
    AT_PHNUM,
    AT_PLATFORM,
    AT_RANDOM,
    AT_SECURE,
    AT_SYSINFO_EHDR,
    AT_UID,
    at_name,
)

TOP = 0x7FFF_FFFF_F000
IMAGE = Image(
    path="prog",
    entry=0x401000,
    load_bias=0,
    segments=(),
    phdr_addr=0x400040,
    phent=56,
    phnum=6,
    exec_stack=False,
    symbols=SymbolTable(),
    go_version="go1.27.3",
)


@dataclass
class ParsedStack:
    """What a program sees at entry, decoded from the stack bytes."""

    argc: int
    argv_ptrs: list[int]
    envp_ptrs: list[int]
    auxv: list[tuple[int, int]]
    table_end: int  # first byte after the AT_NULL entry
    data: bytes
    sp: int

    def word(self, addr: int) -> int:
        return int.from_bytes(self.data[addr - self.sp : addr - self.sp + 8], "little")

    def cstring(self, addr: int) -> bytes:
        start = addr - self.sp
        return self.data[start : self.data.index(b"\0", start)]

    @property
    def argv(self) -> list[bytes]:
        return [self.cstring(p) for p in self.argv_ptrs]

    @property
    def envp(self) -> list[bytes]:
        return [self.cstring(p) for p in self.envp_ptrs]

    def aux(self, key: int) -> int:
        return dict(self.auxv)[key]


def parse(sp: int, data: bytes) -> ParsedStack:
    """Walk argc, argv[], envp[] and auxv[] from sp, as a C runtime's _start does."""
    stack = ParsedStack(0, [], [], [], 0, data, sp)
    stack.argc = stack.word(sp)
    at = sp + 8
    stack.argv_ptrs = [stack.word(at + 8 * i) for i in range(stack.argc)]
    at += 8 * stack.argc
    assert stack.word(at) == 0, "argv must end with NULL"
    at += 8
    if stack.argc == 0:
        assert stack.word(at) == 0, "an empty argv gets a second NULL"
        at += 8
    while stack.word(at):
        stack.envp_ptrs.append(stack.word(at))
        at += 8
    at += 8
    while True:
        key, value = stack.word(at), stack.word(at + 8)
        stack.auxv.append((key, value))
        at += 16
        if key == AT_NULL:
            break
    stack.table_end = at
    return stack


def build(**overrides: object) -> tuple[int, bytes, int]:
    args: dict[str, object] = dict(
        argv=[b"./auxdump", b"x", b"yy", b"zzz"],
        envp=[b"A=1", b"BB=22"],
        random16=bytes(range(0xA0, 0xB0)),
        stack_top=TOP,
        execfn=b"./auxdump",
        hwcap=0x178BFBFF,
        hwcap2=2,
        sysinfo_ehdr=0x7FFF_F7FF_D000,
    )
    args.update(overrides)
    stack = build_initial_stack(IMAGE, **args)  # type: ignore[arg-type]
    return stack.sp, stack.data, stack.random_addr


def test_layout_matches_linux() -> None:
    """Offsets from the stack top as observed on Linux 6.18 (setarch -R) for the same strings.

    The kernel's auxv there had 3 entries more than ours (AT_MINSIGSTKSZ, AT_RSEQ_*), so
    its sp was 48 bytes lower (-512); everything above the auxv is identical.
    """
    sp, data, random_addr = build()
    stack = parse(sp, data)
    assert [p - TOP for p in stack.argv_ptrs] == [-47, -37, -35, -32]
    assert [p - TOP for p in stack.envp_ptrs] == [-28, -24]
    assert stack.aux(AT_EXECFN) - TOP == -18
    assert stack.aux(AT_PLATFORM) - TOP == -55
    assert random_addr - TOP == stack.aux(AT_RANDOM) - TOP == -71
    assert sp - TOP == -464


def test_auxv_order_and_values() -> None:
    sp, data, random_addr = build(uid=7, gid=8, clktck=250)
    stack = parse(sp, data)
    assert [key for key, _ in stack.auxv] == [
        AT_SYSINFO_EHDR,
        AT_HWCAP,
        AT_PAGESZ,
        AT_CLKTCK,
        AT_PHDR,
        AT_PHENT,
        AT_PHNUM,
        AT_BASE,
        AT_FLAGS,
        AT_ENTRY,
        AT_UID,
        AT_EUID,
        AT_GID,
        AT_EGID,
        AT_SECURE,
        AT_RANDOM,
        AT_HWCAP2,
        AT_EXECFN,
        AT_PLATFORM,
        AT_NULL,
    ]
    expected = {
        AT_SYSINFO_EHDR: 0x7FFF_F7FF_D000,
        AT_HWCAP: 0x178BFBFF,
        AT_PAGESZ: 4096,
        AT_CLKTCK: 250,
        AT_PHDR: 0x400040,
        AT_PHENT: 56,
        AT_PHNUM: 6,
        AT_BASE: 0,
        AT_FLAGS: 0,
        AT_ENTRY: 0x401000,
        AT_UID: 7,
        AT_EUID: 7,
        AT_GID: 8,
        AT_EGID: 8,
        AT_SECURE: 0,
        AT_RANDOM: random_addr,
        AT_HWCAP2: 2,
        AT_NULL: 0,
    }
    for key, value in expected.items():
        assert stack.aux(key) == value, at_name(key)
    assert stack.cstring(stack.aux(AT_EXECFN)) == b"./auxdump"
    assert stack.cstring(stack.aux(AT_PLATFORM)) == b"x86_64"
    assert data[random_addr - sp : random_addr - sp + 16] == bytes(range(0xA0, 0xB0))


def test_strings_area() -> None:
    sp, data, _ = build()
    stack = parse(sp, data)
    assert stack.argc == 4
    assert stack.argv == [b"./auxdump", b"x", b"yy", b"zzz"]
    assert stack.envp == [b"A=1", b"BB=22"]
    start = stack.argv_ptrs[0] - sp
    assert data[start : len(data) - 8] == b"./auxdump\0x\0yy\0zzz\0A=1\0BB=22\0./auxdump\0"
    assert data[-8:] == bytes(8)


def test_optional_entries_left_out() -> None:
    sp, data, _ = build(sysinfo_ehdr=None, platform=None)
    keys = [key for key, _ in parse(sp, data).auxv]
    assert AT_SYSINFO_EHDR not in keys and AT_PLATFORM not in keys
    assert keys[0] == AT_HWCAP and keys[-2:] == [AT_EXECFN, AT_NULL]
    assert b"x86_64" not in data


def test_empty_argv_gets_two_nulls() -> None:
    sp, data, _ = build(argv=[], envp=[b"K=V"])
    stack = parse(sp, data)
    assert stack.argc == 0 and stack.envp == [b"K=V"]
    assert struct.unpack_from("<3Q", data, 0) == (0, 0, 0)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        build(random16=b"short")
    with pytest.raises(ValueError, match="NUL"):
        build(argv=[b"a\0b"])
    with pytest.raises(ValueError, match="NUL"):
        build(envp=[b"X=\0"])
    with pytest.raises(ValueError, match="no room"):
        build(stack_top=0x100)


def test_at_names() -> None:
    assert at_name(AT_RANDOM) == "AT_RANDOM"
    assert at_name(AT_SYSINFO_EHDR) == "AT_SYSINFO_EHDR"
    assert at_name(999) == "AT_999"


_strings = st.lists(st.binary(max_size=40).filter(lambda b: b"\0" not in b), max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    argv=_strings,
    envp=_strings,
    execfn=st.binary(min_size=1, max_size=64).filter(lambda b: b"\0" not in b),
    top_slack=st.integers(0, 64),
    random16=st.binary(min_size=16, max_size=16),
)
def test_roundtrip(
    argv: list[bytes], envp: list[bytes], execfn: bytes, top_slack: int, random16: bytes
) -> None:
    top = TOP - top_slack
    stack = build_initial_stack(
        IMAGE, argv=argv, envp=envp, random16=random16, stack_top=top, execfn=execfn, hwcap=1
    )
    assert stack.sp % 16 == 0
    assert stack.sp + len(stack.data) == stack.top == top
    parsed = parse(stack.sp, stack.data)
    assert parsed.argc == len(argv) and parsed.argv == argv and parsed.envp == envp
    assert parsed.cstring(parsed.aux(AT_EXECFN)) == execfn
    assert parsed.aux(AT_RANDOM) == stack.random_addr
    assert stack.data[stack.random_addr - stack.sp :][:16] == random16
    # Between the auxv and the random bytes there is less than one alignment unit of padding.
    assert 0 <= stack.random_addr - parsed.table_end < 16
    # The argv and envp strings sit back to back, then execfn, then the 8-byte end marker.
    strings = b"".join(s + b"\0" for s in [*argv, *envp, execfn]) + bytes(8)
    assert stack.data.endswith(strings)
