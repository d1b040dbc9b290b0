"""Go's pclntab function table: function names and entry addresses without .symtab.

``go build -ldflags='-s -w'`` drops .symtab but the runtime itself needs the
pclntab (for tracebacks and the GC), so it is always there. Its header
(runtime.pcHeader) starts with a magic number that identifies the layout:

    0xfffffffb  Go 1.2-1.15   functab of (uintptr entry, uintptr funcoff)
    0xfffffffa  Go 1.16-1.17  same, with offsets to sub-tables in the header
    0xfffffff0  Go 1.18-1.19  functab of (uint32 entryoff, uint32 funcoff) from text start
    0xfffffff1  Go 1.20+      as 1.18; textStart is 0 in recent ones (1.27; 1.21-1.24 still set it)

Every functab lists nfunc entries plus a final one whose PC is the end of the
last function, so each function's size is the distance to the next entry.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from loader import _pctab

GO12_MAGIC = 0xFFFFFFFB
GO116_MAGIC = 0xFFFFFFFA
GO118_MAGIC = 0xFFFFFFF0
GO120_MAGIC = 0xFFFFFFF1
MAGICS = (GO12_MAGIC, GO116_MAGIC, GO118_MAGIC, GO120_MAGIC)

# Where pcHeader.nfunc and the following pointer-sized words start.
_HEADER_WORDS_AT = 8


class PclntabError(ValueError):
    """The pclntab is malformed; callers fall back to having no symbols."""


@dataclass(frozen=True)
class PcHeader:
    """runtime.pcHeader, normalised across versions (absent fields are 0)."""

    magic: int
    min_lc: int  # instruction size quantum
    ptr_size: int
    nfunc: int
    nfiles: int
    text_start: int  # 1.18+ only; 0 when the linker did not store it
    funcname_offset: int
    functab_offset: int  # pclnOffset: functab, followed by the _func records
    cu_offset: int = 0  # cutab: per compilation unit, file numbers -> filetab offsets (1.16+)
    filetab_offset: int = 0
    pctab_offset: int = 0  # the pc-value tables (pcfile, pcln, pcsp) (1.16+)

    @property
    def entries_relative_to_text(self) -> bool:
        """Since Go 1.18 functab PCs are 32-bit offsets from runtime.text."""
        return self.magic in (GO118_MAGIC, GO120_MAGIC)

    @property
    def field_size(self) -> int:
        """Size of one functab field (and of _func's entry field)."""
        return 4 if self.entries_relative_to_text else self.ptr_size


@dataclass(frozen=True)
class Func:
    """One function: name as the Go runtime prints it, and [entry, end)."""

    name: str
    entry: int
    end: int


def has_magic(blob: bytes, offset: int = 0) -> bool:
    """Whether a plausible pcHeader (magic, zero pads, quantum, ptr size) starts at ``offset``."""
    if offset + 8 > len(blob):
        return False
    magic, pad1, pad2, min_lc, ptr_size = struct.unpack_from("<IBBBB", blob, offset)
    return magic in MAGICS and pad1 == pad2 == 0 and min_lc in (1, 2, 4) and ptr_size in (4, 8)


def parse_header(blob: bytes) -> PcHeader:
    """Decode the pcHeader at the start of ``blob``."""
    if not has_magic(blob):
        raise PclntabError("no pclntab header")
    magic, min_lc, ptr_size = struct.unpack_from("<I2xBB", blob)
    words = _words(blob, ptr_size, 8)
    if magic == GO12_MAGIC:
        return PcHeader(magic, min_lc, ptr_size, words[0], 0, 0, 0, _HEADER_WORDS_AT + ptr_size)
    if magic == GO116_MAGIC:
        nfunc, nfiles, funcname, cu, file, pc, pcln = words[:7]
        return PcHeader(magic, min_lc, ptr_size, nfunc, nfiles, 0, funcname, pcln, cu, file, pc)
    nfunc, nfiles, text_start, funcname, cu, file, pc, pcln = words
    return PcHeader(magic, min_lc, ptr_size, nfunc, nfiles, text_start, funcname, pcln, cu, file, pc)


def _words(blob: bytes, ptr_size: int, count: int) -> tuple[int, ...]:
    """The pointer-sized header words after the 8-byte prefix."""
    fmt = "<" + ("Q" if ptr_size == 8 else "I") * count
    if _HEADER_WORDS_AT + struct.calcsize(fmt) > len(blob):
        raise PclntabError("pclntab header truncated")
    return struct.unpack_from(fmt, blob, _HEADER_WORDS_AT)


def functions(blob: bytes, text_start: int = 0) -> list[Func]:
    """Every function in the pclntab ``blob``, in address order.

    ``text_start`` is runtime.text, needed for Go 1.18+ tables whose header does
    not record it; the header's value wins when present.
    """
    header = parse_header(blob)
    base = (header.text_start or text_start) if header.entries_relative_to_text else 0
    if header.entries_relative_to_text and base == 0:
        raise PclntabError("Go 1.18+ pclntab and no text start address")
    pcs, funcoffs = _functab(blob, header)
    funcdata = 0 if header.magic == GO12_MAGIC else header.functab_offset
    funcs = []
    for i in range(header.nfunc):
        name = _func_name(blob, header, funcdata + funcoffs[i])
        funcs.append(Func(name, base + pcs[i], base + pcs[i + 1]))
    return funcs


def _functab(blob: bytes, header: PcHeader) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The functab's PCs (nfunc + 1 of them) and _func offsets, checked for sanity."""
    field = header.field_size
    count = header.nfunc + 1
    start, size = header.functab_offset, 2 * field * count
    if header.nfunc <= 0 or start + size > len(blob):
        raise PclntabError(f"functab of {header.nfunc} functions does not fit")
    values = struct.unpack_from("<" + ("I" if field == 4 else "Q") * (2 * count), blob, start)
    pcs, funcoffs = values[0::2], values[1::2]
    if any(a > b for a, b in itertools.pairwise(pcs)):
        raise PclntabError("functab PCs are not sorted")
    return pcs, funcoffs


def _func_name(blob: bytes, header: PcHeader, func_at: int) -> str:
    """Name of the _func record at ``func_at`` (its nameOff follows the entry field)."""
    name_field = func_at + header.field_size
    if name_field + 4 > len(blob):
        raise PclntabError(f"_func record at {func_at:#x} lies outside the pclntab")
    (name_off,) = struct.unpack_from("<i", blob, name_field)
    return name_at(blob, header, name_off)


def name_at(blob: bytes, header: PcHeader, name_off: int) -> str:
    """The function name at ``name_off`` in funcnametab (inline trees refer to names this way)."""
    start = header.funcname_offset + name_off
    end = blob.find(b"\0", start) if 0 <= start < len(blob) else -1
    if end < 0:
        raise PclntabError(f"function name offset {name_off:#x} lies outside the pclntab")
    return blob[start:end].decode("utf-8", "replace")


def find_candidates(regions: Iterable[tuple[int, bytes]], limit: int = 64) -> Iterator[tuple[int, bytes]]:
    """(address, bytes to the end of the region) of each plausible pcHeader in ``regions``.

    Used when section headers are gone: the magic is searched for at 8-byte
    aligned addresses (the linker aligns the table) in the given regions.
    """
    seen = 0
    for vaddr, blob in regions:
        for magic in MAGICS:
            needle = struct.pack("<I", magic) + b"\0\0"
            pos = blob.find(needle)
            while pos >= 0 and seen < limit:
                if (vaddr + pos) % 8 == 0 and has_magic(blob, pos):
                    seen += 1
                    yield vaddr + pos, blob[pos:]
                pos = blob.find(needle, pos + 1)


# runtime._func (Go 1.18+): entryOff, nameOff, args, deferreturn, pcsp, pcfile, pcln, npcdata,
# cuOffset, startLine (Go 1.20+ only), then funcID, flag, a pad byte and nfuncdata; then npcdata
# uint32 offsets into the pctab and nfuncdata uint32 offsets from moduledata.gofunc.
_FUNC_118 = struct.Struct("<IiiIIIIII")
_START_LINE = struct.Struct("<i")
_FUNC_TAIL = struct.Struct("<BBxB")
_NO_FILE = 0xFFFFFFFF
NO_FUNCDATA = 0xFFFFFFFF


@dataclass(frozen=True)
class FuncRecord:
    """A function's _func record: name, [entry, end) and where its tables are.

    The pc-value tables (pcsp, pcfile, pcln, pcdata) are offsets into the
    pctab, 0 for none; funcdata are offsets from moduledata.gofunc.
    """

    name: str
    entry: int
    end: int
    pcsp: int
    pcfile: int
    pcln: int
    cu_offset: int  # index of its compilation unit's first entry in the cutab
    start_line: int  # line of the func keyword (Go 1.20+; 0 before)
    pcdata: tuple[int, ...] = ()
    funcdata: tuple[int, ...] = ()


def func_records(blob: bytes, text_start: int = 0, names: bool = True) -> list[FuncRecord]:
    """Every function's _func record, in address order (Go 1.18+ tables only); without ``names``
    the records' names are left empty (a fifth of the cost, for readers that need only tables).

    Older layouts store absolute entry PCs and differ in _func; no toolchain we
    pin produces them, so they are refused rather than misread.
    """
    header = parse_header(blob)
    if not header.entries_relative_to_text:
        raise PclntabError("function records are read from Go 1.18+ pclntabs only")
    base = header.text_start or text_start
    if base == 0:
        raise PclntabError("Go 1.18+ pclntab and no text start address")
    with_start_line = header.magic == GO120_MAGIC
    fixed = _FUNC_118.size + (_START_LINE.size if with_start_line else 0) + _FUNC_TAIL.size
    pcs, funcoffs = _functab(blob, header)
    records = []
    for i in range(header.nfunc):
        at = header.functab_offset + funcoffs[i]
        if at + fixed > len(blob):
            raise PclntabError(f"_func record at {at:#x} lies outside the pclntab")
        _entry, _name, _args, _defer, pcsp, pcfile, pcln, npcdata, cu = _FUNC_118.unpack_from(blob, at)
        start_line = _START_LINE.unpack_from(blob, at + _FUNC_118.size)[0] if with_start_line else 0
        _funcid, _flag, nfuncdata = _FUNC_TAIL.unpack_from(blob, at + fixed - _FUNC_TAIL.size)
        if at + fixed + 4 * (npcdata + nfuncdata) > len(blob):
            raise PclntabError(f"_func record at {at:#x} lies outside the pclntab")
        tables = struct.unpack_from(f"<{npcdata + nfuncdata}I", blob, at + fixed)
        name, entry, end = _func_name(blob, header, at) if names else "", base + pcs[i], base + pcs[i + 1]
        pcdata, funcdata = tables[:npcdata], tables[npcdata:]
        records.append(FuncRecord(name, entry, end, pcsp, pcfile, pcln, cu, start_line, pcdata, funcdata))
    return records


def pc_values(blob: bytes, header: PcHeader, table: int, entry: int) -> Iterator[tuple[int, int, int]]:
    """(start, end, value) runs of one pc-value table, as runtime.step decodes it (see pc_table)."""
    ends, values = pc_table(blob, header, table, entry)
    start = entry
    for end, value in zip(ends, values, strict=True):
        yield start, end, value
        start = end


def pc_table(blob: bytes, header: PcHeader, table: int, entry: int) -> tuple[list[int], list[int]]:
    """One pc-value table decoded whole: the end pc of each run and its value (bisect the ends).

    Each step is a zig-zag varint value delta then a varint pc delta (in units
    of the instruction quantum); the value starts at -1 and a zero byte after
    the first step ends the table. Decoded natively (``loader/_pctab.c``): the
    call path decodes tables while the guest runs.
    """
    if table == 0:
        return [], []
    try:
        return _pctab.table(blob, header.pctab_offset + table, entry, header.min_lc)
    except ValueError as e:
        raise PclntabError(str(e)) from None


def pc_value(blob: bytes, header: PcHeader, table: int, entry: int, target: int) -> int | None:
    """The value of one pc-value table at ``target`` (decoding stops there), None past its end."""
    try:
        return _pctab.value(blob, header.pctab_offset + table, entry, header.min_lc, target)
    except ValueError as e:
        raise PclntabError(str(e)) from None


def file_name(blob: bytes, header: PcHeader, cu_offset: int, fileno: int) -> str | None:
    """The file a pcfile value names: cutab[cu_offset + fileno] is its offset in the filetab."""
    at = header.cu_offset + 4 * (cu_offset + fileno)
    if fileno < 0 or at + 4 > len(blob):
        return None
    (offset,) = struct.unpack_from("<I", blob, at)
    if offset == _NO_FILE:
        return None
    start = header.filetab_offset + offset
    end = blob.find(b"\0", start)
    return blob[start:end].decode("utf-8", "replace") if end >= 0 else None
