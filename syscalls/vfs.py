"""The guest's filesystem namespace: mounts, the path walk, inodes and their metadata.

The guest never names a host path. Every path is walked here component by
component in the virtual namespace: the mount table (longest prefix) says
which host directory or generated tree answers a component, symbolic links
(the host's included) are read and followed *here*, relative to the guest's
root, at most ``MAX_SYMLINKS`` times (ELOOP), and ``..`` stops at the root.
Only the final, symlink-free host path is ever opened, with O_NOFOLLOW, so a
host symlink cannot lead outside. What the guest sees of the host: its
current directory read-only at the same path (or ``--root DIR`` as ``/``),
the user's ``--mount``s, and a private writable ``/tmp`` that is a fresh host
directory, created on first use and removed at exit unless kept.

Stat results are ours, not the host's, so they are the same on every machine:
inode numbers are handed out in the order the guest first meets a file, device
numbers are fixed per mount, owner is the guest's uid/gid, and times are a
fixed epoch for files the guest has not touched and virtual CLOCK_REALTIME
for those it created, wrote, renamed or utimensat'ed. Host mtimes are never
shown: they would differ between checkouts of the same tree.
"""

from __future__ import annotations

import os
import shutil
import stat as st
import struct
import tempfile
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from syscalls import errno
from syscalls.errno import SyscallError
from syscalls.procfs import Entry, SynDevice, SynDir, SynFile, SynLink, synthetic_entry, synthetic_tree

if TYPE_CHECKING:
    from syscalls.kernel import Kernel

MAX_SYMLINKS = 40  # Linux's MAXSYMLINKS
FIXED_TIME_NS = 1_700_000_000 * 10**9  # the mtime of every file the guest has not changed
GENERATED = ("/proc", "/sys", "/dev", "/etc")

RESOLVE_NO_XDEV, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS = 0x01, 0x02, 0x04
RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_CACHED = 0x08, 0x10, 0x20

DIR, REG, LNK, CHR, OTHER = "dir", "reg", "lnk", "chr", "other"
_TYPE_BITS = {DIR: st.S_IFDIR, REG: st.S_IFREG, LNK: st.S_IFLNK, CHR: st.S_IFCHR, OTHER: st.S_IFIFO}
DT_TYPES = {DIR: 4, REG: 8, LNK: 10, CHR: 2, OTHER: 1}


@dataclass(frozen=True)
class MountSpec:
    """``--mount HOST:GUEST[:ro|rw]``: a host directory (or file) shown at a guest path."""

    host: str
    guest: str
    writable: bool = False

    @classmethod
    def parse(cls, text: str) -> MountSpec:
        """Raises ValueError with a one-line message for a malformed or missing mount."""
        parts = text.split(":")
        mode = "ro"
        if len(parts) == 3 and parts[2] in ("ro", "rw"):
            mode = parts.pop()
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise ValueError(f"--mount wants HOST:GUEST[:ro|rw], not {text!r}")
        host, guest = parts
        if not guest.startswith("/"):
            raise ValueError(f"--mount {text!r}: the guest path must be absolute")
        if not os.path.exists(host):
            raise ValueError(f"--mount {text!r}: no such host path {host!r}")
        return cls(os.path.realpath(host), os.path.normpath(guest).replace("//", "/"), mode == "rw")


@dataclass
class FsConfig:
    """What of the host the guest sees; part of a run's identity like the seed."""

    root: str | None = None  # host directory that is the guest's "/"; None: host cwd at its own path
    mounts: tuple[MountSpec, ...] = ()
    cwd: str | None = None  # host working directory (default: ours)
    keep_tmp: bool = False  # leave the private /tmp on the host at exit (its path is kept_tmp)


@dataclass
class Mount:
    guest: str
    host: str | None  # None: generated, the empty root, or the private /tmp not made yet
    writable: bool
    dev: int
    fstype: int  # statfs f_type
    kind: str = "host"  # "host", "generated" (procfs.synthetic_tree), "empty" (the root), "tmp"


@dataclass
class Node:
    """One resolved name: where it lives and what it is."""

    path: str  # canonical guest path, no symlinks, no ".."
    mount: Mount
    kind: str  # DIR, REG, LNK, CHR, OTHER
    host: str | None = None  # host path (host-backed mounts)
    hostst: os.stat_result | None = None
    entry: Entry | None = None  # generated entry

    @property
    def key(self) -> tuple:
        """Identity for inode numbers and times: the host inode, or the generated path."""
        if self.hostst is not None:
            return ("host", self.hostst.st_dev, self.hostst.st_ino)
        return ("gen", self.path)


@dataclass
class Missing:
    """The last component does not exist; ``parent`` does (creating calls need both)."""

    path: str
    parent: Node
    must_dir: bool = False

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[1]


@dataclass
class StatInfo:
    dev: int
    ino: int
    mode: int
    nlink: int
    uid: int
    gid: int
    rdev: int
    size: int
    atime: int  # ns
    mtime: int
    ctime: int

    def pack_stat(self) -> bytes:
        """struct stat, x86-64 layout."""
        blocks = (self.size + 511) // 512
        times = []
        for t in (self.atime, self.mtime, self.ctime):
            times += [t // 10**9, t % 10**9]
        return struct.pack(
            "<QQQIIIiQqqq6q24x",
            self.dev,
            self.ino,
            self.nlink,
            self.mode,
            self.uid,
            self.gid,
            0,
            self.rdev,
            self.size,
            4096,
            blocks,
            *times,
        )

    def pack_statx(self) -> bytes:
        """struct statx with the basic fields (STATX_BASIC_STATS); no birth time."""
        head = struct.pack(
            "<IIQIIIHxxQQQQ",
            0x7FF,
            4096,
            0,
            self.nlink,
            self.uid,
            self.gid,
            self.mode,
            self.ino,
            self.size,
            (self.size + 511) // 512,
            0,
        )
        stamps = b"".join(
            struct.pack("<qI4x", t // 10**9, t % 10**9) for t in (self.atime, 0, self.ctime, self.mtime)
        )
        devs = struct.pack(
            "<IIII", os.major(self.rdev), os.minor(self.rdev), os.major(self.dev), os.minor(self.dev)
        )
        return (head + stamps + devs).ljust(256, b"\0")


HOST_PATH_ROOM = 3800  # bytes of a host path passed as it is; longer ones go through reachable()


@contextmanager
def reachable(host: str) -> Iterator[str]:
    """``host`` in a form the host's PATH_MAX (4096) accepts. A guest reaches directories deeper
    than that by relative steps (os's TestGetwdDeep, TestRemoveAllLongPath), so a long path's
    parent is opened step by step with O_PATH, each step shorter than PATH_MAX, and the name is
    then looked up through /proc/self/fd of that descriptor."""
    if len(os.fsencode(host)) < HOST_PATH_ROOM:
        yield host
        return
    parent, name = host.rsplit("/", 1)
    fd = -1
    try:
        for step in _steps(parent):
            nxt = os.open(step, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd if fd >= 0 else None)
            if fd >= 0:
                os.close(fd)
            fd = nxt
        yield f"/proc/self/fd/{fd}/{name}"
    finally:
        if fd >= 0:
            os.close(fd)


def _steps(path: str) -> list[str]:
    """``path`` cut at component boundaries into pieces of at most 2048 bytes; the first absolute."""
    steps, current = [], ""
    for part in path.split("/")[1:]:
        if current and len(os.fsencode(current)) + len(os.fsencode(part)) > 2048:
            steps.append(current)
            current = part
        else:
            current = f"{current}/{part}" if current or not steps else part
    steps.append(current or "/")
    return steps


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def _join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent != "/" else f"/{name}"


def _under(path: str, top: str) -> bool:
    return top == "/" or path == top or path.startswith(top + "/")


def _kind(mode: int) -> str:
    if st.S_ISDIR(mode):
        return DIR
    if st.S_ISREG(mode):
        return REG
    if st.S_ISLNK(mode):
        return LNK
    return OTHER


class Vfs:
    """The namespace of one emulated process."""

    def __init__(self, config: FsConfig, kernel: Kernel) -> None:
        self.k = kernel
        self.config = config
        host_cwd = os.path.realpath(config.cwd or os.getcwd())
        self.umask = 0o022
        self.mounts: list[Mount] = []
        self._tmp_host: str | None = None
        self.kept_tmp: str | None = None
        self._cleanup: weakref.finalize | None = None
        if config.root is not None:
            self._add("/", os.path.realpath(config.root), False, 0x801, 0xEF53)
            self.cwd = "/"
        else:
            self._add("/", None, False, 0x14, 0x01021994, "empty")
            self._add(host_cwd, host_cwd, False, 0x801, 0xEF53)
            self.cwd = host_cwd
        for name, fstype in zip(GENERATED, (0x9FA0, 0x62656572, 0x01021994, 0x01021994), strict=True):
            self._add(name, None, False, 0x15 + len(self.mounts), fstype, "generated")
        self._add("/tmp", None, True, 0x20, 0x01021994, "tmp")
        for spec in config.mounts:
            self._add(spec.guest, spec.host, spec.writable, 0x820 + len(self.mounts), 0xEF53)
        self._exe_mount = Mount("/proc/self/exe", None, False, 0x801, 0xEF53)
        self._inodes: dict[tuple, int] = {}
        self._times: dict[tuple, list[int]] = {}  # key -> [atime, mtime, ctime] in ns
        self._anon: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()
        self._anon_count = 0
        self.fifos: dict[tuple, object] = {}  # FIFO inode key -> its pipes.PipeBuffer

    def _add(
        self, guest: str, host: str | None, writable: bool, dev: int, fstype: int, kind: str = "host"
    ) -> Mount:
        mount = Mount(guest, host, writable, dev, fstype, kind)
        self.mounts = [m for m in self.mounts if m.guest != guest] + [mount]
        self.mounts.sort(key=lambda m: len(m.guest), reverse=True)
        return mount

    # -- the private /tmp --------------------------------------------------------------------

    def _tmp(self, mount: Mount) -> str:
        if self._tmp_host is None:
            self._tmp_host = tempfile.mkdtemp(prefix="emulator-tmp-")
            if self.config.keep_tmp:
                self.kept_tmp = self._tmp_host
            else:
                self._cleanup = weakref.finalize(self, shutil.rmtree, self._tmp_host, True)
        mount.host = self._tmp_host
        return self._tmp_host

    def close(self) -> None:
        """The process ended: remove the private /tmp unless asked to keep it."""
        if self._cleanup is not None:
            self._cleanup()

    # -- lookup --------------------------------------------------------------------------------

    def mount_of(self, path: str) -> Mount:
        for m in self.mounts:
            if _under(path, m.guest):
                return m
        raise AssertionError("the root mount answers every path")

    def lookup(self, path: str) -> Node | None:
        """The node at canonical ``path`` (its ancestors are directories without symlinks), or None."""
        mount = self.mount_of(path)
        if mount.kind == "tmp" and mount.host is None:
            self._tmp(mount)
        if mount.host is not None:
            rel = path[len(mount.guest) :].lstrip("/") if mount.guest != "/" else path.lstrip("/")
            host = os.path.join(mount.host, rel) if rel else mount.host
            try:
                with reachable(host) as short:
                    hs = os.lstat(short)
            except (FileNotFoundError, NotADirectoryError):
                pass
            except OSError as e:
                raise SyscallError(e.errno or errno.EACCES) from e
            else:
                return Node(path, mount, _kind(hs.st_mode), host=host, hostst=hs)
        elif mount.kind == "generated":
            entry = synthetic_entry(self.k, path)
            if entry is not None:
                return Node(path, mount, self._entry_kind(entry), entry=entry)
        if path == "/" or path == mount.guest or any(m.guest.startswith(path + "/") for m in self.mounts):
            return Node(path, mount, DIR, entry=SynDir(0o755))  # a mount point's ancestor
        return None

    @staticmethod
    def _entry_kind(entry: Entry) -> str:
        return {SynDir: DIR, SynFile: REG, SynLink: LNK, SynDevice: CHR}[type(entry)]

    def readlink(self, node: Node) -> str:
        if node.entry is not None:
            assert isinstance(node.entry, SynLink)
            return node.entry.target
        assert node.host is not None
        try:
            with reachable(node.host) as short:
                return os.readlink(short)
        except OSError as e:  # changed on the host under us
            raise SyscallError(e.errno or errno.ENOENT) from e

    def _must(self, path: str) -> Node:
        """A directory the walk stands in; it may have been removed under it (ENOENT, as Linux)."""
        node = self.lookup(path)
        if node is None:
            raise SyscallError(errno.ENOENT)
        return node

    def walk(
        self,
        start: str,
        path: str,
        *,
        follow: bool = True,
        resolve: int = 0,
        allow_missing: bool = False,
    ) -> Node | Missing:
        """Resolve ``path`` from directory ``start`` entirely inside the namespace.

        ``resolve`` takes openat2's RESOLVE_* flags: IN_ROOT makes ``start`` the root,
        BENEATH refuses (EXDEV) any step above ``start``.
        """
        if not path:
            raise SyscallError(errno.ENOENT)
        if len(path) >= 4096:
            raise SyscallError(errno.ENAMETOOLONG)
        root = start if resolve & RESOLVE_IN_ROOT else "/"
        beneath = bool(resolve & RESOLVE_BENEATH)
        if path.startswith("/") and beneath:
            raise SyscallError(errno.EXDEV)
        cur = root if path.startswith("/") else start
        node = self._must(cur)
        todo = [c for c in reversed(path.split("/"))]
        must_dir = path.endswith("/") or path.endswith("/.")
        links = 0
        while todo:
            name = todo.pop()
            if name in ("", "."):
                continue
            if node.kind != DIR:
                raise SyscallError(errno.ENOTDIR)
            if len(name) > 255:
                raise SyscallError(errno.ENAMETOOLONG)
            if name == "..":
                if cur == root or (beneath and cur == start):
                    if beneath:
                        raise SyscallError(errno.EXDEV)
                    continue
                cur = _parent(cur)
                node = self._must(cur)
                continue
            nxt = _join(cur, name)
            last = all(c in ("", ".") for c in todo)
            child = self.lookup(nxt)
            if child is None:
                if last and allow_missing:
                    return Missing(nxt, node, must_dir)
                raise SyscallError(errno.ENOENT)
            if resolve & RESOLVE_NO_XDEV and child.mount is not node.mount:
                raise SyscallError(errno.EXDEV)
            if child.kind == LNK and (not last or follow or must_dir):
                magic = isinstance(child.entry, SynLink) and (child.entry.fd is not None or child.entry.exe)
                if resolve & RESOLVE_NO_SYMLINKS or (magic and resolve & RESOLVE_NO_MAGICLINKS):
                    raise SyscallError(errno.ELOOP)
                links += 1
                if links > MAX_SYMLINKS:
                    raise SyscallError(errno.ELOOP)
                if magic and last:
                    return child  # the caller opens what the link stands for
                target = self.readlink(child)
                if not target:
                    raise SyscallError(errno.ENOENT)
                if target.startswith("/"):
                    if beneath:
                        raise SyscallError(errno.EXDEV)
                    cur = root
                    node = self._must(cur)
                if last and target.endswith(("/", "/.")):
                    must_dir = True  # "link => file/": the slash in the target asks for a directory too
                todo.extend(reversed(target.split("/")))
                continue
            cur, node = nxt, child
        if must_dir and node.kind != DIR:
            raise SyscallError(errno.ENOTDIR)
        return node

    def children(self, node: Node) -> list[Node]:
        """The entries of a directory, sorted by name (host order differs between filesystems)."""
        names: set[str] = set()
        if node.host is not None:
            try:
                with reachable(node.host) as short:
                    names.update(os.listdir(short))
            except OSError as e:
                raise SyscallError(e.errno or errno.EACCES) from e
        elif node.mount.kind == "generated":
            prefix = node.path + "/"
            names.update(
                p[len(prefix) :]
                for p in synthetic_tree(self.k)
                if p.startswith(prefix) and "/" not in p[len(prefix) :]
            )
        prefix = node.path.rstrip("/") + "/"
        for m in self.mounts:
            if m.guest.startswith(prefix) and m.guest != node.path:
                names.add(m.guest[len(prefix) :].split("/", 1)[0])
        found = []
        for name in sorted(names):
            child = self.lookup(_join(node.path, name))
            if child is not None:
                found.append(child)
        return found

    # -- reverse mapping -----------------------------------------------------------------------

    def guest_name(self, host_path: str) -> str:
        """The guest path of a host file when a mount shows it; else the host path itself.

        Only the name leaks (so os.Executable answers as natively); its contents stay
        reachable through /proc/self/exe alone.
        """
        for m in self.mounts:
            if m.kind == "host" and m.host is not None and _under(host_path, m.host):
                rel = os.path.relpath(host_path, m.host)
                path = m.guest if rel == "." else _join(m.guest, rel)
                if self.mount_of(path) is m:
                    return path
        return host_path

    def exe_node(self) -> Node:
        """What /proc/self/exe opens: the guest's own binary, read-only, wherever it lies on the host."""
        name = os.path.abspath(self.k.config.exe_path)
        host = os.path.realpath(name)
        try:
            hs = os.stat(host)
        except OSError as e:
            raise SyscallError(errno.ENOENT) from e
        return Node(self.guest_name(name), self._exe_mount, REG, host=host, hostst=hs)

    # -- metadata ------------------------------------------------------------------------------

    def ino(self, node: Node) -> int:
        key = node.key
        if key not in self._inodes:
            self._inodes[key] = 2 + len(self._inodes)
        return self._inodes[key]

    def anon_ino(self, obj: object) -> int:
        """An inode number for a file without a name (pipe, eventfd), stable while it lives."""
        if obj not in self._anon:
            self._anon[obj] = 0x10000 + self._anon_count
            self._anon_count += 1
        return self._anon[obj]

    def forget(self, node: Node) -> None:
        """The last link went: a new file that reuses the host inode gets a new number."""
        self._inodes.pop(node.key, None)
        self._times.pop(node.key, None)

    def touch(
        self, node: Node, *, atime: int | None = None, mtime: int | None = None, change: bool = True
    ) -> None:
        """Record times (ns): the guest created or changed this file."""
        now = self.k.clock.now(0)
        times = self._times.setdefault(node.key, [FIXED_TIME_NS] * 3)
        if atime is not None:
            times[0] = atime
        if mtime is not None:
            times[1] = mtime
        if change:
            times[2] = now

    def modified(self, node: Node) -> None:
        now = self.k.clock.now(0)
        self.touch(node, mtime=now)

    def created(self, node: Node) -> None:
        now = self.k.clock.now(0)
        self.touch(node, atime=now, mtime=now)

    def stat(self, node: Node) -> StatInfo:
        cfg = self.k.config
        atime, mtime, ctime = self._times.get(node.key, [FIXED_TIME_NS] * 3)
        mode, size, nlink, rdev = 0o755, 0, 1, 0
        if node.hostst is not None:
            hs = node.hostst
            mode, size, nlink = st.S_IMODE(hs.st_mode), hs.st_size, hs.st_nlink
            if node.kind == DIR:
                size, nlink = 4096, 2 + sum(1 for c in self._subdirs(node.host))
            elif node.kind == LNK:
                size = len(os.fsencode(self.readlink(node)))
        elif isinstance(node.entry, SynFile):
            mode, size = node.entry.mode, node.entry.size or 0
        elif isinstance(node.entry, SynDir):
            mode, nlink = node.entry.mode, 2
        elif isinstance(node.entry, SynLink):
            mode, size = 0o777, len(node.entry.target)
        elif isinstance(node.entry, SynDevice):
            mode, rdev = node.entry.mode, node.entry.rdev
        return StatInfo(
            dev=node.mount.dev,
            ino=self.ino(node),
            mode=_TYPE_BITS[node.kind] | mode,
            nlink=nlink,
            uid=cfg.uid,
            gid=cfg.gid,
            rdev=rdev,
            size=size,
            atime=atime,
            mtime=mtime,
            ctime=ctime,
        )

    @staticmethod
    def _subdirs(host: str | None) -> list[str]:
        if host is None:
            return []
        try:
            with reachable(host) as short, os.scandir(short) as it:
                return [e.name for e in it if e.is_dir(follow_symlinks=False)]
        except OSError:
            return []

    def check_writable(self, node: Node | Missing) -> None:
        """EROFS on a read-only mount, EACCES on generated files, unless the guest may change ``node``."""
        target = node.parent if isinstance(node, Missing) else node
        if target.mount.kind == "generated":
            raise SyscallError(errno.EACCES)
        if not target.mount.writable or target.host is None:
            raise SyscallError(errno.EROFS)

    def statfs(self, node: Node) -> bytes:
        """struct statfs: fixed sizes, so free space never depends on the host."""
        m = node.mount
        flags = 0x20 | (0 if m.writable else 1)  # ST_RELATIME, ST_RDONLY
        return struct.pack(
            "<qqQQQQQiiqqq4q",
            m.fstype,
            4096,
            1 << 20,
            1 << 19,
            1 << 19,
            1 << 16,
            1 << 15,
            m.dev,
            0,
            255,
            4096,
            flags,
            0,
            0,
            0,
            0,
        )
