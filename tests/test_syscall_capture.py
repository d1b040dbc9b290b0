"""A recorded syscall decoded later (syscalls.capture) shows what decoding it at once would have.

The machine keeps only the bytes each argument's kind says it reads (``Kind.span``); if a span
were wrong, the later decoding would read something it did not keep (a LookupError) or show the
memory as it was at the wrong moment. These tests decode every row of the table both ways.
"""

from __future__ import annotations

import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from emulator import api
from emulator.events import SyscallEvent
from syscalls.abi import BadAddress
from syscalls.capture import MemorySnapshot, Recorded, capture_entry
from syscalls.kinds import Addr, Call, Kind, Mark, NoReturn, On, When
from syscalls.table import TABLE, decode_args, decode_ret, lookup


class PatternMemory:
    """Every address readable except in every third page, bytes from a repeated pattern that
    ``overwrite`` replaces (the kernel or another thread writing between two moments)."""

    def __init__(self, pattern: bytes) -> None:
        self.pattern = pattern or b"\1"

    def overwrite(self, pattern: bytes) -> None:
        self.pattern = pattern or b"\2"

    def _check(self, addr: int, size: int) -> None:
        for page in range(addr >> 12, ((addr + max(size, 1) - 1) >> 12) + 1):
            if page % 3 == 0:
                raise BadAddress(addr)

    def read(self, addr: int, size: int) -> bytes:
        if size <= 0:  # as the machine's memory: nothing to read, nothing to fault
            return b""
        self._check(addr, size)
        start = addr % len(self.pattern)
        return ((self.pattern * (size // len(self.pattern) + 2))[start:])[:size]

    def write(self, addr: int, data: bytes) -> None:
        raise BadAddress(addr)

    def read_cstring(self, addr: int, limit: int = 4096) -> bytes:
        out = b""
        while len(out) < limit:
            c = self.read(addr + len(out), 1)
            if c == b"\0":
                break
            out += c
        return out


_REG = st.one_of(
    st.integers(0, 2**64 - 1),
    st.sampled_from([0, 1, 8, 16, 32, 0xFFFF_FFFF, 2**64 - 1, 0x1000, 0x2000, 0x7FFF_0000_1000]),
)
_RET = st.one_of(st.none(), st.integers(-4095, -1), st.integers(0, 2**64 - 1), st.integers(0, 200))
_PATTERN = st.binary(min_size=1, max_size=48)


@settings(max_examples=60, deadline=None)
@given(st.tuples(*[_REG] * 6), _RET, _PATTERN, _PATTERN, _PATTERN)
def test_decoding_later_shows_the_memory_of_the_moment(
    args: tuple[int, ...], ret: int | None, at_entry: bytes, at_exit: bytes, afterwards: bytes
) -> None:
    """For every row: the entry half shows memory as the call found it, the exit half as the
    kernel left it, even when both changed again before the decoding ran."""
    for sc in TABLE.values():
        if sc.name == "rt_sigreturn":  # its argument is the frame at RSP: the machine decodes it at entry
            continue
        mem = PatternMemory(at_entry)
        call, done = Call(args, None, 0x1000), Call(args, None if ret is None else ret % 2**64, 0x1000)
        expected_entry = decode_args(sc, call, mem, out=False)  # type: ignore[arg-type]
        kept = capture_entry(sc, args, mem)  # type: ignore[arg-type]
        mem.overwrite(at_exit)
        expected = tuple(decode_args(sc, done, mem, out=True, entry=expected_entry))  # type: ignore[arg-type]
        expected_ret = decode_ret(sc, done, mem)  # type: ignore[arg-type]
        recorded = Recorded(sc, args, done.ret, kept, mem)  # type: ignore[arg-type]
        if recorded.keep():
            mem.overwrite(afterwards)
        assert recorded.decode() == (expected, expected_ret), sc.name


def _alternatives(kind: Kind) -> list[Kind]:
    """The kinds ``kind`` may decode as (each case of an ``On``, the kind inside a ``When``)."""
    if isinstance(kind, On):
        return [k for _, case in kind.cases for k in _alternatives(case)] + _alternatives(kind.default)
    if isinstance(kind, When):
        return _alternatives(kind.kind)
    return [kind]


def test_results_decode_from_the_register_alone() -> None:
    """A result never reads memory (the later decoding keeps none for it)."""
    for sc in TABLE.values():
        for kind in _alternatives(sc.ret):
            assert isinstance(kind, NoReturn) or kind.register_only, (sc.name, kind)


def test_kinds_with_a_span_decode_from_it_alone() -> None:
    """A kind that declares its span reads nothing else: here, a snapshot of exactly that span
    decodes like the memory it came from, for a few representative rows."""
    mem = PatternMemory(bytes(range(1, 200)))
    for name, args, ret in (
        ("rt_sigaction", (2, 0x1000_0010, 0x1000_0100, 8, 0, 0), 0),
        ("rt_sigprocmask", (2, 0x1000_0010, 0x1000_0100, 8, 0, 0), 0),
        ("sigaltstack", (0x1000_0010, 0x1000_0100, 0, 0, 0, 0), 0),
        ("read", (3, 0x1000_0010, 100, 0, 0, 0), 40),
        ("sched_getaffinity", (0, 8192, 0x1000_0010, 0, 0, 0), 8),
        ("fstat", (3, 0x1000_0010, 0, 0, 0, 0), 0),
        ("clock_gettime", (1, 0x1000_0010, 0, 0, 0, 0), 0),
    ):
        sc = next(s for s in TABLE.values() if s.name == name)
        recorded = Recorded(sc, args, ret, capture_entry(sc, args, mem), mem)  # type: ignore[arg-type]
        assert recorded.keep(), name
        assert isinstance(recorded.exit, MemorySnapshot)
        values, _ = recorded.decode()
        failed = [v for v in values if isinstance(v, Addr) and v.addr]  # a read that failed
        assert Mark.PENDING not in values and not failed, (name, values)


def test_a_wrong_span_is_a_loud_bug() -> None:
    """A snapshot asked for bytes it did not keep raises instead of passing for unmapped memory."""
    snapshot = MemorySnapshot({(0x1000, 8): b"\0" * 8, (0x2000, 8): None})
    assert snapshot.read(0x1000, 8) == b"\0" * 8
    try:
        snapshot.read(0x2000, 8)
    except BadAddress:
        pass
    else:
        raise AssertionError("a span that could not be read must read as unmapped")
    for addr, size in ((0x1000, 16), (0x1008, 8), (0x3000, 4)):
        try:
            snapshot.read(addr, size)
        except LookupError:
            continue
        raise AssertionError(f"read of {size} at {addr:#x} was not kept")
    assert Kind().span(0x1000, Call((0,) * 6)) is None


def test_a_recorded_run_decodes_its_syscalls_after_the_run() -> None:
    """On hello: the events come out undecoded during the run (the registers and kept memory
    only), and decode on first access to what a run decoding at once shows."""
    from conftest import built

    seen_pending: list[bool] = []

    def sink(event: object) -> None:
        if isinstance(event, SyscallEvent):
            seen_pending.append(event._later is not None)

    run = api.run(built("hello"), sinks=[sink])
    assert len(seen_pending) > 150 and sum(seen_pending) > 150
    lines = run.strace()
    assert any(line.startswith("rt_sigaction(SIGHUP, {sa_handler=") for line in lines)
    assert any(line.startswith('write(1, "Hello, World!\\n", 14) = 14') for line in lines)
    sigaction = [e for e in run.syscalls if e.name == "rt_sigaction" and e.args[2]]
    assert sigaction and all(type(e.decoded[2]).__name__ == "SigAction" for e in sigaction)
    assert lookup(13).name == "rt_sigaction"
    later = next(e for e in api.run(built("hello")).syscalls if e.name == "rt_sigaction" and e.args[1])
    copy = pickle.loads(pickle.dumps(later))  # pickles what it shows, decoded
    assert copy == later and copy._later is None and type(copy.decoded[1]).__name__ == "SigAction"
