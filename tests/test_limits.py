"""Every limit of a run: what the guest sees, how the run ends, what the user is told.

Limits the guest meets as Linux resource limits answer an errno and the run
goes on; the emulator's own limits end the run with a one-line reason, a
report and a status of their own. Output written before the stop is kept.
"""

from __future__ import annotations

import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import built
from guest import DATA, exit_group, exit_with_rax, program, syscall

from emulator import api, cli, exitcodes
from emulator.limits import LimitedText, Watchdog
from emulator.machine import ImageDoesNotFit

MESSAGE = b"before the limit\n"
SPIN = b"\xeb\xfe"  # jmp $
EAGAIN, EMFILE, EFBIG, EPERM = 11, 24, 27, 1
RLIMIT_NPROC, RLIMIT_NOFILE = 6, 7
SIGXFSZ = 25
CLONE_THREAD_FLAGS = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000


def status_of(errno: int) -> int:
    return -errno & 0xFF


def say_then(tmp_path: Path, code: bytes) -> Path:
    """Write MESSAGE to stdout, then run ``code``."""
    return program(tmp_path, syscall(1, 1, DATA, len(MESSAGE)) + code, MESSAGE)


# -- the emulator's own limits: the run ends ----------------------------------------


def test_instruction_limit_keeps_output_and_names_the_flag(tmp_path: Path) -> None:
    result = api.run(say_then(tmp_path, SPIN), max_instructions=100_000)
    assert result.exit_status == exitcodes.INSTRUCTION_BUDGET
    assert result.stdout == MESSAGE
    assert result.report.splitlines()[0] == "emulator: instruction limit reached: --max-instructions 100000"


def test_timeout_stops_a_spinning_guest_and_keeps_its_output(tmp_path: Path) -> None:
    # The instruction limit is only a backstop: were the timeout ignored, the status would be 90.
    result = api.run(say_then(tmp_path, SPIN), timeout=0.3, max_instructions=50_000_000_000)
    assert result.exit_status == exitcodes.TIMEOUT
    assert result.reason == "timeout"
    assert result.stdout == MESSAGE
    assert result.report.splitlines()[0] == "emulator: time limit reached: --timeout 0.3 s of host time"
    assert "thread 1000 at 0x" in result.report


def test_the_watchdog_stops_the_cpu_from_its_own_thread() -> None:
    """Not at a slice end: the watchdog thread itself calls the stop when the time is up."""
    stopped = threading.Event()
    with Watchdog(stopped.set, timeout=0.05, catch_interrupt=False) as dog:
        assert stopped.wait(30)
    assert dog.reason == "timeout"


def test_the_timeout_on_the_command_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "emulator", "run", str(say_then(tmp_path, SPIN)), "--timeout", "0.3"],
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == exitcodes.TIMEOUT
    assert proc.stdout == MESSAGE
    assert proc.stderr.decode().startswith("emulator: time limit reached: --timeout 0.3 s")
    assert b"Traceback" not in proc.stderr


def test_ctrl_c_stops_the_guest_flushes_the_trace_and_exits_130(tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "run", str(say_then(tmp_path, SPIN)), f"--strace={trace}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == MESSAGE  # the guest is now spinning
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == exitcodes.INTERRUPTED
    assert out == b""
    text = err.decode()
    assert text.startswith("emulator: interrupted (Ctrl-C) after ")
    assert "thread 1000 (guest), on the CPU" in text and "backtrace (frame pointers):" in text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text
    size = len(MESSAGE)
    assert trace.read_text().splitlines() == [f'write(1, "before the limit\\n", {size}) = {size}']


def test_ctrl_c_in_a_go_program_names_the_goroutine(tmp_path: Path) -> None:
    """The cpu fixture computes for seconds in main.main after mapping its 20 MiB buffer.

    No asynchronous preemption: a SIGURG handler would hide main.main in a signal frame,
    which the frame-pointer walk does not read.
    """
    trace = tmp_path / "trace"
    command = [sys.executable, "-m", "emulator", "run", str(built("cpu")), f"--strace={trace}"]
    proc = subprocess.Popen(
        [*command, "--env", "GODEBUG=asyncpreemptoff=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(2000):
            if proc.poll() is not None or ", 20971520, " in (trace.read_text() if trace.exists() else ""):
                break  # main.main's make([]byte, 20 MiB): from here it computes for seconds
            time.sleep(0.05)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == exitcodes.INTERRUPTED, err.decode()[-2000:]
    text = err.decode()
    assert "goroutine 1" in text
    assert "main.main+0x" in text and "runtime.main+0x" in text


# -- limits the guest meets as an errno: the run goes on ------------------------------


def test_a_memory_limit_too_small_to_load_the_binary_is_a_usage_error(
    capfd: pytest.CaptureFixture[str],
) -> None:
    status = cli.main(["run", str(built("hello")), "--memory-limit", "1M"])
    _, err = capfd.readouterr()
    assert status == exitcodes.USAGE
    assert err.splitlines() == [
        "emulator: hello does not fit in --memory-limit 1048576: its segments and initial stack need more"
    ]
    with pytest.raises(ImageDoesNotFit):
        api.run(built("hello"), memory_limit=1 << 20)


def test_memory_limit_is_enomem_then_go_decides(capfd: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["run", str(built("hello")), "--memory-limit", "16M"])
    _, err = capfd.readouterr()
    assert status == 2  # Go's own fatal error
    assert "fatal error: out of memory" in err
    assert "emulator: limit reached: --memory-limit 16777216: 1 syscall(s) answered ENOMEM" in err


def test_thread_limit_makes_clone_fail_with_eagain(tmp_path: Path) -> None:
    stack = DATA + 0x400
    clone = syscall(56, CLONE_THREAD_FLAGS, stack)
    # Child: exit(0) at once would race; it spins (never scheduled before main's second clone matters).
    branch = b"\x48\x85\xc0" + b"\x75\x02" + SPIN  # test rax,rax; jnz over; child: jmp $
    code = clone + branch + clone + b"\x48\x85\xc0" + b"\x75\x02" + SPIN + exit_with_rax()
    result = api.run(program(tmp_path, code, bytes(8)), max_threads=2)
    assert result.exit_status == status_of(EAGAIN)
    assert [e.result for e in result.syscalls if e.name == "clone"] == [1001, -EAGAIN]
    assert result.limit_hits == {"threads": 1}


def test_go_runs_out_of_threads_with_its_own_message(capfd: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["run", str(built("hello")), "--max-threads", "2"])
    _, err = capfd.readouterr()
    assert status == 2
    assert "runtime: failed to create new OS thread" in err and "errno=11" in err
    assert "emulator: limit reached: --max-threads 2: " in err and "answered EAGAIN" in err


def test_rlimits_report_the_thread_and_fd_limits_and_cannot_be_raised(tmp_path: Path) -> None:
    nproc, nofile, raised = DATA, DATA + 16, DATA + 32
    code = (
        syscall(302, 0, RLIMIT_NPROC, 0, nproc)  # prlimit64(0, RLIMIT_NPROC, NULL, &old)
        + syscall(97, RLIMIT_NOFILE, nofile)  # getrlimit(RLIMIT_NOFILE)
        + syscall(160, RLIMIT_NOFILE, raised)  # setrlimit to {10, 100}: above the hard limit
        + exit_with_rax()
    )
    data = bytes(32) + struct.pack("<QQ", 10, 100)
    result = api.run(program(tmp_path, code, data), max_threads=7, max_fds=9)
    lines = result.strace()
    assert lines[0] == "prlimit64(0, RLIMIT_NPROC, NULL, {rlim_cur=7, rlim_max=7}) = 0"
    assert lines[1] == "getrlimit(RLIMIT_NOFILE, {rlim_cur=9, rlim_max=9}) = 0"
    assert result.exit_status == status_of(EPERM)


def test_fd_limit_is_emfile(tmp_path: Path) -> None:
    path = DATA
    open_it = syscall(257, 2**64 - 100, path, 0, 0)  # openat(AT_FDCWD, path, O_RDONLY)
    code = open_it + open_it + exit_with_rax()
    result = api.run(program(tmp_path, code, b"/proc/self/cgroup\0"), max_fds=4)
    assert [e.result for e in result.syscalls if e.name == "openat"] == [3, -EMFILE]
    assert result.exit_status == status_of(EMFILE)
    assert result.limit_hits == {"fds": 1}


def test_pipe2_at_the_fd_limit_leaves_no_fd_behind(tmp_path: Path) -> None:
    fds = DATA
    code = syscall(293, fds, 0) + syscall(72, 0, 0, 0) + exit_with_rax()  # pipe2, fcntl(0, F_DUPFD, 0)
    result = api.run(program(tmp_path, code, bytes(8)), max_fds=4)
    assert [e.result for e in result.syscalls][:2] == [-EMFILE, 3]


IGNORE = DATA + 0x40  # struct sigaction {SIG_IGN, 0, 0, 0}


def write_three_times(tmp_path: Path, first: bytes = b"") -> Path:
    """``first``, then write(1, "hello\\n") three times, then exit_group(last result)."""
    write = syscall(1, 1, DATA, 6)
    data = b"hello\n".ljust(0x40, b"\0") + struct.pack("<QQQQ", 1, 0, 0, 0)
    return program(tmp_path, first + write * 3 + exit_with_rax(), data)


def test_write_limit_cuts_a_write_short_then_sigxfsz_kills(tmp_path: Path) -> None:
    result = api.run(write_three_times(tmp_path), max_write_bytes=10)
    assert result.stdout == b"hello\nhell"  # the second write is cut at the limit, as Linux does
    assert [e.result for e in result.syscalls if e.name == "write"] == [6, 4, -EFBIG]
    assert result.exit_status == 128 + SIGXFSZ
    assert result.report.splitlines()[0] == (
        "emulator: guest killed by SIGXFSZ (sent by the kernel: --max-write-bytes 10 reached (RLIMIT_FSIZE), "
        "default action)"
    )


def test_a_guest_ignoring_sigxfsz_gets_efbig(tmp_path: Path) -> None:
    ignore = syscall(13, SIGXFSZ, IGNORE, 0, 8)  # rt_sigaction(SIGXFSZ, {SIG_IGN}, NULL, 8)
    result = api.run(write_three_times(tmp_path, ignore), max_write_bytes=10)
    assert result.stdout == b"hello\nhell"
    assert result.exit_status == status_of(EFBIG)


def test_trace_limit_truncates_the_trace_and_the_run_goes_on(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = program(tmp_path, syscall(39) * 40 + exit_group(5))
    trace = tmp_path / "trace"
    status = cli.main(["run", str(path), f"--strace={trace}", "--max-trace-bytes", "100"])
    _, err = capfd.readouterr()
    assert status == 5
    lines = trace.read_text().splitlines()
    assert lines[:6] == ["getpid() = 1000"] * 6  # 16 bytes each
    assert lines[6:] == ["... trace truncated: --max-trace-bytes 100 reached ..."]
    assert "emulator: limit reached: --max-trace-bytes 100: the trace was cut short after 96 bytes" in err


def test_limited_text_counts_bytes_not_characters() -> None:
    class Sink:
        text = ""

        def write(self, s: str) -> int:
            self.text += s
            return len(s)

        def flush(self) -> None:
            pass

    sink = Sink()
    out = LimitedText(sink, 4)
    out.write("éé")  # four bytes in UTF-8
    out.write("x")
    assert sink.text == "éé... trace truncated: --max-trace-bytes 4 reached ...\n"


@pytest.mark.parametrize("flag", ["--timeout", "--max-threads", "--max-fds", "--max-write-bytes"])
def test_bad_limit_values_are_usage_errors(flag: str, capfd: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["run", "x", flag, "-3"])
    _, err = capfd.readouterr()
    assert status == exitcodes.USAGE
    assert err.startswith("emulator: ") and err.count("\n") == 1


def test_a_second_ctrl_c_stops_a_guest_blocked_reading_the_terminal(tmp_path: Path) -> None:
    """The main thread sits in a host read(0) that Python retries after the first Ctrl-C."""
    code = syscall(1, 1, DATA, len(MESSAGE)) + syscall(0, 0, DATA + 0x100, 16) + exit_group(0)
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "run", str(program(tmp_path, code, MESSAGE))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == MESSAGE
        syscall_file = Path(f"/proc/{proc.pid}/syscall")  # the main thread's syscall: read(0, ...)
        for _ in range(3000):
            if syscall_file.read_text().startswith("0 0x0 "):
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert proc.poll() is None  # the first cannot reach into the host read
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == exitcodes.INTERRUPTED
    text = err.decode()
    assert text.startswith("emulator: interrupted (Ctrl-C) after ")
    assert "Traceback" not in text and "KeyboardInterrupt" not in text
