"""File calls on a small, read-only view of the world.

The guest gets its standard streams (the host's 0-2), a few synthetic files
the Go runtime reads at start (deterministic contents of our choosing), and
read-only access to host files by path. Writing files, directories and the
sandboxed filesystem come later; until then opening for writing is EROFS.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from syscalls import errno
from syscalls.errno import LimitError, SyscallError
from syscalls.kernel import Kernel, Task, handles
from syscalls.kinds import signed32, signed64
from syscalls.outcome import Outcome

AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
O_ACCMODE, O_RDONLY, O_WRONLY, O_RDWR = 3, 0, 1, 2
O_CREAT, O_TRUNC, O_APPEND, O_NONBLOCK = 0o100, 0o1000, 0o2000, 0o4000
O_DIRECTORY = 0o200000
O_LARGEFILE = 0o100000  # forced on by 64-bit kernels for every open (force_o_largefile)
O_CLOEXEC = 0o2000000
F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC = 0, 1, 2, 3, 4, 1030
FD_CLOEXEC = 1
SEEK_SET, SEEK_CUR, SEEK_END = 0, 1, 2
S_IFCHR, S_IFREG = 0o020000, 0o100000
TCGETS = 0x5401
FIONBIO = 0x5421
MAX_FILE = 256 << 20  # host files are read whole; refuse absurd ones

# Files the Go runtime reads at start-up, with contents of our choosing so
# every run and every host sees the same. cgroup v2 with no CPU limit.
SYNTHETIC_FILES: dict[str, bytes] = {
    "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size": b"2097152\n",
    "/proc/self/cgroup": b"0::/\n",
    "/proc/self/mountinfo": (
        b"22 1 0:21 / / rw,relatime - overlay overlay rw\n"
        b"30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw\n"
    ),
    "/sys/fs/cgroup/cpu.max": b"max 100000\n",
}


@dataclass
class OpenFile:
    """An open file description: a path, its bytes (None for a stream), an offset."""

    path: str
    data: bytes | None = None
    offset: int = 0
    flags: int = O_RDONLY
    stream_fd: int | None = None  # the host fd of a standard stream
    mode: int = 0o644  # permission bits fstat reports (a host file's own)

    def contents(self, offset: int, length: int) -> bytes:
        if self.data is None:
            raise SyscallError(errno.ENODEV)
        return self.data[offset : offset + length]

    def read(self, k: Kernel, buf: int, count: int) -> Outcome:
        if self.stream_fd is not None:
            data = k.console.read(self.stream_fd, min(count, 1 << 20))
        else:
            data = self.contents(self.offset, count)
            self.offset += len(data)
        k.mem.write(buf, data)
        return len(data)

    def write(self, k: Kernel, buf: int, count: int) -> Outcome:
        if self.stream_fd is None or self.stream_fd == 0:
            return -errno.EBADF
        return k.console.write(self.stream_fd, k.mem.read(buf, k.account_write(count)))

    def ready(self) -> int | None:
        """epoll readiness (EPOLLIN|EPOLLOUT...); None: cannot be polled (epoll_ctl says EPERM)."""
        return None

    def wait_key(self) -> object:
        """What a thread blocked on this file waits on; notify() with it wakes the thread."""
        return self

    def released(self, k: Kernel) -> None:
        """The last descriptor for this open file was closed."""


@dataclass
class FdTable:
    """The process's file descriptors; 0-2 are the host's standard streams."""

    files: dict[int, OpenFile] = field(default_factory=dict)
    cloexec: set[int] = field(default_factory=set)
    limit: Callable[[], int] = lambda: 1024  # RLIMIT_NOFILE's soft value: fds must stay below it

    def __post_init__(self) -> None:
        for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
            self.files[fd] = OpenFile(f"/dev/{name}", flags=O_RDWR, stream_fd=fd)

    def get(self, fd: int) -> OpenFile:
        f = self.files.get(fd)
        if f is None:
            raise SyscallError(errno.EBADF)
        return f

    def install(self, f: OpenFile, lowest: int = 0, cloexec: bool = False) -> int:
        """The lowest free fd >= ``lowest``; EMFILE at RLIMIT_NOFILE (EINVAL if ``lowest`` is past it)."""
        limit = self.limit()
        if lowest >= limit:
            raise SyscallError(errno.EINVAL)
        fd = lowest
        while fd in self.files:
            fd += 1
        if fd >= limit:
            raise LimitError("fds", errno.EMFILE, f"RLIMIT_NOFILE is {limit}")
        self.files[fd] = f
        if cloexec:
            self.cloexec.add(fd)
        return fd

    def close(self, fd: int) -> None:
        if self.files.pop(fd, None) is None:
            raise SyscallError(errno.EBADF)
        self.cloexec.discard(fd)


def _resolve(k: Kernel, dirfd: int, path: bytes) -> str:
    text = os.fsdecode(path)
    if not text:
        raise SyscallError(errno.ENOENT)
    if text.startswith("/"):
        return os.path.normpath(text)
    if dirfd != AT_FDCWD:
        return os.path.normpath(os.path.join(k.fds.get(dirfd).path, text))
    return text


def _load(path: str, flags: int = O_RDONLY) -> OpenFile:
    """The file at ``path`` as an open file description: a synthetic one, or the host's bytes."""
    if path in SYNTHETIC_FILES:
        return OpenFile(path, SYNTHETIC_FILES[path], flags=flags, mode=0o444)
    if path.startswith(("/proc/", "/sys/", "/dev/")):
        raise SyscallError(errno.ENOENT)
    try:
        if os.path.isdir(path):
            raise SyscallError(errno.EISDIR)
        st = os.stat(path)
        if st.st_size > MAX_FILE:
            raise SyscallError(errno.EFBIG)
        with open(path, "rb") as f:
            return OpenFile(path, f.read(), flags=flags, mode=st.st_mode & 0o7777)
    except FileNotFoundError as e:
        raise SyscallError(errno.ENOENT) from e
    except NotADirectoryError as e:
        raise SyscallError(errno.ENOTDIR) from e
    except PermissionError as e:
        raise SyscallError(errno.EACCES) from e


@handles
def openat(k: Kernel, t: Task, dirfd: int, pathname: int, flags: int, mode: int) -> int:
    path = _resolve(k, signed32(dirfd), k.mem.read_cstring(pathname))
    if flags & O_ACCMODE != O_RDONLY or flags & (O_CREAT | O_TRUNC):
        return -errno.EROFS
    if flags & O_DIRECTORY:
        return -errno.ENOTDIR if path in SYNTHETIC_FILES else -errno.ENOENT
    f = _load(path, (flags & ~O_CLOEXEC) | O_LARGEFILE)
    return k.fds.install(f, cloexec=bool(flags & O_CLOEXEC))


@handles
def open_(k: Kernel, t: Task, pathname: int, flags: int, mode: int) -> int:
    return openat(k, t, AT_FDCWD, pathname, flags, mode)


@handles
def close(k: Kernel, t: Task, fd: int) -> int:
    f = k.fds.get(fd)
    k.fds.close(fd)
    if all(other is not f for other in k.fds.files.values()):
        f.released(k)
    return 0


@handles
def read(k: Kernel, t: Task, fd: int, buf: int, count: int) -> Outcome:
    return k.fds.get(fd).read(k, buf, count)


@handles
def pread64(k: Kernel, t: Task, fd: int, buf: int, count: int, offset: int) -> int:
    f = k.fds.get(fd)
    if f.stream_fd is not None:
        return -errno.ESPIPE
    data = f.contents(offset, count)
    k.mem.write(buf, data)
    return len(data)


@handles
def write(k: Kernel, t: Task, fd: int, buf: int, count: int) -> Outcome:
    return k.fds.get(fd).write(k, buf, count)


@handles
def writev(k: Kernel, t: Task, fd: int, iov: int, iovcnt: int) -> int:
    if not 0 <= iovcnt <= 1024:
        return -errno.EINVAL
    parts = []
    for i in range(iovcnt):
        base, length = struct.unpack("<QQ", k.mem.read(iov + 16 * i, 16))
        parts.append(k.mem.read(base, length))
    f = k.fds.get(fd)
    if f.stream_fd is None or f.stream_fd == 0:
        return -errno.EBADF
    data = b"".join(parts)
    return k.console.write(f.stream_fd, data[: k.account_write(len(data))])


@handles
def lseek(k: Kernel, t: Task, fd: int, offset: int, whence: int) -> int:
    f = k.fds.get(fd)
    if f.data is None:
        return -errno.ESPIPE
    offset = signed64(offset)
    base = {SEEK_SET: 0, SEEK_CUR: f.offset, SEEK_END: len(f.data)}.get(whence)
    if base is None or base + offset < 0:
        return -errno.EINVAL
    f.offset = base + offset
    return f.offset


def _stat_bytes(k: Kernel, f: OpenFile) -> bytes:
    """struct stat (x86-64 layout) with deterministic times and inode numbers."""
    if f.data is None:
        mode, size, rdev = S_IFCHR | 0o620, 0, 0x8800 + (f.stream_fd or 0)
    else:
        mode, size, rdev = S_IFREG | f.mode, len(f.data), 0
    ino = sum(f.path.encode()) + 2
    when = 1_700_000_000
    return struct.pack(
        "<QQQIIIiQqqqqqqqqq24x",
        0x801,
        ino,
        1,
        mode,
        k.config.uid,
        k.config.gid,
        0,
        rdev,
        size,
        4096,
        (size + 511) // 512,
        when,
        0,
        when,
        0,
        when,
        0,
    )


@handles
def fstat(k: Kernel, t: Task, fd: int, statbuf: int) -> int:
    k.mem.write(statbuf, _stat_bytes(k, k.fds.get(fd)))
    return 0


@handles
def newfstatat(k: Kernel, t: Task, dirfd: int, pathname: int, statbuf: int, flags: int) -> int:
    path = k.mem.read_cstring(pathname)
    if not path and flags & AT_EMPTY_PATH:
        return fstat(k, t, dirfd, statbuf)
    resolved = _resolve(k, signed32(dirfd), path)
    k.mem.write(statbuf, _stat_bytes(k, _load(resolved)))
    return 0


@handles
def faccessat(k: Kernel, t: Task, dirfd: int, pathname: int, mode: int) -> int:
    path = _resolve(k, signed32(dirfd), k.mem.read_cstring(pathname))
    if mode & 2:
        return -errno.EROFS
    _load(path)
    return 0


@handles
def access(k: Kernel, t: Task, pathname: int, mode: int) -> int:
    return faccessat(k, t, AT_FDCWD, pathname, mode)


@handles
def readlinkat(k: Kernel, t: Task, dirfd: int, pathname: int, buf: int, bufsiz: int) -> int:
    path = _resolve(k, signed32(dirfd), k.mem.read_cstring(pathname))
    if path != "/proc/self/exe":
        return -errno.EINVAL if path in SYNTHETIC_FILES else -errno.ENOENT
    target = os.fsencode(k.config.exe_path)[:bufsiz]
    k.mem.write(buf, target)
    return len(target)


@handles
def fcntl(k: Kernel, t: Task, fd: int, cmd: int, arg: int) -> int:
    f = k.fds.get(fd)
    if cmd == F_GETFD:
        return FD_CLOEXEC if fd in k.fds.cloexec else 0
    if cmd == F_SETFD:
        (k.fds.cloexec.add if arg & FD_CLOEXEC else k.fds.cloexec.discard)(fd)
        return 0
    if cmd == F_GETFL:
        return f.flags
    if cmd == F_SETFL:
        f.flags = (f.flags & (O_ACCMODE | O_LARGEFILE)) | (arg & (O_APPEND | O_NONBLOCK))
        return 0
    if cmd in (F_DUPFD, F_DUPFD_CLOEXEC):
        return k.fds.install(f, lowest=arg, cloexec=cmd == F_DUPFD_CLOEXEC)
    return -errno.EINVAL


@handles
def ioctl(k: Kernel, t: Task, fd: int, request: int, arg: int) -> int:
    f = k.fds.get(fd)
    if request == FIONBIO:
        return 0
    if request == TCGETS:
        return -errno.ENOTTY  # the guest never sees a terminal: output is identical either way
    return -errno.ENOTTY if f.data is not None else -errno.EINVAL
