"""Named constants for syscall arguments, rendered the way strace shows them.

Each set lists its names in strace's own order (src/xlat/*.in), because
strace prints flag names in table order, not sorted by value: mmap's flags
come out as ``MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS``.  Values are x86-64's.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "EnumSet",
    "FlagSet",
    "render_clone_flags",
    "render_file_mode",
    "render_mmap_flags",
    "render_mode",
    "render_open_flags",
    "render_signal",
    "render_sigset",
    "signal_name",
]


def _hex(value: int) -> str:
    """C's ``%#x``: ``0`` for zero, ``0x..`` otherwise."""
    return f"{value:#x}" if value else "0"


@dataclass(frozen=True)
class FlagSet:
    """A bit-flag set: matched names joined by ``|``, leftover bits in hex.

    ``unknown`` is strace's default text (``PROT_???``) shown as a comment
    when no name matches at all.
    """

    items: tuple[tuple[int, str], ...]
    zero: str | None = None
    unknown: str | None = None

    def split(self, value: int) -> tuple[list[str], int]:
        """Names matched in table order and the bits no name covers."""
        names: list[str] = []
        for bits, name in self.items:
            if bits and value & bits == bits:
                names.append(name)
                value &= ~bits
        return names, value

    def render(self, value: int) -> str:
        """``A|B|0x40``; ``0`` or the zero name for 0; ``0x.. /* X_??? */``."""
        if value == 0:
            return self.zero or "0"
        names, rest = self.split(value)
        if not names:
            return _hex(rest) + (f" /* {self.unknown} */" if self.unknown else "")
        if rest:
            names.append(_hex(rest))
        return "|".join(names)

    def __contains__(self, name: str) -> bool:
        return any(n == name for _, n in self.items) or name == self.zero

    def value(self, name: str) -> int:
        """The bits of one name, for tests and handlers."""
        if name == self.zero:
            return 0
        for bits, n in self.items:
            if n == name:
                return bits
        raise KeyError(name)


@dataclass(frozen=True)
class EnumSet:
    """Exactly one value from a list: its name, else the number.

    strace's printxval prints an unknown value in hex with the default name
    as a comment (``0x63 /* MADV_??? */``); ``decimal`` sets print plain
    decimal instead.
    """

    items: tuple[tuple[int, str], ...]
    unknown: str | None = None
    decimal: bool = False

    def name(self, value: int) -> str | None:
        """The name for ``value`` (first listed wins), or None."""
        for v, n in self.items:
            if v == value:
                return n
        return None

    def render(self, value: int) -> str:
        """Name, or the number strace prints for a value it cannot name."""
        found = self.name(value)
        if found is not None:
            return found
        text = str(value) if self.decimal else _hex(value)
        return text + (f" /* {self.unknown} */" if self.unknown else "")

    def __contains__(self, name: str) -> bool:
        return any(n == name for _, n in self.items)

    def value(self, name: str) -> int:
        """The value of a name, for tests and handlers."""
        for v, n in self.items:
            if n == name:
                return v
        raise KeyError(name)


def _flags(spec: str, *, zero: str | None = None, unknown: str | None = None) -> FlagSet:
    """Build a FlagSet from ``"NAME=value NAME=value"`` text (order kept)."""
    return FlagSet(_pairs(spec), zero=zero, unknown=unknown)


def _enum(spec: str, *, unknown: str | None = None, decimal: bool = False) -> EnumSet:
    """Build an EnumSet from ``"NAME=value ..."`` text (order kept)."""
    return EnumSet(_pairs(spec), unknown=unknown, decimal=decimal)


def _pairs(spec: str) -> tuple[tuple[int, str], ...]:
    out = []
    for word in spec.split():
        name, _, value = word.partition("=")
        out.append((int(value, 0), name))
    return tuple(out)


# --- memory --------------------------------------------------------------

PROT = _flags(
    "PROT_READ=1 PROT_WRITE=2 PROT_EXEC=4 PROT_SEM=8 PROT_GROWSDOWN=0x01000000 PROT_GROWSUP=0x02000000",
    zero="PROT_NONE",
    unknown="PROT_???",
)

MAP_TYPE_MASK = 0x0F
MAP_TYPE = _enum(
    "MAP_SHARED=1 MAP_PRIVATE=2 MAP_SHARED_VALIDATE=3 MAP_DROPPABLE=8",
    unknown="MAP_???",
)
MAP = _flags(
    "MAP_FIXED=0x10 MAP_ANONYMOUS=0x20 MAP_32BIT=0x40 MAP_ABOVE4G=0x80 "
    "MAP_NORESERVE=0x4000 MAP_POPULATE=0x8000 MAP_NONBLOCK=0x10000 "
    "MAP_GROWSDOWN=0x100 MAP_DENYWRITE=0x800 MAP_EXECUTABLE=0x1000 "
    "MAP_LOCKED=0x2000 MAP_STACK=0x20000 MAP_HUGETLB=0x40000 MAP_SYNC=0x80000 "
    "MAP_UNINITIALIZED=0x4000000 MAP_FIXED_NOREPLACE=0x100000",
    unknown="MAP_???",
)
MAP_HUGE_SHIFT = 26
MAP_HUGE_MASK = 0x3F


def render_mmap_flags(value: int) -> str:
    """mmap flags: the type (low nibble) first, then flags, then huge size."""
    parts = [MAP_TYPE.render(value & MAP_TYPE_MASK)]
    rest = value & ~MAP_TYPE_MASK
    huge = rest & (MAP_HUGE_MASK << MAP_HUGE_SHIFT)
    rest &= ~huge
    if rest:
        names, left = MAP.split(rest)
        if left:
            names.append(_hex(left))
        parts.extend(names)
    if huge:
        parts.append(f"{huge >> MAP_HUGE_SHIFT}<<MAP_HUGE_SHIFT")
    return "|".join(parts)


MREMAP = _flags("MREMAP_MAYMOVE=1 MREMAP_FIXED=2 MREMAP_DONTUNMAP=4", unknown="MREMAP_???")
MSYNC = _flags("MS_ASYNC=1 MS_INVALIDATE=2 MS_SYNC=4", unknown="MS_???")
MLOCK = _flags("MLOCK_ONFAULT=1", unknown="MLOCK_???")
MCL = _flags("MCL_CURRENT=1 MCL_FUTURE=2 MCL_ONFAULT=4", unknown="MCL_???")

MADV = _enum(
    "MADV_NORMAL=0 MADV_RANDOM=1 MADV_SEQUENTIAL=2 MADV_WILLNEED=3 MADV_DONTNEED=4 "
    "MADV_FREE=8 MADV_REMOVE=9 MADV_DONTFORK=10 MADV_DOFORK=11 MADV_MERGEABLE=12 "
    "MADV_UNMERGEABLE=13 MADV_HUGEPAGE=14 MADV_NOHUGEPAGE=15 MADV_DONTDUMP=16 "
    "MADV_DODUMP=17 MADV_WIPEONFORK=18 MADV_KEEPONFORK=19 MADV_COLD=20 "
    "MADV_PAGEOUT=21 MADV_POPULATE_READ=22 MADV_POPULATE_WRITE=23 "
    "MADV_DONTNEED_LOCKED=24 MADV_COLLAPSE=25 MADV_GUARD_INSTALL=102 "
    "MADV_GUARD_REMOVE=103 MADV_HWPOISON=100 MADV_SOFT_OFFLINE=101",
    unknown="MADV_???",
)

MEMBARRIER = _enum(
    "MEMBARRIER_CMD_QUERY=0 MEMBARRIER_CMD_GLOBAL=1 MEMBARRIER_CMD_GLOBAL_EXPEDITED=2 "
    "MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED=4 MEMBARRIER_CMD_PRIVATE_EXPEDITED=8 "
    "MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED=16 "
    "MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE=32 "
    "MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE=64 "
    "MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ=128 "
    "MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ=256 MEMBARRIER_CMD_GET_REGISTRATIONS=512",
    unknown="MEMBARRIER_CMD_???",
)

# --- files ----------------------------------------------------------------

O_ACCMODE = 3
O_ACCESS = _enum("O_RDONLY=0 O_WRONLY=1 O_RDWR=2 O_ACCMODE=3")
# Order as strace's open_mode_flags; O_TMPFILE includes O_DIRECTORY's bit
# and so is listed first.  O_LARGEFILE is 0x8000 as the kernel reports it
# in F_GETFL on x86-64.
OPEN = _flags(
    "O_CREAT=0o100 O_EXCL=0o200 O_NOCTTY=0o400 O_TRUNC=0o1000 O_APPEND=0o2000 "
    "O_NONBLOCK=0o4000 O_SYNC=0o4010000 __O_SYNC=0o4000000 O_DSYNC=0o10000 O_DIRECT=0o40000 "
    "O_LARGEFILE=0o100000 O_NOFOLLOW=0o400000 O_NOATIME=0o1000000 "
    "O_CLOEXEC=0o2000000 O_PATH=0o10000000 O_TMPFILE=0o20200000 "
    "__O_TMPFILE=0o20000000 O_DIRECTORY=0o200000 FASYNC=0o20000",
)


def render_open_flags(value: int) -> str:
    """Open flags: the access mode is always named (``O_RDONLY|O_CLOEXEC``)."""
    value &= 0xFFFF_FFFF
    parts = [O_ACCESS.render(value & O_ACCMODE)]
    rest = value & ~O_ACCMODE
    if rest:
        names, left = OPEN.split(rest)
        if left:
            names.append(_hex(left))
        parts.extend(names)
    return "|".join(parts)


AT_FDCWD = -100
AT = _flags(
    "AT_SYMLINK_NOFOLLOW=0x100 AT_REMOVEDIR=0x200 AT_SYMLINK_FOLLOW=0x400 "
    "AT_NO_AUTOMOUNT=0x800 AT_EMPTY_PATH=0x1000 AT_RECURSIVE=0x8000",
    unknown="AT_???",
)
# faccessat2's flags: AT_EACCESS shares AT_REMOVEDIR's bit.
AT_ACCESS = _flags("AT_SYMLINK_NOFOLLOW=0x100 AT_EACCESS=0x200 AT_EMPTY_PATH=0x1000", unknown="AT_???")
AT_STATX = _flags(
    "AT_SYMLINK_NOFOLLOW=0x100 AT_REMOVEDIR=0x200 AT_SYMLINK_FOLLOW=0x400 "
    "AT_NO_AUTOMOUNT=0x800 AT_EMPTY_PATH=0x1000 AT_STATX_FORCE_SYNC=0x2000 "
    "AT_STATX_DONT_SYNC=0x4000 AT_RECURSIVE=0x8000",
    zero="AT_STATX_SYNC_AS_STAT",
    unknown="AT_???",
)
STATX_MASK = _flags(
    "STATX_TYPE=1 STATX_MODE=2 STATX_NLINK=4 STATX_UID=8 STATX_GID=0x10 "
    "STATX_ATIME=0x20 STATX_MTIME=0x40 STATX_CTIME=0x80 STATX_INO=0x100 "
    "STATX_SIZE=0x200 STATX_BLOCKS=0x400 STATX_BTIME=0x800 STATX_MNT_ID=0x1000 "
    "STATX_DIOALIGN=0x2000 STATX_MNT_ID_UNIQUE=0x4000 STATX_SUBVOL=0x8000 "
    "STATX_WRITE_ATOMIC=0x10000 STATX_DIO_READ_ALIGN=0x20000",
    unknown="STATX_???",
)
ACCESS = _flags("R_OK=4 W_OK=2 X_OK=1", zero="F_OK")
SEEK = _enum("SEEK_SET=0 SEEK_CUR=1 SEEK_END=2 SEEK_DATA=3 SEEK_HOLE=4", unknown="SEEK_???")
FD_FLAGS = _flags("FD_CLOEXEC=1")
F = _enum(
    "F_DUPFD=0 F_GETFD=1 F_SETFD=2 F_GETFL=3 F_SETFL=4 F_GETLK=5 F_SETLK=6 "
    "F_SETLKW=7 F_SETOWN=8 F_GETOWN=9 F_SETSIG=10 F_GETSIG=11 F_SETOWN_EX=15 "
    "F_GETOWN_EX=16 F_GETOWNER_UIDS=17 F_OFD_GETLK=36 F_OFD_SETLK=37 "
    "F_OFD_SETLKW=38 F_SETLEASE=1024 F_GETLEASE=1025 F_NOTIFY=1026 "
    "F_DUPFD_QUERY=1027 F_CREATED_QUERY=1028 F_CANCELLK=1029 F_DUPFD_CLOEXEC=1030 "
    "F_SETPIPE_SZ=1031 F_GETPIPE_SZ=1032 F_ADD_SEALS=1033 F_GET_SEALS=1034 "
    "F_GET_RW_HINT=1035 F_SET_RW_HINT=1036 F_GET_FILE_RW_HINT=1037 "
    "F_SET_FILE_RW_HINT=1038",
    unknown="F_???",
)
LOCK = _flags("LOCK_SH=1 LOCK_EX=2 LOCK_NB=4 LOCK_UN=8 LOCK_MAND=32", unknown="LOCK_???")
RENAME = _flags("RENAME_NOREPLACE=1 RENAME_EXCHANGE=2 RENAME_WHITEOUT=4", unknown="RENAME_???")
FALLOC = _flags(
    "FALLOC_FL_KEEP_SIZE=1 FALLOC_FL_PUNCH_HOLE=2 FALLOC_FL_NO_HIDE_STALE=4 "
    "FALLOC_FL_COLLAPSE_RANGE=8 FALLOC_FL_ZERO_RANGE=0x10 FALLOC_FL_INSERT_RANGE=0x20 "
    "FALLOC_FL_UNSHARE_RANGE=0x40 FALLOC_FL_WRITE_ZEROES=0x80",
    unknown="FALLOC_FL_???",
)
XATTR = _flags("XATTR_CREATE=1 XATTR_REPLACE=2", unknown="XATTR_???")
SPLICE = _flags(
    "SPLICE_F_MOVE=1 SPLICE_F_NONBLOCK=2 SPLICE_F_MORE=4 SPLICE_F_GIFT=8",
    unknown="SPLICE_F_???",
)
SYNC_FILE_RANGE = _flags(
    "SYNC_FILE_RANGE_WAIT_BEFORE=1 SYNC_FILE_RANGE_WRITE=2 SYNC_FILE_RANGE_WAIT_AFTER=4",
    unknown="SYNC_FILE_RANGE_???",
)
FADV = _enum(
    "POSIX_FADV_NORMAL=0 POSIX_FADV_RANDOM=1 POSIX_FADV_SEQUENTIAL=2 "
    "POSIX_FADV_WILLNEED=3 POSIX_FADV_DONTNEED=4 POSIX_FADV_NOREUSE=5",
    unknown="POSIX_FADV_???",
)
RWF = _flags(
    "RWF_HIPRI=1 RWF_DSYNC=2 RWF_SYNC=4 RWF_NOWAIT=8 RWF_APPEND=0x10 "
    "RWF_NOAPPEND=0x20 RWF_ATOMIC=0x40 RWF_DONTCACHE=0x80",
    unknown="RWF_???",
)
CLOSE_RANGE = _flags("CLOSE_RANGE_UNSHARE=2 CLOSE_RANGE_CLOEXEC=4", unknown="CLOSE_RANGE_???")
MFD = _flags(
    "MFD_CLOEXEC=1 MFD_ALLOW_SEALING=2 MFD_HUGETLB=4 MFD_NOEXEC_SEAL=8 MFD_EXEC=0x10",
    unknown="MFD_???",
)
S_IFMT = 0o170000
S_IF = _enum(
    "S_IFREG=0o100000 S_IFSOCK=0o140000 S_IFIFO=0o10000 S_IFLNK=0o120000 "
    "S_IFDIR=0o40000 S_IFBLK=0o60000 S_IFCHR=0o20000"
)


def render_mode(mode: int) -> str:
    """A permission mode as strace prints it, C's ``%#03o``: 0644, 000, 007."""
    mode &= 0xFFFF_FFFF
    return (f"0{mode:o}" if mode else "0").rjust(3, "0")


def render_file_mode(mode: int) -> str:
    """st_mode / mknod mode: ``S_IFREG|0644``, setuid bits spelled out."""
    mode &= 0xFFFF_FFFF
    kind = mode & S_IFMT
    name = S_IF.name(kind) if kind else ""
    if name is None:
        return render_mode(mode)
    text = name + ("|" if name else "")
    for bit, label in ((0o4000, "S_ISUID|"), (0o2000, "S_ISGID|"), (0o1000, "S_ISVTX|")):
        if mode & bit:
            text += label
    return text + render_mode(mode & ~(S_IFMT | 0o7000))


# --- processes, threads ---------------------------------------------------

CLONE = _flags(
    "CLONE_VM=0x100 CLONE_FS=0x200 CLONE_FILES=0x400 CLONE_SIGHAND=0x800 "
    "CLONE_PIDFD=0x1000 CLONE_PTRACE=0x2000 CLONE_VFORK=0x4000 CLONE_PARENT=0x8000 "
    "CLONE_THREAD=0x10000 CLONE_NEWNS=0x20000 CLONE_SYSVSEM=0x40000 "
    "CLONE_SETTLS=0x80000 CLONE_PARENT_SETTID=0x100000 CLONE_CHILD_CLEARTID=0x200000 "
    "CLONE_UNTRACED=0x800000 CLONE_CHILD_SETTID=0x1000000 CLONE_NEWCGROUP=0x2000000 "
    "CLONE_NEWUTS=0x4000000 CLONE_NEWIPC=0x8000000 CLONE_NEWUSER=0x10000000 "
    "CLONE_NEWPID=0x20000000 CLONE_NEWNET=0x40000000 CLONE_IO=0x80000000",
)
CSIGNAL = 0xFF


def render_clone_flags(value: int) -> str:
    """clone flags with the exit signal (low byte) named last: ``...|SIGCHLD``."""
    sig = value & CSIGNAL
    rest = value & ~CSIGNAL
    parts: list[str] = []
    if rest:
        names, left = CLONE.split(rest)
        parts.extend(names)
        if left:
            parts.append(_hex(left))
    if sig:
        parts.append(render_signal(sig))
    return "|".join(parts) if parts else "0"


UNSHARE = _flags(
    "CLONE_FILES=0x400 CLONE_FS=0x200 CLONE_NEWNS=0x20000 CLONE_SYSVSEM=0x40000 "
    "CLONE_NEWCGROUP=0x2000000 CLONE_NEWUTS=0x4000000 CLONE_NEWIPC=0x8000000 "
    "CLONE_NEWUSER=0x10000000 CLONE_NEWPID=0x20000000 CLONE_NEWNET=0x40000000 "
    "CLONE_NEWTIME=0x80",
)

FUTEX_PRIVATE_FLAG = 128
FUTEX_CLOCK_REALTIME = 256
FUTEX_CMD_MASK = 127
_FUTEX_CMDS = (
    "WAIT",
    "WAKE",
    "FD",
    "REQUEUE",
    "CMP_REQUEUE",
    "WAKE_OP",
    "LOCK_PI",
    "UNLOCK_PI",
    "TRYLOCK_PI",
    "WAIT_BITSET",
    "WAKE_BITSET",
    "WAIT_REQUEUE_PI",
    "CMP_REQUEUE_PI",
    "LOCK_PI2",
)
FUTEX_CMD = EnumSet(tuple((i, f"FUTEX_{n}") for i, n in enumerate(_FUTEX_CMDS)))
# Whole op values strace names (futexops.in): plain, _PRIVATE, and the
# commands that accept FUTEX_CLOCK_REALTIME.
FUTEX_OP = EnumSet(
    tuple((i, f"FUTEX_{n}") for i, n in enumerate(_FUTEX_CMDS))
    + tuple(
        (i | FUTEX_PRIVATE_FLAG, f"FUTEX_{n}_PRIVATE" if n != "FD" else "FUTEX_FD|FUTEX_PRIVATE_FLAG")
        for i, n in enumerate(_FUTEX_CMDS)
    )
    + tuple(
        (i | extra | FUTEX_CLOCK_REALTIME, f"FUTEX_{n}{suffix}|FUTEX_CLOCK_REALTIME")
        for i, n in enumerate(_FUTEX_CMDS)
        if n in ("WAIT", "WAIT_BITSET", "WAIT_REQUEUE_PI")
        for extra, suffix in ((0, ""), (FUTEX_PRIVATE_FLAG, "_PRIVATE"))
    ),
    unknown="FUTEX_???",
)
FUTEX_BITSET = _enum("FUTEX_BITSET_MATCH_ANY=0xffffffff")
FUTEX_WAKE_OPS = _enum("FUTEX_OP_SET=0 FUTEX_OP_ADD=1 FUTEX_OP_OR=2 FUTEX_OP_ANDN=3 FUTEX_OP_XOR=4")
FUTEX_WAKE_CMPS = _enum(
    "FUTEX_OP_CMP_EQ=0 FUTEX_OP_CMP_NE=1 FUTEX_OP_CMP_LT=2 FUTEX_OP_CMP_LE=3 "
    "FUTEX_OP_CMP_GT=4 FUTEX_OP_CMP_GE=5"
)


def render_futex_wake_op(val3: int) -> str:
    """FUTEX_WAKE_OP's encoded operation: ``FUTEX_OP_ADD<<28|0x345<<12|...``."""
    val3 &= 0xFFFF_FFFF
    parts = []
    if (val3 >> 28) & 8:
        parts.append("FUTEX_OP_OPARG_SHIFT<<28")
    op = FUTEX_WAKE_OPS.name((val3 >> 28) & 7)
    parts.append(f"{op}<<28" if op else f"{(val3 >> 28) & 7}<<28 /* FUTEX_OP_??? */")
    parts.append(f"{_hex((val3 >> 12) & 0xFFF)}<<12")
    cmp = FUTEX_WAKE_CMPS.name((val3 >> 24) & 0xF)
    parts.append(f"{cmp}<<24" if cmp else f"{(val3 >> 24) & 0xF}<<24 /* FUTEX_OP_CMP_??? */")
    parts.append(_hex(val3 & 0xFFF))
    return "|".join(parts)


FUTEX2 = _flags("FUTEX2_SIZE_U16=1 FUTEX2_SIZE_U32=2 FUTEX2_SIZE_U64=3 FUTEX2_NUMA=4 FUTEX2_PRIVATE=128")

ARCH = _enum(
    "ARCH_SET_GS=0x1001 ARCH_SET_FS=0x1002 ARCH_GET_FS=0x1003 ARCH_GET_GS=0x1004 "
    "ARCH_GET_CPUID=0x1011 ARCH_SET_CPUID=0x1012 ARCH_GET_XCOMP_SUPP=0x1021 "
    "ARCH_GET_XCOMP_PERM=0x1022 ARCH_REQ_XCOMP_PERM=0x1023 "
    "ARCH_GET_XCOMP_GUEST_PERM=0x1024 ARCH_REQ_XCOMP_GUEST_PERM=0x1025 "
    "ARCH_MAP_VDSO_X32=0x2001 ARCH_MAP_VDSO_32=0x2002 ARCH_MAP_VDSO_64=0x2003 "
    "ARCH_GET_UNTAG_MASK=0x4001 ARCH_ENABLE_TAGGED_ADDR=0x4002 "
    "ARCH_GET_MAX_TAG_BITS=0x4003 ARCH_FORCE_TAGGED_SVA=0x4004 "
    "ARCH_SHSTK_ENABLE=0x5001 ARCH_SHSTK_DISABLE=0x5002 ARCH_SHSTK_LOCK=0x5003 "
    "ARCH_SHSTK_UNLOCK=0x5004 ARCH_SHSTK_STATUS=0x5005",
    unknown="ARCH_???",
)
ARCH_GET_FS = 0x1003
ARCH_GET_GS = 0x1004

PR = _enum(
    "PR_SET_PDEATHSIG=1 PR_GET_PDEATHSIG=2 PR_GET_DUMPABLE=3 PR_SET_DUMPABLE=4 "
    "PR_GET_UNALIGN=5 PR_SET_UNALIGN=6 PR_GET_KEEPCAPS=7 PR_SET_KEEPCAPS=8 "
    "PR_GET_FPEMU=9 PR_SET_FPEMU=10 PR_GET_FPEXC=11 PR_SET_FPEXC=12 "
    "PR_GET_TIMING=13 PR_SET_TIMING=14 PR_SET_NAME=15 PR_GET_NAME=16 "
    "PR_GET_ENDIAN=19 PR_SET_ENDIAN=20 PR_GET_SECCOMP=21 PR_SET_SECCOMP=22 "
    "PR_CAPBSET_READ=23 PR_CAPBSET_DROP=24 PR_GET_TSC=25 PR_SET_TSC=26 "
    "PR_GET_SECUREBITS=27 PR_SET_SECUREBITS=28 PR_SET_TIMERSLACK=29 "
    "PR_GET_TIMERSLACK=30 PR_TASK_PERF_EVENTS_DISABLE=31 "
    "PR_TASK_PERF_EVENTS_ENABLE=32 PR_MCE_KILL=33 PR_MCE_KILL_GET=34 PR_SET_MM=35 "
    "PR_SET_CHILD_SUBREAPER=36 PR_GET_CHILD_SUBREAPER=37 PR_SET_NO_NEW_PRIVS=38 "
    "PR_GET_NO_NEW_PRIVS=39 PR_GET_TID_ADDRESS=40 PR_SET_THP_DISABLE=41 "
    "PR_GET_THP_DISABLE=42 PR_MPX_ENABLE_MANAGEMENT=43 PR_MPX_DISABLE_MANAGEMENT=44 "
    "PR_SET_FP_MODE=45 PR_GET_FP_MODE=46 PR_CAP_AMBIENT=47 PR_SVE_SET_VL=50 "
    "PR_SVE_GET_VL=51 PR_GET_SPECULATION_CTRL=52 PR_SET_SPECULATION_CTRL=53 "
    "PR_PAC_RESET_KEYS=54 PR_SET_TAGGED_ADDR_CTRL=55 PR_GET_TAGGED_ADDR_CTRL=56 "
    "PR_SET_IO_FLUSHER=57 PR_GET_IO_FLUSHER=58 PR_SET_SYSCALL_USER_DISPATCH=59 "
    "PR_PAC_SET_ENABLED_KEYS=60 PR_PAC_GET_ENABLED_KEYS=61 PR_SCHED_CORE=62 "
    "PR_SME_SET_VL=63 PR_SME_GET_VL=64 PR_SET_MDWE=65 PR_GET_MDWE=66 "
    "PR_SET_MEMORY_MERGE=67 PR_GET_MEMORY_MERGE=68 PR_GET_SHADOW_STACK_STATUS=74 "
    "PR_SET_SHADOW_STACK_STATUS=75 PR_LOCK_SHADOW_STACK_STATUS=76 "
    "PR_SET_VMA=0x53564d41 PR_GET_AUXV=0x41555856 PR_SET_PTRACER=0x59616d61",
    unknown="PR_???",
)
PR_SET_VMA_ATTR = _enum("PR_SET_VMA_ANON_NAME=0", unknown="PR_SET_VMA_???")

RLIMIT = _enum(
    "RLIMIT_CPU=0 RLIMIT_FSIZE=1 RLIMIT_DATA=2 RLIMIT_STACK=3 RLIMIT_CORE=4 "
    "RLIMIT_RSS=5 RLIMIT_NPROC=6 RLIMIT_NOFILE=7 RLIMIT_MEMLOCK=8 RLIMIT_AS=9 "
    "RLIMIT_LOCKS=10 RLIMIT_SIGPENDING=11 RLIMIT_MSGQUEUE=12 RLIMIT_NICE=13 "
    "RLIMIT_RTPRIO=14 RLIMIT_RTTIME=15",
    unknown="RLIMIT_???",
)
RUSAGE = _enum("RUSAGE_SELF=0 RUSAGE_CHILDREN=-1 RUSAGE_THREAD=1", unknown="RUSAGE_???")
PRIO = _enum("PRIO_PROCESS=0 PRIO_PGRP=1 PRIO_USER=2", unknown="PRIO_???")
P_ID = _enum("P_ALL=0 P_PID=1 P_PGID=2 P_PIDFD=3", unknown="P_???")
WAIT = _flags(
    "WNOHANG=1 WUNTRACED=2 WEXITED=4 WCONTINUED=8 WNOWAIT=0x1000000 "
    "__WNOTHREAD=0x20000000 __WALL=0x40000000 __WCLONE=0x80000000",
)
SCHED = _enum(
    "SCHED_OTHER=0 SCHED_FIFO=1 SCHED_RR=2 SCHED_BATCH=3 SCHED_ISO=4 "
    "SCHED_IDLE=5 SCHED_DEADLINE=6 SCHED_EXT=7",
    unknown="SCHED_???",
)
SECCOMP_OP = _enum(
    "SECCOMP_SET_MODE_STRICT=0 SECCOMP_SET_MODE_FILTER=1 SECCOMP_GET_ACTION_AVAIL=2 "
    "SECCOMP_GET_NOTIF_SIZES=3",
    unknown="SECCOMP_???",
)
RSEQ = _flags("RSEQ_FLAG_UNREGISTER=1")
ITIMER = _enum("ITIMER_REAL=0 ITIMER_VIRTUAL=1 ITIMER_PROF=2", unknown="ITIMER_???")
PIDFD = _flags("PIDFD_THREAD=0o200 PIDFD_NONBLOCK=0o4000")
PTRACE = _enum(
    "PTRACE_TRACEME=0 PTRACE_PEEKTEXT=1 PTRACE_PEEKDATA=2 PTRACE_PEEKUSER=3 "
    "PTRACE_POKETEXT=4 PTRACE_POKEDATA=5 PTRACE_POKEUSER=6 PTRACE_CONT=7 "
    "PTRACE_KILL=8 PTRACE_SINGLESTEP=9 PTRACE_GETREGS=12 PTRACE_SETREGS=13 "
    "PTRACE_ATTACH=16 PTRACE_DETACH=17 PTRACE_SYSCALL=24 PTRACE_SETOPTIONS=0x4200 "
    "PTRACE_GETEVENTMSG=0x4201 PTRACE_GETSIGINFO=0x4202 PTRACE_SETSIGINFO=0x4203 "
    "PTRACE_GETREGSET=0x4204 PTRACE_SETREGSET=0x4205 PTRACE_SEIZE=0x4206 "
    "PTRACE_INTERRUPT=0x4207 PTRACE_LISTEN=0x4208",
    unknown="PTRACE_???",
)

# --- time -----------------------------------------------------------------

CLOCK = _enum(
    "CLOCK_REALTIME=0 CLOCK_MONOTONIC=1 CLOCK_PROCESS_CPUTIME_ID=2 "
    "CLOCK_THREAD_CPUTIME_ID=3 CLOCK_MONOTONIC_RAW=4 CLOCK_REALTIME_COARSE=5 "
    "CLOCK_MONOTONIC_COARSE=6 CLOCK_BOOTTIME=7 CLOCK_REALTIME_ALARM=8 "
    "CLOCK_BOOTTIME_ALARM=9 CLOCK_SGI_CYCLE=10 CLOCK_TAI=11",
    unknown="CLOCK_???",
)
TIMER = _flags("TIMER_ABSTIME=1")
TFD = _flags("TFD_NONBLOCK=0o4000 TFD_CLOEXEC=0o2000000")
TFD_TIMER = _flags("TFD_TIMER_ABSTIME=1 TFD_TIMER_CANCEL_ON_SET=2")

# --- signals --------------------------------------------------------------

_SIGNALS = (
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
)
SIGRTMIN = 32
SIGRTMAX = 64
NSIG = 64


def signal_name(sig: int) -> str | None:
    """strace's name for a signal number: SIGHUP.., SIGRTMIN (32), SIGRT_n."""
    if 1 <= sig <= len(_SIGNALS):
        return _SIGNALS[sig - 1]
    if sig == SIGRTMIN:
        return "SIGRTMIN"
    if SIGRTMIN < sig <= SIGRTMAX:
        return f"SIGRT_{sig - SIGRTMIN}"
    return None


def render_signal(sig: int) -> str:
    """Signal name, or the number as a signed decimal."""
    return signal_name(sig) or str(sig)


SIGNAL = EnumSet(tuple((n, signal_name(n) or "") for n in range(1, SIGRTMAX + 1)), decimal=True)


def render_sigset(mask: int, nbytes: int = 8) -> str:
    """A kernel sigset: ``[INT TERM]``; ``~[..]`` when 2/3 or more bits are set.

    Names lose their ``SIG`` prefix, as in strace's sprintsigmask_n.
    """
    nbits = ((nbytes + 3) // 4) * 32
    mask &= (1 << nbits) - 1
    if bin(mask).count("1") >= nbits * 2 // 3:
        prefix, mask = "~", ~mask & ((1 << nbits) - 1)
    else:
        prefix = ""
    names = []
    bit = 0
    while mask >> bit:
        if mask >> bit & 1:
            sig = bit + 1
            name = signal_name(sig)
            names.append(name[3:] if name else str(sig))
        bit += 1
    return prefix + "[" + " ".join(names) + "]"


SIG_HOW = _enum("SIG_BLOCK=0 SIG_UNBLOCK=1 SIG_SETMASK=2", unknown="SIG_???")
SA = _flags(
    "SA_RESTORER=0x04000000 SA_ONSTACK=0x08000000 SA_RESTART=0x10000000 "
    "SA_INTERRUPT=0x20000000 SA_NODEFER=0x40000000 SA_RESETHAND=0x80000000 "
    "SA_SIGINFO=4 SA_NOCLDSTOP=1 SA_NOCLDWAIT=2 SA_UNSUPPORTED=0x400 "
    "SA_EXPOSE_TAGBITS=0x800",
    unknown="SA_???",
)
SA_RESTORER = 0x04000000
SA_HANDLER = _enum("SIG_DFL=0 SIG_IGN=1 SIG_ERR=0xffffffffffffffff")
SS = _flags("SS_ONSTACK=1 SS_DISABLE=2 SS_AUTODISARM=0x80000000", unknown="SS_???")
SFD = _flags("SFD_NONBLOCK=0o4000 SFD_CLOEXEC=0o2000000")

# --- misc -----------------------------------------------------------------

GRND = _flags("GRND_NONBLOCK=1 GRND_RANDOM=2 GRND_INSECURE=4", unknown="GRND_???")
EPOLL = _flags("EPOLL_CLOEXEC=0o2000000")
EPOLL_EVENTS = _flags(
    "EPOLLIN=0x1 EPOLLPRI=0x2 EPOLLOUT=0x4 EPOLLERR=0x8 EPOLLHUP=0x10 EPOLLNVAL=0x20 EPOLLRDNORM=0x40"
    " EPOLLRDBAND=0x80 EPOLLWRNORM=0x100 EPOLLWRBAND=0x200 EPOLLMSG=0x400 EPOLLRDHUP=0x2000"
    " EPOLLEXCLUSIVE=0x10000000 EPOLLWAKEUP=0x20000000 EPOLLONESHOT=0x40000000 EPOLLET=0x80000000"
)
EPOLL_CTL = _enum("EPOLL_CTL_ADD=1 EPOLL_CTL_DEL=2 EPOLL_CTL_MOD=3", unknown="EPOLL_CTL_???")
EFD = _flags("EFD_SEMAPHORE=1 EFD_CLOEXEC=0o2000000 EFD_NONBLOCK=0o4000")
PIPE = _flags("O_NONBLOCK=0o4000 O_CLOEXEC=0o2000000 O_DIRECT=0o40000 O_NOTIFICATION_PIPE=0o200")
IN_INIT = _flags("IN_NONBLOCK=0o4000 IN_CLOEXEC=0o2000000")
AF = _enum(
    "AF_UNSPEC=0 AF_UNIX=1 AF_INET=2 AF_AX25=3 AF_IPX=4 AF_APPLETALK=5 "
    "AF_NETROM=6 AF_BRIDGE=7 AF_ATMPVC=8 AF_X25=9 AF_INET6=10 AF_ROSE=11 "
    "AF_DECnet=12 AF_NETBEUI=13 AF_SECURITY=14 AF_KEY=15 AF_NETLINK=16 "
    "AF_PACKET=17 AF_ASH=18 AF_ECONET=19 AF_ATMSVC=20 AF_RDS=21 AF_SNA=22 "
    "AF_IRDA=23 AF_PPPOX=24 AF_WANPIPE=25 AF_LLC=26 AF_IB=27 AF_MPLS=28 "
    "AF_CAN=29 AF_TIPC=30 AF_BLUETOOTH=31 AF_IUCV=32 AF_RXRPC=33 AF_ISDN=34 "
    "AF_PHONET=35 AF_IEEE802154=36 AF_CAIF=37 AF_ALG=38 AF_NFC=39 AF_VSOCK=40 "
    "AF_KCM=41 AF_QIPCRTR=42 AF_SMC=43 AF_XDP=44 AF_MCTP=45",
    unknown="AF_???",
)
SOCK_TYPE = _enum(
    "SOCK_STREAM=1 SOCK_DGRAM=2 SOCK_RAW=3 SOCK_RDM=4 SOCK_SEQPACKET=5 SOCK_DCCP=6 SOCK_PACKET=10",
    unknown="SOCK_???",
)
SOCK_FLAGS = _flags("SOCK_CLOEXEC=0o2000000 SOCK_NONBLOCK=0o4000")


def render_socket_type(value: int) -> str:
    """socket(2) type: ``SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK``."""
    value &= 0xFFFF_FFFF
    parts = [SOCK_TYPE.render(value & 0xF)]
    rest = value & ~0xF
    if rest:
        names, left = SOCK_FLAGS.split(rest)
        parts.extend(names)
        if left:
            parts.append(_hex(left))
    return "|".join(parts)


SOL = _enum(
    "SOL_IP=0 SOL_SOCKET=1 SOL_TCP=6 SOL_UDP=17 SOL_IPV6=41 SOL_ICMPV6=58 "
    "SOL_RAW=255 SOL_PACKET=263 SOL_NETLINK=270",
    unknown="SOL_???",
)
MSG = _flags(
    "MSG_OOB=1 MSG_PEEK=2 MSG_DONTROUTE=4 MSG_CTRUNC=8 MSG_PROXY=0x10 "
    "MSG_TRUNC=0x20 MSG_DONTWAIT=0x40 MSG_EOR=0x80 MSG_WAITALL=0x100 MSG_FIN=0x200 "
    "MSG_SYN=0x400 MSG_CONFIRM=0x800 MSG_RST=0x1000 MSG_ERRQUEUE=0x2000 "
    "MSG_NOSIGNAL=0x4000 MSG_MORE=0x8000 MSG_WAITFORONE=0x10000 "
    "MSG_BATCH=0x40000 MSG_ZEROCOPY=0x4000000 MSG_FASTOPEN=0x20000000 "
    "MSG_CMSG_CLOEXEC=0x40000000",
)
SHUT = _enum("SHUT_RD=0 SHUT_WR=1 SHUT_RDWR=2", unknown="SHUT_???")
IPC_CMD = _enum(
    "IPC_RMID=0 IPC_SET=1 IPC_STAT=2 IPC_INFO=3 SHM_LOCK=11 SHM_UNLOCK=12 "
    "SHM_STAT=13 SHM_INFO=14 SHM_STAT_ANY=15 GETPID=11 GETVAL=12 GETALL=13 "
    "GETNCNT=14 GETZCNT=15 SETVAL=16 SETALL=17",
    unknown="IPC_???",
)
IPC_FLAGS = _flags("IPC_CREAT=0o1000 IPC_EXCL=0o2000 IPC_NOWAIT=0o4000")
MOUNT = _flags(
    "MS_RDONLY=1 MS_NOSUID=2 MS_NODEV=4 MS_NOEXEC=8 MS_SYNCHRONOUS=16 "
    "MS_REMOUNT=32 MS_MANDLOCK=64 MS_DIRSYNC=128 MS_NOSYMFOLLOW=256 "
    "MS_NOATIME=1024 MS_NODIRATIME=2048 MS_BIND=4096 MS_MOVE=8192 MS_REC=16384 "
    "MS_SILENT=32768 MS_POSIXACL=0x10000 MS_UNBINDABLE=0x20000 "
    "MS_PRIVATE=0x40000 MS_SLAVE=0x80000 MS_SHARED=0x100000 MS_RELATIME=0x200000 "
    "MS_KERNMOUNT=0x400000 MS_I_VERSION=0x800000 MS_STRICTATIME=0x1000000 "
    "MS_LAZYTIME=0x2000000",
)
UMOUNT = _flags("MNT_FORCE=1 MNT_DETACH=2 MNT_EXPIRE=4 UMOUNT_NOFOLLOW=8", unknown="MNT_???")
O_CLOEXEC_ONLY = _flags("O_CLOEXEC=0o2000000")
O_CLOEXEC_NONBLOCK = _flags("O_NONBLOCK=0o4000 O_CLOEXEC=0o2000000")
# The terminal and file ioctls Go programs and their runtimes issue.
IOCTL = _enum(
    "TCGETS=0x5401 TCSETS=0x5402 TCSETSW=0x5403 TCSETSF=0x5404 TIOCSCTTY=0x540e "
    "TIOCGPGRP=0x540f TIOCSPGRP=0x5410 TIOCOUTQ=0x5411 TIOCGWINSZ=0x5413 "
    "TIOCSWINSZ=0x5414 FIONREAD=0x541b TIOCNOTTY=0x5422 FIONBIO=0x5421 "
    "TIOCGPTN=0x80045430 TIOCSPTLCK=0x40045431 FIONCLEX=0x5450 FIOCLEX=0x5451 "
    "FIOASYNC=0x5452",
)
