"""pc -> source file:line, from the pclntab's pcfile and pcln tables.

The Go runtime keeps these tables for its own tracebacks, so they survive
``-ldflags='-s -w'``: stripped binaries map addresses to lines as well as
unstripped ones (DWARF's .debug_line is not needed). Inlined code maps to the
innermost frame, as ``go tool addr2line`` and panics print it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from loader import pclntab
from loader.elffile import ElfFile


@dataclass(frozen=True)
class SourceLine:
    file: str
    line: int
    function: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class LineRun:
    """[start, end) of one function's code that comes from one file:line."""

    start: int
    end: int
    file: str
    line: int


class LineTable:
    """The line tables of one binary; functions are decoded lazily, once each."""

    def __init__(self, blob: bytes, text_start: int) -> None:
        self._blob = blob
        self._header = pclntab.parse_header(blob)
        self.functions = pclntab.func_records(blob, text_start)
        self._entries = [f.entry for f in self.functions]
        self._runs: dict[pclntab.FuncRecord, list[LineRun]] = {}

    @classmethod
    def from_elf(cls, elf: ElfFile) -> LineTable | None:
        """The binary's line table, or None when it has no readable Go 1.18+ pclntab."""
        found = elf.pclntab
        if found is None:
            return None
        try:
            return cls(found.blob, found.text)
        except pclntab.PclntabError:
            return None

    def function_at(self, pc: int) -> pclntab.FuncRecord | None:
        i = bisect.bisect_right(self._entries, pc) - 1
        if i < 0 or pc >= self.functions[i].end:
            return None
        return self.functions[i]

    def lookup(self, pc: int) -> SourceLine | None:
        """The file:line the instruction at ``pc`` was compiled from."""
        func = self.function_at(pc)
        if func is None:
            return None
        for run in self.runs(func):
            if run.start <= pc < run.end:
                return SourceLine(run.file, run.line, func.name)
        return None

    def runs(self, func: pclntab.FuncRecord) -> list[LineRun]:
        """The function's code split where its file or line changes, in address order."""
        cached = self._runs.get(func)
        if cached is not None:
            return cached
        header, blob = self._header, self._blob
        try:
            files = list(pclntab.pc_values(blob, header, func.pcfile, func.entry))
            lines = list(pclntab.pc_values(blob, header, func.pcln, func.entry))
        except pclntab.PclntabError:  # a damaged table costs this function its lines, nothing more
            files, lines = [], []
        names: dict[int, str] = {}
        runs: list[LineRun] = []
        fi = 0
        for start, end, line in lines:
            pos = start
            while pos < end and fi < len(files):
                _start, f_end, fileno = files[fi]
                if f_end <= pos:
                    fi += 1
                    continue
                stop = min(end, f_end)
                if fileno not in names:
                    names[fileno] = pclntab.file_name(blob, header, func.cu_offset, fileno) or "?"
                file = names[fileno]
                if runs and runs[-1].end == pos and runs[-1].file == file and runs[-1].line == line:
                    runs[-1] = LineRun(runs[-1].start, stop, file, line)
                else:
                    runs.append(LineRun(pos, stop, file, line))
                pos = stop
        self._runs[func] = runs
        return runs
