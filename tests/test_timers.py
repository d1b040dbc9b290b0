"""Timers, the netpoller and signals a Go program sends itself, on the virtual clock.

The timers fixture sleeps 10 s and waits on timers, a ticker, a context
deadline and a pipe: natively that takes 11 s; emulated it takes the same guest
time and almost no host time (a jump of the virtual clock when every thread
waits), and prints the same lines. The expected texts are pinned by the
native runs here.
"""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import guest
import pytest
from conftest import built
from guest import DATA, syscall

from emulator import api

TIMERS_OUTPUT = b"""slept 10s: true
time.After order: [100 200 300 400]
5 ticks of 50ms: true
select: 20ms first
context: context deadline exceeded
AfterFunc fired
stopped an hour timer: true
through the pipe after 200ms <nil>
after close: 0 EOF
read deadline: true
total at least 11s: true
"""
SIGNALS_OUTPUT = b"""received: user defined signal 1
received: hangup
ignored SIGUSR2, SIGCHLD, SIGWINCH
recovered: runtime error: integer divide by zero
received while waiting: user defined signal 1
then read: pipe data
sending SIGTERM to myself
"""
SIGTERM = 15


def native(name: str) -> subprocess.CompletedProcess[bytes]:
    env = dict(p.split("=", 1) for p in api.DEFAULT_ENV)
    return subprocess.run([str(built(name))], capture_output=True, env=env, timeout=60)


def test_timers_natively() -> None:
    proc = native("timers")
    assert (proc.stdout, proc.stderr, proc.returncode) == (TIMERS_OUTPUT, b"", 0)


def test_signals_natively() -> None:
    proc = native("signals")
    assert (proc.stdout, proc.stderr, proc.returncode) == (SIGNALS_OUTPUT, b"", -SIGTERM)  # killed by it


@pytest.mark.parametrize("version", ["1.21.13", "1.23.9", "1.27.3"])
def test_timers_fire_in_order_on_the_virtual_clock(version: str) -> None:
    """Go 1.21 and 1.22 wake their netpoller through a pipe, 1.23+ through an eventfd."""
    result = api.run(built("timers", version))
    assert (result.stdout, result.stderr, result.exit_status) == (TIMERS_OUTPUT, b"", 0)
    assert result.unimplemented == {}
    # Over 11 s of guest time passed, nearly all of it asleep: few instructions ran.
    waits = [e for e in result.syscalls if e.name in ("epoll_pwait", "futex", "nanosleep")]
    assert result.stats.instructions < 5_000_000
    assert len(waits) < 500  # the netpoller does not spin (edge-triggered pipes are reported once)


def test_the_netpoller_blocks_in_epoll_until_the_pipe_is_written() -> None:
    result = api.run(built("timers"))
    lines = result.strace()
    # the pipe's ends are registered edge-triggered, then the read finds nothing and parks
    assert any("EPOLLET" in line and line.startswith("epoll_ctl(") for line in lines)
    assert any(line.startswith("read(") and "EAGAIN" in line for line in lines)
    ready = [e for e in result.syscalls if e.name == "epoll_pwait" and e.result and e.result > 0]
    assert ready, "a wait that reports the pipe readable"
    # closing the pipe deregisters it; as strace does, the ignored event shows as its address
    removed = [line for line in lines if line.startswith("epoll_ctl(3, EPOLL_CTL_DEL, ")]
    assert removed and all(
        re.fullmatch(r"epoll_ctl\(3, EPOLL_CTL_DEL, \d+, 0x[0-9a-f]+\) = 0", x) for x in removed
    )


@pytest.mark.parametrize("version", ["1.21.13", "1.27.3"])
def test_signals_a_program_sends_itself(version: str) -> None:
    result = api.run(built("signals", version))
    assert result.stdout == SIGNALS_OUTPUT
    assert (result.exit_status, result.reason, result.signal) == (128 + SIGTERM, "signal", SIGTERM)
    assert "guest killed by SIGTERM (sent by kill/tgkill, default action)" in result.report
    assert result.unimplemented == {}
    sent = [line for line in result.strace() if line.startswith("kill(")]
    assert sent[:2] == ["kill(1000, SIGUSR1) = 0", "kill(1000, SIGHUP) = 0"]


# -- epoll and poll, from hand-made guests ------------------------------------------------------------

PIPEFDS, EVENT, EVENTS, POLLFD = DATA, DATA + 16, DATA + 32, DATA + 64
TIMESPEC_1MS = DATA + 96
CHILD_STACK = DATA + 0x1000
CLONE_THREAD = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000
EPOLLIN, EPOLLOUT, EPOLLONESHOT, EPOLLET = 0x1, 0x4, 1 << 30, 1 << 31
READ_END, WRITE_END, EPOLL_FD = 3, 4, 5  # pipe2 then epoll_create1 take the lowest free fds
ADD_R12 = b"\x49\x01\xc4"  # add r12, rax: the guests below sum results in r12


def run_guest(tmp_path: Path, code: bytes, data: bytes) -> api.RunResult:
    assert guest.ENTRY + len(code) <= DATA
    image = code + bytes(DATA - guest.ENTRY - len(code)) + data
    path = tmp_path / "guest"
    path.write_bytes(guest.elf(image, bss=0x2000))
    return api.run(path)


def epoll_guest(mode: int) -> tuple[bytes, bytes]:
    """The write end of an empty pipe, always writable, watched with ``mode``; three waits
    with no timeout left in between, each result added up: the exit status."""
    setup = syscall(293, PIPEFDS, 0) + syscall(291, 0) + syscall(233, EPOLL_FD, 1, WRITE_END, EVENT)
    wait = syscall(232, EPOLL_FD, EVENTS, 4, 0) + ADD_R12
    code = b"\x4d\x31\xe4" + setup + wait * 3 + b"\x4c\x89\xe7" + guest.mov_eax(231) + guest.SYSCALL
    return code, bytes(16) + struct.pack("<IQ", EPOLLOUT | mode, 7)


@pytest.mark.parametrize(
    ("mode", "reports"), [(0, 3), (EPOLLET, 1), (EPOLLONESHOT, 1), (EPOLLET | EPOLLONESHOT, 1)]
)
def test_epoll_reports_level_edge_and_one_shot_interests(tmp_path: Path, mode: int, reports: int) -> None:
    """Level-triggered: ready on every wait. Edge-triggered: once per change of the file (here one,
    the registration). One-shot: once, then disabled until EPOLL_CTL_MOD."""
    result = run_guest(tmp_path, *epoll_guest(mode))
    assert result.exit_status == reports


def test_an_edge_triggered_interest_is_reported_again_after_a_change(tmp_path: Path) -> None:
    code, data = epoll_guest(EPOLLET)
    write = syscall(1, WRITE_END, EVENT, 1)  # the pipe changes: reported once more
    wait = syscall(232, EPOLL_FD, EVENTS, 4, 0) + ADD_R12
    exit_r12 = b"\x4c\x89\xe7" + guest.mov_eax(231) + guest.SYSCALL
    code = code[: -len(exit_r12)] + write + wait * 2 + exit_r12
    assert run_guest(tmp_path, code, data).exit_status == 2


def test_poll_waits_for_a_pipe_another_thread_writes(tmp_path: Path) -> None:
    """poll(read end, POLLIN, 10 s): the child writes after 1 ms of virtual time; poll returns 1
    with revents POLLIN. Exit status: result + 16 * revents."""
    setup = syscall(293, PIPEFDS, 0) + syscall(56, CLONE_THREAD, CHILD_STACK)
    child = syscall(35, TIMESPEC_1MS, 0) + syscall(1, WRITE_END, PIPEFDS, 1) + syscall(60, 0)
    poll = syscall(7, POLLFD, 1, 10_000)
    revents = b"\x0f\xb7\x3c\x25" + struct.pack("<I", POLLFD + 6)  # movzx edi, word [revents]
    finish = poll + revents + b"\xc1\xe7\x04" + b"\x01\xc7" + guest.mov_eax(231) + guest.SYSCALL
    code = setup + b"\x48\x85\xc0" + b"\x74" + bytes([len(finish)]) + finish + child
    data = (
        bytes(64) + struct.pack("<ihh", READ_END, EPOLLIN, 0) + bytes(28) + struct.pack("<qq", 0, 1_000_000)
    )
    result = run_guest(tmp_path, code, data)
    assert result.exit_status == 1 + 16 * EPOLLIN
    assert f"poll({POLLFD:#x}, 1, 10000) = 1" in result.strace()  # after the virtual millisecond
