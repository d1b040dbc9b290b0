"""Memory calls: mmap, munmap, mprotect, madvise, brk, mincore."""

from __future__ import annotations

from syscalls import errno
from syscalls.kernel import Kernel, Task, handles

PAGE = 0x1000
PROT_MASK = 0x7
MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE = 0x01, 0x02, 0x03
MAP_FIXED = 0x10
MAP_ANONYMOUS = 0x20
MAP_FIXED_NOREPLACE = 0x100000
MADV_DONTNEED = 4
MADV_FREE = 8
MADV_REMOVE = 9


def _page_up(n: int) -> int:
    return (n + PAGE - 1) & ~(PAGE - 1)


@handles
def mmap(k: Kernel, t: Task, addr: int, length: int, prot: int, flags: int, fd: int, offset: int) -> int:
    if length == 0 or offset % PAGE or _page_up(length) < length:
        return -errno.EINVAL
    kind = flags & 0x3
    if kind not in (MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE):
        return -errno.EINVAL
    data = b""
    name = ""
    if not flags & MAP_ANONYMOUS:
        f = k.fds.get(fd)
        data = f.contents(offset, length)
        name = f.path
    fixed = bool(flags & (MAP_FIXED | MAP_FIXED_NOREPLACE))
    if fixed and addr % PAGE:
        return -errno.EINVAL
    start = addr if fixed else k.mem.find_free(length, addr)
    k.mem.map(start, length, prot & PROT_MASK, name, replace=not flags & MAP_FIXED_NOREPLACE)
    if data:
        k.mem.poke(start, data)
    return start


@handles
def munmap(k: Kernel, t: Task, addr: int, length: int) -> int:
    if addr % PAGE or length == 0:
        return -errno.EINVAL
    k.mem.unmap(addr, length)
    return 0


@handles
def mprotect(k: Kernel, t: Task, addr: int, length: int, prot: int) -> int:
    if addr % PAGE:
        return -errno.EINVAL
    if length == 0:
        return 0
    k.mem.protect(addr, length, prot & PROT_MASK)
    return 0


@handles
def madvise(k: Kernel, t: Task, addr: int, length: int, advice: int) -> int:
    if addr % PAGE:
        return -errno.EINVAL
    if length == 0:
        return 0
    if not k.mem.mapped_pages(addr, length):
        return -errno.ENOMEM
    if advice in (MADV_DONTNEED, MADV_FREE, MADV_REMOVE):
        k.mem.discard(addr, length)
    return 0  # other advice (HUGEPAGE, NOHUGEPAGE, ...) is a hint we may ignore


@handles
def brk(k: Kernel, t: Task, addr: int) -> int:
    return k.mem.set_brk(addr) if addr else k.mem.brk


@handles
def mincore(k: Kernel, t: Task, addr: int, length: int, vec: int) -> int:
    if addr % PAGE:
        return -errno.EINVAL
    if not k.mem.mapped_pages(addr, length):
        return -errno.ENOMEM
    k.mem.write(vec, b"\x01" * (_page_up(length) // PAGE))  # everything we hold is resident
    return 0
