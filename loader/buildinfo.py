"""The Go version a binary was built with, from its build info blob.

The linker writes a 32-byte header starting with ``"\\xff Go buildinf:"`` into
``.go.buildinfo`` (the start of the writable data). Since Go 1.18 (flag bit
0x2) the version string follows inline, prefixed by its uvarint length; before
that the header holds pointers to Go string headers (data pointer, length).
"""

from __future__ import annotations

from loader.sections import SectionHeader, find_section, section_bytes
from loader.segmap import SegmentMap

MAGIC = b"\xff Go buildinf:"
HEADER_SIZE = 32
ALIGN = 16
_PTR_SIZE_AT = 14
_FLAGS_AT = 15
FLAG_BIG_ENDIAN = 0x1
FLAG_VERSION_INLINE = 0x2
_MAX_VERSION_LEN = 256


def go_version(data: bytes, sections: tuple[SectionHeader, ...], segmap: SegmentMap) -> str | None:
    """E.g. "go1.27.3", or None if this is not a Go binary (or the blob is damaged)."""
    section = find_section(sections, ".go.buildinfo")
    if section is not None:
        blob = section_bytes(data, section)
        if blob.startswith(MAGIC):
            return _decode(blob, segmap)
    for addr in segmap.find_all(MAGIC, align=ALIGN):
        blob = segmap.read_prefix(addr, HEADER_SIZE + 10 + _MAX_VERSION_LEN)
        if blob is not None:
            return _decode(blob, segmap)
    return None


def _decode(blob: bytes, segmap: SegmentMap) -> str | None:
    if len(blob) < HEADER_SIZE:
        return None
    flags = blob[_FLAGS_AT]
    if flags & FLAG_VERSION_INLINE:
        text = _uvarint_string(blob, HEADER_SIZE)
    else:
        text = _pointed_string(blob, segmap)
    return text if text and text.startswith("go") else None


def _uvarint_string(blob: bytes, offset: int) -> str | None:
    """A string prefixed by its length as an unsigned LEB128 varint."""
    length, shift = 0, 0
    while offset < len(blob) and shift < 64:
        byte = blob[offset]
        offset += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    if length > _MAX_VERSION_LEN or offset + length > len(blob):
        return None
    return blob[offset : offset + length].decode("utf-8", "replace")


def _pointed_string(blob: bytes, segmap: SegmentMap) -> str | None:
    """Pre-1.18: header word 16 points at a Go string header {data *byte, len int}."""
    ptr_size = blob[_PTR_SIZE_AT]
    if ptr_size not in (4, 8):
        return None
    order = "big" if blob[_FLAGS_AT] & FLAG_BIG_ENDIAN else "little"
    string_header = segmap.read(int.from_bytes(blob[16 : 16 + ptr_size], order), 2 * ptr_size)
    if string_header is None:
        return None
    data_ptr = int.from_bytes(string_header[:ptr_size], order)
    length = int.from_bytes(string_header[ptr_size:], order)
    if length > _MAX_VERSION_LEN:
        return None
    raw = segmap.read(data_ptr, length)
    return None if raw is None else raw.decode("utf-8", "replace")
