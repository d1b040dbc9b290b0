"""Find runtime.firstmoduledata to learn where Go's text starts.

Go 1.18+ pclntabs store function PCs as offsets from runtime.text, and newer
linkers (Go 1.27; 1.21-1.24 still do) no longer write that address into the pclntab header. The runtime
takes it from moduledata.text instead, and so do we: moduledata begins with a
pointer to the pcHeader, which lets us find it by scanning the data segments.

Layout shared by Go 1.16 through 1.27 (amd64, 8-byte words)::

    word  0     pcHeader *pcHeader
    words 1-18  funcnametab, cutab, filetab, pctab, pclntable, ftab (slices)
    word  19    findfunctab
    words 20-21 minpc, maxpc
    word  22    text
    word  37    types (after etext, the data/bss bounds, covctrs, end, gcdata, gcbss; Go 1.20+)
    word  40    gofunc (go:func.*, where funcdata lives), 1.21-1.26
    word  43    gofunc in 1.27, which added typedesclen, itaboffset and itabsize before rodata
"""

from __future__ import annotations

from loader.pclntab import PcHeader
from loader.segmap import SegmentMap

WORD = 8
PCHEADER = 0
FUNCNAMETAB = 1
PCLNTABLE = 13
FTAB = 16
MINPC = 20
TEXT = 22
TYPES = 37
GOFUNC, GOFUNC_127 = 40, 43


def text_start(segmap: SegmentMap, pclntab_addr: int, header: PcHeader) -> int | None:
    """moduledata.text of the module whose pcHeader is at ``pclntab_addr``, if found."""
    words = find(segmap, pclntab_addr, header, TEXT + 1)
    return None if words is None else words[TEXT]


def types_start(segmap: SegmentMap, pclntab_addr: int, header: PcHeader) -> int | None:
    """moduledata.types: where the type descriptors' name offsets count from (Go 1.20+)."""
    words = find(segmap, pclntab_addr, header, TYPES + 1)
    return words[TYPES] if words is not None and words[TYPES] else None


def gofunc(segmap: SegmentMap, pclntab_addr: int, header: PcHeader) -> int | None:
    """moduledata.gofunc, the base of funcdata offsets (inline trees live there), if found.

    Go 1.27 put typedesclen (a length, so smaller than the types address before it) where
    older moduledata has etypes; that tells the two layouts apart without a version.
    """
    words = find(segmap, pclntab_addr, header, GOFUNC_127 + 1)
    if words is None:
        return None
    return words[GOFUNC_127] if words[TYPES + 1] < words[TYPES] else words[GOFUNC]


def find(segmap: SegmentMap, pclntab_addr: int, header: PcHeader, count: int) -> list[int] | None:
    """The first ``count`` words of the moduledata whose pcHeader is at ``pclntab_addr``."""
    needle = pclntab_addr.to_bytes(WORD, "little")
    for addr in segmap.find_all(needle, align=WORD, writable=True):
        words = _words(segmap, addr, max(count, TEXT + 1))
        if words is not None and _is_moduledata(words, pclntab_addr, header):
            return words
    return None


def _words(segmap: SegmentMap, addr: int, count: int) -> list[int] | None:
    raw = segmap.read(addr, count * WORD)
    if raw is None:
        return None
    return [int.from_bytes(raw[i : i + WORD], "little") for i in range(0, len(raw), WORD)]


def _is_moduledata(words: list[int], pclntab_addr: int, header: PcHeader) -> bool:
    """Whether the slices point where the pcHeader says its sub-tables are."""
    return (
        words[PCHEADER] == pclntab_addr
        and words[FUNCNAMETAB] == pclntab_addr + header.funcname_offset
        and words[PCLNTABLE] == pclntab_addr + header.functab_offset
        and words[FTAB] == pclntab_addr + header.functab_offset
        and words[TEXT] != 0
        and words[MINPC] >= words[TEXT]
    )
