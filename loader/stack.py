"""The initial process stack, laid out exactly as Linux's create_elf_tables does.

From high to low addresses::

    stack_top - 8      8 zero bytes (end marker)
                       execfn string
                       envp strings, after the argv strings (argv[0] lowest)
                       (rounded down to 16)
                       platform string ("x86_64")
                       16 random bytes (AT_RANDOM)
                       (padding so that sp ends up 16-byte aligned)
                       auxv pairs, ending with AT_NULL
                       envp pointers, NULL
                       argv pointers, NULL (two NULLs when argv is empty)
    sp                 argc
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

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
)
from loader.elf import PAGE_SIZE
from loader.image import Image

WORD = 8
STACK_ALIGN = 16
END_MARKER_SIZE = 8
RANDOM_SIZE = 16


@dataclass(frozen=True)
class InitialStack:
    """Bytes to write at [sp, stack_top) and the register/pointer values that go with them."""

    sp: int
    data: bytes
    random_addr: int

    @property
    def top(self) -> int:
        return self.sp + len(self.data)


def build_initial_stack(
    image: Image,
    *,
    argv: Sequence[bytes],
    envp: Sequence[bytes],
    random16: bytes,
    stack_top: int,
    execfn: bytes,
    hwcap: int,
    hwcap2: int = 0,
    uid: int = 1000,
    gid: int = 1000,
    clktck: int = 100,
    sysinfo_ehdr: int | None = None,
    platform: bytes | None = b"x86_64",
) -> InitialStack:
    """Lay out argc, argv, envp and auxv below ``stack_top`` for entering ``image``.

    ``platform=None`` (or b"") leaves out AT_PLATFORM, as Linux does when the
    architecture reports none.
    """
    _check_inputs(argv, envp, random16, execfn, platform)
    writer = _StackWriter(stack_top)
    writer.push_bytes(bytes(END_MARKER_SIZE))
    execfn_addr = writer.push_bytes(execfn + b"\0")
    strings_addr = writer.push_bytes(b"".join(s + b"\0" for s in [*argv, *envp]))
    writer.align_down(STACK_ALIGN)
    platform_addr = writer.push_bytes(platform + b"\0") if platform else None
    random_addr = writer.push_bytes(random16)

    auxv = _auxv(
        image,
        hwcap=hwcap,
        hwcap2=hwcap2,
        uid=uid,
        gid=gid,
        clktck=clktck,
        sysinfo_ehdr=sysinfo_ehdr,
        random_addr=random_addr,
        execfn_addr=execfn_addr,
        platform_addr=platform_addr,
    )
    argv_ptrs, envp_ptrs = _string_pointers(strings_addr, argv, envp)
    # Since Linux 5.18 an empty argv gets an extra NULL so that argv[1] is not envp[0].
    argv_nulls = [0, 0] if not argv else [0]
    words = [len(argv), *argv_ptrs, *argv_nulls, *envp_ptrs, 0]
    for key, value in auxv:
        words += [key, value]
    table = struct.pack(f"<{len(words)}Q", *words)
    writer.pos = (writer.pos - len(table)) & ~(STACK_ALIGN - 1)
    if writer.pos < 0:
        raise ValueError(f"stack_top {stack_top:#x} leaves no room for the initial stack")
    writer.put(writer.pos, table)
    return InitialStack(sp=writer.pos, data=writer.image(), random_addr=random_addr)


def _check_inputs(
    argv: Sequence[bytes], envp: Sequence[bytes], random16: bytes, execfn: bytes, platform: bytes | None
) -> None:
    if len(random16) != RANDOM_SIZE:
        raise ValueError(f"random16 must be {RANDOM_SIZE} bytes, got {len(random16)}")
    groups = {"argv": argv, "envp": envp, "execfn": [execfn], "platform": [platform or b""]}
    for what, strings in groups.items():
        for s in strings:
            if b"\0" in s:
                raise ValueError(f"{what} string {s!r} contains a NUL byte")


def _string_pointers(start: int, argv: Sequence[bytes], envp: Sequence[bytes]) -> tuple[list[int], list[int]]:
    """Addresses of each argv and envp string, packed back to back from ``start``."""
    pointers, addr = [], start
    for s in [*argv, *envp]:
        pointers.append(addr)
        addr += len(s) + 1
    return pointers[: len(argv)], pointers[len(argv) :]


def _auxv(
    image: Image,
    *,
    hwcap: int,
    hwcap2: int,
    uid: int,
    gid: int,
    clktck: int,
    sysinfo_ehdr: int | None,
    random_addr: int,
    execfn_addr: int,
    platform_addr: int | None,
) -> list[tuple[int, int]]:
    """The auxiliary vector in the order binfmt_elf writes it on x86-64."""
    entries = [] if sysinfo_ehdr is None else [(AT_SYSINFO_EHDR, sysinfo_ehdr)]
    entries += [
        (AT_HWCAP, hwcap),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_CLKTCK, clktck),
        (AT_PHDR, image.phdr_addr),
        (AT_PHENT, image.phent),
        (AT_PHNUM, image.phnum),
        (AT_BASE, 0),
        (AT_FLAGS, 0),
        (AT_ENTRY, image.entry),
        (AT_UID, uid),
        (AT_EUID, uid),
        (AT_GID, gid),
        (AT_EGID, gid),
        (AT_SECURE, 0),
        (AT_RANDOM, random_addr),
        (AT_HWCAP2, hwcap2),
        (AT_EXECFN, execfn_addr),
    ]
    if platform_addr is not None:
        entries.append((AT_PLATFORM, platform_addr))
    entries.append((AT_NULL, 0))
    return entries


class _StackWriter:
    """Grows a byte image downwards from ``top``, like pushes onto the real stack."""

    def __init__(self, top: int) -> None:
        self.top = top
        self.pos = top
        self._chunks: list[tuple[int, bytes]] = []

    def push_bytes(self, data: bytes) -> int:
        self.pos -= len(data)
        self.put(self.pos, data)
        return self.pos

    def align_down(self, alignment: int) -> None:
        self.pos &= ~(alignment - 1)

    def put(self, addr: int, data: bytes) -> None:
        self._chunks.append((addr, data))

    def image(self) -> bytes:
        """The bytes of [pos, top); gaps left by alignment are zero."""
        out = bytearray(self.top - self.pos)
        for addr, data in self._chunks:
            out[addr - self.pos : addr - self.pos + len(data)] = data
        return bytes(out)
