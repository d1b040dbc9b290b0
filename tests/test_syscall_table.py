"""The syscall table against the kernel header and against real strace output.

Every expected line below was copied from ``strace`` 6.1 tracing real
programs on this machine (a Go 1.27 binary and a small C program issuing raw
syscalls); the test rebuilds the guest memory those calls saw and checks
that the table renders the same text.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syscalls import errno, flags
from syscalls.abi import BadAddress
from syscalls.kernel import load_handlers
from syscalls.kinds import MAX_STRLEN, Call, Mark, escape, quote
from syscalls.table import (
    BY_NAME,
    TABLE,
    Support,
    decode_args,
    decode_ret,
    lookup,
    markdown,
    render_call,
    render_entry,
    render_resumed,
    strace_line,
)

HEADER = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")


class FakeMemory:
    """Guest memory made of a few byte regions; anything else is unmapped."""

    def __init__(self) -> None:
        self.regions: dict[int, bytearray] = {}

    def put(self, addr: int, data: bytes) -> int:
        self.regions[addr] = bytearray(data)
        return addr

    def _find(self, addr: int, size: int) -> tuple[bytearray, int]:
        for base, buf in self.regions.items():
            if base <= addr and addr + size <= base + len(buf):
                return buf, addr - base
        raise BadAddress(addr)

    def read(self, addr: int, size: int) -> bytes:
        buf, off = self._find(addr, size)
        return bytes(buf[off : off + size])

    def write(self, addr: int, data: bytes) -> None:
        buf, off = self._find(addr, len(data))
        buf[off : off + len(data)] = data

    def read_cstring(self, addr: int, limit: int = 4096) -> bytes:
        out = bytearray()
        while len(out) < limit:
            (c,) = self.read(addr + len(out), 1)
            if c == 0:
                break
            out.append(c)
        return bytes(out)


class NoMemory:
    """Memory where every address is bad."""

    def read(self, addr: int, size: int) -> bytes:
        raise BadAddress(addr)

    def write(self, addr: int, data: bytes) -> None:
        raise BadAddress(addr)

    def read_cstring(self, addr: int, limit: int = 4096) -> bytes:
        raise BadAddress(addr)


class NoiseMemory:
    """Memory where every address holds bytes drawn by hypothesis."""

    def __init__(self, data: bytes) -> None:
        self.data = data or b"\1"

    def read(self, addr: int, size: int) -> bytes:
        reps = size // len(self.data) + 1
        return (self.data * reps)[:size]

    def write(self, addr: int, data: bytes) -> None:
        pass

    def read_cstring(self, addr: int, limit: int = 4096) -> bytes:
        return self.read(addr, limit).split(b"\0", 1)[0]


def line(name: str, *args: int, ret: int | None, mem: FakeMemory | None = None, sp: int | None = None) -> str:
    """Render a finished call the way the tracer would (both passes)."""
    sc = BY_NAME[name]
    call = Call(tuple(args) + (0,) * (6 - len(args)), ret, sp)
    return strace_line(sc, call, mem or FakeMemory())


def neg(err: int) -> int:
    return -err


# --- the table itself --------------------------------------------------------------


def _header() -> dict[int, str]:
    text = HEADER.read_text()
    return {int(n): name for name, n in re.findall(r"#define __NR_(\w+)\s+(\d+)", text)}


@pytest.mark.skipif(not HEADER.exists(), reason="no kernel headers")
def test_table_covers_every_syscall_in_the_header() -> None:
    header = _header()
    assert header, "header parsed to nothing"
    missing = {nr: name for nr, name in header.items() if nr not in TABLE}
    assert not missing
    wrong = {nr: (name, TABLE[nr].name) for nr, name in header.items() if TABLE[nr].name != name}
    assert not wrong


def test_table_ranges_and_names() -> None:
    for nr in [*range(0, 335), *range(424, 463)]:
        assert nr in TABLE, nr
    assert len(BY_NAME) == len(TABLE)
    for nr, sc in TABLE.items():
        assert sc.nr == nr
        assert BY_NAME[sc.name] is sc
        assert len(sc.args) <= 6
        assert len({a.name for a in sc.args}) == len(sc.args), sc.name
        assert len({sc.reg(i) for i in range(len(sc.args))}) == len(sc.args), sc.name


def test_support_column_matches_the_handlers() -> None:
    """A row says FULL or PARTIAL exactly when a handler for it exists."""
    handled = set(load_handlers())
    assert handled <= set(BY_NAME), handled - set(BY_NAME)
    for sc in TABLE.values():
        implemented = sc.support in (Support.FULL, Support.PARTIAL)
        assert implemented == (sc.name in handled), sc.name
        if sc.support in (Support.PARTIAL, Support.ERRNO):
            assert sc.note, sc.name
        if sc.support is Support.NONE:
            assert sc.note == "", sc.name
    assert BY_NAME["clone3"].support is Support.ERRNO and "ENOSYS" in BY_NAME["clone3"].note


def test_markdown_lists_every_row() -> None:
    md = markdown().splitlines()
    assert md[0].startswith("| nr | name | support | note |")
    assert len(md) == len(TABLE) + 2
    assert "| 435 | clone3 | errno | ENOSYS on purpose" in markdown()


def test_unknown_number_renders_raw() -> None:
    sc = lookup(999)
    assert sc.support is Support.NONE
    assert strace_line(sc, Call((1, 2, 0, 0, 0, 0), neg(errno.ENOSYS)), NoMemory()) == (
        "syscall_0x3e7(0x1, 0x2, 0, 0, 0, 0) = -1 ENOSYS (Function not implemented)"
    )


def test_errno_module() -> None:
    assert errno.EPERM == 1 and errno.EHWPOISON == 133
    assert errno.NAMES[11] == "EAGAIN" and errno.NAMES[95] == "EOPNOTSUPP"
    assert errno.MESSAGES[errno.ENOENT] == "No such file or directory"
    assert errno.MESSAGES[errno.EAGAIN] == "Resource temporarily unavailable"
    assert errno.MESSAGES[errno.ENOSYS] == "Function not implemented"
    assert errno.MESSAGES[errno.ETIMEDOUT] == "Connection timed out"
    assert errno.SyscallError(errno.EFAULT).errno == errno.EFAULT


# --- rendering, against real strace output --------------------------------------------

BUF = 0x4000_0000
PATHS = 0x5000_0000


def test_write() -> None:
    mem = FakeMemory()
    mem.put(BUF, b"Hello, World!\n")
    assert line("write", 1, BUF, 14, ret=14, mem=mem) == 'write(1, "Hello, World!\\n", 14) = 14'


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b'\x00\x1b1\x7f\xff"\\\t\v\f\r\n' + b"0123456789" * 4,
            r'write(1, "\0\0331\177\377\"\\\t\v\f\r\n01234567890123456789"..., 52) = 52',
        ),
        (
            b'\x007\x018\x7f\x80\xffa"b\\c\t\r\v\f',
            r'write(1, "\0007\18\177\200\377a\"b\\c\t\r\v\f", 16) = 16',
        ),
        (b"0123456789012345678901234567890", 'write(1, "0123456789012345678901234567890", 31) = 31'),
        (b"01234567890123456789012345678901", 'write(1, "01234567890123456789012345678901", 32) = 32'),
        (b"012345678901234567890123456789012", 'write(1, "01234567890123456789012345678901"..., 33) = 33'),
        (b"", 'write(1, "", 0) = 0'),
    ],
)
def test_write_escaping_and_truncation(data: bytes, expected: str) -> None:
    mem = FakeMemory()
    mem.put(BUF, data + b"\xee")  # a byte past the end must not matter
    assert line("write", 1, BUF, len(data), ret=len(data), mem=mem) == expected


def test_write_bad_pointers() -> None:
    assert line("write", 1, 8, 5, ret=5) == "write(1, 0x8, 5) = 5"
    assert line("write", 1, 0, 5, ret=5) == "write(1, NULL, 5) = 5"


def test_null_vectors_and_sigsets_show_as_null() -> None:
    assert line("writev", 1, 0, 0, ret=0) == "writev(1, NULL, 0) = 0"
    assert line("rt_sigprocmask", 2, 0, 0, 8, ret=0) == "rt_sigprocmask(SIG_SETMASK, NULL, NULL, 8) = 0"


def test_writev_and_readv() -> None:
    mem = FakeMemory()
    a, b, c = mem.put(0x1000, b"abc"), mem.put(0x2000, b"0123456789" * 4), mem.put(0x3000, b"\n")
    mem.put(BUF, struct.pack("<6Q", a, 3, b, 40, c, 1))
    assert line("writev", 1, BUF, 3, ret=44, mem=mem) == (
        'writev(1, [{iov_base="abc", iov_len=3}, {iov_base="01234567890123456789012345678901"..., '
        'iov_len=40}, {iov_base="\\n", iov_len=1}], 3) = 44'
    )
    mem = FakeMemory()
    text = b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n" * 2
    mem.put(0x1000, text[:4])
    mem.put(0x1004, text[4:104])
    mem.put(BUF, struct.pack("<4Q", 0x1000, 4, 0x1004, 100))
    assert line("readv", 3, BUF, 2, ret=104, mem=mem) == (
        'readv(3, [{iov_base="root", iov_len=4}, {iov_base=":x:0:0:root:/root:/bin/bash\\ndaem"..., '
        "iov_len=100}], 2) = 104"
    )


def test_read_out_buffer() -> None:
    mem = FakeMemory()
    mem.put(BUF, b"2097152\n" + b"\xaa" * 12)
    assert line("read", 3, BUF, 20, ret=8, mem=mem) == 'read(3, "2097152\\n", 20) = 8'
    mem.put(BUF, b"TZif2" + b"\0" * 109)
    assert line("read", 5, BUF, 4096, ret=114, mem=mem) == (
        r'read(5, "TZif2\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"..., 4096) = 114'
    )
    assert line("read", 3, BUF, 0, ret=0, mem=mem) == 'read(3, "", 0) = 0'
    assert line("read", 3, 0x10, 10, ret=neg(errno.EFAULT)) == "read(3, 0x10, 10) = -1 EFAULT (Bad address)"
    mem.put(BUF, b"-1\n")
    assert line("pread64", 3, BUF, 64, 0, ret=3, mem=mem) == 'pread64(3, "-1\\n", 64, 0) = 3'


def test_error_return() -> None:
    mem = FakeMemory()
    mem.put(PATHS, b"/nonexistent\0")
    assert line("openat", -100 & (2**64 - 1), PATHS, 0o2000000, ret=neg(errno.ENOENT), mem=mem) == (
        'openat(AT_FDCWD, "/nonexistent", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory)'
    )
    # the raw unsigned register form of -errno is an error too
    assert line("close", 99, ret=2**64 - errno.EBADF) == "close(99) = -1 EBADF (Bad file descriptor)"


@pytest.mark.parametrize(
    ("args", "ret", "expected"),
    [
        (
            (0, 262144, 3, 0x22, -1, 0),
            0x7FFBE6EBC000,
            "mmap(NULL, 262144, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7ffbe6ebc000",
        ),
        (
            (0, 131072, 0, 0x22, -1, 0),
            0x7FFBE6E9C000,
            "mmap(NULL, 131072, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7ffbe6e9c000",
        ),
        (
            (0x4238C00000, 4194304, 3, 0x32, -1, 0),
            0x4238C00000,
            "mmap(0x4238c00000, 4194304, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS, -1, 0)"
            " = 0x4238c00000",
        ),
        (
            (0, 8192, 7, 0x24022, -1, 0),
            0x7F16B89DB000,
            "mmap(NULL, 8192, PROT_READ|PROT_WRITE|PROT_EXEC, "
            "MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE|MAP_STACK, -1, 0) = 0x7f16b89db000",
        ),
        (
            (0, 4096, 0x100, 0x40000003, 5, 4096),
            neg(errno.EBADF),
            "mmap(NULL, 4096, 0x100 /* PROT_??? */, MAP_SHARED_VALIDATE|16<<MAP_HUGE_SHIFT, 5, 0x1000)"
            " = -1 EBADF (Bad file descriptor)",
        ),
        (
            (0x7F16B89DB000, 4096, 1, 0x100022, -1, 0),
            neg(errno.EEXIST),
            "mmap(0x7f16b89db000, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE, -1, 0)"
            " = -1 EEXIST (File exists)",
        ),
    ],
)
def test_mmap(args: tuple[int, ...], ret: int, expected: str) -> None:
    assert line("mmap", *(a & (2**64 - 1) for a in args), ret=ret) == expected


def test_memory_calls() -> None:
    assert line("brk", 0, ret=0x55E2B47FA000) == "brk(NULL) = 0x55e2b47fa000"
    assert line("munmap", 0x7F16B89DB000, 8192, ret=0) == "munmap(0x7f16b89db000, 8192) = 0"
    assert line("mprotect", 0x7F16B89DB000, 4096, 1, ret=0) == "mprotect(0x7f16b89db000, 4096, PROT_READ) = 0"
    assert (
        line("madvise", 0x7FFBA0400000, 33554432, 15, ret=0)
        == "madvise(0x7ffba0400000, 33554432, MADV_NOHUGEPAGE) = 0"
    )
    assert (
        line("madvise", 0x7F16B89DB000, 8192, 99, ret=neg(errno.EINVAL))
        == "madvise(0x7f16b89db000, 8192, 0x63 /* MADV_??? */) = -1 EINVAL (Invalid argument)"
    )
    mem = FakeMemory()
    mem.put(BUF, b"\0\0")
    expected = "mincore(0x7f16b89db000, 8192, [0, 0]) = 0"
    assert line("mincore", 0x7F16B89DB000, 8192, BUF, ret=0, mem=mem) == expected


def test_open_flags() -> None:
    mem = FakeMemory()
    mem.put(PATHS, b"/proc/self/cgroup\0")
    cwd = -100 & (2**64 - 1)
    assert (
        line("openat", cwd, PATHS, 0o2000000, ret=3, mem=mem)
        == 'openat(AT_FDCWD, "/proc/self/cgroup", O_RDONLY|O_CLOEXEC) = 3'
    )
    mem.put(PATHS, b"/tmp\0")
    assert (
        line("openat", cwd, PATHS, 0o2204000, ret=4, mem=mem)
        == 'openat(AT_FDCWD, "/tmp", O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY) = 4'
    )
    mem.put(PATHS, b"x\0")
    assert (
        line("openat", 3, PATHS, 0x40000000 | 0o302, 0o600, ret=neg(errno.ENOTDIR), mem=mem)
        == 'openat(3, "x", O_RDWR|O_CREAT|O_EXCL|0x40000000, 0600) = -1 ENOTDIR (Not a directory)'
    )
    mem.put(PATHS, b"/etc/passwd\0")
    assert line("open", PATHS, 0, 0o777, ret=3, mem=mem) == 'open("/etc/passwd", O_RDONLY) = 3'
    mem.put(PATHS, b"/tmp/st/c/newfile\0")
    assert (
        line("open", PATHS, 0o3101, 0o644, ret=3, mem=mem)
        == 'open("/tmp/st/c/newfile", O_WRONLY|O_CREAT|O_TRUNC|O_APPEND, 0644) = 3'
    )
    mem.put(PATHS, b"/etc/passwd\0")
    assert line("access", PATHS, 6, ret=0, mem=mem) == 'access("/etc/passwd", R_OK|W_OK) = 0'
    assert line("access", PATHS, 0, ret=0, mem=mem) == 'access("/etc/passwd", F_OK) = 0'
    mem.put(PATHS, b"/etc\0")
    assert line("faccessat", cwd, PATHS, 1, ret=0, mem=mem) == 'faccessat(AT_FDCWD, "/etc", X_OK) = 0'
    assert (
        line("faccessat2", cwd, PATHS, 1, 0x200, ret=0, mem=mem)
        == 'faccessat2(AT_FDCWD, "/etc", X_OK, AT_EACCESS) = 0'
    )


def test_paths_are_not_truncated_at_32() -> None:
    mem = FakeMemory()
    long_path = b"/" + b"d" * 100 + b"/file"
    mem.put(PATHS, long_path + b"\0")
    assert line("open", PATHS, 0, ret=3, mem=mem) == f'open("{long_path.decode()}", O_RDONLY) = 3'
    unterminated = b"p" * 5000
    mem.put(PATHS, unterminated)
    assert line("open", PATHS, 0, ret=3, mem=mem) == 'open("' + "p" * 4095 + '"..., O_RDONLY) = 3'


def _sigaction(handler: int, flags_: int, restorer: int, mask: int) -> bytes:
    return struct.pack("<4Q", handler, flags_, restorer, mask)


def test_rt_sigaction() -> None:
    mem = FakeMemory()
    mem.put(BUF, _sigaction(0, 0, 0, 0))
    assert line("rt_sigaction", 1, 0, BUF, 8, ret=0, mem=mem) == (
        "rt_sigaction(SIGHUP, NULL, {sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}, 8) = 0"
    )
    go_flags = 0x04000000 | 0x08000000 | 0x10000000 | 4
    mem.put(BUF, _sigaction(0x4805E0, go_flags, 0x480720, 2**64 - 1))
    assert line("rt_sigaction", 1, BUF, 0, 8, ret=0, mem=mem) == (
        "rt_sigaction(SIGHUP, {sa_handler=0x4805e0, sa_mask=~[], "
        "sa_flags=SA_RESTORER|SA_ONSTACK|SA_RESTART|SA_SIGINFO, sa_restorer=0x480720}, NULL, 8) = 0"
    )
    mem.put(BUF, _sigaction(1, 0x24000000, 0, (1 << 22) | (1 << 31) | (1 << 32)))
    assert line("rt_sigaction", 10, BUF, 0, 8, ret=0, mem=mem) == (
        "rt_sigaction(SIGUSR1, {sa_handler=SIG_IGN, sa_mask=[URG RTMIN RT_1], "
        "sa_flags=SA_RESTORER|SA_INTERRUPT, sa_restorer=NULL}, NULL, 8) = 0"
    )
    mem.put(BUF, _sigaction(0x55E2887F4169, 0x04000000, 0x401000, (2**64 - 1) & ~((1 << 31) | (1 << 32))))
    assert line("rt_sigaction", 64, BUF, 0, 8, ret=0, mem=mem) == (
        "rt_sigaction(SIGRT_32, {sa_handler=0x55e2887f4169, sa_mask=~[RTMIN RT_1], sa_flags=SA_RESTORER, "
        "sa_restorer=0x401000}, NULL, 8) = 0"
    )
    assert (
        line("rt_sigaction", 65, 0, 0, 8, ret=neg(errno.EINVAL))
        == "rt_sigaction(65, NULL, NULL, 8) = -1 EINVAL (Invalid argument)"
    )
    assert (
        line("rt_sigaction", 12, 0, 1, 8, ret=neg(errno.EFAULT))
        == "rt_sigaction(SIGUSR2, NULL, 0x1, 8) = -1 EFAULT (Bad address)"
    )
    assert line("rt_sigaction", 32, 0, BUF, 8, ret=0, mem=mem).startswith("rt_sigaction(SIGRTMIN, NULL, {")
    assert line("rt_sigaction", 33, 0, 0, 8, ret=0).startswith("rt_sigaction(SIGRT_1, NULL, NULL")


def test_rt_sigprocmask() -> None:
    mem = FakeMemory()
    mem.put(BUF, b"\0" * 8)
    mem.put(BUF + 0x100, b"\xff" * 8)
    mem.put(BUF + 0x200, struct.pack("<Q", (1 << 1) | (1 << 14)))
    expected = "rt_sigprocmask(SIG_SETMASK, NULL, [], 8) = 0"
    assert line("rt_sigprocmask", 2, 0, BUF, 8, ret=0, mem=mem) == expected
    assert (
        line("rt_sigprocmask", 2, BUF + 0x100, BUF, 8, ret=0, mem=mem)
        == "rt_sigprocmask(SIG_SETMASK, ~[], [], 8) = 0"
    )
    assert (
        line("rt_sigprocmask", 0, BUF + 0x200, 0, 8, ret=0, mem=mem)
        == "rt_sigprocmask(SIG_BLOCK, [INT TERM], NULL, 8) = 0"
    )
    assert (
        line("rt_sigprocmask", 2, 0x7FFF802CB1A8, 0, 7, ret=neg(errno.EINVAL), mem=mem)
        == "rt_sigprocmask(SIG_SETMASK, 0x7fff802cb1a8, NULL, 7) = -1 EINVAL (Invalid argument)"
    )
    assert line("rt_sigprocmask", 7, 0, 0, 8, ret=0) == "rt_sigprocmask(0x7 /* SIG_??? */, NULL, NULL, 8) = 0"


def test_futex() -> None:
    mem = FakeMemory()
    mem.put(BUF, struct.pack("<qq", 0, 852633))
    mem.put(BUF + 0x100, struct.pack("<qq", 0, 1000))
    assert line("futex", 0x5804F8, 129, 1, ret=1) == "futex(0x5804f8, FUTEX_WAKE_PRIVATE, 1) = 1"
    expected = "futex(0x4238f36960, FUTEX_WAIT_PRIVATE, 0, NULL) = 0"
    assert line("futex", 0x4238F36960, 128, 0, 0, ret=0) == expected
    assert (
        line("futex", 0x4238F37160, 128, 0, 0, ret=neg(errno.EAGAIN))
        == "futex(0x4238f37160, FUTEX_WAIT_PRIVATE, 0, NULL) = -1 EAGAIN (Resource temporarily unavailable)"
    )
    assert (
        line("futex", 0x580C00, 128, 0, BUF, ret=neg(errno.ETIMEDOUT), mem=mem)
        == "futex(0x580c00, FUTEX_WAIT_PRIVATE, 0, {tv_sec=0, tv_nsec=852633})"
        " = -1 ETIMEDOUT (Connection timed out)"
    )
    assert line("futex", 0x7FFF802CB17C, 9 | 128 | 256, 0, BUF + 0x100, 0, 0xFFFFFFFF, ret=-110, mem=mem) == (
        "futex(0x7fff802cb17c, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 0, {tv_sec=0, tv_nsec=1000}, "
        "FUTEX_BITSET_MATCH_ANY) = -1 ETIMEDOUT (Connection timed out)"
    )
    assert line("futex", 0x7FFF802CB17C, 0, 1, 0, ret=-11) == (
        "futex(0x7fff802cb17c, FUTEX_WAIT, 1, NULL) = -1 EAGAIN (Resource temporarily unavailable)"
    )
    assert line("futex", 0x7FFF802CB17C, 1, 1, ret=0) == "futex(0x7fff802cb17c, FUTEX_WAKE, 1) = 0"
    assert line("futex", 0x7FFF802CB17C, 4 | 128, 1, 2, 0x7FFF802CB28C, 0, ret=0) == (
        "futex(0x7fff802cb17c, FUTEX_CMP_REQUEUE_PRIVATE, 1, 2, 0x7fff802cb28c, 0) = 0"
    )
    assert line("futex", 0x7FFF802CB17C, 5 | 128, 1, 2, 0x7FFF802CB28C, 0x12345678, ret=0) == (
        "futex(0x7fff802cb17c, FUTEX_WAKE_OP_PRIVATE, 1, 2, 0x7fff802cb28c, "
        "FUTEX_OP_ADD<<28|0x345<<12|FUTEX_OP_CMP_LT<<24|0x678) = 0"
    )
    assert line("futex", 0x7FFF802CB17C, 77, 1, 2, 0x7FFF802CB28C, 3, ret=-38) == (
        "futex(0x7fff802cb17c, 0x4d /* FUTEX_??? */, 1, 0x2, 0x7fff802cb28c, 0x3)"
        " = -1 ENOSYS (Function not implemented)"
    )


def test_time_calls() -> None:
    mem = FakeMemory()
    mem.put(BUF, struct.pack("<qq", 384, 953124019))
    assert (
        line("clock_gettime", 1, BUF, ret=0, mem=mem)
        == "clock_gettime(CLOCK_MONOTONIC, {tv_sec=384, tv_nsec=953124019}) = 0"
    )
    mem.put(BUF, struct.pack("<qq", 0, 1))
    expected = "clock_getres(CLOCK_REALTIME, {tv_sec=0, tv_nsec=1}) = 0"
    assert line("clock_getres", 0, BUF, ret=0, mem=mem) == expected
    assert (
        line("clock_gettime", 99, 0x7FFF802CB2F0, ret=-22)
        == "clock_gettime(0x63 /* CLOCK_??? */, 0x7fff802cb2f0) = -1 EINVAL (Invalid argument)"
    )
    mem.put(BUF, struct.pack("<qq", 0, 20000))
    assert line("nanosleep", BUF, 0, ret=0, mem=mem) == "nanosleep({tv_sec=0, tv_nsec=20000}, NULL) = 0"
    mem.put(BUF + 0x100, struct.pack("<qq", 0, 1))
    assert (
        line("clock_nanosleep", 1, 1, BUF + 0x100, 0, ret=0, mem=mem)
        == "clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, {tv_sec=0, tv_nsec=1}, NULL) = 0"
    )
    assert (
        line("clock_nanosleep", 0, 0, BUF, 0x7FFF802CB180, ret=0, mem=mem)
        == "clock_nanosleep(CLOCK_REALTIME, 0, {tv_sec=0, tv_nsec=20000}, 0x7fff802cb180) = 0"
    )
    mem.put(BUF + 0x200, struct.pack("<qq", 1795728850, 959506))
    assert (
        line("gettimeofday", BUF + 0x200, 0, ret=0, mem=mem)
        == "gettimeofday({tv_sec=1795728850, tv_usec=959506}, NULL) = 0"
    )
    assert line("time", 0, ret=1795728850) == "time(NULL) = 1795728850 (2026-11-26T21:34:10+0000)"
    mem.put(BUF + 0x300, struct.pack("<q", 1795728850))
    assert line("time", BUF + 0x300, ret=1795728850, mem=mem) == (
        "time([1795728850 /* 2026-11-26T21:34:10+0000 */]) = 1795728850 (2026-11-26T21:34:10+0000)"
    )


def test_exit_group_does_not_return() -> None:
    assert line("exit_group", 0, ret=None) == "exit_group(0) = ?"
    assert line("exit_group", 3, ret=0) == "exit_group(3) = ?"
    assert line("exit", 0, ret=None) == "exit(0) = ?"


def test_rt_sigreturn_reads_the_frame_mask() -> None:
    mem = FakeMemory()
    sp = 0x7FFC_0000_1000
    mem.put(sp, b"\0" * 296 + struct.pack("<Q", 0) + b"\0" * 64)
    assert line("rt_sigreturn", 0, ret=0, mem=mem, sp=sp) == "rt_sigreturn({mask=[]}) = 0"
    assert line("rt_sigreturn", 0, ret=None) == "rt_sigreturn() = ?"


def test_signal_stack_and_limits() -> None:
    mem = FakeMemory()
    mem.put(BUF, struct.pack("<QiiQ", 0, 2, 0, 0))
    assert (
        line("sigaltstack", 0, BUF, ret=0, mem=mem)
        == "sigaltstack(NULL, {ss_sp=NULL, ss_flags=SS_DISABLE, ss_size=0}) = 0"
    )
    mem.put(BUF, struct.pack("<QiiQ", 0x4238F00000, 0, 0, 32768))
    assert (
        line("sigaltstack", BUF, 0, ret=0, mem=mem)
        == "sigaltstack({ss_sp=0x4238f00000, ss_flags=0, ss_size=32768}, NULL) = 0"
    )
    mem.put(BUF, struct.pack("<QQ", 8 << 20, 2**64 - 1))
    assert (
        line("getrlimit", 3, BUF, ret=0, mem=mem)
        == "getrlimit(RLIMIT_STACK, {rlim_cur=8192*1024, rlim_max=RLIM64_INFINITY}) = 0"
    )
    mem.put(BUF, struct.pack("<QQ", 20000, 20000))
    assert (
        line("prlimit64", 0, 7, 0, BUF, ret=0, mem=mem)
        == "prlimit64(0, RLIMIT_NOFILE, NULL, {rlim_cur=20000, rlim_max=20000}) = 0"
    )
    assert (
        line("prlimit64", 0, 77, 0, 0x7FFF802CB2C0, ret=-22)
        == "prlimit64(0, 0x4d /* RLIMIT_??? */, NULL, 0x7fff802cb2c0) = -1 EINVAL (Invalid argument)"
    )


def test_system_information() -> None:
    mem = FakeMemory()
    mem.put(BUF, b"\x03" + b"\0" * 31)
    expected = "sched_getaffinity(0, 8192, [0 1]) = 32"
    assert line("sched_getaffinity", 0, 8192, BUF, ret=32, mem=mem) == expected
    mem.put(BUF, b"Linux".ljust(65, b"\0") + b"vm".ljust(65, b"\0") + b"6.1".ljust(65 * 4, b"\0"))
    assert line("uname", BUF, ret=0, mem=mem) == 'uname({sysname="Linux", nodename="vm", ...}) = 0'
    stat = bytearray(144)
    struct.pack_into("<I", stat, 24, 0o100644)
    struct.pack_into("<q", stat, 48, 1221)
    mem.put(BUF, bytes(stat))
    mem.put(PATHS, b"/etc/passwd\0")
    cwd = -100 & (2**64 - 1)
    assert (
        line("newfstatat", cwd, PATHS, BUF, 0, ret=0, mem=mem)
        == 'newfstatat(AT_FDCWD, "/etc/passwd", {st_mode=S_IFREG|0644, st_size=1221, ...}, 0) = 0'
    )
    struct.pack_into("<I", stat, 24, 0o20666)
    struct.pack_into("<Q", stat, 40, (1 << 8) | 3)
    mem.put(BUF, bytes(stat))
    assert (
        line("fstat", 1, BUF, ret=0, mem=mem)
        == "fstat(1, {st_mode=S_IFCHR|0666, st_rdev=makedev(0x1, 0x3), ...}) = 0"
    )
    mem.put(PATHS, b"\0")
    assert (
        line("newfstatat", 3, PATHS, 0x7FFF802CB300, 0x1000, ret=-9, mem=mem)
        == 'newfstatat(3, "", 0x7fff802cb300, AT_EMPTY_PATH) = -1 EBADF (Bad file descriptor)'
    )
    mem.put(BUF, bytes.fromhex("01f18b7e51091da6"))
    assert line("getrandom", BUF, 8, 1, ret=8, mem=mem) == (
        r'getrandom("\x01\xf1\x8b\x7e\x51\x09\x1d\xa6", 8, GRND_NONBLOCK) = 8'
    )
    mem.put(PATHS, b"/proc/self/exe\0")
    mem.put(BUF, b"/tmp/st/c/t" + b"\xff" * 20)
    assert (
        line("readlinkat", cwd, PATHS, BUF, 256, ret=11, mem=mem)
        == 'readlinkat(AT_FDCWD, "/proc/self/exe", "/tmp/st/c/t", 256) = 11'
    )


def test_fcntl() -> None:
    assert line("fcntl", 0, 1, ret=0) == "fcntl(0, F_GETFD) = 0"
    assert line("fcntl", 1, 1, ret=1) == "fcntl(1, F_GETFD) = 0x1 (flags FD_CLOEXEC)"
    assert line("fcntl", 1, 2, 1, ret=0) == "fcntl(1, F_SETFD, FD_CLOEXEC) = 0"
    assert line("fcntl", 1, 1030, 10, ret=11) == "fcntl(1, F_DUPFD_CLOEXEC, 10) = 11"
    assert line("fcntl", 0, 3, ret=0x8000) == "fcntl(0, F_GETFL) = 0x8000 (flags O_RDONLY|O_LARGEFILE)"
    assert line("fcntl", 1, 3, ret=0x8001) == "fcntl(1, F_GETFL) = 0x8001 (flags O_WRONLY|O_LARGEFILE)"
    assert line("fcntl", 5, 4, 0x8800, ret=0) == "fcntl(5, F_SETFL, O_RDONLY|O_NONBLOCK|O_LARGEFILE) = 0"
    assert line("fcntl", 99, 3, ret=-9) == "fcntl(99, F_GETFL) = -1 EBADF (Bad file descriptor)"
    expected = "fcntl(1, 0x4d2 /* F_??? */, 0x5) = -1 EINVAL (Invalid argument)"
    assert line("fcntl", 1, 1234, 5, ret=-22) == expected


def test_process_calls() -> None:
    flags_ = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000 | 0x80000
    assert line("clone", flags_, 0x4238F22000, 0, 0, 0x4238F36090, ret=8525) == (
        "clone(child_stack=0x4238f22000, flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|"
        "CLONE_SYSVSEM|CLONE_SETTLS, tls=0x4238f36090) = 8525"
    )
    assert line("clone", 0x1200011, 0, 0, 0x7F00, 0, ret=42).startswith(
        "clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f00)"
    )
    assert line("arch_prctl", 0x1002, 0x580428, ret=0) == "arch_prctl(ARCH_SET_FS, 0x580428) = 0"
    mem = FakeMemory()
    mem.put(BUF, struct.pack("<Q", 0x7F16B87EF740))
    assert line("arch_prctl", 0x1003, BUF, ret=0, mem=mem) == "arch_prctl(ARCH_GET_FS, [0x7f16b87ef740]) = 0"
    assert (
        line("arch_prctl", 0x1234, 0, ret=-22)
        == "arch_prctl(0x1234 /* ARCH_??? */, 0) = -1 EINVAL (Invalid argument)"
    )
    mem.put(PATHS, b" Go: immortal metadata\0")
    assert line("prctl", 0x53564D41, 0, 0x7FFBE6EBC000, 262144, PATHS, ret=-22, mem=mem) == (
        'prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, 0x7ffbe6ebc000, 262144, " Go: immortal metadata")'
        " = -1 EINVAL (Invalid argument)"
    )
    mem.put(PATHS, b"myname\0")
    assert line("prctl", 15, PATHS, ret=0, mem=mem) == 'prctl(PR_SET_NAME, "myname") = 0'
    assert line("prctl", 16, PATHS, ret=0, mem=mem) == 'prctl(PR_GET_NAME, "myname") = 0'
    assert line("prctl", 1, 9, ret=0) == "prctl(PR_SET_PDEATHSIG, SIGKILL) = 0"
    assert (
        line("prctl", 9999, 1, 2, 3, 4, ret=-22)
        == "prctl(0x270f /* PR_??? */, 0x1, 0x2, 0x3, 0x4) = -1 EINVAL (Invalid argument)"
    )
    assert line("set_tid_address", 0x7FFF802CB28C, ret=13608) == "set_tid_address(0x7fff802cb28c) = 13608"
    assert line("tgkill", 13608, 13608, 0, ret=0) == "tgkill(13608, 13608, 0) = 0"
    assert line("tkill", 13608, 23, ret=0) == "tkill(13608, SIGURG) = 0"
    assert line("kill", 13608, 10, ret=0) == "kill(13608, SIGUSR1) = 0"
    for name in ("getpid", "gettid", "getppid", "sched_yield", "getuid", "getegid"):
        assert line(name, ret=0) == f"{name}() = 0"
    assert line("lseek", 0, 0, 1, ret=0) == "lseek(0, 0, SEEK_CUR) = 0"
    assert line("clone3", 0, 0, ret=-22) == "clone3(NULL, 0) = -1 EINVAL (Invalid argument)"
    mem.put(BUF, b"/tmp/st/c\0")
    assert line("getcwd", BUF, 256, ret=10, mem=mem) == 'getcwd("/tmp/st/c", 256) = 10'
    assert (
        line("ioctl", 1, 0x5401, 0x7FFF802CB3C0, ret=-25)
        == "ioctl(1, TCGETS, 0x7fff802cb3c0) = -1 ENOTTY (Inappropriate ioctl for device)"
    )


def test_unfinished_and_resumed() -> None:
    """strace -f splits a call that blocks: ``<unfinished ...>`` / ``<... resumed>``."""
    mem = FakeMemory()
    mem.put(BUF, b"\0" * 8)
    sc = BY_NAME["rt_sigprocmask"]
    call = Call((2, BUF, 0, 8, 0, 0))
    entry = decode_args(sc, call, mem, out=False)
    expected = "rt_sigprocmask(SIG_SETMASK, [],  <unfinished ...>"
    assert render_entry(sc, entry) + " <unfinished ...>" == expected
    done = Call(call.args, 0)
    exit_ = decode_args(sc, done, mem, out=True, entry=entry)
    assert "<... rt_sigprocmask resumed>" + render_resumed(sc, entry, exit_, decode_ret(sc, done, mem)) == (
        "<... rt_sigprocmask resumed>NULL, 8) = 0"
    )
    assert render_call(sc, exit_, decode_ret(sc, done, mem)) == "rt_sigprocmask(SIG_SETMASK, [], NULL, 8) = 0"

    sc = BY_NAME["futex"]
    call = Call((0x5804F8, 129, 1, 0, 0, 0))
    entry = decode_args(sc, call, mem, out=False)
    expected = "futex(0x5804f8, FUTEX_WAKE_PRIVATE, 1 <unfinished ...>"
    assert render_entry(sc, entry) + " <unfinished ...>" == expected
    assert render_resumed(sc, entry, entry, 0) == ") = 0"

    sc = BY_NAME["clone"]
    thread_flags = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000 | 0x80000
    call = Call((thread_flags, 0x4238F4E000, 0, 0, 0x4238F37090, 0))
    entry = decode_args(sc, call, mem, out=False)
    assert render_entry(sc, entry) + " <unfinished ...>" == (
        "clone(child_stack=0x4238f4e000, flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|"
        "CLONE_SYSVSEM|CLONE_SETTLS <unfinished ...>"
    )
    done = Call(call.args, 8527)
    exit_ = decode_args(sc, done, mem, out=True, entry=entry)
    assert render_resumed(sc, entry, exit_, decode_ret(sc, done, mem)) == ", tls=0x4238f37090) = 8527"

    sc = BY_NAME["gettid"]
    assert render_entry(sc, decode_args(sc, Call((0,) * 6), mem, out=False)) == "gettid("


def test_in_arguments_keep_their_entry_values() -> None:
    """An in-buffer changed during the call still shows what was passed."""
    mem = FakeMemory()
    mem.put(BUF, b"before")
    sc = BY_NAME["write"]
    call = Call((1, BUF, 6, 0, 0, 0))
    entry = decode_args(sc, call, mem, out=False)
    mem.write(BUF, b"after!")
    exit_ = decode_args(sc, Call(call.args, 6), mem, out=True, entry=entry)
    assert render_call(sc, exit_, 6) == 'write(1, "before", 6) = 6'


# --- flag sets ------------------------------------------------------------------------


def test_flag_sets() -> None:
    assert flags.PROT.render(0) == "PROT_NONE"
    assert flags.PROT.render(3) == "PROT_READ|PROT_WRITE"
    assert flags.PROT.render(0x10003) == "PROT_READ|PROT_WRITE|0x10000"
    assert flags.GRND.render(0) == "0"
    assert flags.MADV.render(4) == "MADV_DONTNEED"
    assert flags.render_signal(32) == "SIGRTMIN" and flags.render_signal(33) == "SIGRT_1"
    assert flags.render_signal(0) == "0" and flags.render_signal(-1) == "-1"
    assert flags.render_sigset(0) == "[]" and flags.render_sigset(2**64 - 1) == "~[]"
    assert flags.render_sigset(1 << 22) == "[URG]"
    assert flags.render_clone_flags(0x11) == "SIGCHLD"
    assert flags.render_clone_flags(0) == "0"
    assert flags.render_open_flags(3) == "O_ACCMODE"
    assert flags.render_file_mode(0o104755) == "S_IFREG|S_ISUID|0755"
    assert flags.render_file_mode(0o100000) == "S_IFREG|000"
    assert flags.render_mode(0o7) == "007"


# --- string escaping ---------------------------------------------------------------------

_SIMPLE = {'"': 0x22, "\\": 0x5C, "f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B}


def unescape(text: str) -> bytes:
    """Invert strace's quoting: C escapes, octal (greedy, up to 3 digits), \\xNN."""
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out.append(ord(ch))
            i += 1
            continue
        nxt = text[i + 1]
        if nxt in _SIMPLE:
            out.append(_SIMPLE[nxt])
            i += 2
        elif nxt == "x":
            out.append(int(text[i + 2 : i + 4], 16))
            i += 4
        else:
            j = i + 1
            while j < len(text) and j < i + 4 and text[j] in "01234567":
                j += 1
            out.append(int(text[i + 1 : j], 8))
            i = j
    return bytes(out)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"\x00", r"\0"),
        (b"\x001", r"\0001"),
        (b"\x008", r"\08"),
        (b"\x1b[", r"\33["),
        (b"\x1b7", r"\0337"),
        (b"\xff\xfe", r"\377\376"),
        (b"\x7f", r"\177"),
        (b"\x01\x02", r"\1\2"),
        (b"\x010", r"\0010"),
        (b'a"b', r"a\"b"),
        (b"~ ", "~ "),
    ],
)
def test_escape_cases(data: bytes, text: str) -> None:
    assert escape(data) == text


def test_quote_truncation_marks() -> None:
    assert quote(b"abc") == '"abc"'
    assert quote(b"abc", True) == '"abc"...'
    assert quote(b"\x01\x02", hexall=True) == r'"\x01\x02"'


@given(st.binary(max_size=200))
def test_escape_round_trips(data: bytes) -> None:
    text = escape(data)
    assert all(0x20 <= ord(c) < 0x7F for c in text)
    assert unescape(text) == data
    assert unescape(escape(data, hexall=True)) == data


@given(st.binary(max_size=100))
def test_buffer_shows_first_32_bytes(data: bytes) -> None:
    mem = FakeMemory()
    mem.put(BUF, data or b"\0")
    text = line("write", 1, BUF, len(data), ret=len(data), mem=mem)
    shown = text[len("write(1, ") : text.rindex(f", {len(data)}) = ")]
    more = len(data) > MAX_STRLEN
    assert shown.endswith('"...') == more
    body = shown[1 : -4 if more else -1]
    assert unescape(body) == data[:MAX_STRLEN]


# --- robustness -----------------------------------------------------------------------------

_REG = st.one_of(
    st.integers(0, 2**64 - 1),
    st.sampled_from([0, 1, 8, 0xFFFF_FFFF, 2**64 - 1, 2**64 - 100, 2**63, 4096, 0x7FFF_0000_0000]),
)
_RET = st.one_of(st.none(), st.integers(-4095, -1), st.integers(0, 2**64 - 1), st.integers(0, 64))


def _render_everything(mem: object, args: tuple[int, ...], ret: int | None, sp: int | None) -> None:
    for sc in TABLE.values():
        call = Call(args, None, sp)
        entry = decode_args(sc, call, mem, out=False)  # type: ignore[arg-type]
        render_entry(sc, entry)
        done = Call(args, ret, sp)
        exit_ = decode_args(sc, done, mem, out=True, entry=entry)  # type: ignore[arg-type]
        assert Mark.PENDING not in exit_
        decoded_ret = decode_ret(sc, done, mem)  # type: ignore[arg-type]
        text = render_call(sc, exit_, decoded_ret)
        assert text.startswith(sc.name + "(")
        render_resumed(sc, entry, exit_, decoded_ret)


@settings(max_examples=60, deadline=None)
@given(st.tuples(*[_REG] * 6), _RET, st.one_of(st.none(), _REG))
def test_no_kind_raises_on_unmapped_memory(args: tuple[int, ...], ret: int | None, sp: int | None) -> None:
    _render_everything(NoMemory(), args, ret, sp)


@settings(max_examples=40, deadline=None)
@given(st.tuples(*[_REG] * 6), _RET, st.binary(min_size=1, max_size=64))
def test_no_kind_raises_on_arbitrary_memory(args: tuple[int, ...], ret: int | None, noise: bytes) -> None:
    _render_everything(NoiseMemory(noise), args, ret, 0x1000)


def test_decoded_values_are_plain_data() -> None:
    """Decoded arguments hold no reference to memory: they can be pickled."""
    import pickle

    mem = FakeMemory()
    mem.put(BUF, _sigaction(0x4805E0, 0x04000000, 0x480720, 0))
    sc = BY_NAME["rt_sigaction"]
    args = decode_args(sc, Call((1, BUF, BUF, 8, 0, 0), 0), mem, out=True)
    assert pickle.loads(pickle.dumps(args)) == args


def _by_kind_rules(sc, call: Call, mem: object, out: bool, entry: list[object] | None) -> list[object]:
    """Each argument through its kind's own ``decode``: the rules decode_args must give, however it
    gets there faster."""
    result: list[object] = []
    for i, arg in enumerate(sc.args):
        value = call.args[sc.reg(i)] if sc.reg(i) < len(call.args) else 0
        if arg.kind.is_out(call):
            result.append(arg.kind.decode(value, call, mem) if out else Mark.PENDING)  # type: ignore[arg-type]
        elif out and entry is not None and entry[i] is not Mark.PENDING:
            result.append(entry[i])
        else:
            result.append(arg.kind.decode(value, call, mem))  # type: ignore[arg-type]
    return result


@settings(max_examples=40, deadline=None)
@given(st.tuples(*[_REG] * 6), _RET, st.binary(min_size=1, max_size=64))
def test_decoding_follows_each_kinds_rules(args: tuple[int, ...], ret: int | None, noise: bytes) -> None:
    """The precomputed per-row decoding (what every recorded syscall goes through) decodes each
    argument exactly as its kind says, on both halves of the call, for every row."""
    mem = NoiseMemory(noise)
    for sc in TABLE.values():
        call, done = Call(args, None, 0x1000), Call(args, ret, 0x1000)
        entry = decode_args(sc, call, mem, out=False)  # type: ignore[arg-type]
        assert entry == _by_kind_rules(sc, call, mem, False, None)
        exit_ = decode_args(sc, done, mem, out=True, entry=entry)  # type: ignore[arg-type]
        assert exit_ == _by_kind_rules(sc, done, mem, True, entry)


def test_hello_traces_the_same_through_each_kinds_rules(monkeypatch) -> None:
    """End to end, on real guest memory: hello's strace text (every line, 194 syscalls, most of them
    reading a struct) is byte-identical whether the machine decodes through the per-row plan or
    argument by argument through each kind's rules."""
    from conftest import built

    from emulator import api, machine
    from syscalls import capture

    path = built("hello")
    planned = api.run(path).strace()

    def by_rules(sc, call, mem, *, out, entry=None):
        return _by_kind_rules(sc, call, mem, out, None if entry is None else list(entry))

    monkeypatch.setattr(machine, "decode_args", by_rules)
    monkeypatch.setattr(capture, "decode_args", by_rules)
    assert "\n".join(api.run(path).strace()) == "\n".join(planned)
    assert len(planned) > 150 and any(line.startswith("rt_sigaction(SIG") for line in planned)
