"""Tiny static x86-64 ELF guests assembled by hand, for behaviour Go binaries rarely show.

``elf(code)`` wraps machine code in a one-segment ET_EXEC (RWX so code can
keep its data next to it) loaded at 0x400000 with the entry at its first byte.
The helpers below emit the few instructions the tests need.
"""

from __future__ import annotations

import struct
from pathlib import Path

BASE = 0x400000
HEADERS = 64 + 56  # ELF header + one program header
ENTRY = BASE + HEADERS
DATA = BASE + 0x800  # scratch memory inside the guest's own segment (``program`` pads the code to it)


def elf(code: bytes, *, bss: int = 0x1000) -> bytes:
    """An executable whose entry point runs ``code``; ``bss`` zero bytes follow it."""
    ehdr = struct.pack(
        "<4sBBBBB7xHHIQQQIHHHHHH",
        b"\x7fELF",
        2,
        1,
        1,
        0,
        0,
        2,
        62,
        1,
        ENTRY,
        64,
        0,
        0,
        64,
        56,
        1,
        64,
        0,
        0,
    )
    size = HEADERS + len(code)
    phdr = struct.pack("<IIQQQQQQ", 1, 7, 0, BASE, BASE, size, size + bss, 0x1000)
    return ehdr + phdr + code


def program(tmp_path: Path, code: bytes, data: bytes = b"", *, bss: int = 0x1000) -> Path:
    """A guest file: ``code`` at the entry point, ``data`` at DATA."""
    pad = DATA - ENTRY - len(code)
    assert pad >= 0, "code too long for the data offset"
    path = tmp_path / "guest"
    path.write_bytes(elf(code + bytes(pad) + data, bss=bss))
    return path


def mov_eax(value: int) -> bytes:
    return b"\xb8" + struct.pack("<I", value & 0xFFFFFFFF)


def mov_edi(value: int) -> bytes:
    return b"\xbf" + struct.pack("<I", value & 0xFFFFFFFF)


def mov_esi(value: int) -> bytes:
    return b"\xbe" + struct.pack("<I", value & 0xFFFFFFFF)


def mov_edx(value: int) -> bytes:
    return b"\xba" + struct.pack("<I", value & 0xFFFFFFFF)


def mov_rdi(value: int) -> bytes:
    return b"\x48\xbf" + struct.pack("<Q", value)


def mov_rsi(value: int) -> bytes:
    return b"\x48\xbe" + struct.pack("<Q", value)


def mov_r10(value: int) -> bytes:
    return b"\x49\xba" + struct.pack("<Q", value)


def mov_edi_from(addr: int) -> bytes:
    """mov edi, dword ptr [addr]: a 32-bit value from memory as the first argument."""
    return b"\x8b\x3c\x25" + struct.pack("<I", addr)


SYSCALL = b"\x0f\x05"
MOV_EDI_EAX = b"\x89\xc7"


def exit_with_rax() -> bytes:
    """exit_group(rax): the previous syscall's result becomes the exit status."""
    return MOV_EDI_EAX + mov_eax(231) + SYSCALL


def exit_group(status: int) -> bytes:
    return mov_edi(status) + mov_eax(231) + SYSCALL


def syscall(nr: int, *args: int) -> bytes:
    """Load up to four arguments (rdi, rsi, rdx, r10) and make syscall ``nr``."""
    loaders = (mov_rdi, mov_rsi, lambda v: b"\x48\xba" + struct.pack("<Q", v), mov_r10)
    return b"".join(load(a) for load, a in zip(loaders, args, strict=False)) + mov_eax(nr) + SYSCALL
