"""Timers, the netpoller and signals a Go program sends itself, on the virtual clock.

The timers fixture sleeps 10 s and waits on timers, a ticker, a context
deadline and a pipe: natively that takes 11 s; emulated it takes the same guest
time and almost no host time (a jump of the virtual clock when every thread
waits), and prints the same lines. The expected texts are pinned by the
native runs here.
"""

from __future__ import annotations

import subprocess

import pytest
from conftest import built

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


@pytest.mark.parametrize("version", ["1.21.13", "1.27.3"])
def test_signals_a_program_sends_itself(version: str) -> None:
    result = api.run(built("signals", version))
    assert result.stdout == SIGNALS_OUTPUT
    assert (result.exit_status, result.reason, result.signal) == (128 + SIGTERM, "signal", SIGTERM)
    assert "guest killed by SIGTERM (sent by kill/tgkill, default action)" in result.report
    assert result.unimplemented == {}
    sent = [line for line in result.strace() if line.startswith("kill(")]
    assert sent[:2] == ["kill(1000, SIGUSR1) = 0", "kill(1000, SIGHUP) = 0"]
