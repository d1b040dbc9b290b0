"""Recording a syscall now and decoding it later.

A recorded run shows every syscall with its arguments decoded, but decoding them while the guest
waits costs more than running most syscalls: the Python it touches is cold again after each
stretch of guest code. So the machine keeps only what decoding needs from that moment, the
registers, the result and the bytes of guest memory the argument kinds will read (each kind
declares them: ``Kind.span``), and the event decodes when a sink first asks, usually after the
run. A kind that cannot say in advance what it reads (strings, arrays of pointers) is decoded at
once, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .abi import BadAddress, GuestMemory
from .kinds import _M64, Call, Kind
from .table import Syscall, decode_args, decode_ret


class MemorySnapshot:
    """The guest memory one half of a syscall's decoding reads: exactly the (address, size) spans
    its kinds declared, as they were when captured. A read of anything else is a kind whose
    ``span`` disagrees with its ``fetch``: a bug, so it raises instead of passing for unmapped."""

    __slots__ = ("_spans",)

    def __init__(self, spans: dict[tuple[int, int], bytes | None]) -> None:
        self._spans = spans

    def read(self, addr: int, size: int) -> bytes:
        if size <= 0:
            return b""
        try:
            data = self._spans[addr, size]
        except KeyError:
            raise LookupError(f"decoding read {size} bytes at {addr:#x}: no kind's span kept them") from None
        if data is None:
            raise BadAddress(addr)
        return data

    def read_cstring(self, addr: int, limit: int = 4096) -> bytes:
        raise LookupError(f"decoding read a string at {addr:#x}: a kind with a span reads no strings")

    def write(self, addr: int, data: bytes) -> None:
        raise TypeError("a memory snapshot is read-only")


# A syscall's entry half: nothing (registers say it all), the memory it reads, or decoded values.
Entry = MemorySnapshot | tuple[object, ...] | None
EMPTY = MemorySnapshot({})  # nothing to keep: every argument that might be read was NULL


def capture(
    pairs: Sequence[tuple[int, Kind]], args: tuple[int, ...], ret: int | None, mem: GuestMemory
) -> MemorySnapshot | None:
    """What decoding the arguments ``pairs`` (register, kind) of the call with registers ``args``
    (all six) and result ``ret`` will read from ``mem``, or None if one of their kinds cannot say
    (decode now instead)."""
    call = None
    spans: dict[tuple[int, int], bytes | None] | None = None
    for reg, kind in pairs:
        value = args[reg] & _M64
        if not value:
            continue
        size = kind.fixed_span
        if size is None:
            if call is None:
                call = Call(args, ret)
            size = kind.span(value, call)
            if size is None:
                return None
        if size > 0:
            if spans is None:
                spans = {}
            try:
                spans[value, size] = mem.read(value, size)
            except BadAddress:
                spans[value, size] = None
    return EMPTY if spans is None else MemorySnapshot(spans)


def capture_entry(sc: Syscall, args: tuple[int, ...], mem: GuestMemory) -> Entry:
    """The entry half of a call with registers ``args``, before the kernel runs: None when the
    in-arguments that may read memory are all NULL (the registers say it all), else the memory
    they read, else (a kind without a span) the arguments decoded now."""
    for reg, _kind in sc.entry_memory:
        if args[reg]:
            snapshot = capture(sc.entry_memory, args, None, mem)
            if snapshot is not None:
                return snapshot
            return tuple(decode_args(sc, Call(args), mem, out=False))
    return None


@dataclass(slots=True)
class Recorded:
    """A finished syscall whose decoding waits: its registers, its result (masked to 64 bits),
    its entry half (see ``capture_entry``) and the memory of its exit half (live until ``keep``)."""

    sc: Syscall
    args: tuple[int, ...]
    ret: int | None
    entry: Entry
    exit: GuestMemory

    def keep(self) -> bool:
        """Capture the exit half's memory so that ``decode`` may run later; False when that
        cannot wait (call ``decode`` now)."""
        if type(self.entry) is tuple:
            return False
        pairs = self.sc.exit_memory
        snapshot = capture(pairs, self.args, self.ret, self.exit) if pairs else EMPTY
        if snapshot is None:
            return False
        self.exit = snapshot
        return True

    def decode(self) -> tuple[tuple[object, ...], object]:
        """The decoded arguments and result, as strace shows them."""
        sc, mem, entry = self.sc, self.exit, self.entry
        done = Call(self.args, self.ret)
        if type(entry) is not tuple:  # the entry pass, from what was kept (None: it reads nothing)
            entry = tuple(decode_args(sc, Call(self.args), EMPTY if entry is None else entry, out=False))
        return tuple(decode_args(sc, done, mem, out=True, entry=entry)), decode_ret(sc, done, mem)
