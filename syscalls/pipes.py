"""Pipes: a bounded buffer shared by a read end and a write end.

Go 1.21 and 1.22 wake their netpoller through a pipe (1.23+ use an eventfd),
so opening any file needs one. Reads block while the pipe is empty and a
writer remains, and return 0 at end of file; writes block while it is full
and fail with EPIPE once every reader is gone (SIGPIPE is not delivered yet). A signal
handler's interruption restarts them under SA_RESTART, as Linux does.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from typing import ClassVar

from syscalls import errno
from syscalls.abi import write_i32
from syscalls.errno import SyscallError
from syscalls.files import O_ACCMODE, O_CLOEXEC, O_DIRECT, O_NONBLOCK, O_RDONLY, O_WRONLY, OpenFile
from syscalls.kernel import Kernel, Task, handles
from syscalls.outcome import Block, ObjectWait, Outcome
from syscalls.poll import EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, notify

PIPE_CAPACITY = 65536  # Linux's default pipe size


@dataclass(eq=False)
class PipeBuffer:
    """The pipe itself: bytes in flight and how many ends are still open."""

    data: bytearray = field(default_factory=bytearray)
    readers: int = 1
    writers: int = 1
    # A FIFO's opens waiting for the other side (thread id -> the other side's opens when it
    # began), and how many opens each side has had: Linux's r_counter and w_counter.
    waiting_readers: dict[int, int] = field(default_factory=dict)
    waiting_writers: dict[int, int] = field(default_factory=dict)
    read_opens: int = 0
    write_opens: int = 0


@dataclass(eq=False)
class PipeEnd(OpenFile):
    buffer: PipeBuffer = field(default_factory=PipeBuffer)

    file_type: ClassVar[int] = stat.S_IFIFO

    @property
    def reading(self) -> bool:
        return self.flags & O_ACCMODE != O_WRONLY  # a FIFO opened O_RDWR is both ends

    @property
    def writing(self) -> bool:
        return self.flags & O_ACCMODE != O_RDONLY

    def read(self, k: Kernel, buf: int, count: int) -> Outcome:
        if not self.reading:
            return -errno.EBADF
        pipe = self.buffer
        if not pipe.data:
            if not pipe.writers:
                return 0
            if self.flags & O_NONBLOCK:
                return -errno.EAGAIN
            return Block(ObjectWait(pipe, "pipe (empty)"), restart=True, sa_restart=True)
        chunk = bytes(pipe.data[:count])
        k.mem.write(buf, chunk)
        del pipe.data[: len(chunk)]
        notify(k, pipe)
        return len(chunk)

    def write(self, k: Kernel, buf: int, count: int) -> Outcome:
        if not self.writing:
            return -errno.EBADF
        pipe = self.buffer
        if not pipe.readers:
            return -errno.EPIPE
        room = PIPE_CAPACITY - len(pipe.data)
        if count and not room:
            if self.flags & O_NONBLOCK:
                return -errno.EAGAIN
            return Block(ObjectWait(pipe, "pipe (full)"), restart=True, sa_restart=True)
        chunk = k.mem.read(buf, min(count, room))
        pipe.data += chunk
        notify(k, pipe)
        return len(chunk)

    def ready(self) -> int:
        pipe = self.buffer
        events = 0
        if self.writing:
            events |= (EPOLLOUT if len(pipe.data) < PIPE_CAPACITY else 0) | (0 if pipe.readers else EPOLLERR)
        if self.reading:
            events |= (EPOLLIN if pipe.data else 0) | (0 if pipe.writers else EPOLLHUP)
        return events

    def wait_key(self) -> object:
        return self.buffer

    def released(self, k: Kernel) -> None:
        if self.writing:
            self.buffer.writers -= 1
        if self.reading:
            self.buffer.readers -= 1
        notify(k, self.buffer)


def open_fifo(k: Kernel, t: Task, key: object, path: str, flags: int) -> Outcome:
    """Open a named pipe. Its bytes live here, one buffer per FIFO inode, never in the host's
    FIFO (which only gives it a name). As on Linux, a blocking open for reading waits for a
    writer and one for writing waits for a reader; O_NONBLOCK reading opens at once, O_NONBLOCK
    writing with no reader is ENXIO, O_RDWR never waits. Returns the new end (not installed)."""
    pipe = k.vfs.fifos.get(key)
    if pipe is None:
        pipe = k.vfs.fifos[key] = PipeBuffer(readers=0, writers=0)
    acc = flags & O_ACCMODE
    nonblock = flags & O_NONBLOCK
    if acc == O_RDONLY and not nonblock:
        since = pipe.waiting_readers.get(t.tid)
        if not (pipe.writers or pipe.waiting_writers or (since is not None and pipe.write_opens != since)):
            pipe.waiting_readers[t.tid] = pipe.write_opens if since is None else since
            return Block(ObjectWait(pipe, "fifo open (no writer)"), restart=True)
    elif acc == O_WRONLY:
        since = pipe.waiting_writers.get(t.tid)
        if not (pipe.readers or pipe.waiting_readers or (since is not None and pipe.read_opens != since)):
            if nonblock:
                return -errno.ENXIO
            pipe.waiting_writers[t.tid] = pipe.read_opens if since is None else since
            return Block(ObjectWait(pipe, "fifo open (no reader)"), restart=True)
    pipe.waiting_readers.pop(t.tid, None)
    pipe.waiting_writers.pop(t.tid, None)
    end = PipeEnd(path, flags=flags, buffer=pipe)
    if end.reading:
        pipe.readers += 1
        pipe.read_opens += 1
    if end.writing:
        pipe.writers += 1
        pipe.write_opens += 1
    notify(k, pipe)
    return end


@handles
def pipe2(k: Kernel, t: Task, pipefd: int, flags: int) -> int:
    if flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT):
        return -errno.EINVAL
    pipe = PipeBuffer()
    nonblock = flags & O_NONBLOCK
    cloexec = bool(flags & O_CLOEXEC)
    read_fd = k.fds.install(PipeEnd("pipe:[read]", flags=O_RDONLY | nonblock, buffer=pipe), cloexec=cloexec)
    write_end = PipeEnd("pipe:[write]", flags=O_WRONLY | nonblock, buffer=pipe)
    try:
        write_fd = k.fds.install(write_end, cloexec=cloexec)
    except SyscallError:
        k.fds.close(read_fd)  # Linux finds both fds before installing either: EMFILE leaves none
        raise
    write_i32(k.mem, pipefd, read_fd)
    write_i32(k.mem, pipefd + 4, write_fd)
    return 0


@handles
def pipe(k: Kernel, t: Task, pipefd: int) -> int:
    return pipe2(k, t, pipefd, 0)
