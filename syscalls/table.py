# ruff: noqa: E501  -- one row per syscall, on one line each, is the point of this file
"""THE x86-64 syscall table: one row per syscall, as in gVisor's linux64.go.

Each row declares the number, the name, how far the emulator supports it,
and every argument with its kind.  The strace-style rendering comes from the
same row, so a syscall is described in exactly one place.

A row reads::

    _(1, "write", FULL, fd=FD, buf=buf_in("count"), count=SIZE, ret=SSIZE)

* support: FULL, PARTIAL (note says what is missing), ERRNO (answered on
  purpose with a fixed error; note says which and why) or NONE (-ENOSYS,
  reported at the end of a run).  To change it, edit the third column.
* arguments: keyword per register, in register order, named as in the man
  page (a trailing ``_`` is dropped, for names that are Python keywords).
  ``Reg(i, kind)`` puts an argument in register ``i`` when strace shows
  them in another order (clone).  ``labels=True`` prints ``name=value``.
* ``ret``: how the result is shown (default: signed decimal).

``python -m syscalls.table`` prints the table as Markdown.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

from . import flags as fl
from .abi import GuestMemory
from .kinds import (
    _M64,
    ADDR,
    ARGV,
    CLONE_FLAGS,
    CPUSET_OUT,
    DIRFD,
    ENVP,
    FD,
    FDS_OUT,
    FILE_MODE,
    HEX,
    HEX32,
    ID,
    INT,
    INT_OUT,
    LONG,
    MMAP_FLAGS,
    MODE,
    NORETURN,
    OFF,
    OMIT,
    OPEN_FLAGS,
    PATH,
    PATH_OUT,
    PID,
    PTR,
    PTR_OUT,
    RLIMIT,
    RLIMIT_OUT,
    SIG,
    SIGACTION,
    SIGACTION_OUT,
    SIGFRAME,
    SIZE,
    SOCK_TYPE,
    SSIZE,
    STACK,
    STACK_OUT,
    STAT_OUT,
    STR,
    TIME_OUT,
    TIME_RET,
    TIMESPEC,
    TIMESPEC_OUT,
    TIMEVAL,
    TIMEVAL_OUT,
    UINT,
    ULONG,
    UTSNAME_OUT,
    Call,
    CStr,
    Custom,
    EpollEvent,
    Errno,
    FlagsRet,
    IntOut,
    Iovec,
    Kind,
    Mark,
    Mincore,
    NoReturn,
    Num,
    OctalRet,
    Ptr,
    Sigset,
    When,
    buf_in,
    buf_out,
    enum,
    flags,
    is_error,
    on,
    signed64,
)

__all__ = [
    "BY_NAME",
    "ERRNO",
    "FULL",
    "NONE",
    "PARTIAL",
    "TABLE",
    "Arg",
    "Reg",
    "Support",
    "Syscall",
    "decode_args",
    "decode_ret",
    "lookup",
    "markdown",
    "render_args",
    "render_call",
    "render_entry",
    "render_resumed",
    "render_ret",
    "strace_line",
]


class Support(Enum):
    """How far the emulator implements a syscall."""

    FULL = "full"  # implemented as Linux does
    PARTIAL = "partial"  # implemented; the note says what is missing
    ERRNO = "errno"  # answered on purpose with a fixed error (the note says which and why)
    NONE = "none"  # not implemented: -ENOSYS, reported at the end of the run


FULL, PARTIAL, ERRNO, NONE = Support.FULL, Support.PARTIAL, Support.ERRNO, Support.NONE


@dataclass(frozen=True)
class Arg:
    """One argument: its man-page name, its kind, and the register it is in."""

    name: str
    kind: Kind
    reg: int | None = None  # None: the argument's position
    label: bool = False  # strace prints ``name=value`` (clone)


@dataclass(frozen=True)
class Syscall:
    """One row of the table."""

    nr: int
    name: str
    args: tuple[Arg, ...]
    ret: Kind
    support: Support
    note: str = ""

    def reg(self, i: int) -> int:
        """The register index of argument ``i``."""
        r = self.args[i].reg
        return i if r is None else r

    # Worked out once per row (recorded runs decode every syscall, and the generic rules cost more
    # than the decoding itself):
    # plan: per argument (register, kind, whether it is out or None if that depends on the call,
    # whether its kind decodes from the register alone).
    plan: tuple[tuple[int, Kind, bool | None, bool], ...] = field(init=False, repr=False, compare=False)
    # entry_memory: (register, kind) of the arguments that may be read from guest memory before the
    # call. When all of those registers are 0 (NULL) the entry half depends on the registers alone
    # and can wait for the exit.
    entry_memory: tuple[tuple[int, Kind], ...] = field(init=False, repr=False, compare=False)
    # exit_memory: (register, kind) of the arguments that may be read from guest memory after it.
    exit_memory: tuple[tuple[int, Kind], ...] = field(init=False, repr=False, compare=False)
    # has_out: whether any argument may be decoded after the call (else the entry half is the whole).
    has_out: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        plan = tuple(
            (
                self.reg(i),
                arg.kind,
                arg.kind.out if type(arg.kind).is_out is Kind.is_out else None,
                arg.kind.register_only and not arg.kind.out,
            )
            for i, arg in enumerate(self.args)
        )
        object.__setattr__(self, "plan", plan)
        entry = tuple(
            (reg, kind) for reg, kind, out, register_only in plan if out is not True and not register_only
        )
        object.__setattr__(self, "entry_memory", entry)
        exit_ = tuple(
            (reg, kind) for reg, kind, out, _ in plan if out is not False and not kind.register_only
        )
        object.__setattr__(self, "exit_memory", exit_)
        object.__setattr__(self, "has_out", any(out is not False for _, _, out, _ in plan))


@dataclass(frozen=True)
class Reg:
    """Put an argument in register ``index`` (when display order differs)."""

    index: int
    kind: Kind


TABLE: dict[int, Syscall] = {}
BY_NAME: dict[str, Syscall] = {}


def _(
    nr: int,
    name: str,
    support: Support,
    /,
    *,
    ret: Kind = LONG,
    note: str = "",
    labels: bool = False,
    **args: Kind | Reg,
) -> None:
    """Declare one row; kinds referring to other arguments get bound here."""
    if nr in TABLE or name in BY_NAME:
        raise ValueError(f"duplicate syscall row {nr} {name}")
    names: dict[str, int] = {}
    placed: list[tuple[str, int, Kind]] = []
    for pos, (key, spec) in enumerate(args.items()):
        reg, kind = (spec.index, spec.kind) if isinstance(spec, Reg) else (pos, spec)
        arg_name = key.rstrip("_")
        names[arg_name] = reg
        placed.append((arg_name, reg, kind))
    row = tuple(Arg(n, k.bind(names), reg, labels) for n, reg, k in placed)
    sc = Syscall(nr, name, row, ret.bind(names), support, note)
    TABLE[nr] = sc
    BY_NAME[name] = sc


# --- shared argument shapes -------------------------------------------------------

_O_TMPFILE_BIT = 0o20000000
_O_CREAT = 0o100
_MODE_IF_CREAT = When("flags", _O_CREAT | _O_TMPFILE_BIT, MODE)

_F = fl.F.value
_FCNTL_ARG = on(
    "cmd",
    {
        _F("F_GETFD"): OMIT,
        _F("F_GETFL"): OMIT,
        _F("F_GETOWN"): OMIT,
        _F("F_GETSIG"): OMIT,
        _F("F_GETLEASE"): OMIT,
        _F("F_GETPIPE_SZ"): OMIT,
        _F("F_GET_SEALS"): OMIT,
        _F("F_SETFD"): flags(fl.FD_FLAGS),
        _F("F_SETFL"): OPEN_FLAGS,
        _F("F_DUPFD"): INT,
        _F("F_DUPFD_CLOEXEC"): INT,
        _F("F_SETOWN"): INT,
        _F("F_SETSIG"): SIG,
        _F("F_SETPIPE_SZ"): INT,
        _F("F_GETLK"): PTR,
        _F("F_SETLK"): PTR,
        _F("F_SETLKW"): PTR,
        _F("F_OFD_GETLK"): PTR,
        _F("F_OFD_SETLK"): PTR,
        _F("F_OFD_SETLKW"): PTR,
        _F("F_GETOWN_EX"): PTR,
        _F("F_SETOWN_EX"): PTR,
    },
    HEX,
)
_FCNTL_RET = on(
    "cmd",
    {
        _F("F_GETFL"): FlagsRet(fl.render_open_flags),
        _F("F_GETFD"): FlagsRet(fl.FD_FLAGS.render, zero_plain=True),
    },
    LONG,
)

# futex: which of val, timeout/val2, uaddr2, val3 strace shows depends on the
# command (src/futex.c); unknown commands show them all, raw.
_FX = {n[6:]: v for v, n in fl.FUTEX_CMD.items}
_FX_ALL = set(_FX.values())


def _futex(shown: dict[str, Kind], default: Kind) -> Kind:
    """One futex argument: kind per command, OMIT for known commands not listed."""
    cases = {c: OMIT for c in _FX_ALL} | {_FX[k]: v for k, v in shown.items()}
    return on("futex_op", cases, default, mask=fl.FUTEX_CMD_MASK)


_WAITS = ("WAIT", "WAIT_BITSET", "WAIT_REQUEUE_PI")
_FUTEX_VAL = _futex(
    {c: UINT for c in _FX if c not in ("LOCK_PI", "LOCK_PI2", "UNLOCK_PI", "TRYLOCK_PI")}, UINT
)
_FUTEX_TIMEOUT = _futex(
    {
        **{c: TIMESPEC for c in (*_WAITS, "LOCK_PI", "LOCK_PI2")},
        **{c: UINT for c in ("REQUEUE", "CMP_REQUEUE", "CMP_REQUEUE_PI", "WAKE_OP")},
    },
    PTR,
)
_FUTEX_UADDR2 = _futex(
    {c: PTR for c in ("REQUEUE", "CMP_REQUEUE", "CMP_REQUEUE_PI", "WAKE_OP", "WAIT_REQUEUE_PI")}, PTR
)
_FUTEX_VAL3 = _futex(
    {
        "WAIT_BITSET": enum(fl.FUTEX_BITSET),
        "WAKE_BITSET": enum(fl.FUTEX_BITSET),
        "CMP_REQUEUE": UINT,
        "CMP_REQUEUE_PI": UINT,
        "WAKE_OP": Custom(fl.render_futex_wake_op),
    },
    HEX32,
)

# prctl: arguments by option (src/prctl.c); the default shows the four raw.
_PR = fl.PR.value
_PR_QUIET = (
    "PR_GET_KEEPCAPS",
    "PR_GET_SECCOMP",
    "PR_GET_TIMERSLACK",
    "PR_GET_TIMING",
    "PR_GET_DUMPABLE",
    "PR_GET_SECUREBITS",
    "PR_GET_FP_MODE",
    "PR_SVE_GET_VL",
    "PR_SME_GET_VL",
    "PR_TASK_PERF_EVENTS_DISABLE",
    "PR_TASK_PERF_EVENTS_ENABLE",
)
_PR_ONE = {
    "PR_SET_NAME": CStr(size=15),
    "PR_GET_NAME": CStr(out=True, size=16),
    "PR_SET_PDEATHSIG": SIG,
    "PR_GET_PDEATHSIG": INT_OUT,
    "PR_GET_TID_ADDRESS": PTR_OUT,
    "PR_SET_DUMPABLE": ULONG,
    "PR_SET_KEEPCAPS": ULONG,
    "PR_SET_CHILD_SUBREAPER": ULONG,
    "PR_GET_CHILD_SUBREAPER": INT_OUT,
    "PR_SET_TIMERSLACK": LONG,
    "PR_SET_PTRACER": INT,
}
_PR_U2 = ("PR_SET_NO_NEW_PRIVS", "PR_SET_THP_DISABLE", "PR_SET_IO_FLUSHER")  # arg2 decimal, rest raw


def _prctl(i: int) -> Kind:
    """prctl's argument ``i`` (2..5)."""
    cases: dict[int, Kind] = {_PR(o): OMIT for o in _PR_QUIET}
    cases |= {_PR(o): (k if i == 2 else OMIT) for o, k in _PR_ONE.items()}
    if i == 2:
        cases |= {_PR(o): ULONG for o in _PR_U2}
    vma = {2: enum(fl.PR_SET_VMA_ATTR, bits=64), 3: PTR, 4: ULONG, 5: STR}[i]
    cases[_PR("PR_SET_VMA")] = vma
    return on("option", cases, HEX)


_ARCH_ADDR = on("code", {fl.ARCH_GET_FS: PTR_OUT, fl.ARCH_GET_GS: PTR_OUT}, HEX)
_SIGSET = Sigset("sigsetsize")
_SIGSET_OUT = Sigset("sigsetsize", out=True)
_CL = fl.CLONE.value
_UINT_OUT = IntOut()
_IOCTL = enum(fl.IOCTL)
_RUSAGE_WHO = enum(fl.RUSAGE, signed=True)
_STRUCT_OUT = Ptr(out=True)  # a struct the kernel fills that strace would decode; shown as its address
_ADDR32 = Num(bits=32, signed=False, hex=True)

# --- the table ----------------------------------------------------------------------
# fmt: off

# file descriptors: read and write
_(0, "read", FULL, fd=FD, buf=buf_out(), count=SIZE, ret=SSIZE)
_(1, "write", FULL, fd=FD, buf=buf_in("count"), count=SIZE, ret=SSIZE)
_(17, "pread64", FULL, fd=FD, buf=buf_out(), count=SIZE, offset=OFF, ret=SSIZE)
_(18, "pwrite64", FULL, fd=FD, buf=buf_in("count"), count=SIZE, offset=OFF, ret=SSIZE)
_(19, "readv", FULL, fd=FD, iov=Iovec("iovcnt", out=True), iovcnt=INT, ret=SSIZE)
_(20, "writev", FULL, fd=FD, iov=Iovec("iovcnt"), iovcnt=INT, ret=SSIZE)
_(295, "preadv", FULL, fd=FD, iov=Iovec("iovcnt", out=True), iovcnt=INT, offset=OFF, ret=SSIZE)
_(296, "pwritev", FULL, fd=FD, iov=Iovec("iovcnt"), iovcnt=INT, offset=OFF, ret=SSIZE)
_(327, "preadv2", NONE, fd=FD, iov=Iovec("iovcnt", out=True), iovcnt=INT, offset=OFF, flags=Reg(5, flags(fl.RWF)), ret=SSIZE)
_(328, "pwritev2", NONE, fd=FD, iov=Iovec("iovcnt"), iovcnt=INT, offset=OFF, flags=Reg(5, flags(fl.RWF)), ret=SSIZE)
_(8, "lseek", FULL, fd=FD, offset=OFF, whence=enum(fl.SEEK), ret=OFF)
_(40, "sendfile", PARTIAL, out_fd=FD, in_fd=FD, offset=PTR, count=SIZE, ret=SSIZE, note="from regular or generated files; others EINVAL")
_(275, "splice", NONE, fd_in=FD, off_in=PTR, fd_out=FD, off_out=PTR, len=SIZE, flags=flags(fl.SPLICE), ret=SSIZE)
_(276, "tee", NONE, fd_in=FD, fd_out=FD, len=SIZE, flags=flags(fl.SPLICE), ret=SSIZE)
_(278, "vmsplice", NONE, fd=FD, iov=Iovec("nr_segs"), nr_segs=ULONG, flags=flags(fl.SPLICE), ret=SSIZE)
_(326, "copy_file_range", PARTIAL, fd_in=FD, off_in=PTR, fd_out=FD, off_out=PTR, len=SIZE, flags=UINT, ret=SSIZE, note="between regular files; others EINVAL (Go then reads and writes)")
_(187, "readahead", NONE, fd=FD, offset=OFF, count=SIZE)

# file descriptors: open, close, duplicate, control
_(2, "open", FULL, pathname=PATH, flags=OPEN_FLAGS, mode=_MODE_IF_CREAT, ret=FD)
_(257, "openat", PARTIAL, dirfd=DIRFD, pathname=PATH, flags=OPEN_FLAGS, mode=_MODE_IF_CREAT, ret=FD, note="O_TMPFILE answers EOPNOTSUPP")
_(85, "creat", FULL, pathname=PATH, mode=MODE, ret=FD)
_(437, "openat2", PARTIAL, dirfd=DIRFD, pathname=PATH, how=PTR, size=SIZE, ret=FD, note="RESOLVE_CACHED answers EAGAIN")
_(304, "open_by_handle_at", ERRNO, mount_fd=FD, handle=PTR, flags=OPEN_FLAGS, ret=FD, note="ENOSYS on purpose: a file handle names a host inode, past the sandbox's path walk")
_(3, "close", FULL, fd=FD)
_(436, "close_range", NONE, first=UINT, last=UINT, flags=flags(fl.CLOSE_RANGE))
_(32, "dup", FULL, oldfd=FD, ret=FD)
_(33, "dup2", FULL, oldfd=FD, newfd=FD, ret=FD)
_(292, "dup3", FULL, oldfd=FD, newfd=FD, flags=flags(fl.O_CLOEXEC_ONLY), ret=FD)
_(72, "fcntl", PARTIAL, fd=FD, cmd=enum(fl.F), arg=_FCNTL_ARG, ret=_FCNTL_RET, note="F_GETFD/F_SETFD/F_GETFL/F_SETFL/F_DUPFD(_CLOEXEC); record locks always granted (one process); others EINVAL")
_(16, "ioctl", PARTIAL, fd=FD, request=_IOCTL, argp=PTR, note="FIONBIO, FIOCLEX/FIONCLEX; TCGETS answers ENOTTY (no terminal); others ENOTTY/EINVAL")
_(73, "flock", PARTIAL, fd=FD, operation=flags(fl.LOCK), note="one process: every lock is granted")
_(74, "fsync", FULL, fd=FD, note="nothing outlives the run: a no-op")
_(75, "fdatasync", FULL, fd=FD, note="nothing outlives the run: a no-op")
_(162, "sync", FULL, note="nothing outlives the run: a no-op")
_(306, "syncfs", FULL, fd=FD, note="nothing outlives the run: a no-op")
_(277, "sync_file_range", NONE, fd=FD, offset=OFF, nbytes=OFF, flags=flags(fl.SYNC_FILE_RANGE))
_(285, "fallocate", NONE, fd=FD, mode=flags(fl.FALLOC), offset=OFF, len=OFF)
_(221, "fadvise64", FULL, fd=FD, offset=OFF, len=OFF, advice=enum(fl.FADV))
_(76, "truncate", FULL, path=PATH, length=OFF)
_(77, "ftruncate", FULL, fd=FD, length=OFF)
_(22, "pipe", FULL, pipefd=FDS_OUT)
_(293, "pipe2", PARTIAL, note="O_DIRECT (packet mode) is accepted and ignored", pipefd=FDS_OUT, flags=flags(fl.PIPE))
_(319, "memfd_create", NONE, name=STR, flags=flags(fl.MFD), ret=FD)
_(447, "memfd_secret", NONE, flags=UINT, ret=FD)

# files: metadata
_(4, "stat", FULL, pathname=PATH, statbuf=STAT_OUT)
_(5, "fstat", FULL, fd=FD, statbuf=STAT_OUT)
_(6, "lstat", FULL, pathname=PATH, statbuf=STAT_OUT)
_(262, "newfstatat", FULL, dirfd=DIRFD, pathname=PATH, statbuf=STAT_OUT, flags=flags(fl.AT))
_(332, "statx", PARTIAL, dirfd=DIRFD, pathname=PATH, flags=flags(fl.AT_STATX), mask=flags(fl.STATX_MASK), statxbuf=_STRUCT_OUT, note="basic fields; no birth time")
_(137, "statfs", FULL, path=PATH, buf=_STRUCT_OUT)
_(138, "fstatfs", FULL, fd=FD, buf=_STRUCT_OUT)
_(136, "ustat", NONE, dev=HEX, ubuf=_STRUCT_OUT)
_(21, "access", FULL, pathname=PATH, mode=flags(fl.ACCESS))
_(269, "faccessat", FULL, dirfd=DIRFD, pathname=PATH, mode=flags(fl.ACCESS))
_(439, "faccessat2", FULL, dirfd=DIRFD, pathname=PATH, mode=flags(fl.ACCESS), flags=flags(fl.AT_ACCESS))
_(89, "readlink", FULL, pathname=PATH, buf=buf_out(), bufsiz=SIZE, ret=SSIZE)
_(267, "readlinkat", FULL, dirfd=DIRFD, pathname=PATH, buf=buf_out(), bufsiz=SIZE, ret=SSIZE)
_(90, "chmod", FULL, pathname=PATH, mode=MODE)
_(91, "fchmod", FULL, fd=FD, mode=MODE)
_(268, "fchmodat", FULL, dirfd=DIRFD, pathname=PATH, mode=MODE)
_(452, "fchmodat2", FULL, dirfd=DIRFD, pathname=PATH, mode=MODE, flags=flags(fl.AT))
_(92, "chown", PARTIAL, pathname=PATH, owner=ID, group=ID, note="only to the guest's own uid/gid, else EPERM")
_(93, "fchown", PARTIAL, fd=FD, owner=ID, group=ID, note="only to the guest's own uid/gid, else EPERM")
_(94, "lchown", PARTIAL, pathname=PATH, owner=ID, group=ID, note="only to the guest's own uid/gid, else EPERM")
_(260, "fchownat", PARTIAL, dirfd=DIRFD, pathname=PATH, owner=ID, group=ID, flags=flags(fl.AT), note="only to the guest's own uid/gid, else EPERM")
_(95, "umask", FULL, mask=MODE, ret=OctalRet())
_(132, "utime", NONE, filename=PATH, times=PTR)
_(235, "utimes", NONE, filename=PATH, times=PTR)
_(261, "futimesat", NONE, dirfd=DIRFD, pathname=PATH, times=PTR)
_(280, "utimensat", FULL, dirfd=DIRFD, pathname=PATH, times=PTR, flags=flags(fl.AT))
_(468, "file_getattr", NONE, dirfd=DIRFD, pathname=PATH, ufattr=_STRUCT_OUT, usize=SIZE, at_flags=flags(fl.AT))
_(469, "file_setattr", NONE, dirfd=DIRFD, pathname=PATH, ufattr=PTR, usize=SIZE, at_flags=flags(fl.AT))
_(451, "cachestat", NONE, fd=FD, cstat_range=PTR, cstat=_STRUCT_OUT, flags=UINT)
_(303, "name_to_handle_at", ERRNO, dirfd=DIRFD, pathname=PATH, handle=PTR, mount_id=PTR, flags=flags(fl.AT), note="ENOSYS on purpose: see open_by_handle_at")

# files: directories and names
_(79, "getcwd", FULL, buf=PATH_OUT, size=SIZE)
_(80, "chdir", FULL, path=PATH)
_(81, "fchdir", FULL, fd=FD)
_(161, "chroot", NONE, path=PATH)
_(78, "getdents", NONE, fd=FD, dirp=_STRUCT_OUT, count=UINT)
_(217, "getdents64", FULL, fd=FD, dirp=_STRUCT_OUT, count=UINT)
_(83, "mkdir", FULL, pathname=PATH, mode=MODE)
_(258, "mkdirat", FULL, dirfd=DIRFD, pathname=PATH, mode=MODE)
_(84, "rmdir", FULL, pathname=PATH)
_(133, "mknod", PARTIAL, note="regular files and FIFOs; devices EPERM (no CAP_MKNOD), sockets EPERM", pathname=PATH, mode=FILE_MODE, dev=HEX)
_(259, "mknodat", PARTIAL, note="regular files and FIFOs; devices EPERM (no CAP_MKNOD), sockets EPERM", dirfd=DIRFD, pathname=PATH, mode=FILE_MODE, dev=HEX)
_(82, "rename", FULL, oldpath=PATH, newpath=PATH)
_(264, "renameat", FULL, olddirfd=DIRFD, oldpath=PATH, newdirfd=DIRFD, newpath=PATH)
_(316, "renameat2", PARTIAL, olddirfd=DIRFD, oldpath=PATH, newdirfd=DIRFD, newpath=PATH, flags=flags(fl.RENAME), note="RENAME_EXCHANGE answers EINVAL")
_(86, "link", FULL, oldpath=PATH, newpath=PATH)
_(265, "linkat", FULL, olddirfd=DIRFD, oldpath=PATH, newdirfd=DIRFD, newpath=PATH, flags=flags(fl.AT))
_(87, "unlink", FULL, pathname=PATH)
_(263, "unlinkat", FULL, dirfd=DIRFD, pathname=PATH, flags=flags(fl.AT))
_(88, "symlink", FULL, target=PATH, linkpath=PATH)
_(266, "symlinkat", FULL, target=PATH, newdirfd=DIRFD, linkpath=PATH)

# files: extended attributes
_(188, "setxattr", NONE, path=PATH, name=STR, value=buf_in("size"), size=SIZE, flags=flags(fl.XATTR))
_(189, "lsetxattr", NONE, path=PATH, name=STR, value=buf_in("size"), size=SIZE, flags=flags(fl.XATTR))
_(190, "fsetxattr", NONE, fd=FD, name=STR, value=buf_in("size"), size=SIZE, flags=flags(fl.XATTR))
_(191, "getxattr", NONE, path=PATH, name=STR, value=buf_out(), size=SIZE, ret=SSIZE)
_(192, "lgetxattr", NONE, path=PATH, name=STR, value=buf_out(), size=SIZE, ret=SSIZE)
_(193, "fgetxattr", NONE, fd=FD, name=STR, value=buf_out(), size=SIZE, ret=SSIZE)
_(194, "listxattr", NONE, path=PATH, list=buf_out(), size=SIZE, ret=SSIZE)
_(195, "llistxattr", NONE, path=PATH, list=buf_out(), size=SIZE, ret=SSIZE)
_(196, "flistxattr", NONE, fd=FD, list=buf_out(), size=SIZE, ret=SSIZE)
_(197, "removexattr", NONE, path=PATH, name=STR)
_(198, "lremovexattr", NONE, path=PATH, name=STR)
_(199, "fremovexattr", NONE, fd=FD, name=STR)
_(463, "setxattrat", NONE, dirfd=DIRFD, pathname=PATH, at_flags=flags(fl.AT), name=STR, uargs=PTR, usize=SIZE)
_(464, "getxattrat", NONE, dirfd=DIRFD, pathname=PATH, at_flags=flags(fl.AT), name=STR, uargs=PTR, usize=SIZE)
_(465, "listxattrat", NONE, dirfd=DIRFD, pathname=PATH, at_flags=flags(fl.AT), list=buf_out(), size=SIZE, ret=SSIZE)
_(466, "removexattrat", NONE, dirfd=DIRFD, pathname=PATH, at_flags=flags(fl.AT), name=STR)

# waiting on file descriptors
_(7, "poll", PARTIAL, note="on the virtual clock; files that cannot be polled are always ready", fds=PTR, nfds=UINT, timeout=INT)
_(271, "ppoll", PARTIAL, note="on the virtual clock; sigmask ignored; files that cannot be polled are always ready", fds=PTR, nfds=UINT, tmo_p=TIMESPEC, sigmask=_SIGSET, sigsetsize=SIZE)
_(23, "select", NONE, nfds=INT, readfds=PTR, writefds=PTR, exceptfds=PTR, timeout=TIMEVAL)
_(270, "pselect6", NONE, nfds=INT, readfds=PTR, writefds=PTR, exceptfds=PTR, timeout=TIMESPEC, sigmask=PTR)
_(213, "epoll_create", PARTIAL, note="eventfds and pipes; files answer EPERM as on Linux", size=INT, ret=FD)
_(291, "epoll_create1", PARTIAL, note="eventfds and pipes; files answer EPERM as on Linux", flags=flags(fl.EPOLL), ret=FD)
_(233, "epoll_ctl", PARTIAL, note="eventfds and pipes; files answer EPERM as on Linux", epfd=FD, op=enum(fl.EPOLL_CTL), fd=FD, event=EpollEvent())
_(232, "epoll_wait", PARTIAL, note="on the virtual clock; eventfds and pipes", epfd=FD, events=_STRUCT_OUT, maxevents=INT, timeout=INT)
_(281, "epoll_pwait", PARTIAL, note="on the virtual clock; eventfds and pipes; sigmask ignored", epfd=FD, events=_STRUCT_OUT, maxevents=INT, timeout=INT, sigmask=_SIGSET, sigsetsize=SIZE)
_(441, "epoll_pwait2", PARTIAL, note="on the virtual clock; eventfds and pipes; sigmask ignored", epfd=FD, events=_STRUCT_OUT, maxevents=INT, timeout=TIMESPEC, sigmask=_SIGSET, sigsetsize=SIZE)
_(214, "epoll_ctl_old", NONE, epfd=FD, op=INT, fd=FD, event=PTR)
_(215, "epoll_wait_old", NONE, epfd=FD, events=PTR, maxevents=INT, timeout=INT)
_(284, "eventfd", FULL, initval=UINT, ret=FD)
_(290, "eventfd2", FULL, initval=UINT, flags=flags(fl.EFD), ret=FD)
_(282, "signalfd", NONE, fd=FD, mask=Sigset("sizemask"), sizemask=SIZE, ret=FD)
_(289, "signalfd4", NONE, fd=FD, mask=Sigset("sizemask"), sizemask=SIZE, flags=flags(fl.SFD), ret=FD)
_(283, "timerfd_create", NONE, clockid=enum(fl.CLOCK), flags=flags(fl.TFD), ret=FD)
_(286, "timerfd_settime", NONE, fd=FD, flags=flags(fl.TFD_TIMER), new_value=PTR, old_value=_STRUCT_OUT)
_(287, "timerfd_gettime", NONE, fd=FD, curr_value=_STRUCT_OUT)
_(253, "inotify_init", NONE, ret=FD)
_(294, "inotify_init1", NONE, flags=flags(fl.IN_INIT), ret=FD)
_(254, "inotify_add_watch", NONE, fd=FD, pathname=PATH, mask=HEX32)
_(255, "inotify_rm_watch", NONE, fd=FD, wd=INT)
_(300, "fanotify_init", NONE, flags=HEX32, event_f_flags=OPEN_FLAGS, ret=FD)
_(301, "fanotify_mark", NONE, fanotify_fd=FD, flags=HEX32, mask=HEX, dirfd=DIRFD, pathname=PATH)

# asynchronous I/O
_(206, "io_setup", NONE, nr_events=UINT, ctx_idp=PTR)
_(207, "io_destroy", NONE, ctx_id=HEX)
_(208, "io_getevents", NONE, ctx_id=HEX, min_nr=LONG, nr=LONG, events=_STRUCT_OUT, timeout=TIMESPEC)
_(209, "io_submit", NONE, ctx_id=HEX, nr=LONG, iocbpp=PTR)
_(210, "io_cancel", NONE, ctx_id=HEX, iocb=PTR, result=_STRUCT_OUT)
_(333, "io_pgetevents", NONE, ctx_id=HEX, min_nr=LONG, nr=LONG, events=_STRUCT_OUT, timeout=TIMESPEC, usig=PTR)
_(425, "io_uring_setup", NONE, entries=UINT, p=PTR, ret=FD)
_(426, "io_uring_enter", NONE, fd=FD, to_submit=UINT, min_complete=UINT, flags=HEX32, sig=PTR, sz=SIZE)
_(427, "io_uring_register", NONE, fd=FD, opcode=UINT, arg=PTR, nr_args=UINT)

# memory
_(9, "mmap", FULL, addr=PTR, length=SIZE, prot=flags(fl.PROT), flags=MMAP_FLAGS, fd=FD, offset=HEX, ret=ADDR)
_(11, "munmap", FULL, addr=PTR, length=SIZE)
_(10, "mprotect", FULL, addr=PTR, len=SIZE, prot=flags(fl.PROT))
_(12, "brk", FULL, addr=PTR, ret=ADDR)
_(25, "mremap", NONE, old_address=PTR, old_size=SIZE, new_size=SIZE, flags=flags(fl.MREMAP), new_address=When("flags", 2, PTR), ret=ADDR)
_(26, "msync", NONE, addr=PTR, length=SIZE, flags=flags(fl.MSYNC))
_(27, "mincore", FULL, addr=PTR, length=SIZE, vec=Mincore("length"))
_(28, "madvise", FULL, addr=PTR, length=SIZE, advice=enum(fl.MADV))
_(149, "mlock", NONE, addr=PTR, len=SIZE)
_(150, "munlock", NONE, addr=PTR, len=SIZE)
_(325, "mlock2", NONE, addr=PTR, len=SIZE, flags=flags(fl.MLOCK))
_(151, "mlockall", NONE, flags=flags(fl.MCL))
_(152, "munlockall", NONE)
_(216, "remap_file_pages", NONE, addr=PTR, size=SIZE, prot=flags(fl.PROT), pgoff=SIZE, flags=MMAP_FLAGS)
_(329, "pkey_mprotect", NONE, addr=PTR, len=SIZE, prot=flags(fl.PROT), pkey=INT)
_(330, "pkey_alloc", NONE, flags=UINT, access_rights=HEX32)
_(331, "pkey_free", NONE, pkey=INT)
_(237, "mbind", NONE, addr=PTR, len=ULONG, mode=INT, nodemask=PTR, maxnode=ULONG, flags=HEX32)
_(238, "set_mempolicy", NONE, mode=INT, nodemask=PTR, maxnode=ULONG)
_(239, "get_mempolicy", NONE, mode=_STRUCT_OUT, nodemask=_STRUCT_OUT, maxnode=ULONG, addr=PTR, flags=HEX32)
_(450, "set_mempolicy_home_node", NONE, start=PTR, len=ULONG, home_node=ULONG, flags=ULONG)
_(256, "migrate_pages", NONE, pid=PID, maxnode=ULONG, old_nodes=PTR, new_nodes=PTR)
_(279, "move_pages", NONE, pid=PID, count=ULONG, pages=PTR, nodes=PTR, status=_STRUCT_OUT, flags=HEX32)
_(440, "process_madvise", NONE, pidfd=FD, iovec=PTR, vlen=SIZE, advice=enum(fl.MADV), flags=UINT, ret=SSIZE)
_(448, "process_mrelease", NONE, pidfd=FD, flags=UINT)
_(310, "process_vm_readv", NONE, pid=PID, local_iov=PTR, liovcnt=ULONG, remote_iov=PTR, riovcnt=ULONG, flags=ULONG, ret=SSIZE)
_(311, "process_vm_writev", NONE, pid=PID, local_iov=PTR, liovcnt=ULONG, remote_iov=PTR, riovcnt=ULONG, flags=ULONG, ret=SSIZE)
_(324, "membarrier", FULL, note="one CPU at a time: every barrier is a no-op", cmd=enum(fl.MEMBARRIER), flags=UINT, cpu_id=INT)
_(323, "userfaultfd", NONE, flags=flags(fl.O_CLOEXEC_NONBLOCK), ret=FD)
_(453, "map_shadow_stack", NONE, addr=PTR, size=ULONG, flags=HEX32, ret=ADDR)
_(462, "mseal", NONE, addr=PTR, len=SIZE, flags=ULONG)

# System V IPC and POSIX message queues
_(29, "shmget", NONE, key=_ADDR32, size=SIZE, shmflg=HEX32)
_(30, "shmat", NONE, shmid=INT, shmaddr=PTR, shmflg=HEX32, ret=ADDR)
_(31, "shmctl", NONE, shmid=INT, cmd=enum(fl.IPC_CMD), buf=PTR)
_(67, "shmdt", NONE, shmaddr=PTR)
_(64, "semget", NONE, key=_ADDR32, nsems=INT, semflg=HEX32)
_(65, "semop", NONE, semid=INT, sops=PTR, nsops=SIZE)
_(66, "semctl", NONE, semid=INT, semnum=INT, cmd=enum(fl.IPC_CMD), arg=HEX)
_(220, "semtimedop", NONE, semid=INT, sops=PTR, nsops=SIZE, timeout=TIMESPEC)
_(68, "msgget", NONE, key=_ADDR32, msgflg=HEX32)
_(69, "msgsnd", NONE, msqid=INT, msgp=PTR, msgsz=SIZE, msgflg=HEX32)
_(70, "msgrcv", NONE, msqid=INT, msgp=_STRUCT_OUT, msgsz=SIZE, msgtyp=LONG, msgflg=HEX32, ret=SSIZE)
_(71, "msgctl", NONE, msqid=INT, cmd=enum(fl.IPC_CMD), buf=PTR)
_(240, "mq_open", NONE, name=STR, oflag=OPEN_FLAGS, mode=MODE, attr=PTR, ret=FD)
_(241, "mq_unlink", NONE, name=STR)
_(242, "mq_timedsend", NONE, mqdes=FD, msg_ptr=buf_in("msg_len"), msg_len=SIZE, msg_prio=UINT, abs_timeout=TIMESPEC)
_(243, "mq_timedreceive", NONE, mqdes=FD, msg_ptr=buf_out(), msg_len=SIZE, msg_prio=_UINT_OUT, abs_timeout=TIMESPEC, ret=SSIZE)
_(244, "mq_notify", NONE, mqdes=FD, sevp=PTR)
_(245, "mq_getsetattr", NONE, mqdes=FD, newattr=PTR, oldattr=_STRUCT_OUT)

# signals
_(13, "rt_sigaction", FULL, signum=SIG, act=SIGACTION, oldact=SIGACTION_OUT, sigsetsize=SIZE)
_(14, "rt_sigprocmask", FULL, how=enum(fl.SIG_HOW), set=_SIGSET, oldset=_SIGSET_OUT, sigsetsize=SIZE)
_(15, "rt_sigreturn", PARTIAL, note="restores registers, fxsave state and mask; not uc_stack", frame=SIGFRAME)
_(131, "sigaltstack", FULL, ss=STACK, old_ss=STACK_OUT)
_(127, "rt_sigpending", FULL, set=_SIGSET_OUT, sigsetsize=SIZE)
_(128, "rt_sigtimedwait", FULL, set=_SIGSET, info=_STRUCT_OUT, timeout=TIMESPEC, sigsetsize=SIZE, ret=SIG)
_(130, "rt_sigsuspend", FULL, mask=_SIGSET, sigsetsize=SIZE)
_(129, "rt_sigqueueinfo", NONE, tgid=PID, sig=SIG, info=PTR)
_(297, "rt_tgsigqueueinfo", NONE, tgid=PID, tid=PID, sig=SIG, info=PTR)
_(62, "kill", PARTIAL, note="to our own process only (pid, 0, -pgrp); other pids ESRCH", pid=PID, sig=SIG)
_(200, "tkill", FULL, tid=PID, sig=SIG)
_(234, "tgkill", FULL, tgid=PID, tid=PID, sig=SIG)
_(424, "pidfd_send_signal", NONE, pidfd=FD, sig=SIG, info=PTR, flags=UINT)
_(34, "pause", NONE)
_(37, "alarm", NONE, seconds=UINT)

# time
_(228, "clock_gettime", FULL, clockid=enum(fl.CLOCK), tp=TIMESPEC_OUT)
_(229, "clock_getres", FULL, clockid=enum(fl.CLOCK), res=TIMESPEC_OUT)
_(227, "clock_settime", NONE, clockid=enum(fl.CLOCK), tp=TIMESPEC)
_(305, "clock_adjtime", NONE, clk_id=enum(fl.CLOCK), buf=PTR)
_(35, "nanosleep", FULL, req=TIMESPEC, rem=TIMESPEC_OUT)
_(230, "clock_nanosleep", FULL, clockid=enum(fl.CLOCK), flags=flags(fl.TIMER), request=TIMESPEC, remain=TIMESPEC_OUT)
_(96, "gettimeofday", FULL, tv=TIMEVAL_OUT, tz=PTR)
_(164, "settimeofday", NONE, tv=TIMEVAL, tz=PTR)
_(201, "time", FULL, tloc=TIME_OUT, ret=TIME_RET)
_(159, "adjtimex", NONE, buf=PTR)
_(100, "times", FULL, buf=_STRUCT_OUT)
_(36, "getitimer", NONE, which=enum(fl.ITIMER), curr_value=_STRUCT_OUT)
_(38, "setitimer", NONE, which=enum(fl.ITIMER), new_value=PTR, old_value=_STRUCT_OUT)
_(222, "timer_create", NONE, clockid=enum(fl.CLOCK), sevp=PTR, timerid=_UINT_OUT)
_(223, "timer_settime", NONE, timerid=INT, flags=flags(fl.TIMER), new_value=PTR, old_value=_STRUCT_OUT)
_(224, "timer_gettime", NONE, timerid=INT, curr_value=_STRUCT_OUT)
_(225, "timer_getoverrun", NONE, timerid=INT)
_(226, "timer_delete", NONE, timerid=INT)

# threads and futexes
_(56, "clone", PARTIAL, labels=True, child_stack=Reg(1, PTR), flags=Reg(0, CLONE_FLAGS), parent_tid=Reg(2, When("flags", _CL("CLONE_PARENT_SETTID") | _CL("CLONE_PIDFD"), _UINT_OUT)), tls=Reg(4, When("flags", _CL("CLONE_SETTLS"), Ptr(out=True))), child_tidptr=Reg(3, When("flags", _CL("CLONE_CHILD_SETTID") | _CL("CLONE_CHILD_CLEARTID"), Ptr(out=True))), note="threads only (CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD); new processes ENOSYS")
_(435, "clone3", ERRNO, cl_args=PTR, size=SIZE, note="ENOSYS on purpose: Go and glibc then fall back to clone(2)")
_(186, "gettid", FULL)
_(218, "set_tid_address", FULL, tidptr=PTR)
_(273, "set_robust_list", PARTIAL, head=PTR, len=SIZE, note="recorded, but the list is not walked when a thread exits")
_(274, "get_robust_list", NONE, pid=PID, head_ptr=PTR_OUT, len_ptr=PTR_OUT)
_(202, "futex", PARTIAL, uaddr=PTR, futex_op=enum(fl.FUTEX_OP), val=_FUTEX_VAL, timeout=_FUTEX_TIMEOUT, uaddr2=_FUTEX_UADDR2, val3=_FUTEX_VAL3, note="WAIT, WAKE, WAIT_BITSET, WAKE_BITSET; requeue and PI ops ENOSYS")
_(449, "futex_waitv", NONE, waiters=PTR, nr_futexes=UINT, flags=UINT, timeout=TIMESPEC, clockid=enum(fl.CLOCK))
_(454, "futex_wake", NONE, uaddr=PTR, mask=HEX, nr=INT, flags=flags(fl.FUTEX2))
_(455, "futex_wait", NONE, uaddr=PTR, val=HEX, mask=HEX, flags=flags(fl.FUTEX2), timeout=TIMESPEC, clockid=enum(fl.CLOCK))
_(456, "futex_requeue", NONE, waiters=PTR, flags=flags(fl.FUTEX2), nr_wake=INT, nr_requeue=INT)
_(158, "arch_prctl", PARTIAL, code=enum(fl.ARCH), addr=_ARCH_ADDR, note="ARCH_SET_FS and ARCH_GET_FS; others EINVAL")
_(205, "set_thread_area", NONE, u_info=PTR)
_(211, "get_thread_area", NONE, u_info=_STRUCT_OUT)
_(154, "modify_ldt", NONE, func=INT, ptr=PTR, bytecount=ULONG)
_(334, "rseq", ERRNO, note="ENOSYS on purpose: Go does not register; glibc runs without it", rseq=PTR, rseq_len=UINT, flags=flags(fl.RSEQ), sig=HEX32)

# processes
_(57, "fork", PARTIAL, note="refused with ENOSYS: new processes are not emulated; reported once at exit")
_(58, "vfork", PARTIAL, note="refused with ENOSYS: new processes are not emulated; reported once at exit")
_(59, "execve", PARTIAL, note="refused with ENOSYS: new processes are not emulated; reported once at exit", pathname=PATH, argv=ARGV, envp=ENVP)
_(322, "execveat", PARTIAL, note="refused with ENOSYS: new processes are not emulated; reported once at exit", dirfd=DIRFD, pathname=PATH, argv=ARGV, envp=ENVP, flags=flags(fl.AT))
_(60, "exit", FULL, status=INT, ret=NORETURN)
_(231, "exit_group", FULL, status=INT, ret=NORETURN)
_(61, "wait4", PARTIAL, note="ECHILD: the guest never has a child (fork and execve are refused)", pid=PID, wstatus=_STRUCT_OUT, options=flags(fl.WAIT), rusage=_STRUCT_OUT)
_(247, "waitid", PARTIAL, note="ECHILD: the guest never has a child (fork and execve are refused)", idtype=enum(fl.P_ID), id=INT, infop=_STRUCT_OUT, options=flags(fl.WAIT), rusage=_STRUCT_OUT)
_(39, "getpid", FULL)
_(110, "getppid", FULL)
_(111, "getpgrp", FULL)
_(109, "setpgid", NONE, pid=PID, pgid=PID)
_(121, "getpgid", FULL, pid=PID)
_(112, "setsid", FULL)
_(124, "getsid", FULL, pid=PID)
_(434, "pidfd_open", ERRNO, note="ENOSYS on purpose: no child processes; Go's os/exec then waits with wait4", pid=PID, flags=flags(fl.PIDFD), ret=FD)
_(438, "pidfd_getfd", NONE, pidfd=FD, targetfd=FD, flags=UINT, ret=FD)
_(312, "kcmp", NONE, pid1=PID, pid2=PID, type=INT, idx1=ULONG, idx2=ULONG)
_(272, "unshare", NONE, flags=flags(fl.UNSHARE))
_(308, "setns", NONE, fd=FD, nstype=flags(fl.UNSHARE))
_(157, "prctl", PARTIAL, option=enum(fl.PR), arg2=_prctl(2), arg3=_prctl(3), arg4=_prctl(4), arg5=_prctl(5), note="PR_SET_NAME and PR_GET_NAME; other options EINVAL")
_(135, "personality", NONE, persona=HEX32)
_(317, "seccomp", NONE, operation=enum(fl.SECCOMP_OP), flags=HEX32, args=PTR)
_(101, "ptrace", NONE, request=enum(fl.PTRACE, bits=64), pid=PID, addr=PTR, data=PTR)
_(219, "restart_syscall", NONE)
_(335, "uretprobe", NONE)

# credentials
_(102, "getuid", FULL)
_(104, "getgid", FULL)
_(107, "geteuid", FULL)
_(108, "getegid", FULL)
_(105, "setuid", NONE, uid=ID)
_(106, "setgid", NONE, gid=ID)
_(113, "setreuid", NONE, ruid=ID, euid=ID)
_(114, "setregid", NONE, rgid=ID, egid=ID)
_(117, "setresuid", NONE, ruid=ID, euid=ID, suid=ID)
_(118, "getresuid", NONE, ruid=_UINT_OUT, euid=_UINT_OUT, suid=_UINT_OUT)
_(119, "setresgid", NONE, rgid=ID, egid=ID, sgid=ID)
_(120, "getresgid", NONE, rgid=_UINT_OUT, egid=_UINT_OUT, sgid=_UINT_OUT)
_(122, "setfsuid", NONE, fsuid=ID)
_(123, "setfsgid", NONE, fsgid=ID)
_(115, "getgroups", FULL, size=INT, list=_STRUCT_OUT)
_(116, "setgroups", NONE, size=SIZE, list=PTR)
_(125, "capget", NONE, hdrp=PTR, datap=_STRUCT_OUT)
_(126, "capset", NONE, hdrp=PTR, datap=PTR)

# scheduling
_(24, "sched_yield", FULL)
_(203, "sched_setaffinity", NONE, pid=PID, cpusetsize=UINT, mask=PTR)
_(204, "sched_getaffinity", FULL, pid=PID, cpusetsize=UINT, mask=CPUSET_OUT)
_(142, "sched_setparam", NONE, pid=PID, param=PTR)
_(143, "sched_getparam", NONE, pid=PID, param=_STRUCT_OUT)
_(144, "sched_setscheduler", NONE, pid=PID, policy=enum(fl.SCHED), param=PTR)
_(145, "sched_getscheduler", NONE, pid=PID)
_(146, "sched_get_priority_max", NONE, policy=enum(fl.SCHED))
_(147, "sched_get_priority_min", NONE, policy=enum(fl.SCHED))
_(148, "sched_rr_get_interval", NONE, pid=PID, tp=TIMESPEC_OUT)
_(314, "sched_setattr", NONE, pid=PID, attr=PTR, flags=UINT)
_(315, "sched_getattr", NONE, pid=PID, attr=_STRUCT_OUT, size=UINT, flags=UINT)
_(140, "getpriority", NONE, which=enum(fl.PRIO), who=INT)
_(141, "setpriority", NONE, which=enum(fl.PRIO), who=INT, prio=INT)
_(251, "ioprio_set", NONE, which=INT, who=INT, ioprio=INT)
_(252, "ioprio_get", NONE, which=INT, who=INT)
_(309, "getcpu", FULL, cpu=_UINT_OUT, node=_UINT_OUT, tcache=PTR)

# resources and system information
_(97, "getrlimit", FULL, resource=enum(fl.RLIMIT), rlim=RLIMIT_OUT)
_(160, "setrlimit", FULL, resource=enum(fl.RLIMIT), rlim=RLIMIT)
_(302, "prlimit64", FULL, pid=PID, resource=enum(fl.RLIMIT), new_limit=RLIMIT, old_limit=RLIMIT_OUT)
_(98, "getrusage", PARTIAL, note="CPU time from the virtual clock, all user time; RUSAGE_THREAD reports the process", who=_RUSAGE_WHO, usage=_STRUCT_OUT)
_(99, "sysinfo", FULL, info=_STRUCT_OUT)
_(63, "uname", FULL, buf=UTSNAME_OUT)
_(170, "sethostname", NONE, name=buf_in("len"), len=SIZE)
_(171, "setdomainname", NONE, name=buf_in("len"), len=SIZE)
_(318, "getrandom", FULL, buf=buf_out(hexall=True), buflen=SIZE, flags=flags(fl.GRND), ret=SSIZE)
_(103, "syslog", NONE, type=INT, bufp=_STRUCT_OUT, len=INT)

# sockets
_(41, "socket", PARTIAL, note="refused with ENOSYS: networking is not emulated; reported once at exit", domain=enum(fl.AF), type=SOCK_TYPE, protocol=INT, ret=FD)
_(53, "socketpair", PARTIAL, note="refused with ENOSYS: networking is not emulated; reported once at exit", domain=enum(fl.AF), type=SOCK_TYPE, protocol=INT, sv=FDS_OUT)
_(42, "connect", NONE, sockfd=FD, addr=PTR, addrlen=UINT)
_(49, "bind", NONE, sockfd=FD, addr=PTR, addrlen=UINT)
_(50, "listen", NONE, sockfd=FD, backlog=INT)
_(43, "accept", NONE, sockfd=FD, addr=_STRUCT_OUT, addrlen=PTR, ret=FD)
_(288, "accept4", NONE, sockfd=FD, addr=_STRUCT_OUT, addrlen=PTR, flags=flags(fl.SOCK_FLAGS), ret=FD)
_(51, "getsockname", NONE, sockfd=FD, addr=_STRUCT_OUT, addrlen=PTR)
_(52, "getpeername", NONE, sockfd=FD, addr=_STRUCT_OUT, addrlen=PTR)
_(44, "sendto", NONE, sockfd=FD, buf=buf_in("len"), len=SIZE, flags=flags(fl.MSG), dest_addr=PTR, addrlen=UINT, ret=SSIZE)
_(45, "recvfrom", NONE, sockfd=FD, buf=buf_out(), len=SIZE, flags=flags(fl.MSG), src_addr=_STRUCT_OUT, addrlen=PTR, ret=SSIZE)
_(46, "sendmsg", NONE, sockfd=FD, msg=PTR, flags=flags(fl.MSG), ret=SSIZE)
_(47, "recvmsg", NONE, sockfd=FD, msg=_STRUCT_OUT, flags=flags(fl.MSG), ret=SSIZE)
_(307, "sendmmsg", NONE, sockfd=FD, msgvec=PTR, vlen=UINT, flags=flags(fl.MSG))
_(299, "recvmmsg", NONE, sockfd=FD, msgvec=_STRUCT_OUT, vlen=UINT, flags=flags(fl.MSG), timeout=TIMESPEC)
_(48, "shutdown", NONE, sockfd=FD, how=enum(fl.SHUT))
_(54, "setsockopt", NONE, sockfd=FD, level=enum(fl.SOL), optname=INT, optval=PTR, optlen=UINT)
_(55, "getsockopt", NONE, sockfd=FD, level=enum(fl.SOL), optname=INT, optval=_STRUCT_OUT, optlen=PTR)

# mounts and filesystems
_(165, "mount", NONE, source=PATH, target=PATH, filesystemtype=STR, mountflags=flags(fl.MOUNT, bits=64), data=PTR)
_(166, "umount2", NONE, target=PATH, flags=flags(fl.UMOUNT))
_(155, "pivot_root", NONE, new_root=PATH, put_old=PATH)
_(167, "swapon", NONE, path=PATH, swapflags=HEX32)
_(168, "swapoff", NONE, path=PATH)
_(179, "quotactl", NONE, cmd=HEX32, special=PATH, id=INT, addr=PTR)
_(443, "quotactl_fd", NONE, fd=FD, cmd=HEX32, id=INT, addr=PTR)
_(139, "sysfs", NONE, option=INT, arg1=HEX, arg2=HEX)
_(428, "open_tree", NONE, dirfd=DIRFD, path=PATH, flags=HEX32, ret=FD)
_(467, "open_tree_attr", NONE, dirfd=DIRFD, path=PATH, flags=HEX32, attr=PTR, size=SIZE, ret=FD)
_(429, "move_mount", NONE, from_dirfd=DIRFD, from_pathname=PATH, to_dirfd=DIRFD, to_pathname=PATH, flags=HEX32)
_(430, "fsopen", NONE, fsname=STR, flags=HEX32, ret=FD)
_(431, "fsconfig", NONE, fd=FD, cmd=UINT, key=STR, value=PTR, aux=INT)
_(432, "fsmount", NONE, fs_fd=FD, flags=HEX32, attr_flags=HEX32, ret=FD)
_(433, "fspick", NONE, dirfd=DIRFD, path=PATH, flags=HEX32, ret=FD)
_(442, "mount_setattr", NONE, dirfd=DIRFD, path=PATH, flags=flags(fl.AT), attr=PTR, size=SIZE)
_(457, "statmount", NONE, req=PTR, buf=_STRUCT_OUT, bufsize=SIZE, flags=ULONG)
_(458, "listmount", NONE, req=PTR, mnt_ids=_STRUCT_OUT, nr_mnt_ids=SIZE, flags=ULONG)

# security: keys, landlock, LSM, BPF, perf
_(248, "add_key", NONE, type=STR, description=STR, payload=PTR, plen=SIZE, keyring=INT)
_(249, "request_key", NONE, type=STR, description=STR, callout_info=STR, dest_keyring=INT)
_(250, "keyctl", NONE, operation=INT, arg2=HEX, arg3=HEX, arg4=HEX, arg5=HEX)
_(444, "landlock_create_ruleset", NONE, attr=PTR, size=SIZE, flags=HEX32, ret=FD)
_(445, "landlock_add_rule", NONE, ruleset_fd=FD, rule_type=INT, rule_attr=PTR, flags=HEX32)
_(446, "landlock_restrict_self", NONE, ruleset_fd=FD, flags=HEX32)
_(459, "lsm_get_self_attr", NONE, attr=UINT, ctx=_STRUCT_OUT, size=PTR, flags=UINT)
_(460, "lsm_set_self_attr", NONE, attr=UINT, ctx=PTR, size=UINT, flags=UINT)
_(461, "lsm_list_modules", NONE, ids=_STRUCT_OUT, size=PTR, flags=UINT)
_(321, "bpf", NONE, cmd=INT, attr=PTR, size=UINT)
_(298, "perf_event_open", NONE, attr=PTR, pid=PID, cpu=INT, group_fd=FD, flags=HEX, ret=FD)

# system administration
_(169, "reboot", NONE, magic=HEX32, magic2=HEX32, cmd=HEX32, arg=PTR)
_(163, "acct", NONE, filename=PATH)
_(175, "init_module", NONE, module_image=PTR, len=ULONG, param_values=STR)
_(313, "finit_module", NONE, fd=FD, param_values=STR, flags=HEX32)
_(176, "delete_module", NONE, name=STR, flags=OPEN_FLAGS)
_(246, "kexec_load", NONE, entry=HEX, nr_segments=ULONG, segments=PTR, flags=HEX)
_(320, "kexec_file_load", NONE, kernel_fd=FD, initrd_fd=FD, cmdline_len=ULONG, cmdline=STR, flags=HEX)
_(172, "iopl", NONE, level=INT)
_(173, "ioperm", NONE, from_=ULONG, num=ULONG, turn_on=INT)
_(153, "vhangup", NONE)
_(156, "_sysctl", NONE, args=PTR)
_(134, "uselib", NONE, library=PATH)
_(212, "lookup_dcookie", NONE, cookie=HEX, buffer=_STRUCT_OUT, len=SIZE)

# removed from the kernel: the numbers stay reserved, any call gets ENOSYS
_(174, "create_module", NONE, name=STR, size=ULONG)
_(177, "get_kernel_syms", NONE, table=PTR)
_(178, "query_module", NONE, name=STR, which=INT, buf=PTR, bufsize=SIZE, ret_=PTR)
_(180, "nfsservctl", NONE, cmd=INT, argp=PTR, resp=PTR)
_(181, "getpmsg", NONE, arg1=HEX, arg2=HEX, arg3=HEX, arg4=HEX, arg5=HEX)
_(182, "putpmsg", NONE, arg1=HEX, arg2=HEX, arg3=HEX, arg4=HEX, arg5=HEX)
_(183, "afs_syscall", NONE, arg1=HEX, arg2=HEX, arg3=HEX, arg4=HEX, arg5=HEX)
_(184, "tuxcall", NONE, arg1=HEX, arg2=HEX, arg3=HEX)
_(185, "security", NONE, arg1=HEX, arg2=HEX, arg3=HEX)
_(236, "vserver", NONE, arg1=HEX, arg2=HEX, arg3=HEX, arg4=HEX, arg5=HEX)

# fmt: on


# --- decoding and rendering ---------------------------------------------------------

_UNKNOWN_ARGS = tuple(Arg(f"arg{i}", HEX, i) for i in range(6))


def lookup(nr: int) -> Syscall:
    """The row for ``nr``; a raw six-argument row (``syscall_0x1c8``) if none."""
    sc = TABLE.get(nr)
    if sc is None:
        sc = Syscall(nr, f"syscall_{nr:#x}", _UNKNOWN_ARGS, LONG, Support.NONE, "not a Linux x86-64 syscall")
    return sc


def decode_args(
    sc: Syscall,
    call: Call,
    mem: GuestMemory,
    *,
    out: bool,
    entry: Sequence[object] | None = None,
) -> list[object]:
    """Decode the arguments of one call, in display order.

    Entry pass (``out=False``, before the kernel runs): in-arguments are
    decoded, out-arguments left as ``Mark.PENDING``.  Exit pass
    (``out=True``, ``call.ret`` set): out-arguments are decoded; the others
    are taken from ``entry`` when given (memory may have changed since),
    else decoded now.
    """
    plan = sc.plan
    if out and entry is not None and not sc.has_out and len(entry) == len(plan):
        return list(entry)
    args = call.args
    count = len(args)
    result: list[object] = []
    for i, (reg, kind, is_out, register_only) in enumerate(plan):
        value = args[reg] if reg < count else 0
        if is_out is None:
            is_out = kind.is_out(call)
        if is_out:
            result.append(kind.decode(value, call, mem) if out else Mark.PENDING)
        elif out and entry is not None and i < len(entry) and entry[i] is not Mark.PENDING:
            result.append(entry[i])
        elif register_only:
            result.append(kind.fetch(value & _M64, call, mem))
        else:
            result.append(kind.decode(value, call, mem))
    return result


def decode_ret(sc: Syscall, call: Call, mem: GuestMemory) -> object:
    """The decoded result: ``Errno`` for -4095..-1, ``Mark.UNKNOWN`` if none."""
    if call.ret is None or isinstance(sc.ret, NoReturn):
        return Mark.UNKNOWN
    if is_error(call.ret):
        return Errno(-signed64(call.ret))
    return sc.ret.decode(call.ret, call, mem)


def _shown(sc: Syscall, args: Sequence[object]) -> tuple[list[str], bool]:
    """Rendered arguments up to the first pending one, and whether one was."""
    parts: list[str] = []
    for arg, value in zip(sc.args, args, strict=False):
        if value is Mark.PENDING:
            return parts, True
        if value is Mark.OMIT:
            continue
        text = arg.kind.render(value)
        parts.append(f"{arg.name}={text}" if arg.label else text)
    return parts, len(args) < len(sc.args)


def render_args(sc: Syscall, args: Sequence[object]) -> str:
    """``1, "Hello, World!\\n", 14``: the arguments between the parentheses."""
    return ", ".join(_shown(sc, args)[0])


def _first_pending(args: Sequence[object]) -> int:
    for i, value in enumerate(args):
        if value is Mark.PENDING:
            return i
    return len(args)


def render_entry(sc: Syscall, args: Sequence[object]) -> str:
    """What strace prints before ``<unfinished ...>``: ``read(3, ``.

    The separator before the first out-argument is printed here, except for
    labelled arguments (clone's ``tls=``), which strace prints on exit.
    """
    parts, pending = _shown(sc, args)
    text = f"{sc.name}(" + ", ".join(parts)
    first = _first_pending(args)
    labelled = first < len(sc.args) and sc.args[first].label
    return text + (", " if pending and parts and not labelled else "")


def render_resumed(sc: Syscall, entry: Sequence[object], args: Sequence[object], ret: object) -> str:
    """What follows ``<... name resumed>``: ``NULL, 8) = 0`` or ``, tls=0x..) = 5``.

    ``entry`` is the entry-pass list (it says where render_entry stopped),
    ``args`` the complete exit-pass list.
    """
    first = _first_pending(entry)
    rest = [
        f"{a.name}={a.kind.render(v)}" if a.label else a.kind.render(v)
        for a, v in zip(sc.args[first:], args[first:], strict=False)
        if v is not Mark.OMIT
    ]
    labelled = first < len(sc.args) and sc.args[first].label
    lead = ", " if rest and labelled and first else ""
    return lead + ", ".join(rest) + f") = {render_ret(sc, ret)}"


def render_ret(sc: Syscall, ret: object) -> str:
    """``14``, ``0x7f...``, ``?``, or ``-1 ENOENT (No such file or directory)``."""
    return sc.ret.render(ret)


def render_call(sc: Syscall, decoded_args: Sequence[object], decoded_ret: object) -> str:
    """One strace line without pid or padding: ``write(1, "hi\\n", 3) = 3``."""
    return f"{sc.name}({render_args(sc, decoded_args)}) = {render_ret(sc, decoded_ret)}"


def strace_line(sc: Syscall | int, call: Call, mem: GuestMemory) -> str:
    """Decode both halves at once (memory as after the call) and render."""
    if isinstance(sc, int):
        sc = lookup(sc)
    args = decode_args(sc, call, mem, out=True)
    return render_call(sc, args, decode_ret(sc, call, mem))


def markdown() -> str:
    """The table as Markdown: number, name, support, note."""
    lines = ["| nr | name | support | note |", "| ---: | --- | --- | --- |"]
    for nr in sorted(TABLE):
        sc = TABLE[nr]
        lines.append(f"| {nr} | {sc.name} | {sc.support.value} | {sc.note.replace('|', '&#124;')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(markdown() + "\n")
