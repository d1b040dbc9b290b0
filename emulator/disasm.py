"""``python -m emulator disasm TARGET SYMBOL``: a Go function as the CPU sees it.

capstone decodes the bytes; calls and jumps are named after the functions
they reach, RIP-relative operands after the data they address (type
descriptors by their Go type name, static string headers by their text), and
every instruction is mapped to its source line through the pclntab, so this
works on stripped binaries too.
"""

from __future__ import annotations

import bisect
import difflib
import functools
import itertools
import os
import struct
from dataclasses import dataclass

import capstone
from capstone import x86_const

from emulator import goabi
from loader import SymbolTable, load_image
from loader.elffile import ElfFile, read_elf
from loader.lines import LineTable
from loader.packages import ElfSymbol, elf_symbols

_MAX_LISTED_CLOSE = 8


class UnknownFunction(LookupError):
    """No function of that name; ``close`` lists the names the user may have meant."""

    def __init__(self, name: str, close: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.close = close


class Binary:
    """A Go executable read for inspection (never run): symbols, line table, data symbols."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.image = load_image(path)
        self.elf: ElfFile = read_elf(path)

    @property
    def functions(self) -> SymbolTable:
        return self.image.symbols

    @functools.cached_property
    def lines(self) -> LineTable | None:
        return LineTable.from_elf(self.elf)

    @functools.cached_property
    def data_symbols(self) -> list[ElfSymbol]:
        return elf_symbols(self.elf)

    @functools.cached_property
    def _data_index(self) -> tuple[list[int], list[ElfSymbol]]:
        syms = [s for s in self.data_symbols if not s.is_function]
        return [s.addr for s in syms], syms

    @functools.cached_property
    def _data_by_name(self) -> dict[str, ElfSymbol]:
        by_name: dict[str, ElfSymbol] = {}
        for s in self.data_symbols:
            if not s.is_function:
                by_name.setdefault(s.name, s)  # the first, as a scan would find
        return by_name

    def data_symbol(self, name: str) -> ElfSymbol | None:
        """The data (non-function) symbol called ``name``; explain asks once per goroutine."""
        return self._data_by_name.get(name)

    def section_at(self, addr: int) -> tuple[str, int] | None:
        """(section name, offset) of an allocated section containing ``addr``."""
        for s in self.elf.sections:
            if s.sh_addr and s.sh_addr <= addr < s.sh_addr + s.sh_size:
                return s.name, addr - s.sh_addr
        return None

    def read(self, addr: int, size: int) -> bytes | None:
        return self.elf.segmap.read(addr, size)

    @functools.cached_property
    def types_base(self) -> int | None:
        """runtime.types: what a type's name offset counts from (symtab, else moduledata)."""
        sym = next((s for s in self.data_symbols if s.name == "runtime.types"), None)
        if sym is not None:
            return sym.addr
        return self.elf.types_base

    def type_name(self, addr: int) -> str | None:
        """The Go type whose descriptor (abi.Type) is at ``addr``, if it looks like one."""
        return goabi.type_name(self.read, self.types_base, addr)

    def itab_name(self, addr: int) -> str | None:
        """``go:itab.*os.File,io.Writer`` for an itab {inter, type, ...} at ``addr``."""
        raw = self.read(addr, 16)
        if raw is None or len(raw) < 16:
            return None
        inter, concrete = struct.unpack("<QQ", raw)
        inter_name, concrete_name = self.type_name(inter), self.type_name(concrete)
        if inter_name is None or concrete_name is None:
            return None
        return f"go:itab.{concrete_name},{inter_name}"

    def static_string(self, addr: int) -> str | None:
        """The text of a static string header {ptr, len} at ``addr`` whose bytes are printable."""
        raw = self.read(addr, 16)
        if raw is None or len(raw) < 16:
            return None
        ptr, length = struct.unpack("<QQ", raw)
        if not 0 < length <= 200:
            return None
        text = self.read(ptr, length)
        if text is None or len(text) != length:
            return None
        try:
            decoded = text.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return decoded if decoded.isprintable() else None

    def describe_data(self, addr: int) -> str | None:
        """A name for a data address: a sized symbol, a type, a static string, else section+offset."""
        if self.functions.lookup(addr) is not None:
            return _offset_name(*self.functions.lookup(addr))
        starts, syms = self._data_index
        i = bisect.bisect_right(starts, addr) - 1
        if i >= 0 and syms[i].size and addr < syms[i].addr + syms[i].size:
            return _offset_name(syms[i].name, addr - syms[i].addr)
        type_name = self.type_name(addr)
        if type_name is not None:
            return f"type:{type_name}"
        itab = self.itab_name(addr)
        if itab is not None:
            return itab
        text = self.static_string(addr)
        if text is not None:
            return f'string header -> "{text}"'
        same_address = (
            itertools.takewhile(lambda s: s.addr == syms[i].addr, reversed(syms[: i + 1]))
            if i >= 0 and not syms[i].size
            else ()
        )
        # go:string.*, type:*: bulk data, sharing its address with markers such as runtime.rodata
        bulk = next((s for s in same_address if s.name.endswith(".*")), None)
        if bulk is not None:
            return _offset_name(bulk.name, addr - bulk.addr)
        where = self.section_at(addr)
        return _offset_name(*where) if where is not None else None

    def find_function(self, name: str) -> tuple[str, int, int]:
        """(name, start, end) of the function called ``name`` (ABI suffix optional)."""
        sym = self.functions.sized(name)
        if sym is None:
            raise UnknownFunction(name, self.close_matches(name))
        return sym.name, sym.addr, sym.addr + sym.size

    def close_matches(self, name: str) -> list[str]:
        names = sorted({SymbolTable.display_name(s.name) for s in self.functions})
        close = difflib.get_close_matches(name, names, n=_MAX_LISTED_CLOSE, cutoff=0.6)
        tail = name.rsplit(".", 1)[-1].lower()
        for candidate in names:
            if len(close) >= _MAX_LISTED_CLOSE:
                break
            if candidate not in close and tail and candidate.rsplit(".", 1)[-1].lower() == tail:
                close.append(candidate)
        return close


def _offset_name(name: str, offset: int) -> str:
    return SymbolTable.display_name(name) + (f"+{offset:#x}" if offset else "")


@dataclass(frozen=True)
class Instruction:
    address: int
    raw: bytes
    mnemonic: str
    operands: str  # with direct branch targets replaced by symbol names
    comment: str  # what a RIP-relative operand addresses, or the g field a prologue reads
    file: str
    line: int
    data: int | None = None  # the address a RIP-relative operand refers to

    @property
    def text(self) -> str:
        return f"{self.mnemonic} {self.operands}".strip()

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}" if self.line >= 0 else "?"


@dataclass(frozen=True)
class Listing:
    function: str
    start: int
    end: int
    instructions: list[Instruction]


def disassemble(binary: Binary, name: str) -> Listing:
    """The function ``name`` (exact, ABI suffix optional), decoded and annotated."""
    func_name, start, end = binary.find_function(name)
    return disassemble_range(binary, func_name, start, end)


def disassemble_range(binary: Binary, func_name: str, start: int, end: int) -> Listing:
    """[start, end) of the function ``func_name``, decoded and annotated."""
    lines = binary.lines
    func = lines.function_at(start) if lines is not None else None
    runs = lines.runs(func) if lines is not None and func is not None else []
    if runs:  # pclntab sizes of a stripped binary include the int3 padding up to the next function
        end = min(end, runs[-1].end)
    code = binary.read(start, end - start) or b""
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    md.detail = True
    run_starts = [r.start for r in runs]
    out = []
    for insn in md.disasm(code, start):
        operands, comment, data = insn.op_str, "", None
        target = _branch_target(insn)
        if target is not None:
            named = binary.functions.lookup(target)
            if named is not None:
                operands = _offset_name(*named)
        for op in insn.operands:
            if op.type == x86_const.X86_OP_MEM and op.mem.base == x86_const.X86_REG_RIP:
                data = insn.address + insn.size + op.mem.disp
                comment = binary.describe_data(data) or ""
            elif (
                op.type == x86_const.X86_OP_MEM
                and op.mem.base == x86_const.X86_REG_R14
                and op.mem.index == 0
                and op.mem.disp == 0x10
                and insn.mnemonic == "cmp"
            ):
                comment = "g.stackguard0 (R14 holds g)"
        at = bisect.bisect_right(run_starts, insn.address) - 1
        run = runs[at] if at >= 0 and insn.address < runs[at].end else None
        out.append(
            Instruction(
                insn.address,
                bytes(insn.bytes),
                insn.mnemonic,
                operands,
                comment,
                run.file if run else "?",
                run.line if run else -1,
                data,
            )
        )
    return Listing(SymbolTable.display_name(func_name), start, end, out)


def _branch_target(insn: capstone.CsInsn) -> int | None:
    """The destination of a direct call or jump."""
    if not insn.group(capstone.CS_GRP_CALL) and not insn.group(capstone.CS_GRP_JUMP):
        return None
    if len(insn.operands) == 1 and insn.operands[0].type == x86_const.X86_OP_IMM:
        return insn.operands[0].imm
    return None


def render(listing: Listing) -> str:
    """objdump -S without the source text: a file:line header whenever the line changes."""
    lines = [
        f"TEXT {listing.function}  {listing.start:#x}-{listing.end:#x} ({listing.end - listing.start} bytes)"
    ]
    width = max((len(i.raw) for i in listing.instructions), default=1) * 2
    text_width = max((len(i.text) for i in listing.instructions), default=1)
    source = None
    for insn in listing.instructions:
        if insn.source != source:
            source = insn.source
            lines.append(f"{source}")
        row = f"  {insn.address:#x}  {insn.raw.hex():<{width}}  {insn.text:<{text_width}}"
        if insn.comment:
            row += f"  ; {insn.comment}"
        lines.append(row.rstrip())
    return "\n".join(lines) + "\n"
