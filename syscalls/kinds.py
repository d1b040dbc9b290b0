"""Argument kinds: how one syscall argument is decoded and how strace shows it.

A kind is declared once per argument in syscalls/table.py.  Decoding turns a
raw register (plus guest memory, if the argument is a pointer) into plain
data; rendering turns that data into strace's text.  The two are separate so
that a trace can be recorded now and formatted later by any sink, without a
reference to the machine.

Rules taken from strace (6.1, src/util.c and friends):

* a pointer that cannot be read is shown as the pointer itself, in hex;
* an "out" argument (filled by the kernel) is decoded after the call, and
  shown as the bare pointer when the call failed;
* strings are quoted C-style, octal escapes for the rest, at most 32 bytes
  then ``"..."...``; paths are shown in full, up to PATH_MAX.
"""

from __future__ import annotations

import datetime
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import ClassVar, NamedTuple

from . import errno as _errno
from . import flags as fl
from .abi import BadAddress, GuestMemory

MAX_STRLEN = 32  # strace's default -s
MAX_ARRAY = 32  # strace prints at most -s elements of an array
PATH_MAX = 4096
NSIG_BYTES = 8
MAX_ERRNO = 4095
UC_SIGMASK = 296  # offsetof(struct ucontext, uc_sigmask) on x86-64

_M32 = 0xFFFF_FFFF
_M64 = 0xFFFF_FFFF_FFFF_FFFF


# --- decoded values --------------------------------------------------------


# Decoded values: built for every argument of every recorded syscall, so slotted and hashable
# but not frozen (a frozen dataclass costs five times as much to build). Treat them as immutable.


class Mark(Enum):
    """Placeholders in a decoded argument list."""

    PENDING = "pending"  # an out-argument not decoded yet (call in flight)
    OMIT = "omit"  # strace does not show this argument for this call
    UNKNOWN = "?"  # a result that does not exist (exit_group)


@dataclass(slots=True, unsafe_hash=True)
class Addr:
    """A pointer shown as such: NULL, or hex.  Also what a failed read gives."""

    addr: int


@dataclass(slots=True, unsafe_hash=True)
class Errno:
    """A failed result: -1 and the error."""

    errno: int


@dataclass(slots=True, unsafe_hash=True)
class Str:
    """Bytes read from the guest; ``more`` means strace appends ``...``."""

    data: bytes
    more: bool = False


@dataclass(slots=True, unsafe_hash=True)
class SigAction:
    """struct sigaction as the kernel sees it on x86-64."""

    handler: int
    flags: int
    restorer: int
    mask: int


@dataclass(slots=True, unsafe_hash=True)
class Stat:
    """The fields of struct stat strace shows by default."""

    mode: int
    size: int
    rdev: int


class Call(NamedTuple):
    """What a kind may look at: the raw registers and, after the call, rax.

    ``sp`` is the stack pointer at the syscall instruction; only
    rt_sigreturn needs it (its argument is the signal frame on the stack).
    A named tuple: a recorded run makes two per syscall.
    """

    args: tuple[int, ...]
    ret: int | None = None
    sp: int | None = None


def signed64(value: int) -> int:
    """Reinterpret a register as a signed 64-bit integer."""
    value &= _M64
    return value - (1 << 64) if value >> 63 else value


def signed32(value: int) -> int:
    """The low 32 bits as a C int."""
    value &= _M32
    return value - (1 << 32) if value >> 31 else value


def is_error(ret: int | None) -> bool:
    """True for the -4095..-1 range the kernel uses for -errno."""
    return ret is not None and (ret & _M64) > _M64 - MAX_ERRNO


# --- string quoting --------------------------------------------------------

_ESCAPES = {0x22: '\\"', 0x5C: "\\\\", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x0B: "\\v"}


def escape(data: bytes, *, hexall: bool = False) -> str:
    """Escape bytes exactly as strace's string_quote (without the quotes).

    Octal escapes are as short as possible, except that three digits are
    used when the next byte is an octal digit, so ``\\0`` + ``7`` reads
    ``\\0007``.  ``hexall`` is strace's forced-hex style (getrandom).
    """
    if hexall:
        return "".join(f"\\x{b:02x}" for b in data)
    out: list[str] = []
    last = len(data) - 1
    for i, c in enumerate(data):
        esc = _ESCAPES.get(c)
        if esc is not None:
            out.append(esc)
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        elif i < last and 0x30 <= data[i + 1] <= 0x37:
            out.append(f"\\{c:03o}")
        else:
            out.append(f"\\{c:o}")
    return "".join(out)


def quote(data: bytes, more: bool = False, *, hexall: bool = False) -> str:
    """``"text"``, plus ``...`` after the closing quote when truncated."""
    return '"' + escape(data, hexall=hexall) + '"' + ("..." if more else "")


def render_addr(addr: int) -> str:
    """strace's printaddr: NULL or 0x..."""
    addr &= _M64
    return f"{addr:#x}" if addr else "NULL"


def _hex(value: int) -> str:
    return f"{value:#x}" if value else "0"


def read_str(mem: GuestMemory, addr: int, limit: int = MAX_STRLEN) -> Str:
    """A NUL-terminated string, at most ``limit`` bytes then ``...``."""
    data = mem.read_cstring(addr, limit + 1)
    if len(data) > limit:
        return Str(data[:limit], True)
    return Str(data)


def read_buf(mem: GuestMemory, addr: int, length: int, limit: int = MAX_STRLEN) -> Str:
    """``length`` bytes of a buffer, at most ``limit`` shown."""
    if length <= 0:
        return Str(b"")
    return Str(mem.read(addr, min(length, limit)), length > limit)


# --- the kind protocol -----------------------------------------------------


class Kind:
    """How one argument (or a result) is decoded and rendered.

    Subclasses override ``fetch`` (turn the raw value into plain data,
    reading memory as needed) and ``show`` (format that data).  ``decode``
    and ``render`` wrap them with the rules common to every kind, so a kind
    never has to think about bad pointers, failed calls or omitted args.
    """

    out: bool = False
    pointer: ClassVar[bool] = False  # the value points at what is shown; NULL shows as NULL
    # fetch uses the register alone (no memory, never raises): decode may call it directly, which
    # matters because every syscall of a recorded run decodes its arguments.
    register_only: ClassVar[bool] = False
    # The bytes ``fetch`` reads at the value whatever the call (a struct): ``span`` without asking.
    fixed_span: ClassVar[int | None] = None

    def bind(self, names: Mapping[str, int]) -> Kind:
        """Resolve argument names this kind refers to into register indexes."""
        return self

    def is_out(self, call: Call) -> bool:
        """Whether this argument is shown after the call (kernel fills it)."""
        return self.out

    def decode(self, value: int, call: Call, mem: GuestMemory) -> object:
        """Plain data for ``render``; never raises."""
        if call.ret is not None and self.is_out(call) and is_error(call.ret):
            return Addr(value)
        if self.pointer and not value:
            return Addr(0)
        try:
            return self.fetch(value & _M64, call, mem)
        except (BadAddress, struct.error):
            return Addr(value)

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        """Kind-specific decoding; may raise BadAddress."""
        return value

    def span(self, value: int, call: Call) -> int | None:
        """How many bytes at ``value`` ``fetch`` reads for this call, or None when that is only
        known while reading (strings, arrays of pointers). A recorded run keeps just those bytes
        and decodes after the run (``syscalls.capture``); a kind without a span is decoded
        at once."""
        return 0 if self.register_only else self.fixed_span

    def render(self, decoded: object) -> str:
        """strace's text for a decoded value."""
        if isinstance(decoded, Addr):
            return render_addr(decoded.addr)
        if isinstance(decoded, Errno):
            return f"-1 {_errno.describe(decoded.errno)}"
        if isinstance(decoded, Mark):
            return "?" if decoded is Mark.UNKNOWN else ""
        return self.show(decoded)

    def show(self, decoded: object) -> str:
        """Kind-specific formatting of what ``fetch`` returned."""
        return str(decoded)


def _ref(arg: str | int, names: Mapping[str, int]) -> int:
    """An argument reference (name or register index) as a register index."""
    if isinstance(arg, int):
        return arg
    try:
        return names[arg]
    except KeyError:
        raise KeyError(f"kind refers to unknown argument {arg!r}; have {sorted(names)}") from None


def _arg(call: Call, ref: str | int) -> int:
    if isinstance(ref, str):
        raise TypeError(f"argument reference {ref!r} was not bound; declare the kind in a table row")
    return call.args[ref] & _M64 if ref < len(call.args) else 0


# --- numbers ----------------------------------------------------------------


@dataclass(frozen=True)
class Num(Kind):
    """An integer register: decimal (signed or not) or hex, of 32 or 64 bits."""

    register_only = True

    bits: int = 64
    signed: bool = True
    hex: bool = False

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        value &= (1 << self.bits) - 1
        if self.signed and value >> (self.bits - 1):
            value -= 1 << self.bits
        return value

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, int)
        return _hex(decoded & _M64) if self.hex else str(decoded)


@dataclass(frozen=True)
class Ptr(Kind):
    """A pointer strace does not follow: NULL or hex.

    ``out`` only moves it to the exit half of the line, as strace does for
    clone's tls (shown after ``<... clone resumed>``).
    """

    register_only = True

    out: bool = False

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        return Addr(value)


@dataclass(frozen=True)
class Fd(Kind):
    """A file descriptor (C int); ``dirfd`` names AT_FDCWD like strace."""

    register_only = True

    dirfd: bool = False

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        return signed32(value)

    def show(self, decoded: object) -> str:
        if self.dirfd and decoded == fl.AT_FDCWD:
            return "AT_FDCWD"
        return str(decoded)


@dataclass(frozen=True)
class Flags(Kind):
    """A bit set from syscalls.flags (``PROT_READ|PROT_WRITE``)."""

    register_only = True

    set: fl.FlagSet
    bits: int = 32

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        return value & ((1 << self.bits) - 1)

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, int)
        return self.set.render(decoded)


@dataclass(frozen=True)
class Choice(Kind):
    """One named value from syscalls.flags (``MADV_DONTNEED``)."""

    register_only = True

    set: fl.EnumSet
    bits: int = 32
    signed: bool = False

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        value &= (1 << self.bits) - 1
        if self.signed and value >> (self.bits - 1):
            value -= 1 << self.bits
        return value

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, int)
        return self.set.render(decoded)


@dataclass(frozen=True)
class Custom(Kind):
    """An integer shown by a function (open flags, mmap flags, signals ...)."""

    register_only = True

    fn: Callable[[int], str]
    bits: int = 32
    signed: bool = False

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        value &= (1 << self.bits) - 1
        if self.signed and value >> (self.bits - 1):
            value -= 1 << self.bits
        return value

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, int)
        return self.fn(decoded)


# --- strings and buffers ----------------------------------------------------


@dataclass(frozen=True)
class Path(Kind):
    """A NUL-terminated path, shown in full up to PATH_MAX (strace's printpath)."""

    pointer = True

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        data = mem.read_cstring(value, PATH_MAX)
        if len(data) >= PATH_MAX:
            return Str(data[: PATH_MAX - 1], True)
        return Str(data)

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, Str)
        return quote(decoded.data, decoded.more)


@dataclass(frozen=True)
class CStr(Kind):
    """A NUL-terminated string that is not a path: at most 32 bytes shown.

    ``size`` bounds the buffer (prctl's 16-byte thread names): a string
    that fills it without a NUL gets ``...``, as in strace's printstr_ex.
    """

    pointer = True

    out: bool = False
    size: int | None = None

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        if self.size is None:
            return read_str(mem, value)
        data = mem.read_cstring(value, min(self.size, MAX_STRLEN))
        return Str(data, len(data) >= min(self.size, MAX_STRLEN))

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, Str)
        return quote(decoded.data, decoded.more)


@dataclass(frozen=True)
class Buf(Kind):
    """A byte buffer whose length is another argument or the result.

    ``length`` names the argument holding the size; ``None`` means the
    syscall's return value (read: the bytes the kernel actually filled).
    ``hexall`` is strace's forced-hex quoting (getrandom).
    """

    pointer = True

    length: str | int | None = None
    out: bool = False
    hexall: bool = False

    def bind(self, names: Mapping[str, int]) -> Kind:
        return self if self.length is None else replace(self, length=_ref(self.length, names))

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        return read_buf(mem, value, self._size(call))

    def span(self, value: int, call: Call) -> int | None:
        return min(max(self._size(call), 0), MAX_STRLEN)

    def _size(self, call: Call) -> int:
        return signed64(call.ret or 0) if self.length is None else _arg(call, self.length)

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, Str)
        return quote(decoded.data, decoded.more, hexall=self.hexall)


@dataclass(frozen=True)
class PathOut(Kind):
    """A path the kernel writes (getcwd): shown in full, length from the result."""

    pointer = True

    out: bool = True

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        size = self.span(value, call)
        data = mem.read(value, size) if size else b""
        return Str(data.split(b"\0", 1)[0])

    def span(self, value: int, call: Call) -> int:
        return min(max(signed64(call.ret or 0) - 1, 0), PATH_MAX - 1)

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, Str)
        return quote(decoded.data, decoded.more)


@dataclass(frozen=True)
class StrArray(Kind):
    """A NULL-terminated array of strings (execve's argv): ``["a", "b"]``."""

    pointer = True

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        items: list[object] = []
        for i in range(MAX_ARRAY + 1):
            ptr = int.from_bytes(mem.read(value + 8 * i, 8), "little")
            if not ptr:
                return tuple(items)
            if i == MAX_ARRAY:
                items.append(Mark.OMIT)
                break
            try:
                items.append(read_str(mem, ptr))
            except BadAddress:
                items.append(Addr(ptr))
        return tuple(items)

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, tuple)
        parts = ["..." if x is Mark.OMIT else _show_str(x) for x in decoded]
        return "[" + ", ".join(parts) + "]"


def _show_str(x: object) -> str:
    if isinstance(x, Str):
        return quote(x.data, x.more)
    assert isinstance(x, Addr)
    return render_addr(x.addr)


@dataclass(frozen=True)
class EnvArray(Kind):
    """execve's envp as strace abbreviates it: ``0x7ffd... /* 38 vars */``."""

    pointer = True

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        count = 0
        while int.from_bytes(mem.read(value + 8 * count, 8), "little") and count < 1 << 16:
            count += 1
        return (value, count)

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, tuple)
        addr, count = decoded
        return f"{render_addr(addr)} /* {count} var{'s' if count != 1 else ''} */"


# --- structures ----------------------------------------------------------------


@dataclass(frozen=True)
class Timespec(Kind):
    """struct timespec: ``{tv_sec=0, tv_nsec=20000}``; ``usec`` for timeval."""

    pointer = True
    fixed_span = 16

    out: bool = False
    usec: bool = False

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        return struct.unpack("<qq", mem.read(value, 16))

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, tuple)
        sec, frac = decoded
        return f"{{tv_sec={sec}, tv_{'usec' if self.usec else 'nsec'}={frac}}}"


def _utc(sec: int) -> str:
    """strace's sprinttime: ISO 8601 with the UTC offset (the tracer's zone)."""
    try:
        t = datetime.datetime.fromtimestamp(sec, datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return ""
    return t.strftime("%Y-%m-%dT%H:%M:%S+0000")


@dataclass(frozen=True)
class TimeOut(Kind):
    """time(2)'s ``tloc``: ``[1795728850 /* 2026-11-26T21:34:10+0000 */]``."""

    pointer = True
    fixed_span = 8

    out: bool = True

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        return struct.unpack("<q", mem.read(value, 8))[0]

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, int)
        when = _utc(decoded)
        return f"[{decoded} /* {when} */]" if when else f"[{decoded}]"


@dataclass(frozen=True)
class TimeRet(Kind):
    """time(2)'s result: ``1795728850 (2026-11-26T21:34:10+0000)``."""

    register_only = True

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        return signed64(value)

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, int)
        when = _utc(decoded)
        return f"{decoded} ({when})" if when else str(decoded)


@dataclass(frozen=True)
class Sigset(Kind):
    """A kernel sigset_t of ``length`` bytes (must be 8): ``[INT TERM]``, ``~[]``."""

    pointer = True

    length: str | int | None = None
    out: bool = False

    def bind(self, names: Mapping[str, int]) -> Kind:
        return self if self.length is None else replace(self, length=_ref(self.length, names))

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        if not self.span(value, call):
            return Addr(value)
        return int.from_bytes(mem.read(value, NSIG_BYTES), "little")

    def span(self, value: int, call: Call) -> int:
        size = NSIG_BYTES if self.length is None else _arg(call, self.length)
        return NSIG_BYTES if size == NSIG_BYTES else 0

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, int)
        return fl.render_sigset(decoded)


_SIGACTION = struct.Struct("<QQQQ")  # handler, flags, restorer, mask


def _show_handler(handler: int) -> str:
    return fl.SA_HANDLER.name(handler) or render_addr(handler)


@dataclass(frozen=True)
class Sigaction(Kind):
    """struct sigaction: handler, mask, flags, and the restorer if SA_RESTORER."""

    pointer = True
    fixed_span = _SIGACTION.size

    out: bool = False

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        handler, flags, restorer, mask = _SIGACTION.unpack(mem.read(value, _SIGACTION.size))
        return SigAction(handler, flags, restorer, mask)

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, SigAction)
        text = (
            f"{{sa_handler={_show_handler(decoded.handler)}, "
            f"sa_mask={fl.render_sigset(decoded.mask)}, sa_flags={fl.SA.render(decoded.flags)}"
        )
        if decoded.flags & fl.SA_RESTORER:
            text += f", sa_restorer={render_addr(decoded.restorer)}"
        return text + "}"


@dataclass(frozen=True)
class StructPtr(Kind):
    """A pointer to a fixed-layout struct: NULL shows as NULL, else the unpacked fields."""

    pointer = True

    layout: ClassVar[struct.Struct]
    out: bool = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.fixed_span = cls.layout.size

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        return self.layout.unpack(mem.read(value, self.layout.size))


_EPOLL_CTL_DEL = 2


@dataclass(frozen=True)
class EpollEvent(StructPtr):
    """struct epoll_event (packed, 12 bytes): ``{events=EPOLLIN, data={u32=0, u64=0}}``; for
    EPOLL_CTL_DEL, which ignores it, the bare address, as strace shows it."""

    layout = struct.Struct("<IQ")
    op: str | int = "op"

    def bind(self, names: Mapping[str, int]) -> Kind:
        return replace(self, op=_ref(self.op, names))

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        if _arg(call, self.op) == _EPOLL_CTL_DEL:
            return Addr(value)
        return super().fetch(value, call, mem)

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, tuple)
        events, data = decoded
        return f"{{events={fl.EPOLL_EVENTS.render(events)}, data={{u32={data & _M32}, u64={data}}}}}"


@dataclass(frozen=True)
class StackT(StructPtr):
    """stack_t: ``{ss_sp=0xc000010000, ss_flags=0, ss_size=32768}``."""

    layout = struct.Struct("<QiiQ")  # ss_sp, ss_flags, padding, ss_size

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, tuple)
        sp, flags, _pad, size = decoded
        return f"{{ss_sp={render_addr(sp)}, ss_flags={fl.SS.render(flags & _M32)}, ss_size={size}}}"


def render_rlim(value: int) -> str:
    """RLIM64_INFINITY, ``8192*1024`` for exact KiB multiples, else decimal."""
    if value == _M64:
        return "RLIM64_INFINITY"
    if value > 1024 and value % 1024 == 0:
        return f"{value // 1024}*1024"
    return str(value)


@dataclass(frozen=True)
class Rlimit(StructPtr):
    """struct rlimit64: ``{rlim_cur=8192*1024, rlim_max=RLIM64_INFINITY}``."""

    layout = struct.Struct("<QQ")

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, tuple)
        cur, lim = decoded
        return f"{{rlim_cur={render_rlim(cur)}, rlim_max={render_rlim(lim)}}}"


@dataclass(frozen=True)
class CpuSet(Kind):
    """sched_getaffinity's mask, as many bytes as the result says: ``[0 1]``."""

    pointer = True

    out: bool = True

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        size = self.span(value, call)
        bits = int.from_bytes(mem.read(value, size), "little") if size else 0
        return tuple(i for i in range(size * 8) if bits >> i & 1)

    def span(self, value: int, call: Call) -> int:
        return min(max(signed64(call.ret or 0), 0), 8192)

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, tuple)
        return "[" + " ".join(map(str, decoded)) + "]"


@dataclass(frozen=True)
class Utsname(Kind):
    """struct utsname, abbreviated as strace does: sysname, nodename, ..."""

    pointer = True
    fixed_span = 65 * 2

    out: bool = True

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        raw = mem.read(value, 65 * 2)
        return tuple(raw[i * 65 : (i + 1) * 65].split(b"\0", 1)[0] for i in range(2))

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, tuple)
        sysname, nodename = decoded
        return f"{{sysname={quote(sysname)}, nodename={quote(nodename)}, ...}}"


def render_dev(dev: int) -> str:
    """``makedev(0x1, 0x3)`` with glibc's major/minor split."""
    major = ((dev >> 8) & 0xFFF) | ((dev >> 32) & ~0xFFF)
    minor = (dev & 0xFF) | ((dev >> 12) & ~0xFF)
    return f"makedev({_hex(major)}, {_hex(minor)})"


@dataclass(frozen=True)
class StatBuf(Kind):
    """struct stat (x86-64 layout), abbreviated: mode, then size or rdev."""

    pointer = True
    fixed_span = 144

    out: bool = True

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        raw = mem.read(value, 144)
        (mode,) = struct.unpack_from("<I", raw, 24)
        (rdev, size) = struct.unpack_from("<Qq", raw, 40)
        return Stat(mode, size, rdev)

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, Stat)
        text = f"{{st_mode={fl.render_file_mode(decoded.mode)}, "
        if decoded.mode & fl.S_IFMT in (0o20000, 0o60000):
            text += f"st_rdev={render_dev(decoded.rdev)}"
        else:
            text += f"st_size={decoded.size}"
        return text + ", ...}"


@dataclass(frozen=True)
class Iovec(Kind):
    """An iovec array: ``[{iov_base="abc", iov_len=3}, ...]``.

    For writev every element shows up to 32 bytes of its own length; for
    readv (``out``) the bytes shown are limited to the total the call returned.
    """

    pointer = True

    count: str | int = 0
    out: bool = False

    def bind(self, names: Mapping[str, int]) -> Kind:
        return replace(self, count=_ref(self.count, names))

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        count = _arg(call, self.count)
        budget = signed64(call.ret or 0) if self.out else -1
        items: list[object] = []
        for i in range(min(count, MAX_ARRAY + 1)):
            if i == MAX_ARRAY:
                items.append(Mark.OMIT)
                break
            base, length = struct.unpack("<QQ", mem.read(value + 16 * i, 16))
            shown = length if budget < 0 else min(length, budget)
            if budget >= 0:
                budget -= shown
            try:
                data: object = read_buf(mem, base, shown) if base else Addr(0)
            except BadAddress:
                data = Addr(base)
            items.append((data, length))
        return tuple(items)

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, tuple)
        parts = []
        for item in decoded:
            if item is Mark.OMIT:
                parts.append("...")
                continue
            data, length = item
            parts.append(f"{{iov_base={_show_str(data)}, iov_len={length}}}")
        return "[" + ", ".join(parts) + "]"


@dataclass(frozen=True)
class Mincore(Kind):
    """mincore's vector, one byte per page of ``length``: ``[1, 0, ...]``."""

    pointer = True

    length: str | int = 1
    out: bool = True

    def bind(self, names: Mapping[str, int]) -> Kind:
        return replace(self, length=_ref(self.length, names))

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        pages = (_arg(call, self.length) + 4095) // 4096
        data = mem.read(value, min(pages, MAX_ARRAY))
        return Str(data, pages > MAX_ARRAY)

    def span(self, value: int, call: Call) -> int:
        return min((_arg(call, self.length) + 4095) // 4096, MAX_ARRAY)

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, Str)
        parts = [str(b & 1) for b in decoded.data] + (["..."] if decoded.more else [])
        return "[" + ", ".join(parts) + "]"


@dataclass(frozen=True)
class IntOut(Kind):
    """An integer the kernel stores through a pointer: ``[42]`` (``hex``: ``[0x..]``).

    ``size`` is 4 (int) or 8 (long); ``count`` > 1 for arrays such as pipe's.
    """

    pointer = True

    size: int = 4
    count: int = 1
    hex: bool = False
    out: bool = True

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        fmt = "<" + ("i" if self.size == 4 else ("Q" if self.hex else "q")) * self.count
        return struct.unpack(fmt, mem.read(value, self.size * self.count))

    def span(self, value: int, call: Call) -> int:
        return self.size * self.count

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, tuple)
        return "[" + ", ".join(_hex(v) if self.hex else str(v) for v in decoded) + "]"


@dataclass(frozen=True)
class SigFrame(Kind):
    """rt_sigreturn's argument: the saved mask in the frame at the stack pointer.

    At the syscall, rsp points at the ucontext (the handler's ``ret`` popped
    the restorer address); uc_sigmask sits 296 bytes in.  Without a stack
    pointer in the Call the argument is left out.
    """

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        if call.sp is None:
            return Mark.OMIT
        addr = (call.sp + UC_SIGMASK) & _M64
        try:
            return int.from_bytes(mem.read(addr, NSIG_BYTES), "little")
        except BadAddress:
            return Addr(addr)

    def render(self, decoded: object) -> str:
        if isinstance(decoded, Addr):
            return f"{{mask={render_addr(decoded.addr)}}}"
        return super().render(decoded)

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, int)
        return f"{{mask={fl.render_sigset(decoded)}}}"


# --- kinds that depend on other arguments ----------------------------------------


@dataclass(frozen=True)
class Omit(Kind):
    """An argument strace does not show (fcntl(fd, F_GETFD) has no third)."""

    fixed_span = 0

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        return Mark.OMIT


@dataclass(frozen=True)
class On(Kind):
    """Pick the kind by another argument's value: futex's op, fcntl's cmd.

    ``key`` names the argument; its value (masked with ``mask``) selects
    from ``cases``, else ``default``.  The decoded value remembers the key,
    so rendering can pick the same kind again.  Build it with ``on()``.
    """

    key: str | int
    cases: tuple[tuple[int, Kind], ...]
    default: Kind
    mask: int = _M32

    def bind(self, names: Mapping[str, int]) -> Kind:
        return replace(
            self,
            key=_ref(self.key, names),
            cases=tuple((k, v.bind(names)) for k, v in self.cases),
            default=self.default.bind(names),
        )

    def pick(self, key: int) -> Kind:
        """The kind used for this key value."""
        for k, kind in self.cases:
            if k == key:
                return kind
        return self.default

    def _key(self, call: Call) -> int:
        return _arg(call, self.key) & self.mask

    def is_out(self, call: Call) -> bool:
        return self.pick(self._key(call)).is_out(call)

    def decode(self, value: int, call: Call, mem: GuestMemory) -> object:
        key = self._key(call)
        inner = self.pick(key).decode(value, call, mem)
        return inner if isinstance(inner, Mark) else (key, inner)

    def span(self, value: int, call: Call) -> int | None:
        return self.pick(self._key(call)).span(value, call)

    def render(self, decoded: object) -> str:
        if isinstance(decoded, tuple) and len(decoded) == 2 and isinstance(decoded[0], int):
            return self.pick(decoded[0]).render(decoded[1])
        return super().render(decoded)


def on(key: str, cases: Mapping[int, Kind], default: Kind, mask: int = _M32) -> On:
    """An argument whose kind depends on argument ``key`` (see On)."""
    return On(key, tuple(cases.items()), default, mask)


@dataclass(frozen=True)
class When(Kind):
    """Show ``kind`` only if another argument has any of ``bits`` set."""

    key: str | int
    bits: int
    kind: Kind = field(default_factory=Ptr)

    def bind(self, names: Mapping[str, int]) -> Kind:
        return replace(self, key=_ref(self.key, names), kind=self.kind.bind(names))

    def is_out(self, call: Call) -> bool:
        return self.kind.is_out(call)

    def decode(self, value: int, call: Call, mem: GuestMemory) -> object:
        if not _arg(call, self.key) & self.bits:
            return Mark.OMIT
        return self.kind.decode(value, call, mem)

    def span(self, value: int, call: Call) -> int | None:
        return self.kind.span(value, call) if _arg(call, self.key) & self.bits else 0

    def render(self, decoded: object) -> str:
        return self.kind.render(decoded)


@dataclass(frozen=True)
class NoReturn(Kind):
    """The result of a call that never returns: ``?``."""

    fixed_span = 0

    def decode(self, value: int, call: Call, mem: GuestMemory) -> object:
        return Mark.UNKNOWN


@dataclass(frozen=True)
class FlagsRet(Kind):
    """fcntl's F_GETFL/F_GETFD result: ``0x8001 (flags O_WRONLY|O_LARGEFILE)``."""

    register_only = True

    fn: Callable[[int], str]
    zero_plain: bool = False  # F_GETFD prints a bare 0

    def fetch(self, value: int, call: Call, mem: GuestMemory) -> object:
        return value & _M32

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, int)
        if decoded == 0 and self.zero_plain:
            return "0"
        return f"{_hex(decoded)} (flags {self.fn(decoded)})"


@dataclass(frozen=True)
class OctalRet(Kind):
    """umask's result, in octal like strace: ``022``."""

    register_only = True

    def show(self, decoded: object) -> str:
        assert isinstance(decoded, int)
        return fl.render_mode(decoded)


# --- ready-made instances --------------------------------------------------------

INT = Num(bits=32)
UINT = Num(bits=32, signed=False)
LONG = Num()
ULONG = Num(signed=False)
SIZE = ULONG
SSIZE = LONG
OFF = LONG
HEX = Num(signed=False, hex=True)
HEX32 = Num(bits=32, signed=False, hex=True)
PTR = Ptr()
ADDR = HEX  # results that are addresses (mmap, brk)
FD = Fd()
DIRFD = Fd(dirfd=True)
PID = INT
ID = Custom(lambda v: "-1" if v == _M32 else str(v))  # uid_t/gid_t: -1 means "unchanged"
MODE = Custom(fl.render_mode)
FILE_MODE = Custom(fl.render_file_mode)
SIG = Custom(fl.render_signal, signed=True)
OPEN_FLAGS = Custom(fl.render_open_flags)
MMAP_FLAGS = Custom(fl.render_mmap_flags, bits=64)
CLONE_FLAGS = Custom(fl.render_clone_flags, bits=64)
SOCK_TYPE = Custom(fl.render_socket_type)
PATH = Path()
PATH_OUT = PathOut()
STR = CStr()
STR_OUT = CStr(out=True)
BUF_OUT = Buf(out=True)  # length = the result (read, pread64, readlinkat)
ARGV = StrArray()
ENVP = EnvArray()
TIMESPEC = Timespec()
TIMESPEC_OUT = Timespec(out=True)
TIMEVAL = Timespec(usec=True)
TIMEVAL_OUT = Timespec(out=True, usec=True)
TIME_OUT = TimeOut()
TIME_RET = TimeRet()
SIGACTION = Sigaction()
SIGACTION_OUT = Sigaction(out=True)
STACK = StackT()
STACK_OUT = StackT(out=True)
RLIMIT = Rlimit()
RLIMIT_OUT = Rlimit(out=True)
CPUSET_OUT = CpuSet()
UTSNAME_OUT = Utsname()
STAT_OUT = StatBuf()
SIGFRAME = SigFrame()
OMIT = Omit()
NORETURN = NoReturn()
INT_OUT = IntOut()
FDS_OUT = IntOut(count=2)  # pipe/socketpair
PTR_OUT = IntOut(size=8, hex=True)  # arch_prctl(ARCH_GET_FS, [0x...])


def buf_in(length: str) -> Buf:
    """A buffer the caller fills, its length in argument ``length`` (write)."""
    return Buf(length=length)


def buf_out(length: str | None = None, *, hexall: bool = False) -> Buf:
    """A buffer the kernel fills; length is the result unless named."""
    return Buf(length=length, out=True, hexall=hexall)


def flags(s: fl.FlagSet, bits: int = 32) -> Flags:
    """A FlagSet argument."""
    return Flags(s, bits)


def enum(s: fl.EnumSet, bits: int = 32, signed: bool = False) -> Choice:
    """An EnumSet argument."""
    return Choice(s, bits, signed)
