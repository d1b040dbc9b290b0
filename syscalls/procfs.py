"""The generated parts of the guest's namespace: /proc, /sys, /dev and /etc.

Nothing here reads the host: /proc/self is written from the emulator's own
state (the VMA map, the fd table, argv, envp, the threads), the rest is fixed
text of our choosing, so every run on every host sees the same bytes. The
trees are rebuilt on each lookup (a few dozen entries), with file contents
produced only when a file is opened.
"""

from __future__ import annotations

import functools
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syscalls.kernel import Kernel

# Files the Go runtime reads at start-up; cgroup v2 with no CPU limit.
SYNTHETIC_FILES: dict[str, bytes] = {
    "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size": b"2097152\n",
    "/sys/fs/cgroup/cpu.max": b"max 100000\n",
    "/sys/devices/system/cpu/online": b"0\n",
}

ETC_FILES: dict[str, bytes] = {
    "/etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nguest:x:1000:1000:guest:/home/guest:/bin/sh\n",
    "/etc/group": b"root:x:0:\nguest:x:1000:\n",
    "/etc/hosts": b"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    "/etc/nsswitch.conf": b"passwd: files\ngroup: files\nhosts: files dns\n",
    "/etc/hostname": b"emulator\n",
    "/etc/resolv.conf": b"",  # no DNS: networking is not emulated
}
# What Go's cgroup CPU-limit probe parses (1.25+): cgroup v2 mounted at /sys/fs/cgroup.
MOUNTINFO = (
    b"22 1 0:21 / / rw,relatime - overlay overlay rw\n"
    b"30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw\n"
)
# /etc/localtime is absent on purpose: Go (and libc) then use UTC.

MEMINFO_KIB = 4 << 20  # what /proc/meminfo claims: 4 GiB, the default --memory-limit


@dataclass(frozen=True)
class SynDir:
    mode: int = 0o555


@dataclass(frozen=True)
class SynFile:
    """A generated file. ``size`` is what stat reports: None for 0, as procfs and sysfs files
    do; /etc files report their length as files on a disk do (os.Stat(...).Size() == read)."""

    make: Callable[[], bytes]
    mode: int = 0o444
    size: int | None = None


@dataclass(frozen=True)
class SynLink:
    """A symbolic link; ``fd`` makes it a /proc/self/fd magic link to that descriptor."""

    target: str
    fd: int | None = None
    exe: bool = False  # /proc/self/exe: opening it opens the guest's own binary


@dataclass(frozen=True)
class SynDevice:
    """A character device: null, zero, full, random or urandom."""

    name: str
    rdev: int
    mode: int = 0o666


Entry = SynDir | SynFile | SynLink | SynDevice

DEVICES = {
    "null": 0x103,
    "zero": 0x105,
    "full": 0x107,
    "random": 0x108,
    "urandom": 0x109,
}


def _fixed(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def _cpuinfo(cpus: int) -> bytes:
    text = ""
    for n in range(cpus):
        text += (
            f"processor\t: {n}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\n"
            "model name\t: Emulated x86-64 CPU\nstepping\t: 7\ncpu MHz\t\t: 1000.000\n"
            f"cache size\t: 1024 KB\nphysical id\t: 0\nsiblings\t: {cpus}\ncore id\t\t: {n}\n"
            f"cpu cores\t: {cpus}\napicid\t\t: {n}\nfpu\t\t: yes\ncpuid level\t: 13\nwp\t\t: yes\n"
            "flags\t\t: fpu tsc cx8 cmov mmx fxsr sse sse2 syscall nx lm pni ssse3 cx16 sse4_1 "
            "sse4_2 popcnt\nbogomips\t: 2000.00\nclflush size\t: 64\ncache_alignment\t: 64\n"
            "address sizes\t: 46 bits physical, 48 bits virtual\n\n"
        )
    return text.encode()


def _meminfo() -> bytes:
    return (
        f"MemTotal:       {MEMINFO_KIB:8d} kB\nMemFree:        {MEMINFO_KIB:8d} kB\n"
        f"MemAvailable:   {MEMINFO_KIB:8d} kB\nBuffers:               0 kB\nCached:                0 kB\n"
        "SwapTotal:             0 kB\nSwapFree:              0 kB\n"
    ).encode()


def _maps(k: Kernel) -> bytes:
    lines = []
    for vma in k.mem.vmas:
        name = vma.name
        if name and not name.startswith("["):
            name = k.vfs.guest_name(os.path.abspath(name))
        perms = "".join(c if vma.prot & b else "-" for b, c in ((1, "r"), (2, "w"), (4, "x"))) + "p"
        line = f"{vma.start:08x}-{vma.end:08x} {perms} 00000000 00:00 0"
        lines.append(f"{line:<73}{name}".rstrip() if name else line)
    return "".join(line + "\n" for line in lines).encode()


def _status(k: Kernel) -> bytes:
    c = k.config
    return (
        f"Name:\t{os.path.basename(c.exe_path)[:15]}\nUmask:\t{k.vfs.umask:04o}\nState:\tR (running)\n"
        f"Tgid:\t{c.pid}\nPid:\t{c.pid}\nPPid:\t1\nUid:\t{c.uid}\t{c.uid}\t{c.uid}\t{c.uid}\n"
        f"Gid:\t{c.gid}\t{c.gid}\t{c.gid}\t{c.gid}\nFDSize:\t64\nThreads:\t{len(k.threads.tasks())}\n"
        f"Cpus_allowed_list:\t0-{c.cpus - 1}\n"
    ).encode()


def _auxv(k: Kernel) -> bytes:
    """The auxiliary vector the process started with, up to and including AT_NULL."""
    words = k.initial_stack
    if len(words) < 8:
        return b""
    argc = struct.unpack_from("<Q", words)[0]
    pos = 8 * (argc + 2)  # argc, argv[], NULL
    while pos + 8 <= len(words) and struct.unpack_from("<Q", words, pos)[0]:
        pos += 8  # envp[]
    start = pos = pos + 8
    while pos + 16 <= len(words):
        key = struct.unpack_from("<Q", words, pos)[0]
        pos += 16
        if key == 0:
            break
    return words[start:pos]


def _process_tree(k: Kernel, base: str) -> dict[str, Entry]:
    """/proc/<pid>: the files Go and debuggers read about the process itself."""
    c = k.config
    tree: dict[str, Entry] = {
        base: SynDir(),
        f"{base}/maps": SynFile(lambda: _maps(k)),
        f"{base}/exe": SynLink(k.vfs.guest_name(c.exe_path), exe=True),
        f"{base}/cmdline": SynFile(_fixed(b"".join(a + b"\0" for a in c.argv))),
        f"{base}/environ": SynFile(_fixed(b"".join(e + b"\0" for e in c.envp)), mode=0o400),
        f"{base}/auxv": SynFile(lambda: _auxv(k), mode=0o400),
        f"{base}/status": SynFile(lambda: _status(k)),
        f"{base}/comm": SynFile(_fixed(os.fsencode(os.path.basename(c.exe_path))[:15] + b"\n"), mode=0o644),
        f"{base}/cgroup": SynFile(_fixed(b"0::/\n")),
        f"{base}/mountinfo": SynFile(_fixed(MOUNTINFO)),
        f"{base}/root": SynLink("/"),
        f"{base}/cwd": SynLink(k.vfs.cwd),
        f"{base}/fd": SynDir(0o500),
        f"{base}/task": SynDir(),
    }
    for fd, f in sorted(k.fds.files.items()):
        tree[f"{base}/fd/{fd}"] = SynLink(f.path, fd=fd)
    for tid in (task.tid for task in k.threads.tasks()):
        tree[f"{base}/task/{tid}"] = SynDir()
    return tree


def synthetic_tree(k: Kernel) -> dict[str, Entry]:
    """Every generated path of the namespace, by absolute guest path.

    The process's own entries (fds, threads, cwd) are made fresh on each call; the rest depends
    only on the configuration and is built once. The path walk asks ``synthetic_entry`` instead.
    """
    c = k.config
    tree = dict(_fixed_tree(c.pid, c.cpus, c.hostname))
    tree.update(_process_tree(k, f"/proc/{c.pid}"))
    return tree


def synthetic_entry(k: Kernel, path: str) -> Entry | None:
    """The generated entry at ``path``, building the process's own part only for a path in it."""
    c = k.config
    base = f"/proc/{c.pid}"
    if path == base or path.startswith(base + "/"):
        return _process_tree(k, base).get(path)
    return _fixed_tree(c.pid, c.cpus, c.hostname).get(path)


@functools.lru_cache(maxsize=8)
def _fixed_tree(pid: int, cpus: int, hostname: str) -> dict[str, Entry]:
    tree: dict[str, Entry] = {
        "/proc": SynDir(),
        "/proc/self": SynLink(str(pid)),
        "/proc/thread-self": SynLink(f"{pid}/task/{pid}"),
        "/proc/cpuinfo": SynFile(_fixed(_cpuinfo(cpus))),
        "/proc/meminfo": SynFile(_fixed(_meminfo())),
        "/proc/sys/kernel/hostname": SynFile(_fixed(hostname.encode() + b"\n"), mode=0o644),
        "/proc/sys/kernel/osrelease": SynFile(_fixed(b"6.1.0-emulator\n")),
        "/proc/sys/fs/pipe-max-size": SynFile(_fixed(b"1048576\n"), mode=0o644),  # Linux's default
        "/dev": SynDir(0o755),
        "/dev/fd": SynLink("/proc/self/fd"),
        "/dev/stdin": SynLink("/proc/self/fd/0"),
        "/dev/stdout": SynLink("/proc/self/fd/1"),
        "/dev/stderr": SynLink("/proc/self/fd/2"),
        "/sys": SynDir(),
        "/etc": SynDir(0o755),
    }
    for name, rdev in DEVICES.items():
        tree[f"/dev/{name}"] = SynDevice(name, rdev)
    for path, data in SYNTHETIC_FILES.items():
        tree[path] = SynFile(_fixed(data))
    for path, data in ETC_FILES.items():
        tree[path] = SynFile(_fixed(data), mode=0o644, size=len(data))
    for path in list(tree):  # every ancestor of a generated path is a directory
        parent = os.path.dirname(path)
        while parent != "/" and parent not in tree:
            tree[parent] = SynDir()
            parent = os.path.dirname(parent)
    return tree
