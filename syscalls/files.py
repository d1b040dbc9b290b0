"""File calls at the descriptor level: open files, the fd table, and the path calls on top of vfs.

Every path goes through ``syscalls.vfs`` (the namespace and the walk); this
module turns resolved nodes into open file descriptions and implements the
calls on them. Host files are reached only through a host descriptor opened
with O_NOFOLLOW on a path the walk produced; host files under a read-only
mount are never opened for writing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import stat as st
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

from syscalls import errno
from syscalls.abi import read_u64, write_u64
from syscalls.errno import LimitError, SyscallError
from syscalls.kernel import Kernel, Task, handles
from syscalls.kinds import PATH_MAX, signed32, signed64
from syscalls.outcome import Outcome
from syscalls.procfs import SynDevice, SynFile, SynLink
from syscalls.vfs import (
    DIR,
    DT_TYPES,
    FIXED_TIME_NS,
    LNK,
    REG,
    RESOLVE_BENEATH,
    RESOLVE_CACHED,
    RESOLVE_IN_ROOT,
    RESOLVE_NO_MAGICLINKS,
    RESOLVE_NO_SYMLINKS,
    RESOLVE_NO_XDEV,
    Missing,
    Node,
    StatInfo,
    reachable,
)

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW, AT_REMOVEDIR, AT_SYMLINK_FOLLOW, AT_EMPTY_PATH = 0x100, 0x200, 0x400, 0x1000
AT_EACCESS = 0x200
O_ACCMODE, O_RDONLY, O_WRONLY, O_RDWR = 3, 0, 1, 2
O_CREAT, O_EXCL, O_NOCTTY, O_TRUNC, O_APPEND, O_NONBLOCK = 0o100, 0o200, 0o400, 0o1000, 0o2000, 0o4000
O_DIRECT, O_LARGEFILE, O_DIRECTORY, O_NOFOLLOW = 0o40000, 0o100000, 0o200000, 0o400000
O_NOATIME, O_CLOEXEC, O_PATH, O_TMPFILE = 0o1000000, 0o2000000, 0o10000000, 0o20200000
F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC = 0, 1, 2, 3, 4, 1030
F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW = 5, 6, 7, 36, 37, 38
F_UNLCK = 2
FD_CLOEXEC = 1
SEEK_SET, SEEK_CUR, SEEK_END, SEEK_DATA, SEEK_HOLE = 0, 1, 2, 3, 4
TCGETS, FIONBIO, FIONCLEX, FIOCLEX = 0x5401, 0x5421, 0x5450, 0x5451
R_OK, W_OK, X_OK = 4, 2, 1
UTIME_NOW, UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
MAX_IO = 1 << 24  # bytes moved per call at most (Linux: 0x7ffff000)
# Open flags F_GETFL reports: what open(2) keeps in f_flags.
_KEPT_FLAGS = ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC)
T = TypeVar("T")


@dataclass(eq=False)
class OpenFile:
    """An open file description; subclasses say how it reads, writes and stats."""

    path: str  # the guest name (what /proc/self/fd/N shows)
    flags: int = O_RDONLY
    offset: int = 0

    file_type: ClassVar[int] = 0  # st_mode type bits of an anonymous inode (pipes: S_IFIFO)

    def read(self, k: Kernel, buf: int, count: int) -> Outcome:
        return -errno.EINVAL

    def write(self, k: Kernel, buf: int, count: int) -> Outcome:
        return -errno.EINVAL

    def write_bytes(self, k: Kernel, data: bytes) -> int:
        """Write bytes that are not in guest memory (sendfile's destination)."""
        return -errno.EINVAL

    def pread(self, k: Kernel, buf: int, count: int, offset: int) -> Outcome:
        return -errno.ESPIPE

    def pwrite(self, k: Kernel, buf: int, count: int, offset: int) -> Outcome:
        return -errno.ESPIPE

    def seek(self, k: Kernel, offset: int, whence: int) -> int:
        return -errno.ESPIPE

    def contents(self, offset: int, length: int) -> bytes:
        """Bytes for a file mapping (mmap)."""
        raise SyscallError(errno.ENODEV)

    def stat(self, k: Kernel) -> StatInfo:
        return StatInfo(0xE, k.vfs.anon_ino(self), self.file_type | 0o600, 1, k.config.uid, k.config.gid,
                        0, 0, FIXED_TIME_NS, FIXED_TIME_NS, FIXED_TIME_NS)  # fmt: skip

    def ready(self) -> int | None:
        """epoll readiness (EPOLLIN|EPOLLOUT...); None: cannot be polled (epoll_ctl says EPERM)."""
        return None

    def wait_key(self) -> object:
        """What a thread blocked on this file waits on; notify() with it wakes the thread."""
        return self

    def released(self, k: Kernel) -> None:
        """The last descriptor for this open file was closed."""


@dataclass(eq=False)
class StreamFile(OpenFile):
    """One of the host's standard streams, behind the kernel's Console."""

    stream_fd: int = 0

    def read(self, k: Kernel, buf: int, count: int) -> Outcome:
        data = _host(k.console.read, self.stream_fd, min(count, 1 << 20))
        k.mem.write(buf, data)
        return len(data)

    def write(self, k: Kernel, buf: int, count: int) -> Outcome:
        return self.write_bytes(k, k.mem.read(buf, count))

    def write_bytes(self, k: Kernel, data: bytes) -> int:
        if self.stream_fd == 0:
            return -errno.EBADF
        return k.console.write(self.stream_fd, data[: k.account_write(len(data))])

    def stat(self, k: Kernel) -> StatInfo:
        return StatInfo(0xE, 3 + self.stream_fd, st.S_IFCHR | 0o620, 1, k.config.uid, k.config.gid,
                        0x8800 + self.stream_fd, 0, FIXED_TIME_NS, FIXED_TIME_NS, FIXED_TIME_NS)  # fmt: skip


@dataclass(eq=False)
class NodeFile(OpenFile):
    """A file opened by name: it keeps the node it was opened at."""

    node: Node | None = None

    @property
    def readable(self) -> bool:
        return self.flags & O_ACCMODE != O_WRONLY and not self.flags & O_PATH

    @property
    def writable(self) -> bool:
        return self.flags & O_ACCMODE != O_RDONLY and not self.flags & O_PATH

    def stat(self, k: Kernel) -> StatInfo:
        assert self.node is not None
        return k.vfs.stat(self.node)

    def read(self, k: Kernel, buf: int, count: int) -> Outcome:
        result = self.pread(k, buf, count, self.offset)
        if isinstance(result, int) and result > 0:
            self.offset += result
        return result

    def write(self, k: Kernel, buf: int, count: int) -> Outcome:
        return -errno.EBADF


@dataclass(eq=False)
class MemoryFile(NodeFile):
    """A generated file (/proc, /sys, /etc): its bytes are fixed when it is opened."""

    data: bytes = b""

    def pread(self, k: Kernel, buf: int, count: int, offset: int) -> Outcome:
        if not self.readable:
            return -errno.EBADF
        chunk = self.data[offset : offset + min(count, MAX_IO)]
        k.mem.write(buf, chunk)
        return len(chunk)

    def seek(self, k: Kernel, offset: int, whence: int) -> int:
        return _seek(self, offset, whence, len(self.data))

    def contents(self, offset: int, length: int) -> bytes:
        return self.data[offset : offset + length]


@dataclass(eq=False)
class DeviceFile(NodeFile):
    """/dev/null, zero, full, random, urandom; randomness comes from the kernel's seeded generator."""

    device: str = "null"

    def pread(self, k: Kernel, buf: int, count: int, offset: int) -> Outcome:
        if not self.readable:
            return -errno.EBADF
        count = min(count, 1 << 20)
        if self.device == "null":
            return 0
        data = k.random.randbytes(count) if self.device in ("random", "urandom") else bytes(count)
        k.mem.write(buf, data)
        return count

    def read(self, k: Kernel, buf: int, count: int) -> Outcome:
        return self.pread(k, buf, count, 0)

    def write(self, k: Kernel, buf: int, count: int) -> Outcome:
        if not self.writable:
            return -errno.EBADF
        return -errno.ENOSPC if self.device == "full" else count

    def write_bytes(self, k: Kernel, data: bytes) -> int:
        return self.write(k, 0, len(data))

    def pwrite(self, k: Kernel, buf: int, count: int, offset: int) -> Outcome:
        return self.write(k, buf, count)

    def seek(self, k: Kernel, offset: int, whence: int) -> int:
        return 0


@dataclass(eq=False)
class HostFile(NodeFile):
    """A regular host file, through a host descriptor opened with O_NOFOLLOW."""

    host_fd: int = -1

    def _now_stat(self) -> os.stat_result:
        return os.fstat(self.host_fd)

    def pread(self, k: Kernel, buf: int, count: int, offset: int) -> Outcome:
        if not self.readable:
            return -errno.EBADF
        data = _host(os.pread, self.host_fd, min(count, MAX_IO), offset)
        k.mem.write(buf, data)
        return len(data)

    def write(self, k: Kernel, buf: int, count: int) -> Outcome:
        if not self.writable:
            return -errno.EBADF
        return self.write_bytes(k, k.mem.read(buf, min(count, MAX_IO)))

    def write_bytes(self, k: Kernel, data: bytes) -> int:
        if not self.writable:
            return -errno.EBADF
        if self.flags & O_APPEND:
            self.offset = self._now_stat().st_size
        written = self._put(k, data, self.offset)
        self.offset += written
        return written

    def pwrite(self, k: Kernel, buf: int, count: int, offset: int) -> Outcome:
        if not self.writable:
            return -errno.EBADF
        return self._put(k, k.mem.read(buf, min(count, MAX_IO)), offset)

    def _put(self, k: Kernel, data: bytes, offset: int) -> int:
        written = _host(os.pwrite, self.host_fd, data[: k.account_write(len(data))], offset)
        if written:
            k.vfs.modified(self._fresh())
        return written

    def seek(self, k: Kernel, offset: int, whence: int) -> int:
        size = self._now_stat().st_size
        if whence == SEEK_DATA:
            return offset if 0 <= offset < size else -errno.ENXIO
        if whence == SEEK_HOLE:
            return size if 0 <= offset < size else -errno.ENXIO
        return _seek(self, offset, whence, size)

    def contents(self, offset: int, length: int) -> bytes:
        return _host(os.pread, self.host_fd, length, offset)

    def _fresh(self) -> Node:
        """The node with the host's current size and links (it may have been renamed or removed)."""
        assert self.node is not None
        self.node.hostst = self._now_stat()
        return self.node

    def stat(self, k: Kernel) -> StatInfo:
        return k.vfs.stat(self._fresh())

    def truncate(self, k: Kernel, length: int) -> int:
        if not self.writable:
            return -errno.EINVAL
        _host(os.ftruncate, self.host_fd, length)
        k.vfs.modified(self._fresh())
        return 0

    def released(self, k: Kernel) -> None:
        os.close(self.host_fd)


@dataclass(eq=False)
class DirFile(NodeFile):
    """A directory (or an O_PATH descriptor): a place to start walks from, and getdents64."""

    listing: list[tuple[int, int, str]] | None = None  # (ino, d_type, name), fixed at the first read

    def pread(self, k: Kernel, buf: int, count: int, offset: int) -> Outcome:
        return -errno.EBADF if self.flags & O_PATH else -errno.EISDIR

    def seek(self, k: Kernel, offset: int, whence: int) -> int:
        if whence != SEEK_SET or offset < 0:
            return -errno.EINVAL
        self.offset, self.listing = offset, None if offset == 0 else self.listing
        return offset

    def stat(self, k: Kernel) -> StatInfo:
        assert self.node is not None
        if self.node.host is not None:
            with contextlib.suppress(OSError):
                self.node.hostst = _on_host(os.lstat, (self.node.host,))
        return k.vfs.stat(self.node)

    def entries(self, k: Kernel) -> list[tuple[int, int, str]]:
        if self.listing is None:
            node = self.node
            assert node is not None
            parent = k.vfs.lookup(node.path.rsplit("/", 1)[0] or "/") or node
            self.listing = [(k.vfs.ino(node), 4, "."), (k.vfs.ino(parent), 4, "..")]
            self.listing += [
                (k.vfs.ino(c), DT_TYPES[c.kind], c.path.rsplit("/", 1)[1]) for c in k.vfs.children(node)
            ]
        return self.listing


@dataclass
class FdTable:
    """The process's file descriptors; 0-2 are the host's standard streams."""

    files: dict[int, OpenFile] = field(default_factory=dict)
    cloexec: set[int] = field(default_factory=set)
    limit: Callable[[], int] = lambda: 1024  # RLIMIT_NOFILE's soft value: fds must stay below it

    def __post_init__(self) -> None:
        for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
            self.files[fd] = StreamFile(f"/dev/{name}", flags=O_RDWR, stream_fd=fd)

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


def _host(func: Callable[..., T], *args: object, **kwargs: object) -> T:
    """A host call whose OSError becomes the guest's errno."""
    try:
        return func(*args, **kwargs)
    except OSError as e:
        raise SyscallError(e.errno or errno.EIO) from e


def _on_host(func: Callable[..., T], paths: tuple[str, ...], *args: object, **kwargs: object) -> T:
    """``_host`` with the host paths first, each made short enough for the host (vfs.reachable)."""
    with contextlib.ExitStack() as stack:
        short = [stack.enter_context(reachable(p)) for p in paths]
        return _host(func, *short, *args, **kwargs)


def _seek(f: OpenFile, offset: int, whence: int, size: int) -> int:
    base = {SEEK_SET: 0, SEEK_CUR: f.offset, SEEK_END: size}.get(whence)
    if base is None or base + offset < 0:
        return -errno.EINVAL
    f.offset = base + offset
    return f.offset


# -- resolving names -------------------------------------------------------------------------


def _start(k: Kernel, dirfd: int) -> str:
    """The guest directory a relative path starts from."""
    dirfd = signed32(dirfd)
    if dirfd == AT_FDCWD:
        return k.vfs.cwd
    f = k.fds.get(dirfd)
    if not isinstance(f, NodeFile) or f.node is None or f.node.kind != DIR:
        raise SyscallError(errno.ENOTDIR)
    return f.node.path


def _path(k: Kernel, pathname: int) -> str:
    return os.fsdecode(k.mem.read_cstring(pathname))


def resolve(
    k: Kernel,
    dirfd: int,
    path: str,
    *,
    follow: bool = True,
    allow_missing: bool = False,
    empty_path: bool = False,
    resolve_flags: int = 0,
) -> Node | Missing | OpenFile:
    """Walk ``path``; a magic link (/proc/self/fd/N, /proc/self/exe) answers what it stands for."""
    if not path and empty_path:
        if signed32(dirfd) == AT_FDCWD:
            found = k.vfs.lookup(k.vfs.cwd)
            if found is None:  # the working directory was removed
                raise SyscallError(errno.ENOENT)
            return found
        f = k.fds.get(dirfd)
        return f.node if isinstance(f, NodeFile) and f.node is not None else f
    node = k.vfs.walk(
        _start(k, dirfd), path, follow=follow, resolve=resolve_flags, allow_missing=allow_missing
    )
    if isinstance(node, Node) and node.kind == LNK and follow and isinstance(node.entry, SynLink):
        link = node.entry
        if link.exe:
            return k.vfs.exe_node()
        if link.fd is not None:
            f = k.fds.files.get(link.fd)
            if f is None:
                raise SyscallError(errno.ENOENT)
            return f.node if isinstance(f, NodeFile) and f.node is not None else f
    return node


def _existing(k: Kernel, dirfd: int, pathname: int, flags: int = 0, follow: bool = True) -> Node | OpenFile:
    if not pathname and not flags & AT_EMPTY_PATH:
        raise SyscallError(errno.EFAULT)
    found = resolve(
        k,
        dirfd,
        _path(k, pathname) if pathname else "",
        follow=follow and not flags & AT_SYMLINK_NOFOLLOW,
        empty_path=bool(flags & AT_EMPTY_PATH),
    )
    assert not isinstance(found, Missing)
    return found


def _host_child(m: Missing) -> str:
    assert m.parent.host is not None
    return os.path.join(m.parent.host, m.name)


def _owner_may(node: Node, want: int, k: Kernel) -> bool:
    """Permission check with the guest as the owner of every file (uid/gid from KernelConfig)."""
    mode = k.vfs.stat(node).mode
    return all(mode & (bit << 6) for bit in (R_OK, W_OK, X_OK) if want & bit)


def _may_change_entries(k: Kernel, target: Node | Missing) -> None:
    """Creating, removing or renaming a name needs write and search permission on its directory
    (EACCES): RemoveAll in a read-only directory fails, as os's tests expect of a non-root user."""
    parent = (
        target.parent if isinstance(target, Missing) else k.vfs.lookup(target.path.rsplit("/", 1)[0] or "/")
    )
    if parent is not None and parent.host is not None and not _owner_may(parent, W_OK | X_OK, k):
        raise SyscallError(errno.EACCES)


# -- open and close --------------------------------------------------------------------------


def _open(k: Kernel, dirfd: int, path: str, flags: int, mode: int, resolve_flags: int = 0) -> Outcome:
    acc = flags & O_ACCMODE
    if acc == O_ACCMODE or flags & O_TMPFILE == O_TMPFILE:
        return -errno.EINVAL if acc == O_ACCMODE else -errno.EOPNOTSUPP
    creat, excl = bool(flags & O_CREAT), bool(flags & O_EXCL)
    found = resolve(
        k,
        dirfd,
        path,
        follow=not flags & O_NOFOLLOW and not (creat and excl),
        allow_missing=creat,
        resolve_flags=resolve_flags,
    )
    cloexec = bool(flags & O_CLOEXEC)
    kept = (flags & _KEPT_FLAGS) | O_LARGEFILE
    if isinstance(found, OpenFile):  # /proc/self/fd/N of a stream or pipe: the same file
        return k.fds.install(found, cloexec=cloexec)
    if isinstance(found, Missing):
        if found.must_dir or flags & O_DIRECTORY:
            return -errno.EISDIR
        k.vfs.check_writable(found)
        _may_change_entries(k, found)
        host = _host_child(found)
        host_fd = _on_host(os.open, (host,), O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | acc, 0o600)
        os.fchmod(host_fd, mode & 0o7777 & ~k.vfs.umask)
        node = _made(k, found)
        return k.fds.install(HostFile(found.path, flags=kept, node=node, host_fd=host_fd), cloexec=cloexec)
    node = found
    if creat and excl:
        return -errno.EEXIST
    if flags & O_PATH:
        return k.fds.install(
            DirFile(node.path, flags=O_PATH | (flags & O_DIRECTORY), node=node), cloexec=cloexec
        )
    if node.kind == LNK:
        return -errno.ELOOP
    if flags & O_DIRECTORY and node.kind != DIR:
        return -errno.ENOTDIR
    wants_write = acc != O_RDONLY or bool(flags & O_TRUNC)
    if node.kind == DIR:
        if wants_write or creat:
            return -errno.EISDIR
        return k.fds.install(DirFile(node.path, flags=kept, node=node), cloexec=cloexec)
    if isinstance(node.entry, SynDevice):
        return k.fds.install(
            DeviceFile(node.path, flags=kept, node=node, device=node.entry.name), cloexec=cloexec
        )
    if isinstance(node.entry, SynFile):
        if wants_write:
            return -errno.EACCES
        return k.fds.install(
            MemoryFile(node.path, flags=kept, node=node, data=node.entry.make()), cloexec=cloexec
        )
    if node.hostst is not None and st.S_ISFIFO(node.hostst.st_mode):
        if not _owner_may(node, (W_OK if acc != O_RDONLY else 0) | (R_OK if acc != O_WRONLY else 0), k):
            return -errno.EACCES
        from syscalls.pipes import open_fifo  # pipes builds on this module

        assert k.current is not None
        end = open_fifo(k, k.current, node.key, node.path, kept)
        return k.fds.install(end, cloexec=cloexec) if isinstance(end, OpenFile) else end
    if node.kind != REG or node.host is None:
        return -errno.EACCES  # host sockets and devices are not shown to the guest
    if wants_write:
        k.vfs.check_writable(node)
    if not _owner_may(node, (W_OK if acc != O_RDONLY else 0) | (R_OK if acc != O_WRONLY else 0), k):
        return -errno.EACCES
    host_fd = _on_host(os.open, (node.host,), acc | (flags & O_TRUNC) | O_NOFOLLOW | O_CLOEXEC)
    f = HostFile(node.path, flags=kept, node=node, host_fd=host_fd)
    if flags & O_TRUNC:
        k.vfs.modified(f._fresh())
    return k.fds.install(f, cloexec=cloexec)


@handles
def openat(k: Kernel, t: Task, dirfd: int, pathname: int, flags: int, mode: int) -> Outcome:
    return _open(k, dirfd, _path(k, pathname), flags, mode)


@handles
def open_(k: Kernel, t: Task, pathname: int, flags: int, mode: int) -> Outcome:
    return openat(k, t, AT_FDCWD, pathname, flags, mode)


@handles
def creat(k: Kernel, t: Task, pathname: int, mode: int) -> Outcome:
    return openat(k, t, AT_FDCWD, pathname, O_CREAT | O_WRONLY | O_TRUNC, mode)


_RESOLVE_ALL = (
    RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_IN_ROOT
)


@handles
def openat2(k: Kernel, t: Task, dirfd: int, pathname: int, how: int, size: int) -> Outcome:
    if size < 24:
        return -errno.EINVAL
    flags, mode, resolve_flags = struct.unpack("<QQQ", k.mem.read(how, 24))
    if size > 24 and any(k.mem.read(how + 24, min(size - 24, 4096))):
        return -errno.E2BIG
    if flags >> 32 or resolve_flags & ~(_RESOLVE_ALL | RESOLVE_CACHED) or mode >> 12:
        return -errno.EINVAL
    if mode and not flags & O_CREAT:
        return -errno.EINVAL
    if resolve_flags & RESOLVE_BENEATH and resolve_flags & RESOLVE_IN_ROOT:
        return -errno.EINVAL
    if resolve_flags & RESOLVE_CACHED:
        return -errno.EAGAIN
    return _open(k, dirfd, _path(k, pathname), flags, mode, resolve_flags)


def _close_fd(k: Kernel, fd: int) -> None:
    f = k.fds.get(fd)
    k.fds.close(fd)
    if all(other is not f for other in k.fds.files.values()):
        f.released(k)


@handles
def close(k: Kernel, t: Task, fd: int) -> int:
    _close_fd(k, fd)
    return 0


def _dup_to(k: Kernel, oldfd: int, newfd: int, cloexec: bool) -> int:
    f = k.fds.get(oldfd)
    if not 0 <= newfd < k.fds.limit():  # RLIMIT_NOFILE, as Linux checks it
        return -errno.EBADF
    if newfd in k.fds.files:
        _close_fd(k, newfd)
    k.fds.files[newfd] = f
    (k.fds.cloexec.add if cloexec else k.fds.cloexec.discard)(newfd)
    return newfd


@handles
def dup(k: Kernel, t: Task, oldfd: int) -> int:
    return k.fds.install(k.fds.get(oldfd))


@handles
def dup2(k: Kernel, t: Task, oldfd: int, newfd: int) -> int:
    if oldfd == newfd:
        k.fds.get(oldfd)
        return newfd
    return _dup_to(k, oldfd, newfd, False)


@handles
def dup3(k: Kernel, t: Task, oldfd: int, newfd: int, flags: int) -> int:
    if flags & ~O_CLOEXEC or oldfd == newfd:
        return -errno.EINVAL
    return _dup_to(k, oldfd, newfd, bool(flags & O_CLOEXEC))


# -- reading and writing ---------------------------------------------------------------------


@handles
def read(k: Kernel, t: Task, fd: int, buf: int, count: int) -> Outcome:
    return k.fds.get(fd).read(k, buf, count)


@handles
def write(k: Kernel, t: Task, fd: int, buf: int, count: int) -> Outcome:
    return k.fds.get(fd).write(k, buf, count)


@handles
def pread64(k: Kernel, t: Task, fd: int, buf: int, count: int, offset: int) -> Outcome:
    offset = signed64(offset)
    return -errno.EINVAL if offset < 0 else k.fds.get(fd).pread(k, buf, count, offset)


@handles
def pwrite64(k: Kernel, t: Task, fd: int, buf: int, count: int, offset: int) -> Outcome:
    offset = signed64(offset)
    return -errno.EINVAL if offset < 0 else k.fds.get(fd).pwrite(k, buf, count, offset)


def _iovecs(k: Kernel, iov: int, iovcnt: int) -> list[tuple[int, int]]:
    if not 0 <= signed32(iovcnt) <= 1024:
        raise SyscallError(errno.EINVAL)
    return [struct.unpack("<QQ", k.mem.read(iov + 16 * i, 16)) for i in range(iovcnt)]


def _vector(calls: list, lengths: list[int]) -> Outcome:
    """Do the iovecs in order; stop at the first short transfer. A first-call Block or error stands."""
    total = 0
    for call, length in zip(calls, lengths, strict=True):
        result = call()
        if not isinstance(result, int) or result < 0:
            return result if total == 0 else total
        total += result
        if result < length:
            break
    return total


@handles
def readv(k: Kernel, t: Task, fd: int, iov: int, iovcnt: int) -> Outcome:
    f, vecs = k.fds.get(fd), _iovecs(k, iov, iovcnt)
    return _vector([lambda b=b, n=n: f.read(k, b, n) for b, n in vecs], [n for _, n in vecs])


@handles
def writev(k: Kernel, t: Task, fd: int, iov: int, iovcnt: int) -> Outcome:
    f, vecs = k.fds.get(fd), _iovecs(k, iov, iovcnt)
    if isinstance(f, StreamFile):  # one host write, so the guest's line is never split
        return f.write_bytes(k, b"".join(k.mem.read(b, n) for b, n in vecs))
    return _vector([lambda b=b, n=n: f.write(k, b, n) for b, n in vecs], [n for _, n in vecs])


def _positioned(k: Kernel, fd: int, iov: int, iovcnt: int, offset: int, writing: bool) -> Outcome:
    f, vecs = k.fds.get(fd), _iovecs(k, iov, iovcnt)
    offset = signed64(offset)
    if offset < 0:
        return -errno.EINVAL
    starts = [offset + sum(n for _, n in vecs[:i]) for i in range(len(vecs))]
    op = f.pwrite if writing else f.pread
    return _vector([lambda b=b, n=n, o=o: op(k, b, n, o) for (b, n), o in zip(vecs, starts, strict=True)],
                   [n for _, n in vecs])  # fmt: skip


@handles
def preadv(k: Kernel, t: Task, fd: int, iov: int, iovcnt: int, offset: int) -> Outcome:
    return _positioned(k, fd, iov, iovcnt, offset, writing=False)


@handles
def pwritev(k: Kernel, t: Task, fd: int, iov: int, iovcnt: int, offset: int) -> Outcome:
    return _positioned(k, fd, iov, iovcnt, offset, writing=True)


@handles
def lseek(k: Kernel, t: Task, fd: int, offset: int, whence: int) -> int:
    return k.fds.get(fd).seek(k, signed64(offset), whence)


@handles
def copy_file_range(
    k: Kernel, t: Task, fd_in: int, off_in: int, fd_out: int, off_out: int, len_: int, flags: int
) -> int:
    src, dst = k.fds.get(fd_in), k.fds.get(fd_out)
    if flags:
        return -errno.EINVAL
    if not isinstance(src, HostFile) or not isinstance(dst, HostFile):
        return -errno.EINVAL  # Go then copies with read and write
    if not src.readable or not dst.writable or dst.flags & O_APPEND:
        return -errno.EBADF
    start_in = read_u64(k.mem, off_in) if off_in else src.offset
    start_out = read_u64(k.mem, off_out) if off_out else dst.offset
    src_st, dst_st = src._now_stat(), dst._now_stat()
    if (src_st.st_dev, src_st.st_ino) == (dst_st.st_dev, dst_st.st_ino):
        # Within one file the ranges may not overlap (Linux's check; Go then reads and writes).
        count = max(0, min(len_, src_st.st_size - start_in))
        if start_out + count > start_in and start_out < start_in + count:
            return -errno.EINVAL
    data = _host(os.pread, src.host_fd, min(len_, MAX_IO), start_in)
    written = dst._put(k, data, start_out) if data else 0
    for ptr, f, start in ((off_in, src, start_in), (off_out, dst, start_out)):
        if ptr:
            write_u64(k.mem, ptr, start + written)
        else:
            f.offset = start + written
    return written


@handles
def sendfile(k: Kernel, t: Task, out_fd: int, in_fd: int, offset: int, count: int) -> int:
    src, dst = k.fds.get(in_fd), k.fds.get(out_fd)
    if not isinstance(src, HostFile | MemoryFile) or not src.readable:
        return -errno.EINVAL
    start = read_u64(k.mem, offset) if offset else src.offset
    data = src.contents(start, min(count, MAX_IO))
    written = dst.write_bytes(k, data) if data else 0
    if written < 0:
        return written
    if offset:
        write_u64(k.mem, offset, start + written)
    else:
        src.offset = start + written
    return written


@handles
def ftruncate(k: Kernel, t: Task, fd: int, length: int) -> int:
    f = k.fds.get(fd)
    if signed64(length) < 0 or not isinstance(f, HostFile):
        return -errno.EINVAL
    return f.truncate(k, length)


@handles
def truncate(k: Kernel, t: Task, path: int, length: int) -> int:
    node = _existing(k, AT_FDCWD, path)
    if signed64(length) < 0:
        return -errno.EINVAL
    if not isinstance(node, Node) or node.kind == DIR:
        return -errno.EISDIR if isinstance(node, Node) else -errno.EINVAL
    k.vfs.check_writable(node)
    if node.kind != REG or node.host is None or not _owner_may(node, W_OK, k):
        return -errno.EACCES
    _on_host(os.truncate, (node.host,), length)
    node.hostst = _on_host(os.lstat, (node.host,))
    k.vfs.modified(node)
    return 0


def _fd_exists(k: Kernel, fd: int) -> int:
    k.fds.get(fd)
    return 0


@handles
def fsync(k: Kernel, t: Task, fd: int) -> int:
    return _fd_exists(k, fd)  # nothing outlives the run that fsync would protect


@handles
def fdatasync(k: Kernel, t: Task, fd: int) -> int:
    return _fd_exists(k, fd)


@handles
def syncfs(k: Kernel, t: Task, fd: int) -> int:
    return _fd_exists(k, fd)


@handles
def sync(k: Kernel, t: Task) -> int:
    return 0


@handles
def fadvise64(k: Kernel, t: Task, fd: int, offset: int, len_: int, advice: int) -> int:
    f = k.fds.get(fd)
    if not isinstance(f, NodeFile):
        return -errno.ESPIPE
    return 0 if advice <= 5 else -errno.EINVAL


@handles
def flock(k: Kernel, t: Task, fd: int, operation: int) -> int:
    return _fd_exists(k, fd)  # one process: every lock is granted


# -- metadata --------------------------------------------------------------------------------


def _stat_of(k: Kernel, found: Node | OpenFile) -> StatInfo:
    return found.stat(k) if isinstance(found, OpenFile) else k.vfs.stat(found)


@handles
def fstat(k: Kernel, t: Task, fd: int, statbuf: int) -> int:
    k.mem.write(statbuf, k.fds.get(fd).stat(k).pack_stat())
    return 0


@handles
def newfstatat(k: Kernel, t: Task, dirfd: int, pathname: int, statbuf: int, flags: int) -> int:
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | 0x800):
        return -errno.EINVAL
    k.mem.write(statbuf, _stat_of(k, _existing(k, dirfd, pathname, flags)).pack_stat())
    return 0


@handles
def stat(k: Kernel, t: Task, pathname: int, statbuf: int) -> int:
    return newfstatat(k, t, AT_FDCWD, pathname, statbuf, 0)


@handles
def lstat(k: Kernel, t: Task, pathname: int, statbuf: int) -> int:
    return newfstatat(k, t, AT_FDCWD, pathname, statbuf, AT_SYMLINK_NOFOLLOW)


@handles
def statx(k: Kernel, t: Task, dirfd: int, pathname: int, flags: int, mask: int, statxbuf: int) -> int:
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | 0x800 | 0x6000):
        return -errno.EINVAL
    k.mem.write(statxbuf, _stat_of(k, _existing(k, dirfd, pathname, flags)).pack_statx())
    return 0


@handles
def statfs(k: Kernel, t: Task, path: int, buf: int) -> int:
    found = _existing(k, AT_FDCWD, path)
    if not isinstance(found, Node):
        return -errno.ENOSYS
    k.mem.write(buf, k.vfs.statfs(found))
    return 0


@handles
def fstatfs(k: Kernel, t: Task, fd: int, buf: int) -> int:
    f = k.fds.get(fd)
    if not isinstance(f, NodeFile) or f.node is None:
        return -errno.ENOSYS
    k.mem.write(buf, k.vfs.statfs(f.node))
    return 0


def _access(k: Kernel, dirfd: int, pathname: int, mode: int, flags: int) -> int:
    if mode & ~7 or flags & ~(AT_SYMLINK_NOFOLLOW | AT_EACCESS | AT_EMPTY_PATH):
        return -errno.EINVAL
    found = _existing(k, dirfd, pathname, flags)
    if not isinstance(found, Node) or not mode:
        return 0
    if mode & W_OK and not isinstance(found.entry, SynDevice):
        k.vfs.check_writable(found)
    return 0 if _owner_may(found, mode, k) else -errno.EACCES


@handles
def faccessat(k: Kernel, t: Task, dirfd: int, pathname: int, mode: int) -> int:
    return _access(k, dirfd, pathname, mode, 0)


@handles
def faccessat2(k: Kernel, t: Task, dirfd: int, pathname: int, mode: int, flags: int) -> int:
    return _access(k, dirfd, pathname, mode, flags)


@handles
def access(k: Kernel, t: Task, pathname: int, mode: int) -> int:
    return _access(k, AT_FDCWD, pathname, mode, 0)


def _chmod(k: Kernel, node: Node | OpenFile, mode: int) -> int:
    if not isinstance(node, Node):
        return -errno.EPERM
    if node.kind == LNK:
        return -errno.EOPNOTSUPP
    k.vfs.check_writable(node)
    assert node.host is not None
    _on_host(os.chmod, (node.host,), mode & 0o7777)
    node.hostst = _on_host(os.lstat, (node.host,))
    k.vfs.touch(node)
    return 0


@handles
def fchmod(k: Kernel, t: Task, fd: int, mode: int) -> int:
    f = k.fds.get(fd)
    if not isinstance(f, NodeFile) or f.node is None:
        return -errno.EINVAL
    if isinstance(f, HostFile):
        k.vfs.check_writable(f.node)
        _host(os.fchmod, f.host_fd, mode & 0o7777)
        k.vfs.touch(f._fresh())
        return 0
    return _chmod(k, f.node, mode)


@handles
def fchmodat(k: Kernel, t: Task, dirfd: int, pathname: int, mode: int) -> int:
    return _chmod(k, _existing(k, dirfd, pathname), mode)


@handles
def fchmodat2(k: Kernel, t: Task, dirfd: int, pathname: int, mode: int, flags: int) -> int:
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        return -errno.EINVAL
    return _chmod(k, _existing(k, dirfd, pathname, flags), mode)


@handles
def chmod(k: Kernel, t: Task, pathname: int, mode: int) -> int:
    return fchmodat(k, t, AT_FDCWD, pathname, mode)


def _chown(k: Kernel, owner: int, group: int) -> int:
    """Every file is the guest's; giving it away is not allowed (as for any unprivileged user)."""
    ok = {k.config.uid, 0xFFFF_FFFF}, {k.config.gid, 0xFFFF_FFFF}
    return 0 if owner & 0xFFFF_FFFF in ok[0] and group & 0xFFFF_FFFF in ok[1] else -errno.EPERM


@handles
def fchownat(k: Kernel, t: Task, dirfd: int, pathname: int, owner: int, group: int, flags: int) -> int:
    _existing(k, dirfd, pathname, flags)
    return _chown(k, owner, group)


@handles
def fchown(k: Kernel, t: Task, fd: int, owner: int, group: int) -> int:
    k.fds.get(fd)
    return _chown(k, owner, group)


@handles
def chown(k: Kernel, t: Task, pathname: int, owner: int, group: int) -> int:
    return fchownat(k, t, AT_FDCWD, pathname, owner, group, 0)


@handles
def lchown(k: Kernel, t: Task, pathname: int, owner: int, group: int) -> int:
    return fchownat(k, t, AT_FDCWD, pathname, owner, group, AT_SYMLINK_NOFOLLOW)


@handles
def utimensat(k: Kernel, t: Task, dirfd: int, pathname: int, times: int, flags: int) -> int:
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        return -errno.EINVAL
    found = _existing(k, dirfd, pathname, flags | (0 if pathname else AT_EMPTY_PATH))  # NULL: the fd itself
    if isinstance(found, HostFile):
        found = found._fresh()
    if not isinstance(found, Node):
        return 0
    now = k.clock.now(0)
    stamps = [now, now]
    if times:
        raw = struct.unpack("<qqqq", k.mem.read(times, 32))
        for i in range(2):
            sec, nsec = raw[2 * i], raw[2 * i + 1]
            if nsec == UTIME_OMIT:
                stamps[i] = None
            elif nsec != UTIME_NOW:
                if not 0 <= nsec < 10**9:
                    return -errno.EINVAL
                stamps[i] = sec * 10**9 + nsec
    k.vfs.check_writable(found)
    k.vfs.touch(found, atime=stamps[0], mtime=stamps[1])
    return 0


@handles
def umask(k: Kernel, t: Task, mask: int) -> int:
    old, k.vfs.umask = k.vfs.umask, mask & 0o777
    return old


# -- directories and names -------------------------------------------------------------------


@handles
def getcwd(k: Kernel, t: Task, buf: int, size: int) -> int:
    path = os.fsencode(k.vfs.cwd) + b"\0"
    if len(path) > PATH_MAX:  # Linux's limit, a page; os.Getwd then walks up ".." itself
        return -errno.ENAMETOOLONG
    if size < len(path):
        return -errno.ERANGE
    k.mem.write(buf, path)
    return len(path)


def _chdir_to(k: Kernel, found: Node | OpenFile) -> int:
    if not isinstance(found, Node) or found.kind != DIR:
        return -errno.ENOTDIR
    if not _owner_may(found, X_OK, k):
        return -errno.EACCES
    k.vfs.cwd = found.path
    return 0


@handles
def chdir(k: Kernel, t: Task, path: int) -> int:
    return _chdir_to(k, _existing(k, AT_FDCWD, path))


@handles
def fchdir(k: Kernel, t: Task, fd: int) -> int:
    f = k.fds.get(fd)
    return _chdir_to(k, f.node if isinstance(f, NodeFile) and f.node is not None else f)


@handles
def getdents64(k: Kernel, t: Task, fd: int, dirp: int, count: int) -> int:
    f = k.fds.get(fd)
    if not isinstance(f, DirFile) or f.flags & O_PATH:
        return -errno.ENOTDIR if not isinstance(f, DirFile) else -errno.EBADF
    entries = f.entries(k)
    out = bytearray()
    while f.offset < len(entries):
        ino, dtype, name = entries[f.offset]
        raw = os.fsencode(name) + b"\0"
        reclen = (19 + len(raw) + 7) & ~7
        if len(out) + reclen > count:
            if not out:
                return -errno.EINVAL
            break
        out += struct.pack("<QqHB", ino, f.offset + 1, reclen, dtype) + raw.ljust(reclen - 19, b"\0")
        f.offset += 1
    k.mem.write(dirp, bytes(out))
    return len(out)


def _missing(k: Kernel, dirfd: int, pathname: int, directory: bool = False) -> Missing:
    """The parent of a name to create; EEXIST when the name is taken (a dangling symlink too:
    a trailing slash does not make creation follow it). Only a directory's name may end in a
    slash; any other's is then ENOENT, as Linux's filename_create."""
    path = _path(k, pathname)
    name = path.rstrip("/") or path
    found = k.vfs.walk(_start(k, dirfd), name, follow=False, allow_missing=True)
    if not isinstance(found, Missing):
        raise SyscallError(errno.EEXIST)
    if name != path and not directory:
        raise SyscallError(errno.ENOENT)
    k.vfs.check_writable(found)
    _may_change_entries(k, found)
    return found


def _named(k: Kernel, dirfd: int, pathname: int, follow: bool = False) -> Node:
    found = k.vfs.walk(_start(k, dirfd), _path(k, pathname), follow=follow)
    assert isinstance(found, Node)
    return found


def _not_mount_point(k: Kernel, node: Node) -> None:
    if any(m.guest == node.path for m in k.vfs.mounts):
        raise SyscallError(errno.EBUSY)


@handles
def mknodat(k: Kernel, t: Task, dirfd: int, pathname: int, mode: int, dev: int) -> int:
    """Regular files and FIFOs (a FIFO's bytes never pass through the host: pipes.open_fifo).
    Devices need CAP_MKNOD, which the guest has not (EPERM); sockets are not emulated."""
    kind = mode & 0o170000  # S_IFMT
    if kind in (st.S_IFCHR, st.S_IFBLK, st.S_IFSOCK):
        return -errno.EPERM
    if kind not in (0, st.S_IFREG, st.S_IFIFO):
        return -errno.EINVAL
    found = _missing(k, dirfd, pathname)
    host = _host_child(found)
    if kind == st.S_IFIFO:
        _on_host(os.mkfifo, (host,), 0o600)
    else:
        os.close(_on_host(os.open, (host,), O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_WRONLY, 0o600))
    _on_host(os.chmod, (host,), mode & 0o7777 & ~k.vfs.umask)
    _made(k, found)
    return 0


def _made(k: Kernel, found: Missing) -> Node:
    """The name just made on the host enters the namespace: a new inode, its parent changed."""
    node = k.vfs.lookup(found.path)
    assert node is not None
    k.vfs.created(node)
    k.vfs.modified(found.parent)
    return node


@handles
def mknod(k: Kernel, t: Task, pathname: int, mode: int, dev: int) -> int:
    return mknodat(k, t, AT_FDCWD, pathname, mode, dev)


@handles
def mkdirat(k: Kernel, t: Task, dirfd: int, pathname: int, mode: int) -> int:
    found = _missing(k, dirfd, pathname, directory=True)
    host = _host_child(found)
    _on_host(os.mkdir, (host,), 0o700)
    _on_host(os.chmod, (host,), mode & 0o7777 & ~k.vfs.umask)
    _made(k, found)
    return 0


@handles
def mkdir(k: Kernel, t: Task, pathname: int, mode: int) -> int:
    return mkdirat(k, t, AT_FDCWD, pathname, mode)


def _still_open(k: Kernel, node: Node) -> bool:
    return any(
        isinstance(f, NodeFile) and f.node is not None and f.node.key == node.key
        for f in k.fds.files.values()
    )


@handles
def unlinkat(k: Kernel, t: Task, dirfd: int, pathname: int, flags: int) -> int:
    if flags & ~AT_REMOVEDIR:
        return -errno.EINVAL
    path = _path(k, pathname)
    last = path.rstrip("/").rsplit("/", 1)[-1]
    if flags & AT_REMOVEDIR and last in (".", ".."):
        return -errno.EINVAL if last == "." else -errno.ENOTEMPTY
    node = k.vfs.walk(_start(k, dirfd), path, follow=False)
    assert isinstance(node, Node)
    _not_mount_point(k, node)
    k.vfs.check_writable(node)
    _may_change_entries(k, node)
    assert node.host is not None
    if flags & AT_REMOVEDIR:
        if node.kind != DIR:
            return -errno.ENOTDIR
        _on_host(os.rmdir, (node.host,))
    else:
        if node.kind == DIR:
            return -errno.EISDIR
        _on_host(os.unlink, (node.host,))
    parent = k.vfs.lookup(node.path.rsplit("/", 1)[0] or "/")
    if parent is not None and parent.host is not None:
        k.vfs.modified(parent)
    if node.kind == DIR or node.hostst is None or (node.hostst.st_nlink <= 1 and not _still_open(k, node)):
        k.vfs.forget(node)
    return 0


@handles
def unlink(k: Kernel, t: Task, pathname: int) -> int:
    return unlinkat(k, t, AT_FDCWD, pathname, 0)


@handles
def rmdir(k: Kernel, t: Task, pathname: int) -> int:
    return unlinkat(k, t, AT_FDCWD, pathname, AT_REMOVEDIR)


@handles
def renameat2(
    k: Kernel, t: Task, olddirfd: int, oldpath: int, newdirfd: int, newpath: int, flags: int
) -> int:
    if flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE) or flags == RENAME_NOREPLACE | RENAME_EXCHANGE:
        return -errno.EINVAL
    for name in (_path(k, oldpath), _path(k, newpath)):  # neither may end in ".", ".." or be "/"
        if name and name.rstrip("/").rsplit("/", 1)[-1] in ("", ".", ".."):
            return -errno.EBUSY
    old = _named(k, olddirfd, oldpath)
    new = k.vfs.walk(_start(k, newdirfd), _path(k, newpath), follow=False, allow_missing=True)
    new_mount = new.parent.mount if isinstance(new, Missing) else new.mount
    if old.mount is not new_mount:
        return -errno.EXDEV
    _not_mount_point(k, old)
    k.vfs.check_writable(old)
    k.vfs.check_writable(new)
    _may_change_entries(k, old)
    _may_change_entries(k, new)
    if isinstance(new, Node):
        _not_mount_point(k, new)
        if flags & RENAME_NOREPLACE:
            return -errno.EEXIST
    elif flags & RENAME_EXCHANGE:
        return -errno.ENOENT
    target = _host_child(new) if isinstance(new, Missing) else new.host
    assert old.host is not None and target is not None
    if flags & RENAME_EXCHANGE:
        return -errno.EINVAL  # atomic exchange has no portable host call; Go never asks
    _on_host(os.rename, (old.host, target))
    moved = k.vfs.lookup(new.path)
    if moved is not None:
        k.vfs.touch(moved)
        _follow_move(k, old.path, moved)
    return 0


def _follow_move(k: Kernel, old: str, moved: Node) -> None:
    """Descriptors and the cwd at or under a renamed name go with it, as Linux's refer to the
    inode: openat on a directory fd still works after its parent is renamed (os's
    TestRootRenameAfterOpen)."""

    def under(path: str) -> bool:
        return path == old or path.startswith(old + "/")

    for f in k.fds.files.values():
        if isinstance(f, NodeFile) and f.node is not None and under(f.node.path):
            rest = f.node.path[len(old) :]
            host = moved.host + rest if moved.host is not None else f.node.host
            f.node = dataclasses.replace(f.node, path=moved.path + rest, host=host)
            if under(f.path):
                f.path = moved.path + f.path[len(old) :]
    if under(k.vfs.cwd):
        k.vfs.cwd = moved.path + k.vfs.cwd[len(old) :]


@handles
def renameat(k: Kernel, t: Task, olddirfd: int, oldpath: int, newdirfd: int, newpath: int) -> int:
    return renameat2(k, t, olddirfd, oldpath, newdirfd, newpath, 0)


@handles
def rename(k: Kernel, t: Task, oldpath: int, newpath: int) -> int:
    return renameat2(k, t, AT_FDCWD, oldpath, AT_FDCWD, newpath, 0)


@handles
def linkat(k: Kernel, t: Task, olddirfd: int, oldpath: int, newdirfd: int, newpath: int, flags: int) -> int:
    if flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH):
        return -errno.EINVAL
    found = _existing(k, olddirfd, oldpath, AT_EMPTY_PATH & flags, follow=bool(flags & AT_SYMLINK_FOLLOW))
    if not isinstance(found, Node):
        return -errno.EXDEV
    if found.kind == DIR:
        return -errno.EPERM
    new = _missing(k, newdirfd, newpath)
    if found.mount is not new.parent.mount or found.host is None:
        return -errno.EXDEV
    _on_host(os.link, (found.host, _host_child(new)), follow_symlinks=False)
    k.vfs.touch(found)
    return 0


@handles
def link(k: Kernel, t: Task, oldpath: int, newpath: int) -> int:
    return linkat(k, t, AT_FDCWD, oldpath, AT_FDCWD, newpath, 0)


@handles
def symlinkat(k: Kernel, t: Task, target: int, newdirfd: int, linkpath: int) -> int:
    text = _path(k, target)
    if not text:
        return -errno.ENOENT
    new = _missing(k, newdirfd, linkpath)
    _on_host(
        lambda short: os.symlink(text, short), (_host_child(new),)
    )  # stored as written; followed only by our walk
    node = k.vfs.lookup(new.path)
    assert node is not None
    k.vfs.created(node)
    return 0


@handles
def symlink(k: Kernel, t: Task, target: int, linkpath: int) -> int:
    return symlinkat(k, t, target, AT_FDCWD, linkpath)


@handles
def readlinkat(k: Kernel, t: Task, dirfd: int, pathname: int, buf: int, bufsiz: int) -> int:
    if signed32(bufsiz) <= 0:
        return -errno.EINVAL
    node = _named(k, dirfd, pathname)
    if node.kind != LNK:
        return -errno.EINVAL
    target = os.fsencode(k.vfs.readlink(node))[:bufsiz]
    k.mem.write(buf, target)
    return len(target)


@handles
def readlink(k: Kernel, t: Task, pathname: int, buf: int, bufsiz: int) -> int:
    return readlinkat(k, t, AT_FDCWD, pathname, buf, bufsiz)


# -- descriptor control ----------------------------------------------------------------------


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
        changeable = O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME
        f.flags = (f.flags & ~changeable) | (arg & changeable)
        return 0
    if cmd in (F_DUPFD, F_DUPFD_CLOEXEC):
        return k.fds.install(f, lowest=arg, cloexec=cmd == F_DUPFD_CLOEXEC)
    if cmd in (F_SETLK, F_SETLKW, F_OFD_SETLK, F_OFD_SETLKW):
        return 0  # one process: every record lock is granted
    if cmd in (F_GETLK, F_OFD_GETLK):
        k.mem.write(arg, struct.pack("<h", F_UNLCK))  # nobody else holds a lock
        return 0
    return -errno.EINVAL


@handles
def ioctl(k: Kernel, t: Task, fd: int, request: int, arg: int) -> int:
    f = k.fds.get(fd)
    if request == FIONBIO:
        return 0
    if request in (FIOCLEX, FIONCLEX):
        (k.fds.cloexec.add if request == FIOCLEX else k.fds.cloexec.discard)(fd)
        return 0
    if request == TCGETS:
        return -errno.ENOTTY  # the guest never sees a terminal: output is identical either way
    return -errno.ENOTTY if isinstance(f, NodeFile) else -errno.EINVAL
