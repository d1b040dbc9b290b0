"""Read a binary's initialised memory by link-time virtual address.

Go's metadata (pclntab, moduledata, build info) refers to itself by address,
so finding it without section headers means following pointers through the
PT_LOAD segments' file bytes. Reads never raise: out-of-range gives None.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from loader.elf import PF_W, PF_X, ProgramHeader


@dataclass(frozen=True)
class FileRegion:
    """The file-backed part of one PT_LOAD: ``data`` is what lies at ``vaddr``."""

    vaddr: int
    data: bytes
    writable: bool
    executable: bool

    def contains(self, addr: int, size: int = 1) -> bool:
        return self.vaddr <= addr and addr + size <= self.vaddr + len(self.data)


class SegmentMap:
    """The PT_LOAD file images of one ELF, addressed by (unbiased) p_vaddr."""

    def __init__(self, data: bytes, loads: Sequence[ProgramHeader]) -> None:
        self.regions: tuple[FileRegion, ...] = tuple(
            FileRegion(
                ph.p_vaddr,
                data[ph.p_offset : ph.p_offset + ph.p_filesz],
                bool(ph.p_flags & PF_W),
                bool(ph.p_flags & PF_X),
            )
            for ph in sorted(loads, key=lambda p: p.p_vaddr)
            if ph.p_filesz
        )

    def read(self, addr: int, size: int) -> bytes | None:
        """``size`` bytes at ``addr`` if they are all file-backed, else None."""
        for region in self.regions:
            if region.contains(addr, size):
                start = addr - region.vaddr
                return region.data[start : start + size]
        return None

    def read_prefix(self, addr: int, size: int) -> bytes | None:
        """Up to ``size`` bytes at ``addr``, cut at the end of its region; None if unmapped."""
        region = self.region_at(addr)
        if region is None:
            return None
        start = addr - region.vaddr
        return region.data[start : start + size]

    def region_at(self, addr: int) -> FileRegion | None:
        for region in self.regions:
            if region.contains(addr):
                return region
        return None

    def find_all(self, needle: bytes, *, align: int = 1, writable: bool | None = None) -> Iterator[int]:
        """Addresses where ``needle`` occurs, ``align``-aligned, optionally by writability."""
        for region in self.regions:
            if writable is not None and region.writable != writable:
                continue
            blob = region.data
            pos = blob.find(needle)
            while pos >= 0:
                addr = region.vaddr + pos
                if addr % align == 0:
                    yield addr
                pos = blob.find(needle, pos + 1)
