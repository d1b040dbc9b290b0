"""The narrow view of the machine the syscall layer is allowed to see.

syscalls/ never imports the emulator: handlers and argument decoders only get
something that satisfies GuestMemory, so they can be tested with a dict-backed
fake and the emulator can change its memory model freely.
"""

from __future__ import annotations

import struct
from typing import Protocol

__all__ = [
    "BadAddress",
    "GuestMemory",
    "read_i32",
    "read_i64",
    "read_u16",
    "read_u32",
    "read_u64",
    "write_i32",
    "write_i64",
    "write_u32",
    "write_u64",
]


class BadAddress(Exception):
    """A guest pointer that does not point at readable/writable guest memory."""

    def __init__(self, addr: int) -> None:
        self.addr = addr
        super().__init__(f"bad guest address {addr:#x}")


class GuestMemory(Protocol):
    """Byte access to the traced process's address space."""

    def read(self, addr: int, size: int) -> bytes:
        """Return exactly ``size`` bytes; raise BadAddress if any is unmapped."""
        ...

    def write(self, addr: int, data: bytes) -> None:
        """Store ``data``; raise BadAddress if any byte is unmapped/readonly."""
        ...

    def read_cstring(self, addr: int, limit: int = 4096) -> bytes:
        """Bytes up to (not including) the NUL, at most ``limit``; BadAddress."""
        ...


_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")


def read_u16(mem: GuestMemory, addr: int) -> int:
    """Little-endian unsigned 16-bit load."""
    return int(_U16.unpack(mem.read(addr, 2))[0])


def read_u32(mem: GuestMemory, addr: int) -> int:
    """Little-endian unsigned 32-bit load (futex words, int out-params)."""
    return int(_U32.unpack(mem.read(addr, 4))[0])


def read_i32(mem: GuestMemory, addr: int) -> int:
    """Little-endian signed 32-bit load (C ``int``)."""
    return int(_I32.unpack(mem.read(addr, 4))[0])


def read_u64(mem: GuestMemory, addr: int) -> int:
    """Little-endian unsigned 64-bit load (pointers, sizes, sigsets)."""
    return int(_U64.unpack(mem.read(addr, 8))[0])


def read_i64(mem: GuestMemory, addr: int) -> int:
    """Little-endian signed 64-bit load (C ``long``, time_t)."""
    return int(_I64.unpack(mem.read(addr, 8))[0])


def write_u32(mem: GuestMemory, addr: int, value: int) -> None:
    """Store the low 32 bits of ``value`` little-endian."""
    mem.write(addr, _U32.pack(value & 0xFFFF_FFFF))


def write_i32(mem: GuestMemory, addr: int, value: int) -> None:
    """Store a signed C ``int``."""
    mem.write(addr, _I32.pack(value))


def write_u64(mem: GuestMemory, addr: int, value: int) -> None:
    """Store the low 64 bits of ``value`` little-endian."""
    mem.write(addr, _U64.pack(value & 0xFFFF_FFFF_FFFF_FFFF))


def write_i64(mem: GuestMemory, addr: int, value: int) -> None:
    """Store a signed 64-bit value."""
    mem.write(addr, _I64.pack(value))
