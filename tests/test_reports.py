"""Crash reports: a fault the guest does not handle, a deadlock, a limit, a bug of ours.

Each report starts with one line saying why, then every thread (registers,
goroutine, frame-pointer backtrace) and the last syscalls; a bug of ours
also leaves a reproducer bundle and never prints a Python traceback.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import tempfile
from pathlib import Path

import guest
import pytest
from conftest import built
from guest import DATA, exit_group, program, syscall

from emulator import api, cli, exitcodes
from emulator.bundle import FILES
from emulator.toolchains import GO_VERSIONS

READ_NULL = b"\x48\x8b\x04\x25\x00\x00\x00\x00"  # mov rax, qword ptr [0]
PUSH_RBP_MOV_RBP_RSP = b"\x55\x48\x89\xe5"
FUTEX_WAIT_PRIVATE = 128
OURS = "emulator: internal error, a bug in the emulator: "


def nested_fault(tmp_path: Path) -> tuple[Path, int]:
    """getpid, then main calls f with frame pointers set up as Go does; f reads address 0.
    Returns the program and the return address into main."""
    f = PUSH_RBP_MOV_RBP_RSP + READ_NULL
    main_head = syscall(39) + PUSH_RBP_MOV_RBP_RSP
    tail = exit_group(0)
    call = b"\xe8" + struct.pack("<i", len(tail))  # call f, which follows the tail
    code = main_head + call + tail + f
    return program(tmp_path, code), guest.ENTRY + len(main_head) + len(call)


def test_an_unhandled_fault_reports_every_section(tmp_path: Path) -> None:
    path, return_address = nested_fault(tmp_path)
    result = api.run(path)
    assert result.exit_status == 128 + 11
    lines = result.report.splitlines()
    assert lines[0] == "emulator: guest killed by SIGSEGV: read of unmapped address 0x0"
    assert lines[1].endswith(": mov rax, qword ptr [0]")
    assert lines[2] == (
        "thread 1000 (guest), on the CPU, goroutine unknown (not a Go binary, or its version is unreadable):"
    )
    assert any(line.strip().startswith("rax=0x3e8 ") for line in lines)  # getpid's result is still in RAX
    assert any(" rip=0x" in line for line in lines)
    start = lines.index("  backtrace (frame pointers):")
    fault_rip = return_address + len(exit_group(0)) + len(PUSH_RBP_MOV_RBP_RSP)
    # main's own frame has no return address (nothing called main): the walk stops there.
    assert lines[start + 1 : start + 3] == [f"    #0 {fault_rip:#x}", f"    #1 {return_address:#x}"]
    assert lines[start + 3 :] == ["last 1 syscalls, oldest first:", "  [pid  1000] getpid() = 1000"]


def test_the_command_line_report_shows_raw_syscalls_without_strace(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    message = b"partial\n"
    code = syscall(1, 1, DATA, len(message)) + READ_NULL
    status = cli.main(["run", str(program(tmp_path, code, message))])
    out, err = capfd.readouterr()
    assert status == 139
    assert out == message.decode()
    assert f"  [pid  1000] write(0x1, {DATA:#x}, 0x8) = 8" in err.splitlines()
    assert "Traceback" not in err


def test_a_frame_chain_that_loops_stops(tmp_path: Path) -> None:
    """RBP points at a frame whose saved RBP is itself: one frame read, then the walk ends."""
    code = b"\x48\xbd" + struct.pack("<Q", DATA) + READ_NULL  # mov rbp, DATA; mov rax, [0]
    result = api.run(program(tmp_path, code, struct.pack("<QQ", DATA, guest.ENTRY)))
    frames = [line for line in result.report.splitlines() if line.startswith("    #")]
    assert frames == [f"    #0 {guest.ENTRY + 10:#x}", f"    #1 {guest.ENTRY:#x}"]


def test_a_go_crash_report_walks_go_frames_on_every_thread() -> None:
    """GOTRACEBACK=crash: after its own traceback Go raises SIGABRT with the default action."""
    result = api.run(built("nilderef"), env=["GOTRACEBACK=crash"])
    assert result.exit_status == 128 + 6
    assert b"panic: runtime error: invalid memory address or nil pointer dereference" in result.stderr
    report = result.report
    lines = report.splitlines()
    assert lines[0] == "emulator: guest killed by SIGABRT (sent by kill/tgkill, default action)"
    assert re.match(
        r"  thread 1000 at 0x[0-9a-f]+ runtime\.raise\+0x[0-9a-f]+ \(runtime/sys_linux_amd64\.s:\d+\)$",
        lines[1],
    )
    headers = [line for line in lines if line.startswith("thread ")]
    assert len(headers) >= 2
    assert headers[0] == "thread 1000 (nilderef), on the CPU, goroutine 1 (in a signal handler):"
    assert any("goroutine 0 (g0 or gsignal: the system stack)" in h for h in headers[1:])
    assert report.count("backtrace (frame pointers):") == len(headers)
    # Through the signal frame back into the goroutine that faulted.
    assert re.search(
        r"#\d+ 0x[0-9a-f]+ main\.deref\+0x0 \(fixtures/nilderef/main\.go:\d+\)\n"
        r".*#\d+ 0x[0-9a-f]+ runtime\.main\+0x",
        report,
        re.S,
    )
    assert "runtime.futex+0x" in report  # the other threads wait in futex
    assert "last 16 syscalls, oldest first:" in report
    assert lines[-1] == "  [pid  1000] tgkill(1000, 1000, SIGABRT) = 0"


@pytest.mark.parametrize("version", GO_VERSIONS)
def test_the_goroutine_is_read_on_every_toolchain(version: str) -> None:
    """The goid offset in runtime.g moves between releases: main.main runs as goroutine 1."""
    result = api.run(built("cpu", version), max_instructions=50_000_000)
    assert result.exit_status == exitcodes.INSTRUCTION_BUDGET
    lines = result.report.splitlines()
    assert lines[0] == "emulator: instruction limit reached: --max-instructions 50000000"
    assert lines[2] == "thread 1000 (cpu), on the CPU, goroutine 1:"
    frames = [line.split()[2] for line in lines[lines.index("  backtrace (frame pointers):") + 1 :][:3]]
    assert [f.split("+")[0] for f in frames] == ["main.main", "runtime.main", "runtime.goexit"]


def test_a_deadlock_report_shows_where_each_thread_waits(tmp_path: Path) -> None:
    code = syscall(39) + syscall(202, DATA, FUTEX_WAIT_PRIVATE, 0, 0) + exit_group(0)
    result = api.run(program(tmp_path, code, bytes(8)))
    assert result.exit_status == exitcodes.DEADLOCK
    lines = result.report.splitlines()
    assert lines[0] == "emulator: deadlock: every guest thread is blocked and no timer is pending"
    assert f"thread 1000 (guest), futex {DATA:#x}, goroutine unknown (" in result.report
    assert "  backtrace (frame pointers):" in lines
    assert lines[-2:] == ["last 1 syscalls, oldest first:", "  [pid  1000] getpid() = 1000"]


def break_getpid(monkeypatch: pytest.MonkeyPatch) -> None:
    from syscalls.kernel import load_handlers

    HANDLERS = load_handlers()  # every area module imported: a later import would register getpid again

    def broken(k, t):
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setitem(HANDLERS, "getpid", broken)


def test_an_internal_error_writes_a_reproducer_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    break_getpid(monkeypatch)
    message = b"written before the bug\n"
    path = program(tmp_path, syscall(1, 1, DATA, len(message)) + syscall(39) + exit_group(0), message)
    result = api.run(path, ["an-arg"], env=["K=V"], seed=7, bundle_dir=tmp_path / "bundles")
    assert result.exit_status == exitcodes.INTERNAL_ERROR
    assert result.stdout == message
    lines = result.report.splitlines()
    assert lines[0] == "emulator: internal error, a bug in the emulator: ZeroDivisionError: simulated bug"
    assert "Traceback" not in result.report
    assert result.bundle is not None and lines[-1] == (
        f"emulator: reproducer bundle (with the Python traceback) in {result.bundle}"
    )
    bundle = Path(result.bundle)
    assert bundle.parent == tmp_path / "bundles"
    assert sorted(p.name for p in bundle.iterdir()) == sorted(FILES)
    facts = json.loads((bundle / "bundle.json").read_text())
    assert facts["binary"] == str(path.resolve())
    assert facts["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert facts["argv"] == [str(path), "an-arg"] and facts["seed"] == 7
    assert facts["env"] == ["K=V", "TMPDIR=/tmp"]  # what the guest saw: ours plus its private /tmp
    assert facts["limits"]["instructions"] is None and facts["limits"]["memory"] == 4 << 30
    assert facts["emulator_version"] == "0.1.0" and facts["unicorn_version"] == "2.1.4"
    assert re.fullmatch(r"[0-9a-f]{40}", facts["git_commit"])
    traceback_text = (bundle / "traceback.txt").read_text()
    assert traceback_text.startswith("Traceback") and "in broken" in traceback_text
    assert traceback_text.rstrip().endswith("ZeroDivisionError: simulated bug")
    tail = (bundle / "trace-tail.txt").read_text()
    assert tail == f'[pid  1000] write(1, "written before the bug\\n", {len(message)}) = {len(message)}\n'
    assert (bundle / "report.txt").read_text() == result.report.rsplit("\n", 1)[0] + "\n"
    assert "--seed 7" in (bundle / "reproduce.sh").read_text()


def test_an_internal_error_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    break_getpid(monkeypatch)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    status = cli.main(["run", str(program(tmp_path, syscall(39) + exit_group(0)))])
    _, err = capfd.readouterr()
    assert status == exitcodes.INTERNAL_ERROR
    assert err.startswith(
        "emulator: internal error, a bug in the emulator: ZeroDivisionError: simulated bug\n"
    )
    assert "Traceback" not in err
    bundle = re.search(r"reproducer bundle \(with the Python traceback\) in (\S+)", err)
    assert bundle is not None and Path(bundle[1]).parent == tmp_path
    assert "ZeroDivisionError" in (Path(bundle[1]) / "traceback.txt").read_text()


def test_a_bug_outside_the_cpu_is_ours_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scheduler, not a syscall handler, fails: still a report, not a Python traceback."""
    from emulator.machine import Machine

    def broken(self):
        raise RuntimeError("scheduler bug")

    monkeypatch.setattr(Machine, "_pick_next", broken)
    # A futex wait with a timeout: the thread blocks and the scheduler picks who runs next.
    code = syscall(202, DATA, FUTEX_WAIT_PRIVATE, 0, DATA + 8) + exit_group(0)
    result = api.run(program(tmp_path, code, bytes(8) + struct.pack("<qq", 0, 1000)), bundle_dir=tmp_path)
    assert result.exit_status == exitcodes.INTERNAL_ERROR
    assert result.report.startswith(
        "emulator: internal error, a bug in the emulator: RuntimeError: scheduler bug"
    )
    assert "thread 1000 (guest)" in result.report
    assert "_pick_next" in (Path(result.bundle) / "traceback.txt").read_text()
