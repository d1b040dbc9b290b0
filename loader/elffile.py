"""An executable read whole for inspection: the static readers' shared view of one file.

The loaded ``Image`` keeps only what is mapped; line tables, inline trees,
type names and package sizes need the section headers and the pclntab too.
Reading and locating those costs tens of milliseconds, so one ``ElfFile`` per
file (and version of it) is kept and shared by every reader.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from loader import moduledata
from loader.elf import PT_LOAD, parse_elf_header, parse_program_headers
from loader.sections import SectionHeader, find_section, parse_section_headers
from loader.segmap import SegmentMap
from loader.symbols import LocatedPclntab, locate_pclntab


@dataclass(frozen=True)
class ElfFile:
    """The file's bytes, section headers and PT_LOAD map, and what is found from them on first use."""

    data: bytes
    sections: tuple[SectionHeader, ...]
    segmap: SegmentMap

    @functools.cached_property
    def pclntab(self) -> LocatedPclntab | None:
        """The first pclntab that parses and points into executable code."""
        return locate_pclntab(self.data, self.sections, self.segmap)

    @functools.cached_property
    def types_base(self) -> int | None:
        """runtime.types, what a type descriptor's name offset counts from: moduledata.types (found
        by the pclntab, so stripped binaries too), else the .go.type section."""
        found = self.pclntab
        if found is not None:
            types = moduledata.types_start(self.segmap, found.addr, found.header)
            if types is not None:
                return types
        section = find_section(self.sections, ".go.type")
        return section.sh_addr if section is not None else None


def read_elf(path: str | os.PathLike[str]) -> ElfFile:
    """The file at ``path`` (raises LoaderError like load_image); the same object while the file
    is unchanged."""
    name = os.fspath(path)
    st = os.stat(name)
    return _read(name, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=4)
def _read(name: str, _mtime_ns: int, _size: int) -> ElfFile:
    with open(name, "rb") as f:
        data = f.read()
    ehdr = parse_elf_header(data, name)
    phdrs = parse_program_headers(data, ehdr, name)
    loads = sorted((ph for ph in phdrs if ph.p_type == PT_LOAD), key=lambda ph: ph.p_vaddr)
    return ElfFile(data, parse_section_headers(data, ehdr), SegmentMap(data, loads))
