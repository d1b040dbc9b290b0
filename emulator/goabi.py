"""The Go runtime's struct layouts per toolchain (amd64): where to read runtime.g, runtime.m and friends.

Everything that reads the runtime's memory takes its offsets from here: the
crash report's goroutine (``emulator.backtrace``), the Go runtime events
(``emulator.goruntime``), explain's snapshot of ``runtime.allgs``
(``emulator.facts``) and type names (``emulator.disasm``). Offsets move
between releases (g gained ``syscallbp`` in 1.23, gobuf lost ``ret`` in 1.25,
g grew again in 1.26), so each one was read from the DWARF of the pinned
toolchain's hello fixture; tests/test_goabi.py reads that DWARF again and
compares every offset and constant held here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Layout:
    """Byte offsets (amd64) of the runtime fields we read, for one Go minor version."""

    g_atomicstatus: int
    g_goid: int
    g_waitreason: int
    g_parent_goid: int
    g_startpc: int
    m_id: int
    g_stack_lo: int = 0  # g.stack (lo, hi) is g's first field in every version
    g_stack_hi: int = 8
    init_task_nfns: int = 4  # runtime.initTask{state uint32; nfns uint32} then nfns function pointers
    init_task_fns: int = 8
    type_tflag: int = 20  # internal/abi.Type
    type_kind: int = 23
    type_str: int = 40


# Where each Layout field is in the DWARF: (struct, member) steps whose offsets add up; a member of
# None is the struct's size (what follows it in memory).
DWARF_FIELDS: dict[str, tuple[tuple[str, str | None], ...]] = {
    "g_atomicstatus": (("runtime.g", "atomicstatus"),),
    "g_goid": (("runtime.g", "goid"),),
    "g_waitreason": (("runtime.g", "waitreason"),),
    "g_parent_goid": (("runtime.g", "parentGoid"),),
    "g_startpc": (("runtime.g", "startpc"),),
    "m_id": (("runtime.m", "id"),),
    "g_stack_lo": (("runtime.g", "stack"), ("runtime.stack", "lo")),
    "g_stack_hi": (("runtime.g", "stack"), ("runtime.stack", "hi")),
    "init_task_nfns": (("runtime.initTask", "nfns"),),
    "init_task_fns": (("runtime.initTask", None),),
    "type_tflag": (("internal/abi.Type", "TFlag"),),
    "type_kind": (("internal/abi.Type", "Kind_"),),
    "type_str": (("internal/abi.Type", "Str"),),
}

LAYOUTS: dict[tuple[int, int], Layout] = {
    # g.atomicstatus, g.goid, g.waitreason, g.parentGoid, g.startpc, m.id
    (1, 21): Layout(144, 152, 176, 272, 296, 232),
    (1, 22): Layout(144, 152, 176, 272, 296, 232),
    (1, 23): Layout(152, 160, 184, 280, 304, 232),
    (1, 24): Layout(152, 160, 184, 280, 304, 232),
    (1, 25): Layout(144, 152, 176, 272, 296, 224),
    (1, 26): Layout(144, 152, 176, 280, 304, 232),
    (1, 27): Layout(144, 152, 176, 280, 304, 232),
}

# The runtime's constants we decode with, by their DWARF names (the same in 1.21-1.27).
CONSTANTS: dict[str, int] = {
    "runtime._Gidle": 0,
    "runtime._Grunnable": 1,
    "runtime._Grunning": 2,
    "runtime._Gsyscall": 3,
    "runtime._Gwaiting": 4,
    "runtime._Gdead": 6,
    "runtime._Gcopystack": 8,
    "runtime._Gpreempted": 9,
    "runtime._Gscan": 0x1000,
    "runtime.gcTriggerHeap": 0,
    "runtime.gcTriggerTime": 1,
    "runtime.gcTriggerCycle": 2,
    "internal/abi.String": 24,
}
# g.atomicstatus -> the word a goroutine dump prints; _Gscan is or-ed in while the GC scans a stack.
G_STATUS = {
    CONSTANTS[f"runtime._G{name}"]: name
    for name in ("idle", "runnable", "running", "syscall", "waiting", "dead", "copystack", "preempted")
}
G_SCAN = CONSTANTS["runtime._Gscan"]
# gcStart's trigger.kind -> what asked for the cycle.
GC_TRIGGERS = {CONSTANTS[f"runtime.gcTrigger{name.title()}"]: name for name in ("heap", "time", "cycle")}
KIND_STRING = CONSTANTS["internal/abi.String"]
KIND_MASK = 0x1F  # abi.KindMask until 1.25; later Kind_ holds the kind alone, which the mask keeps
TFLAG_EXTRA_STAR = 1 << 1  # abi.TFlagExtraStar: the name is stored with a "*" prefix to drop
TLS_G = -8  # linux/amd64 keeps the current g at -8(FS) (runtime.tlsg); ABIInternal code has it in R14


def go_minor(go_version: str | None) -> tuple[int, int] | None:
    """``go1.27.3`` (the build info's version) or ``1.27.3`` -> (1, 27)."""
    found = re.match(r"(?:go)?(\d+)\.(\d+)", go_version or "")
    return (int(found[1]), int(found[2])) if found else None


def layout_for(go_version: str | None) -> Layout | None:
    """The layout of the toolchain that built a binary (``Image.go_version``); None if not one we know."""
    minor = go_minor(go_version)
    return LAYOUTS.get(minor) if minor is not None else None


def type_name(read, types_base: int | None, addr: int) -> str | None:
    """The name of the Go type whose descriptor (abi.Type) is at ``addr``, if it looks like one.

    ``read(addr, size) -> bytes | None`` reads the binary or the guest; names are at ``Str``, an
    offset from ``types_base`` (runtime.types) to a length-prefixed string.
    """
    if types_base is None or addr < types_base:
        return None
    layout = LAYOUTS[max(LAYOUTS)]  # abi.Type is the same in every version we know
    raw = read(addr, layout.type_str + 4)
    if raw is None or len(raw) < layout.type_str + 4:
        return None
    name_off = int.from_bytes(raw[layout.type_str : layout.type_str + 4], "little", signed=True)
    head = read(types_base + name_off, 3) if name_off > 0 else None
    if head is None or len(head) < 2:
        return None
    length, used = head[1], 2
    if length & 0x80:  # a varint length: names over 127 bytes
        length = (length & 0x7F) | (head[2] << 7)
        used = 3
    text = read(types_base + name_off + used, length)
    if text is None or not text.isascii() or not text.decode().isprintable():
        return None
    name = text.decode()
    return name[1:] if raw[layout.type_tflag] & TFLAG_EXTRA_STAR and name.startswith("*") else name
