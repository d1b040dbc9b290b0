"""``python -m emulator``: what a user sees on the terminal, and the exit status.

Bad input ends in one line on stderr and a distinct status, never a traceback.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import built
from guest import elf, exit_group, syscall

from emulator import cli, exitcodes

GOOD = elf(exit_group(0))


def run_cli(capfd: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capfd.readouterr()
    return status, out, err


def patched(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    buf = bytearray(data)
    struct.pack_into(fmt, buf, offset, value)
    return bytes(buf)


def with_interp(data: bytes) -> bytes:
    """Turn the only program header into a PT_INTERP followed by a new PT_LOAD."""
    buf = bytearray(data)
    struct.pack_into("<H", buf, 56, 2)  # e_phnum
    interp = b"/lib64/ld-linux-x86-64.so.2\0"
    load = buf[64:120]
    phdr_interp = struct.pack("<IIQQQQQQ", 3, 4, len(buf) + 56, 0, 0, len(interp), len(interp), 1)
    buf[64:120] = phdr_interp
    return bytes(buf + load + interp)


MALFORMED = {
    "not-elf": (b"#!/bin/sh\necho hi\n", 81, "not an ELF"),
    "elf32": (patched(GOOD, 4, "<B", 1), 82, "32"),
    "big-endian": (patched(GOOD, 5, "<B", 2), 83, "endian"),
    "aarch64": (patched(GOOD, 18, "<H", 183), 84, "AArch64"),
    "object-file": (patched(GOOD, 16, "<H", 1), 85, "ET_REL"),
    "truncated": (GOOD[:40], 86, "truncated"),
    "segment-outside-file": (patched(GOOD, 64 + 32, "<Q", 1 << 20), 87, "outside"),
    "dynamic": (with_interp(GOOD), 88, "CGO_ENABLED=0"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input_is_one_line_and_a_distinct_status(
    case: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    data, status, words = MALFORMED[case]
    path = tmp_path / case
    path.write_bytes(data)
    code, out, err = run_cli(capfd, "run", str(path))
    assert code == status
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("emulator: ")
    assert str(path) in err
    assert words.lower() in err.lower()


def test_the_statuses_are_distinct() -> None:
    statuses = [s for _, s, _ in MALFORMED.values()]
    statuses += [
        80,
        exitcodes.USAGE,
        exitcodes.DEADLOCK,
        exitcodes.INSTRUCTION_BUDGET,
        exitcodes.TIMEOUT,
        exitcodes.INTERNAL_ERROR,
        exitcodes.INTERRUPTED,
        128 + 25,  # SIGXFSZ at --max-write-bytes
    ]
    assert len(statuses) == len(set(statuses))


def test_missing_file(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capfd, "run", str(tmp_path / "nothing-here"))
    assert code == 80
    assert "nothing-here" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["run"],
        ["run", "x", "--seed", "abc"],
        ["run", "x", "--bogus"],
        ["run", "x", "--memory-limit", "lots"],
        ["frobnicate"],
    ],
)
def test_bad_flags_exit_64(argv: list[str], capfd: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capfd, *argv)
    assert code == exitcodes.USAGE
    assert err.startswith("emulator: ") and err.count("\n") == 1


def test_guest_status_becomes_ours(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "exit42"
    path.write_bytes(elf(exit_group(42)))
    assert run_cli(capfd, "run", str(path))[0] == 42


def test_output_written_before_a_crash_is_kept(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    message = b"partial output\n"
    msg_addr = 0x400000 + 120 + 0x100
    code = syscall(1, 1, msg_addr, len(message)) + b"\x48\x8b\x04\x25\x00\x00\x00\x00"  # write; mov rax,[0]
    path = tmp_path / "crash"
    path.write_bytes(elf(code + bytes(0x100 - len(code)) + message))
    status, out, err = run_cli(capfd, "run", str(path))
    assert status == 139
    assert out == message.decode()
    assert "SIGSEGV" in err


def test_hello_with_strace_and_stats() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "emulator", "run", str(built("hello")), "--strace", "--stats"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0
    assert proc.stdout == "Hello, World!\n"
    lines = proc.stderr.splitlines()
    assert '[pid  1000] write(1, "Hello, World!\\n", 14) = 14' in lines
    assert "[pid  1000] exit_group(0) = ?" in lines
    assert "+++ exited with 0 +++" in lines
    assert any(line.startswith("instructions: ") for line in lines)
    assert "Traceback" not in proc.stderr


def test_strace_to_a_file_is_identical_across_runs(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    traces = []
    for i in range(2):
        trace = tmp_path / f"trace{i}"
        assert run_cli(capfd, "run", str(built("hello")), f"--strace={trace}", "--seed", "3")[0] == 0
        traces.append(trace.read_bytes())
    assert traces[0] == traces[1]
    assert b"exit_group(0) = ?" in traces[0]


def test_guest_arguments_after_double_dash(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capfd, "run", str(built("argsenv")), "--env", "GREETING=yo", "--", "--stats")
    assert status == 1  # "--stats" is the guest's file argument, which does not exist
    assert out.startswith('args: ["--stats"]\nGREETING=yo\n')


def test_unwritable_trace_file_is_a_usage_error(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "exit0"
    path.write_bytes(GOOD)
    code, _, err = run_cli(capfd, "run", str(path), f"--strace={tmp_path / 'no' / 'such' / 'dir'}")
    assert code == exitcodes.USAGE
    assert "cannot write the trace" in err and err.count("\n") == 1


def test_a_plain_run_does_not_load_the_diff_machinery(tmp_path: Path) -> None:
    """Start-up is most of hello's time: ``run`` must not import what only diff and matrix need."""
    path = tmp_path / "exit0"
    path.write_bytes(GOOD)
    probe = (
        "import sys; from emulator import cli; status = cli.main(['run', sys.argv[1]]); "
        "heavy = ('emulator.matrix', 'emulator.diff', 'emulator.stracelog'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.strip() == "[]", proc.stderr
