"""The guest's address space: a VMA map in Python, committed chunks in unicorn.

The ``VmaMap`` is the single truth about memory, like the kernel's list of
``vm_area_struct``. unicorn only holds the memory the guest can touch, mapped
in coarse aligned chunks: Go reserves over a GiB ``PROT_NONE`` and commits it
piece by piece, and unicorn copies a whole region whenever one is split or
partly re-protected (FACTS.md: 0.7-2.4 s at 512 MiB). So a unicorn region is
created once, whole, and never split; its permission is the union of the
permissions of the VMAs inside it, and bytes of it that no VMA covers are
kept zero so that a later mapping there reads zeroes.

The price, stated plainly: inside a committed 2 MiB chunk, an access to a page
that is unmapped or has fewer rights than its neighbours does not fault. Pages
outside every committed chunk (Go's reservations, the NULL page) do.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass

from unicorn import UC_PROT_EXEC, UC_PROT_NONE, UC_PROT_READ, UC_PROT_WRITE, Uc, UcError

from syscalls import errno
from syscalls.abi import BadAddress
from syscalls.errno import LimitError, SyscallError

PAGE = 0x1000
CHUNK = 0x20_0000  # 2 MiB: the granule of unicorn regions
TASK_SIZE = 0x7FFF_FFFF_F000  # end of the x86-64 user address space (47 bits less a page)
MMAP_BASE = 0x7FFF_F7FF_F000  # mmap allocates top-down from here: below the stack and its gap, no ASLR

PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC = 0, 1, 2, 4
_UC_PROT = {PROT_READ: UC_PROT_READ, PROT_WRITE: UC_PROT_WRITE, PROT_EXEC: UC_PROT_EXEC}
_ZEROES = bytes(CHUNK)


def page_down(addr: int) -> int:
    return addr & ~(PAGE - 1)


def page_up(addr: int) -> int:
    return (addr + PAGE - 1) & ~(PAGE - 1)


def _uc_prot(prot: int) -> int:
    result = UC_PROT_NONE
    for bit, uc_bit in _UC_PROT.items():
        if prot & bit:
            result |= uc_bit
    return result


class OutOfMemory(SyscallError):
    """The guest asked for more than its address space allows."""

    def __init__(self, detail: str) -> None:
        super().__init__(errno.ENOMEM, detail)


class MemoryLimitReached(LimitError):
    """The guest asked for more committed memory than ``--memory-limit`` allows: ENOMEM."""

    def __init__(self, limit: int) -> None:
        super().__init__("memory", errno.ENOMEM, f"guest memory limit of {limit} bytes reached")


class MappingExists(SyscallError):
    """MAP_FIXED_NOREPLACE hit an existing mapping."""

    def __init__(self, detail: str) -> None:
        super().__init__(errno.EEXIST, detail)


class NotMapped(SyscallError):
    """mprotect/madvise over a hole."""

    def __init__(self, detail: str) -> None:
        super().__init__(errno.ENOMEM, detail)


@dataclass
class Vma:
    """One virtual memory area: a page-aligned range with one protection."""

    start: int
    end: int
    prot: int
    name: str = ""  # "[stack]", "[heap]", a file path, or "" for anonymous

    @property
    def size(self) -> int:
        return self.end - self.start

    def perms(self) -> str:
        """``r-xp`` as /proc/self/maps writes it."""
        return "".join(c if self.prot & b else "-" for b, c in ((1, "r"), (2, "w"), (4, "x"))) + "p"


class VmaMap:
    """Sorted, non-overlapping VMAs with the split/merge rules of mmap."""

    def __init__(self) -> None:
        self._vmas: list[Vma] = []
        self._starts: list[int] = []
        self._last: Vma | None = None  # what find() found last: reads come in runs on one VMA

    def __iter__(self):
        return iter(list(self._vmas))

    def __len__(self) -> int:
        return len(self._vmas)

    def find(self, addr: int) -> Vma | None:
        last = self._last
        if last is not None and last.start <= addr < last.end:
            return last
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and addr < self._vmas[i].end:
            self._last = self._vmas[i]
            return self._last
        return None

    def overlapping(self, start: int, end: int) -> list[Vma]:
        i = max(bisect.bisect_right(self._starts, start) - 1, 0)
        found = []
        while i < len(self._vmas) and self._vmas[i].start < end:
            if self._vmas[i].end > start:
                found.append(self._vmas[i])
            i += 1
        return found

    def is_free(self, start: int, end: int) -> bool:
        return not self.overlapping(start, end)

    def covered(self, start: int, end: int, prot: int = 0) -> bool:
        """True when [start, end) is mapped without holes and every VMA has ``prot``."""
        vma = self.find(start)
        if vma is not None and end <= vma.end:  # within one VMA: the usual case
            return (vma.prot & prot) == prot
        pos = start
        for vma in self.overlapping(start, end):
            if vma.start > pos or (vma.prot & prot) != prot:
                return False
            pos = vma.end
        return pos >= end

    def carve(self, start: int, end: int) -> None:
        """Remove [start, end) from every VMA, splitting the ones it cuts."""
        for vma in self.overlapping(start, end):
            self._remove(vma)
            if vma.start < start:
                self._add(Vma(vma.start, start, vma.prot, vma.name))
            if vma.end > end:
                self._add(Vma(end, vma.end, vma.prot, vma.name))

    def insert(self, vma: Vma) -> None:
        """Add ``vma`` over a free range, merging with equal neighbours."""
        self._add(vma)
        self._merge_around(vma.start, vma.end)

    def protect(self, start: int, end: int, prot: int) -> None:
        pieces = [
            Vma(max(v.start, start), min(v.end, end), prot, v.name) for v in self.overlapping(start, end)
        ]
        self.carve(start, end)
        for piece in pieces:
            self._add(piece)
        self._merge_around(start, end)

    def find_free(self, length: int, top: int, bottom: int = 0x1_0000) -> int | None:
        """Highest free range of ``length`` bytes ending at or below ``top`` (top-down, as Linux)."""
        ceiling = top
        for vma in reversed(self._vmas):
            if vma.start >= ceiling:
                continue
            if vma.end <= ceiling and ceiling - vma.end >= length:
                return ceiling - length
            ceiling = min(ceiling, vma.start)
        return ceiling - length if ceiling - length >= bottom else None

    def _add(self, vma: Vma) -> None:
        self._last = None
        i = bisect.bisect_left(self._starts, vma.start)
        self._vmas.insert(i, vma)
        self._starts.insert(i, vma.start)

    def _remove(self, vma: Vma) -> None:
        self._last = None
        i = bisect.bisect_left(self._starts, vma.start)
        del self._vmas[i]
        del self._starts[i]

    def _merge_around(self, start: int, end: int) -> None:
        self._last = None
        i = max(bisect.bisect_right(self._starts, start) - 2, 0)
        while i + 1 < len(self._vmas):
            a, b = self._vmas[i], self._vmas[i + 1]
            if a.start > end:
                break
            if a.end == b.start and a.prot == b.prot and a.name == b.name:
                a.end = b.end
                del self._vmas[i + 1]
                del self._starts[i + 1]
            else:
                i += 1


@dataclass
class Region:
    """A unicorn memory region: whole chunks, created once, never split."""

    start: int
    end: int
    uc_prot: int


class AddressSpace:
    """The VMA map plus the unicorn regions that back its committed pages."""

    def __init__(self, uc: Uc, limit: int, read: Callable[[int, int], bytes | None] | None = None) -> None:
        self.uc = uc
        self.limit = limit
        # How bytes come out of unicorn once the VMAs allow it (the CPU's native reader when given).
        self._read = read or self._unicorn_read
        self.vmas = VmaMap()
        self.committed = 0  # bytes in VMAs with any access right
        self._regions: dict[int, Region] = {}  # by chunk start, one entry per chunk
        self.brk_start = 0
        self.brk = 0

    # -- mapping -----------------------------------------------------------

    def map(self, start: int, length: int, prot: int, name: str = "", *, replace: bool = True) -> None:
        """Map [start, start+length) as fresh zeroed memory, replacing what was there."""
        end = start + page_up(length)
        if start < 0 or end > TASK_SIZE or start % PAGE:
            raise OutOfMemory(f"range {start:#x}-{end:#x} outside the address space")
        if not replace and not self.vmas.is_free(start, end):
            raise MappingExists(f"{start:#x}")
        new_commit = (end - start) if prot else 0
        if self.committed - self._committed_in(start, end) + new_commit > self.limit:
            raise MemoryLimitReached(self.limit)
        self._release(start, end)
        self.vmas.insert(Vma(start, end, prot, name))
        self.committed += new_commit
        self._sync(start, end)

    def unmap(self, start: int, length: int) -> None:
        end = start + page_up(length)
        self._release(start, end)
        self._sync(start, end)

    def protect(self, start: int, length: int, prot: int) -> None:
        end = start + page_up(length)
        if not self.vmas.covered(start, end):
            raise NotMapped(f"{start:#x}-{end:#x}")
        gained = (
            sum(
                min(v.end, end) - max(v.start, start) for v in self.vmas.overlapping(start, end) if not v.prot
            )
            if prot
            else 0
        )
        if self.committed + gained > self.limit:
            raise MemoryLimitReached(self.limit)
        self.committed += gained - (0 if prot else self._committed_in(start, end))
        self.vmas.protect(start, end, prot)
        self._sync(start, end)

    def discard(self, start: int, length: int) -> None:
        """MADV_DONTNEED: the range reads back as zeroes."""
        end = start + page_up(length)
        if not self.vmas.covered(start, end):
            raise NotMapped(f"{start:#x}-{end:#x}")
        self._zero(start, end)

    def find_free(self, length: int, hint: int = 0) -> int:
        """Where a non-fixed mmap goes: the hint if free (Go relies on it), else top-down."""
        length = page_up(length)
        if hint:
            hint = page_down(hint)
            if hint + length <= TASK_SIZE and self.vmas.is_free(hint, hint + length):
                return hint
        addr = self.vmas.find_free(length, MMAP_BASE)
        if addr is None:
            raise OutOfMemory(f"no free range of {length} bytes")
        return addr

    def set_brk(self, new: int) -> int:
        """brk(2): grow or shrink the heap after the program's BSS; returns the break."""
        if new < self.brk_start:
            return self.brk
        old_top, new_top = page_up(self.brk), page_up(new)
        try:
            if new_top > old_top:
                if not self.vmas.is_free(old_top, new_top):
                    return self.brk
                self.map(old_top, new_top - old_top, PROT_READ | PROT_WRITE, "[heap]")
            elif new_top < old_top:
                self.unmap(new_top, old_top - new_top)
        except (OutOfMemory, MemoryLimitReached):
            return self.brk
        self.brk = new
        return self.brk

    def mapped_pages(self, start: int, length: int) -> bool:
        return self.vmas.covered(start, start + page_up(length))

    # -- guest memory access for the syscall layer (syscalls.abi.GuestMemory) --

    def read(self, addr: int, size: int) -> bytes:
        if size <= 0:
            return b""
        if not self.vmas.covered(addr, addr + size, PROT_READ):
            raise BadAddress(addr)
        data = self._read(addr, size)
        if data is None:
            raise BadAddress(addr)
        return data

    def _unicorn_read(self, addr: int, size: int) -> bytes | None:
        try:
            return bytes(self.uc.mem_read(addr, size))
        except UcError:
            return None

    def detach(self) -> None:
        """The engine is going away: every later read fails as unmapped memory would."""
        self._read = lambda addr, size: None

    def peek(self, addr: int, size: int) -> bytes | None:
        """``read`` for observers (probes, reports): None where the guest could not read, since
        what they look at may be garbage once something went wrong."""
        try:
            return self.read(addr, size)
        except (BadAddress, OverflowError, ValueError):
            return None

    def peek_u64(self, addr: int) -> int | None:
        """A little-endian word, or None where ``peek`` finds nothing."""
        raw = self.peek(addr, 8)
        return int.from_bytes(raw, "little") if raw is not None else None

    def write(self, addr: int, data: bytes) -> None:
        if not data:
            return
        if not self.vmas.covered(addr, addr + len(data), PROT_WRITE):
            raise BadAddress(addr)
        self.uc.mem_write(addr, data)

    def read_cstring(self, addr: int, limit: int = 4096) -> bytes:
        out = bytearray()
        while len(out) < limit:
            vma = self.vmas.find(addr + len(out))
            if vma is None or not vma.prot & PROT_READ:
                raise BadAddress(addr + len(out))
            take = min(vma.end - (addr + len(out)), limit - len(out), 256)
            piece = self._read(addr + len(out), take)
            if piece is None:
                raise BadAddress(addr + len(out))
            nul = piece.find(0)
            if nul >= 0:
                out += piece[:nul]
                return bytes(out)
            out += piece
        return bytes(out)

    def poke(self, addr: int, data: bytes) -> None:
        """Write regardless of protection: the loader filling read-only segments."""
        self.uc.mem_write(addr, data)

    # -- internals -----------------------------------------------------------

    def _committed_in(self, start: int, end: int) -> int:
        return sum(min(v.end, end) - max(v.start, start) for v in self.vmas.overlapping(start, end) if v.prot)

    def _release(self, start: int, end: int) -> None:
        """Drop [start, end) from the map, leaving its bytes zero for whoever maps it next."""
        self.committed -= self._committed_in(start, end)
        had_access = any(v.prot for v in self.vmas.overlapping(start, end))
        self.vmas.carve(start, end)
        if had_access:
            self._zero(start, end)

    def _zero(self, start: int, end: int) -> None:
        for chunk in range(start & ~(CHUNK - 1), end, CHUNK):
            region = self._regions.get(chunk)
            if region is None:
                continue
            lo, hi = max(start, chunk), min(end, chunk + CHUNK)
            self.uc.mem_write(lo, _ZEROES[: hi - lo])

    def _sync(self, start: int, end: int) -> None:
        """Bring unicorn's regions over [start, end) in line with the VMA map."""
        first = start & ~(CHUNK - 1)
        missing: list[int] = []
        for chunk in range(first, end, CHUNK):
            region = self._regions.get(chunk)
            if region is None:
                if self._chunk_prot(chunk, chunk + CHUNK):
                    missing.append(chunk)
                continue
            self._refresh(region)
        self._create(missing)

    def _chunk_prot(self, start: int, end: int) -> int:
        prot = 0
        for vma in self.vmas.overlapping(start, end):
            prot |= vma.prot
        return prot

    def _refresh(self, region: Region) -> None:
        if self.vmas.is_free(region.start, region.end):
            self.uc.mem_unmap(region.start, region.end - region.start)
            for chunk in range(region.start, region.end, CHUNK):
                del self._regions[chunk]
            return
        uc_prot = _uc_prot(self._chunk_prot(region.start, region.end))
        if uc_prot != region.uc_prot:
            self.uc.mem_protect(region.start, region.end - region.start, uc_prot)
            region.uc_prot = uc_prot

    def _create(self, chunks: list[int]) -> None:
        """Map runs of consecutive missing chunks as one region each."""
        runs: list[list[int]] = []
        for chunk in chunks:
            if runs and runs[-1][-1] + CHUNK == chunk:
                runs[-1].append(chunk)
            else:
                runs.append([chunk])
        for run in runs:
            start, end = run[0], run[-1] + CHUNK
            uc_prot = _uc_prot(self._chunk_prot(start, end))
            try:
                self.uc.mem_map(start, end - start, uc_prot)
            except UcError as e:
                raise OutOfMemory(f"host refused {end - start} bytes at {start:#x}: {e}") from e
            region = Region(start, end, uc_prot)
            for chunk in run:
                self._regions[chunk] = region

    @property
    def region_count(self) -> int:
        return len({id(r) for r in self._regions.values()})
