"""Go's inline tree: which functions the compiler inlined at a pc, named from the pclntab.

A default build inlines small functions (``fmt.Println`` into ``main.main``),
so they have no symbol and are never entered. The runtime still prints them in
tracebacks, from two tables every Go 1.20+ binary keeps, stripped or not:

- ``PCDATA_InlTreeIndex`` (pcdata 2) of the host function maps a pc to an index
  into its inline tree, or -1 where the pc belongs to no inlined body;
- ``FUNCDATA_InlTree`` (funcdata 3, an offset from moduledata.gofunc) is that
  tree: 16-byte ``runtime.inlinedCall`` records (funcID, pad, nameOff, parentPc,
  startLine). ``parentPc`` (an offset from the host's entry) is a pc whose own
  index names the enclosing inlined call, up to -1 at the host itself.

The layout is the same in Go 1.21 to 1.27 (runtime/symtabinl.go).

The same records give each function's ``pcsp`` table (how far SP is below the
entry SP at each pc), which ``sp_delta`` answers: at a call site it tells where
the caller's own frame starts, which the call path uses to see returns.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass, field

from loader import moduledata, pclntab
from loader.elffile import read_elf
from loader.image import Image
from loader.segmap import SegmentMap

PCDATA_INL_TREE_INDEX = 2
FUNCDATA_INL_TREE = 3
_INLINED_CALL = struct.Struct("<B3xiii")  # funcID, pad, nameOff, parentPc, startLine


@dataclass
class _Host:
    """One real function with an inline tree, decoded on first use."""

    record: pclntab.FuncRecord
    tree_addr: int  # unbiased address of its inline tree
    ends: list[int] = field(default_factory=list)  # PCDATA_InlTreeIndex: end pc of each run
    indexes: list[int] | None = None  # and its tree index (None until first used)


class InlineTree:
    """Inlined frames by pc for one binary; empty when the tables are absent or damaged."""

    def __init__(
        self,
        blob: bytes = b"",
        header: pclntab.PcHeader | None = None,
        records: list[pclntab.FuncRecord] | None = None,
        segmap: SegmentMap | None = None,
        gofunc: int = 0,
        load_bias: int = 0,
    ) -> None:
        self._blob, self._header, self._segmap, self._bias = blob, header, segmap, load_bias
        self._entries: list[int] = []
        self._hosts: list[_Host | None] = []  # with an inline tree
        self._functions: list[_Host] = []  # every function, for its pcsp
        self._sp_cache: dict[int, int | None] = {}
        self._cache: dict[int, tuple[str, ...]] = {}
        self._has_trees: bool | None = None
        for record in records or ():
            self._entries.append(record.entry)
            has_tree = (
                len(record.pcdata) > PCDATA_INL_TREE_INDEX
                and record.pcdata[PCDATA_INL_TREE_INDEX]
                and len(record.funcdata) > FUNCDATA_INL_TREE
                and record.funcdata[FUNCDATA_INL_TREE] != pclntab.NO_FUNCDATA
            )
            tree = gofunc + record.funcdata[FUNCDATA_INL_TREE] if has_tree else 0
            self._hosts.append(_Host(record, tree) if has_tree else None)
            self._functions.append(_Host(record, tree))

    @classmethod
    def from_image(cls, image: Image) -> InlineTree:
        """Read the binary again (the Image keeps only what is mapped) and index its inline trees."""
        try:
            elf = read_elf(image.path)
            segmap = elf.segmap
            found = elf.pclntab
            if found is None or found.header.magic != pclntab.GO120_MAGIC:
                return cls()
            gofunc = moduledata.gofunc(segmap, found.addr, found.header)
            if gofunc is None:
                return cls()
            records = pclntab.func_records(found.blob, found.text, names=False)
        except (OSError, ValueError, struct.error, IndexError):
            return cls()
        return cls(found.blob, found.header, records, segmap, gofunc, image.load_bias)

    def __bool__(self) -> bool:
        return self._any

    @property
    def _any(self) -> bool:
        if self._has_trees is None:
            self._has_trees = any(h is not None for h in self._hosts)
        return self._has_trees

    def frames_at(self, pc: int) -> tuple[str, ...]:
        """Functions inlined at ``pc`` (a biased, run-time address), outermost first.

        Empty where ``pc`` is in the host function's own code. For a call site,
        pass an address inside the call instruction (the return address - 1).
        """
        cached = self._cache.get(pc)
        if cached is not None:
            return cached
        frames = self._frames(pc - self._bias)
        self._cache[pc] = frames
        return frames

    def sp_delta(self, pc: int) -> int | None:
        """Bytes SP is below its value at function entry when ``pc`` (biased) runs; None if unknown.

        Each pc is decoded once, only as far as it lies in the table (call sites are few)."""
        if pc in self._sp_cache:
            return self._sp_cache[pc]
        delta = None
        at = pc - self._bias
        i = bisect.bisect_right(self._entries, at) - 1
        if i >= 0 and self._header is not None and self._functions[i].record.pcsp:
            record = self._functions[i].record
            try:
                delta = pclntab.pc_value(self._blob, self._header, record.pcsp, record.entry, at)
            except pclntab.PclntabError:
                delta = None
        self._sp_cache[pc] = delta
        return delta

    def _frames(self, pc: int) -> tuple[str, ...]:
        i = bisect.bisect_right(self._entries, pc) - 1
        if i < 0 or self._hosts[i] is None:
            return ()
        host = self._hosts[i]
        assert host is not None and self._header is not None
        try:
            if host.indexes is None:
                table, entry = host.record.pcdata[PCDATA_INL_TREE_INDEX], host.record.entry
                host.ends, host.indexes = pclntab.pc_table(self._blob, self._header, table, entry)
            names: list[str] = []
            index = self._index_at(host, pc)
            while index >= 0 and len(names) < 64:
                name_off, parent_pc = self._call(host, index)
                names.append(pclntab.name_at(self._blob, self._header, name_off))
                index = self._index_at(host, host.record.entry + parent_pc)
        except (pclntab.PclntabError, struct.error, ValueError):
            return ()
        return tuple(reversed(names))

    @staticmethod
    def _index_at(host: _Host, pc: int) -> int:
        assert host.indexes is not None
        j = bisect.bisect_right(host.ends, pc)
        return host.indexes[j] if j < len(host.indexes) else -1

    def _call(self, host: _Host, index: int) -> tuple[int, int]:
        """(nameOff, parentPc) of inline tree entry ``index``."""
        assert self._segmap is not None
        raw = self._segmap.read(host.tree_addr + index * _INLINED_CALL.size, _INLINED_CALL.size)
        if raw is None:
            raise ValueError("inline tree entry outside the binary")
        _func_id, name_off, parent_pc, _start_line = _INLINED_CALL.unpack(raw)
        return name_off, parent_pc
