"""Process calls answer from the emulator's configuration and its virtual clock.

The process fixture prints what each call returns; these tests hold each line
against what the run was configured with (ids, --cpus, the memory limit, the
clock that starts 100 s after boot), and check that starting a subprocess is
refused with ENOSYS and reported once.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import guest
import pytest
from conftest import built

from emulator import api
from emulator.clock import BOOT_NS
from syscalls.errno import EBADF, ECHILD, EINVAL
from syscalls.kernel import KernelConfig

CONFIG = KernelConfig()
MEMORY_LIMIT = 1 << 30


def answers(result: api.RunResult) -> dict[str, str]:
    lines = result.stdout.decode().splitlines()
    return dict(line.split(": ", 1) for line in lines if ": " in line)


@pytest.fixture(scope="module")
def run3() -> api.RunResult:
    return api.run(built("process"), cpus=3, memory_limit=MEMORY_LIMIT)


@pytest.fixture(scope="module")
def seen(run3: api.RunResult) -> dict[str, str]:
    return answers(run3)


def test_ids_are_the_configured_ones(seen: dict[str, str]) -> None:
    assert seen["uid"] == f"{CONFIG.uid} {CONFIG.uid}"
    assert seen["gid"] == f"{CONFIG.gid} {CONFIG.gid}"
    assert seen["groups"] == f"[{CONFIG.gid}] <nil>"
    assert seen["pid"] == seen["main tid"] == seen["pgrp"] == str(CONFIG.pid)
    assert seen["ppid"] == seen["sid"] == str(CONFIG.pid - 1)
    assert seen["setsid"] == "operation not permitted"  # a process group leader cannot
    assert seen["uname"] == f"Linux {CONFIG.hostname} x86_64"


def test_sysinfo_reports_virtual_uptime_and_the_memory_limit(
    run3: api.RunResult, seen: dict[str, str]
) -> None:
    uptime, total, procs, unit = map(int, seen["sysinfo"].split())
    assert uptime == BOOT_NS // 1_000_000_000  # the program ran for well under a virtual second
    assert (total, unit) == (MEMORY_LIMIT, 1)
    assert 1 <= procs <= run3.stats.threads


def test_cpu_time_is_guest_instructions(run3: api.RunResult, seen: dict[str, str]) -> None:
    utime_us = int(seen["rusage utime"])
    assert 0 < utime_us <= run3.stats.instructions // 1000
    assert seen["rusage children utime"] == "0"
    ticks, tms_utime = map(int, seen["times"].split())
    assert ticks == BOOT_NS // 10_000_000  # 100 Hz ticks since boot
    assert tms_utime <= run3.stats.instructions // 10_000_000


@pytest.mark.parametrize("cpus", [1, 3, 70])
def test_affinity_and_numcpu_follow_cpus(cpus: int) -> None:
    seen = answers(api.run(built("process"), cpus=cpus))
    size, count, ok = seen["affinity"].split()
    assert (int(size), int(count), ok) == ((cpus + 63) // 64 * 8, cpus, "true")
    assert seen["NumCPU"] == str(cpus)
    cpu, node, ok = seen["getcpu"].split()
    assert int(cpu) < cpus and (node, ok) == ("0", "true")


def test_membarrier_rseq_and_kill(seen: dict[str, str]) -> None:
    assert seen["membarrier query"] == "31 true"  # GLOBAL, GLOBAL_EXPEDITED and PRIVATE_EXPEDITED + registers
    assert seen["membarrier private expedited"] == "false"  # EPERM before registering, as on Linux
    assert seen["rseq"] == "function not implemented"  # what Go and glibc take as "no rseq"
    assert seen["kill 0"] == "<nil>"
    assert seen["kill other"] == "no such process"


def test_subprocesses_are_refused_not_crashed(run3: api.RunResult) -> None:
    lines = run3.stdout.decode().splitlines()
    assert "exec: fork/exec /bin/true: function not implemented" in lines
    assert "exec: fork/exec /bin/echo: function not implemented" in lines
    assert run3.exit_status == 0
    assert run3.refused == {"clone": 2}


def test_the_refusal_is_reported_once_at_exit() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "emulator", "run", str(built("process"))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0
    notes = [line for line in proc.stderr.splitlines() if "subprocesses" in line]
    assert notes == [
        "emulator: this program starts subprocesses; not supported yet (clone 2x answered ENOSYS)"
    ]
    assert proc.stderr.rstrip().endswith(notes[0])


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (guest.syscall(61, -1 & 0xFFFF_FFFF_FFFF_FFFF, 0, 0, 0), -ECHILD),  # wait4(-1, NULL, 0, NULL)
        (guest.syscall(61, -1 & 0xFFFF_FFFF_FFFF_FFFF, 0, 0x10, 0), -EINVAL),  # an unknown option
        (guest.syscall(247, 0, 0, 0, 4), -ECHILD),  # waitid(P_ALL, 0, NULL, WEXITED)
        (guest.syscall(247, 0, 0, 0, 0), -EINVAL),  # waitid without WEXITED|WSTOPPED|WCONTINUED
        (guest.syscall(247, 3, 1, 0, 4), -EINVAL),  # P_PIDFD on stdout: not a pidfd
        (guest.syscall(247, 3, 99, 0, 4), -EBADF),  # P_PIDFD on a closed fd
    ],
)
def test_waits_answer_echild_as_nothing_is_ever_a_child(tmp_path: Path, call: bytes, expected: int) -> None:
    """os.Process.Wait on a pid that is not our child must see ECHILD (os's TestProcessAlreadyDone)."""
    path = tmp_path / "guest"
    path.write_bytes(guest.elf(call + guest.exit_with_rax()))
    assert api.run(path).exit_status == expected & 0xFF


def test_sockets_are_refused_and_reported_once(tmp_path: Path) -> None:
    """No host socket is ever opened: the guest gets ENOSYS and the user one line at exit."""
    from guest import elf, exit_with_rax, syscall

    af_inet, sock_stream, af_unix = 2, 1, 1
    code = syscall(41, af_inet, sock_stream, 0) + syscall(53, af_unix, sock_stream, 0, 0) + exit_with_rax()
    path = tmp_path / "sockets"
    path.write_bytes(elf(code))
    result = api.run(path)
    assert result.exit_status == -38 & 0xFF  # ENOSYS from socketpair
    assert result.refused == {"socket": 1, "socketpair": 1}
    proc = subprocess.run(
        [sys.executable, "-m", "emulator", "run", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.stderr.splitlines() == [
        "emulator: this program opens network sockets; not supported yet "
        "(socket 1x, socketpair 1x answered ENOSYS)"
    ]
