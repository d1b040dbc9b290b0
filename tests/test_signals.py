"""Signal delivery as Linux x86-64 does it: faults become signals, handlers run on an
rt_sigframe, rt_sigreturn resumes from whatever the handler left in the ucontext.

The hand-made guests check the frame's layout from the guest's side (the
offsets are the kernel's: siginfo's si_code at 8 and si_addr at 16,
uc_mcontext.rip at 40 + 16 * 8 in the ucontext); the Go fixture checks that
Go's own handler turns a nil dereference into a recoverable panic.
"""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import guest
import pytest
from conftest import built
from guest import SYSCALL, exit_group, mov_eax, syscall

from emulator import api

DATA = guest.BASE + 0x800
ACTION = DATA  # struct sigaction: handler, flags, restorer, mask
ALTSTACK_T = DATA + 32  # stack_t for sigaltstack
MASK_IN_HANDLER, MASK_AFTER = DATA + 64, DATA + 72
ALTSTACK, ALTSTACK_SIZE = guest.BASE + 0x1000, 0x800
# Where the pieces of a guest sit, as offsets from the entry point.
HANDLER_AT, RESTORER_AT, RESUME_AT = 0x200, 0x300, 0x380
SA_SIGINFO, SA_RESTORER, SA_ONSTACK = 0x4, 0x0400_0000, 0x0800_0000
SIGFPE, SIGSEGV = 8, 11
UC_MCONTEXT_RIP = 40 + 16 * 8
BAD_STATUS = 99

READ_0X42 = b"\x48\x8b\x04\x25\x42\x00\x00\x00"  # mov rax, [0x42]
RESTORER = mov_eax(15) + SYSCALL  # rt_sigreturn, as a libc's __restore_rt
EXIT_WITH_RDI = mov_eax(231) + SYSCALL


def program(tmp_path: Path, pieces: dict[int, bytes], data: bytes = b"") -> Path:
    """Code pieces at offsets from the entry point, ``data`` at DATA."""
    code = bytearray()
    for offset, piece in sorted(pieces.items()):
        assert offset >= len(code), "pieces overlap"
        code += bytes(offset - len(code)) + piece
    assert guest.ENTRY + len(code) <= DATA, "code too long for the data offset"
    path = tmp_path / "guest"
    path.write_bytes(guest.elf(bytes(code) + bytes(DATA - guest.ENTRY - len(code)) + data, bss=0x2000))
    return path


def install(signo: int, flags: int = SA_SIGINFO | SA_RESTORER) -> tuple[bytes, bytes]:
    """Code for rt_sigaction(signo, ACTION, NULL, 8), and the struct sigaction it reads."""
    action = struct.pack("<QQQQ", guest.ENTRY + HANDLER_AT, flags, guest.ENTRY + RESTORER_AT, 0)
    return syscall(13, signo, ACTION, 0, 8), action


def check_signo(signo: int) -> bytes:
    """cmp edi, signo; je over the failure exit."""
    fail = exit_group(BAD_STATUS)
    return b"\x83\xff" + bytes([signo]) + b"\x74" + bytes([len(fail)]) + fail


# exit(si_addr + si_code): mov rdi, [rsi+16]; add rdi, [rsi+8] (si_code and the zero padding after it)
EXIT_WITH_ADDR_PLUS_CODE = b"\x48\x8b\x7e\x10" + b"\x48\x03\x7e\x08" + EXIT_WITH_RDI


def test_sigsegv_handler_gets_signo_and_si_addr(tmp_path: Path) -> None:
    setup, action = install(SIGSEGV)
    # The ABI's alignment at entry: (rsp + 8) % 16 == 0.
    aligned = b"\x48\x89\xe0" + b"\x83\xe0\x0f" + b"\x83\xf8\x08" + b"\x74\x0c" + exit_group(BAD_STATUS)
    handler = check_signo(SIGSEGV) + aligned + EXIT_WITH_ADDR_PLUS_CODE
    result = api.run(program(tmp_path, {0: setup + READ_0X42, HANDLER_AT: handler}, action))
    assert result.report == ""
    assert result.exit_status == 0x42 + 1  # SEGV_MAPERR


def test_write_to_read_only_memory_is_segv_accerr(tmp_path: Path) -> None:
    setup, action = install(SIGSEGV)
    # mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS): a region of its own, as unicorn
    # protects whole regions
    mapping = syscall(9, 0, 0x1000, 1, 0x22)
    write = b"\xc6\x40\x7f\x01"  # mov byte [rax+0x7f], 1
    handler = check_signo(SIGSEGV) + EXIT_WITH_ADDR_PLUS_CODE
    result = api.run(program(tmp_path, {0: setup + mapping + write, HANDLER_AT: handler}, action))
    assert result.exit_status == 0x7F + 2  # SEGV_ACCERR


def test_divide_error_is_sigfpe_intdiv_at_the_div(tmp_path: Path) -> None:
    setup, action = install(SIGFPE)
    divide = b"\x31\xc9" + b"\xf7\xf1"  # xor ecx, ecx; div ecx
    handler = check_signo(SIGFPE) + EXIT_WITH_ADDR_PLUS_CODE
    result = api.run(program(tmp_path, {0: setup + divide, HANDLER_AT: handler}, action))
    div_address = guest.ENTRY + len(setup) + 2
    assert result.exit_status == (div_address + 1) & 0xFF  # FPE_INTDIV


def test_a_blocked_fault_signal_still_kills_with_the_report(tmp_path: Path) -> None:
    setup, action = install(SIGSEGV)
    block = syscall(14, 0, DATA + 96, 0, 8)  # rt_sigprocmask(SIG_BLOCK, {SIGSEGV}, NULL, 8)
    data = action + bytes(96 - len(action)) + struct.pack("<Q", 1 << (SIGSEGV - 1))
    handler = exit_group(BAD_STATUS)
    result = api.run(program(tmp_path, {0: setup + block + READ_0X42, HANDLER_AT: handler}, data))
    assert result.exit_status == 128 + SIGSEGV
    assert "read of unmapped address 0x42" in result.report


def resume_guest(tmp_path: Path, before_fault: bytes, resume: bytes) -> api.RunResult:
    """The handler points uc_mcontext.rip at ``resume`` and returns through the restorer."""
    setup, action = install(SIGSEGV)
    handler = (
        check_signo(SIGSEGV)
        + b"\x48\xb8"
        + struct.pack("<Q", guest.ENTRY + RESUME_AT)  # mov rax, resume
        + b"\x48\x89\x82"
        + struct.pack("<I", UC_MCONTEXT_RIP)  # mov [rdx + rip], rax
        + b"\x0f\x57\xc0"  # xorps xmm0, xmm0: the handler's own use of SSE
        + syscall(14, 0, 0, MASK_IN_HANDLER, 8)  # rt_sigprocmask(SIG_BLOCK, NULL, &old, 8)
        + b"\xc3"  # ret: into the restorer
    )
    pieces = {
        0: setup + before_fault + READ_0X42,
        HANDLER_AT: handler,
        RESTORER_AT: RESTORER,
        RESUME_AT: resume,
    }
    return api.run(program(tmp_path, pieces, action))


def test_sigreturn_resumes_at_the_rip_the_handler_wrote(tmp_path: Path) -> None:
    """How Go injects sigpanic: the interrupted registers come back, RIP is the handler's choice."""
    before = b"\xbb\x33\x00\x00\x00"  # mov ebx, 0x33
    result = resume_guest(tmp_path, before, b"\x89\xdf" + EXIT_WITH_RDI)  # exit(ebx)
    assert result.report == ""
    assert result.exit_status == 0x33
    sigreturn = [e for e in result.syscalls if e.name == "rt_sigreturn"]
    assert len(sigreturn) == 1 and sigreturn[0].result == 0  # RAX as it was: not a syscall result


def test_sigreturn_restores_the_signal_mask(tmp_path: Path) -> None:
    after = syscall(14, 0, 0, MASK_AFTER, 8)
    # exit(mask_in_handler.byte1 + 16 * mask_after.byte1): SIGSEGV is bit 10, 4 in byte 1
    status = (
        b"\x0f\xb6\x3c\x25" + struct.pack("<I", MASK_IN_HANDLER + 1)  # movzx edi, byte [..]
        + b"\x0f\xb6\x04\x25" + struct.pack("<I", MASK_AFTER + 1)  # movzx eax, byte [..]
        + b"\xc1\xe0\x04"  # shl eax, 4
        + b"\x01\xc7"  # add edi, eax
    )  # fmt: skip
    result = resume_guest(tmp_path, b"", after + status + EXIT_WITH_RDI)
    assert result.exit_status == 4


def test_sigreturn_restores_xmm_registers(tmp_path: Path) -> None:
    before = b"\x48\xb8" + struct.pack("<Q", 0x5A) + b"\x66\x48\x0f\x6e\xc0"  # mov rax, 0x5a; movq xmm0, rax
    result = resume_guest(tmp_path, before, b"\x66\x48\x0f\x7e\xc7" + EXIT_WITH_RDI)  # movq rdi, xmm0
    assert result.exit_status == 0x5A


def test_sa_onstack_handler_runs_on_the_alternate_stack(tmp_path: Path) -> None:
    setup, action = install(SIGSEGV, SA_SIGINFO | SA_RESTORER | SA_ONSTACK)
    altstack = syscall(131, ALTSTACK_T, 0)
    stack_t = struct.pack("<QiiQ", ALTSTACK, 0, 0, ALTSTACK_SIZE)
    # exit((rsp - ALTSTACK) >> 4)
    handler = (
        b"\x48\x89\xe7" + b"\x48\x81\xef" + struct.pack("<I", ALTSTACK) + b"\x48\xc1\xef\x04" + EXIT_WITH_RDI
    )
    data = action + stack_t
    result = api.run(program(tmp_path, {0: setup + altstack + READ_0X42, HANDLER_AT: handler}, data))
    # Linux's get_sigframe: fxsave area at (top - 512) & ~63, frame 440 bytes below, & ~15, - 8.
    fpstate = (ALTSTACK + ALTSTACK_SIZE - 512) & ~63
    frame = ((fpstate - 440) & ~15) - 8
    assert result.exit_status == (frame - ALTSTACK) >> 4


def _without_addresses(text: bytes) -> bytes:
    return re.sub(rb"0x[0-9a-f]+", b"0x?", text)


@pytest.mark.parametrize("version", ["1.21.13", "1.27.3"])
def test_go_nil_dereference_recovers_then_panics_like_native(version: str) -> None:
    path = built("nilderef", version)
    expected = subprocess.run(
        [str(path)], capture_output=True, env=dict(p.split("=", 1) for p in api.DEFAULT_ENV), timeout=60
    )
    result = api.run(path)
    assert result.exit_status == expected.returncode == 2
    assert result.stdout == expected.stdout
    assert b"nil dereference recovered: runtime error: invalid memory address" in result.stdout
    assert b"division recovered: runtime error: integer divide by zero" in result.stdout
    assert b"[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=" in result.stderr
    assert _without_addresses(result.stderr) == _without_addresses(expected.stderr)


SIGUSR1, SIGTERM, SIGURG = 10, 15, 23
PID = 1000  # the guest's pid and its main thread's tid
FLAG = DATA + 100
SIGSET = DATA + 104
EXIT_WITH_SI_PID = b"\x8b\x7e\x10" + EXIT_WITH_RDI  # mov edi, [rsi+16]: si_pid


def test_tgkill_to_self_runs_the_handler_on_return_from_the_syscall(tmp_path: Path) -> None:
    setup, action = install(SIGUSR1)
    send = syscall(234, PID, PID, SIGUSR1)
    handler = check_signo(SIGUSR1) + EXIT_WITH_SI_PID
    result = api.run(
        program(tmp_path, {0: setup + send + exit_group(BAD_STATUS), HANDLER_AT: handler}, action)
    )
    assert result.report == ""
    assert result.exit_status == PID & 0xFF


def test_a_blocked_signal_waits_until_it_is_unblocked(tmp_path: Path) -> None:
    setup, action = install(SIGUSR1)
    data = action + bytes(FLAG - DATA - len(action)) + bytes(4) + struct.pack("<Q", 1 << (SIGUSR1 - 1))
    main = (
        setup
        + syscall(14, 0, SIGSET, 0, 8)  # rt_sigprocmask(SIG_BLOCK, {SIGUSR1})
        + syscall(234, PID, PID, SIGUSR1)
        + b"\xc6\x04\x25" + struct.pack("<I", FLAG) + b"\x07"  # mov byte [FLAG], 7
        + syscall(14, 1, SIGSET, 0, 8)  # rt_sigprocmask(SIG_UNBLOCK, {SIGUSR1})
        + exit_group(BAD_STATUS)
    )  # fmt: skip
    handler = b"\x0f\xb6\x3c\x25" + struct.pack("<I", FLAG) + EXIT_WITH_RDI  # exit(flag)
    result = api.run(program(tmp_path, {0: main, HANDLER_AT: handler}, data))
    assert result.exit_status == 7


def test_default_actions_ignore_sigurg_and_terminate_on_sigterm(tmp_path: Path) -> None:
    ignored = api.run(program(tmp_path, {0: syscall(234, PID, PID, SIGURG) + exit_group(5)}))
    assert ignored.exit_status == 5
    killed = api.run(program(tmp_path, {0: syscall(200, PID, SIGTERM) + exit_group(5)}))
    assert (killed.exit_status, killed.reason, killed.signal) == (128 + SIGTERM, "signal", SIGTERM)
    assert "SIGTERM" in killed.report


@pytest.mark.parametrize("version", ["1.21.13", "1.27.3"])
def test_go_preempts_a_spinning_goroutine_with_sigurg(version: str) -> None:
    """With one P, main runs again only if SIGURG reaches the spinning thread and Go's handler
    injects asyncPreempt (without delivery this run never ends)."""
    result = api.run(built("preempt", version), max_instructions=300_000_000)
    assert result.stdout == b"main ran again: the spinning goroutine was preempted\n"
    assert result.exit_status == 0
    sent = [e for e in result.syscalls if e.name == "tgkill"]
    assert sent and all(e.args[2] == SIGURG for e in sent)
    assert sum(e.name == "rt_sigreturn" for e in result.syscalls) >= len(sent)


def test_strace_shows_each_delivery_as_strace_does(tmp_path: Path) -> None:
    import io

    from emulator.strace import StraceWriter

    out = io.StringIO()
    api.run(built("nilderef"), sinks=[StraceWriter(out)])
    lines = out.getvalue().splitlines()
    segv = "[pid  1000] --- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL} ---"
    assert lines.count(segv) == 2
    assert "[pid  1000] rt_sigreturn({mask=[]}) = 0" in lines
    # Go checks divisors itself on amd64 (runtime.panicdivide): its division never traps.
    assert not any("--- SIGFPE" in line for line in lines)

    out = io.StringIO()
    setup, action = install(SIGUSR1)
    handler = check_signo(SIGUSR1) + EXIT_WITH_SI_PID
    path = program(tmp_path, {0: setup + syscall(234, PID, PID, SIGUSR1), HANDLER_AT: handler}, action)
    api.run(path, sinks=[StraceWriter(out)])
    assert "--- SIGUSR1 {si_signo=SIGUSR1, si_code=SI_TKILL, si_pid=1000, si_uid=1000} ---" in out.getvalue()


# -- blocking calls interrupted by signals, kill, and the signal-waiting calls ----------------------

CLONE_THREAD = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000  # VM FS FILES SIGHAND THREAD SYSVSEM
SA_RESTART = 0x1000_0000
SIGCHLD = 17
EINTR, EAGAIN, ESRCH = 4, 11, 3
WORD, TIMESPEC, SHORT_TIMESPEC = DATA + 128, DATA + 136, DATA + 152
BUF, INFO = DATA + 168, DATA + 200
CHILD_STACK = DATA + 0x1000
PIPE_READ, PIPE_WRITE, EPOLL_FD = 3, 4, 3  # the lowest free fds, as Linux hands them out


def status_of(errno_value: int) -> int:
    return -errno_value & 0xFF


def data_area(action: bytes, seconds: int = 10, sigset: int = 1 << (SIGUSR1 - 1)) -> bytes:
    """action at DATA, the SIGUSR1 set at SIGSET, a timespec of ``seconds`` and one of 1 ms."""
    area = bytearray(0x180)
    area[: len(action)] = action
    area[SIGSET - DATA : SIGSET - DATA + 8] = struct.pack("<Q", sigset)
    area[TIMESPEC - DATA : TIMESPEC - DATA + 16] = struct.pack("<qq", seconds, 0)
    area[SHORT_TIMESPEC - DATA : SHORT_TIMESPEC - DATA + 16] = struct.pack("<qq", 0, 1_000_000)
    return bytes(area)


def with_child(before: bytes, main: bytes, child: bytes) -> bytes:
    """``before``, then clone a thread that runs ``child`` then exit(0); main goes on with ``main``
    then exits with the last result. Main keeps the CPU until it blocks, so the child runs then."""
    child = child + syscall(60, 0)
    main = main + guest.exit_with_rax()
    branch = b"\x48\x85\xc0" + b"\x74" + bytes([len(main)])  # test rax, rax; jz child
    return before + syscall(56, CLONE_THREAD, CHILD_STACK) + branch + main + child


def interrupted_run(tmp_path: Path, flags: int, before: bytes, blocking: bytes, child_after: bytes):
    """Main blocks in ``blocking``; the child sends it SIGUSR1 (a handler that just returns), then
    runs ``child_after``. Exit status: the blocking call's result."""
    setup, action = install(SIGUSR1, SA_SIGINFO | SA_RESTORER | flags)
    code = with_child(setup + before, blocking, syscall(234, PID, PID, SIGUSR1) + child_after)
    pieces = {0: code, HANDLER_AT: b"\xc3", RESTORER_AT: RESTORER}
    return api.run(program(tmp_path, pieces, data_area(action)))


WAKE_WORD = syscall(35, SHORT_TIMESPEC, 0) + syscall(202, WORD, 129, 1)  # sleep 1 ms; FUTEX_WAKE_PRIVATE
PIPE = syscall(293, DATA + 0x170, 0)  # pipe2: fds 3 and 4
WRITE_PIPE = syscall(35, SHORT_TIMESPEC, 0) + syscall(1, PIPE_WRITE, BUF, 3)
SLEEP_10S = syscall(35, TIMESPEC, 0)
FUTEX_WAIT = syscall(202, WORD, 128, 0, 0)  # FUTEX_WAIT_PRIVATE on 0, no timeout
FUTEX_WAIT_10S = syscall(202, WORD, 128, 0, TIMESPEC)
READ_PIPE = syscall(0, PIPE_READ, BUF, 16)
EPOLL_CREATE, EPOLL_WAIT = syscall(291, 0), syscall(232, EPOLL_FD, BUF, 1, 0xFFFF_FFFF)  # timeout -1


@pytest.mark.parametrize(
    ("case", "flags", "before", "blocking", "child_after", "status"),
    [
        ("nanosleep", SA_RESTART, b"", SLEEP_10S, b"", status_of(EINTR)),
        ("futex, SA_RESTART: restarted", SA_RESTART, b"", FUTEX_WAIT, WAKE_WORD, 0),
        ("futex, no SA_RESTART", 0, b"", FUTEX_WAIT, WAKE_WORD, status_of(EINTR)),
        ("futex with a timeout", SA_RESTART, b"", FUTEX_WAIT_10S, WAKE_WORD, status_of(EINTR)),
        ("pipe read, SA_RESTART: restarted", SA_RESTART, PIPE, READ_PIPE, WRITE_PIPE, 3),
        ("pipe read, no SA_RESTART", 0, PIPE, READ_PIPE, WRITE_PIPE, status_of(EINTR)),
        ("epoll_wait", SA_RESTART, EPOLL_CREATE, EPOLL_WAIT, b"", status_of(EINTR)),
    ],
)  # fmt: skip
def test_a_signal_interrupts_a_blocked_call(
    tmp_path: Path, case: str, flags: int, before: bytes, blocking: bytes, child_after: bytes, status: int
) -> None:
    """man 7 signal: with SA_RESTART, read on a pipe and futex waits without a timeout restart;
    sleeps, timed futex waits and epoll_wait return EINTR whatever the flags."""
    result = interrupted_run(tmp_path, flags, before, blocking, child_after)
    assert result.report == ""
    assert result.exit_status == status
    assert sum(e.name == "rt_sigreturn" for e in result.syscalls) == 1  # the handler ran once


def test_nanosleep_interrupted_shows_eintr_in_the_trace(tmp_path: Path) -> None:
    result = interrupted_run(tmp_path, SA_RESTART, b"", syscall(35, TIMESPEC, 0), b"")
    assert "nanosleep({tv_sec=10, tv_nsec=0}, NULL) = -1 EINTR (Interrupted system call)" in result.strace()
    assert result.stats.instructions < 1_000_000  # it did not sleep the 10 s out


def test_kill_to_our_pid_runs_the_handler_with_si_user(tmp_path: Path) -> None:
    setup, action = install(SIGUSR1)
    # exit(si_code + si_pid): SI_USER is 0
    handler = check_signo(SIGUSR1) + b"\x8b\x7e\x10" + b"\x03\x7e\x08" + EXIT_WITH_RDI
    main = setup + syscall(62, PID, SIGUSR1) + exit_group(BAD_STATUS)
    result = api.run(program(tmp_path, {0: main, HANDLER_AT: handler}, action))
    assert result.report == ""
    assert result.exit_status == PID & 0xFF
    assert "kill(1000, SIGUSR1) = 0" in result.strace()


def test_kill_default_actions_and_other_processes(tmp_path: Path) -> None:
    ignored = api.run(program(tmp_path, {0: syscall(62, PID, SIGCHLD) + exit_group(5)}))
    assert ignored.exit_status == 5
    others = api.run(program(tmp_path, {0: syscall(62, 1, 0) + guest.exit_with_rax()}))
    assert others.exit_status == status_of(ESRCH)
    everyone = api.run(
        program(tmp_path, {0: syscall(62, -1 & 0xFFFF_FFFF_FFFF_FFFF, SIGTERM) + guest.exit_with_rax()})
    )
    assert everyone.exit_status == status_of(ESRCH)  # kill(-1) spares the sender; there is no one else
    killed = api.run(program(tmp_path, {0: syscall(62, 0, SIGTERM) + exit_group(5)}))
    assert (killed.exit_status, killed.signal) == (128 + SIGTERM, SIGTERM)


def test_kill_goes_to_a_thread_that_does_not_block_it(tmp_path: Path) -> None:
    """Main blocks SIGUSR1 and sleeps; the child (unblocking it) takes the kill it sends: the
    handler exits with the tid of the thread it runs on."""
    setup, action = install(SIGUSR1)
    handler = syscall(186) + guest.exit_with_rax()  # exit(gettid())
    block = syscall(14, 0, SIGSET, 0, 8)
    child = syscall(14, 1, SIGSET, 0, 8) + syscall(62, PID, SIGUSR1) + exit_group(BAD_STATUS)
    code = with_child(setup + block, syscall(35, TIMESPEC, 0), child)
    result = api.run(program(tmp_path, {0: code, HANDLER_AT: handler}, data_area(action)))
    assert result.exit_status == (PID + 1) & 0xFF


def test_kill_goes_to_the_main_thread_first_as_on_linux(tmp_path: Path) -> None:
    """The child sends; main, asleep and not blocking it, takes it (Linux's complete_signal
    prefers the thread group leader): interrupted, the handler exits with main's tid."""
    setup, action = install(SIGUSR1)
    handler = syscall(186) + guest.exit_with_rax()
    code = with_child(setup, syscall(35, TIMESPEC, 0), syscall(62, PID, SIGUSR1))
    result = api.run(program(tmp_path, {0: code, HANDLER_AT: handler}, data_area(action)))
    assert result.exit_status == PID & 0xFF


def test_kill_interrupts_the_one_thread_that_takes_it(tmp_path: Path) -> None:
    """The child blocks SIGUSR1 and sends it: main, asleep, is the only taker: interrupted."""
    setup, action = install(SIGUSR1)
    handler = syscall(186) + guest.exit_with_rax()
    child = syscall(14, 0, SIGSET, 0, 8) + syscall(62, PID, SIGUSR1)
    code = with_child(setup, syscall(35, TIMESPEC, 0), child)
    result = api.run(program(tmp_path, {0: code, HANDLER_AT: handler}, data_area(action)))
    assert result.exit_status == PID & 0xFF
    assert "nanosleep({tv_sec=10, tv_nsec=0}, NULL) = -1 EINTR (Interrupted system call)" in result.strace()


def test_rt_sigpending_reports_a_blocked_pending_signal(tmp_path: Path) -> None:
    code = (
        syscall(14, 0, SIGSET, 0, 8)  # block SIGUSR1
        + syscall(62, PID, SIGUSR1)
        + syscall(127, BUF, 8)  # rt_sigpending
        + b"\x0f\xb6\x3c\x25" + struct.pack("<I", BUF + 1)  # movzx edi, byte [BUF+1]: SIGUSR1 is bit 9
        + EXIT_WITH_RDI
    )  # fmt: skip
    result = api.run(program(tmp_path, {0: code}, data_area(b"")))
    assert result.exit_status == 2
    assert "rt_sigpending([USR1], 8) = 0" in result.strace()


def test_rt_sigtimedwait_takes_a_signal_another_thread_sends(tmp_path: Path) -> None:
    block = syscall(14, 0, SIGSET, 0, 8)
    wait = syscall(128, SIGSET, INFO, TIMESPEC, 8)
    si_pid = b"\x8b\x3c\x25" + struct.pack("<I", INFO + 16)  # mov edi, [INFO+16]
    exit_with_si_pid = si_pid + EXIT_WITH_RDI
    if_sigusr1 = b"\x83\xf8\x0a" + b"\x75" + bytes([len(exit_with_si_pid)])  # cmp eax, 10; jne over
    code = with_child(block, wait + if_sigusr1 + exit_with_si_pid, syscall(62, PID, SIGUSR1))
    result = api.run(program(tmp_path, {0: code}, data_area(b"")))
    assert result.exit_status == PID & 0xFF  # returned SIGUSR1 with the sender's pid in the siginfo
    assert result.stats.instructions < 1_000_000


def test_rt_sigtimedwait_times_out_on_the_virtual_clock(tmp_path: Path) -> None:
    code = syscall(14, 0, SIGSET, 0, 8) + syscall(128, SIGSET, INFO, TIMESPEC, 8) + guest.exit_with_rax()
    result = api.run(program(tmp_path, {0: code}, data_area(b"", seconds=3)))
    assert result.exit_status == status_of(EAGAIN)
    assert result.strace()[-2].endswith("= -1 EAGAIN (Resource temporarily unavailable)")


def test_rt_sigsuspend_returns_eintr_and_the_handler_puts_the_mask_back(tmp_path: Path) -> None:
    """Main blocks SIGUSR1, then suspends with it unblocked; the child's kill wakes it. After the
    handler, SIGUSR1 is blocked again: exit(second byte of the mask) == 2."""
    setup, action = install(SIGUSR1)
    block = syscall(14, 0, SIGSET, 0, 8)
    suspend = syscall(130, BUF, 8)  # an empty mask: BUF is zero
    after = syscall(14, 0, 0, INFO, 8) + b"\x0f\xb6\x3c\x25" + struct.pack("<I", INFO + 1) + EXIT_WITH_RDI
    code = with_child(setup + block, suspend + after, syscall(62, PID, SIGUSR1))
    pieces = {0: code, HANDLER_AT: b"\xc3", RESTORER_AT: RESTORER}
    result = api.run(program(tmp_path, pieces, data_area(action)))
    assert result.report == ""
    assert result.exit_status == 2
    assert "rt_sigsuspend([], 8) = -1 EINTR (Interrupted system call)" in result.strace()
