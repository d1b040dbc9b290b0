"""The machine on hand-made guests: threads, scheduling, time, faults, limits.

Each guest is a few instructions (tests/guest.py) whose exit status or trace
shows the behaviour; the expected values follow from Linux semantics.
"""

from __future__ import annotations

import struct
import time
from pathlib import Path

import guest
from guest import DATA, SYSCALL, exit_group, exit_with_rax, program, syscall

from emulator import api, exitcodes

CLONE_THREAD_FLAGS = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000  # VM FS FILES SIGHAND THREAD SYSVSEM
FUTEX_WAIT_PRIVATE, FUTEX_WAKE_PRIVATE = 128, 129
ENOSYS, ETIMEDOUT, ENOMEM = 38, 110, 12


def status_of(errno: int) -> int:
    """What exit_group(-errno) leaves as the exit status."""
    return -errno & 0xFF


def test_unknown_syscall_answers_enosys_by_name(tmp_path: Path) -> None:
    code = syscall(330, 0, 0) + syscall(999) + exit_with_rax()  # pkey_alloc, then a number Linux lacks
    result = api.run(program(tmp_path, code))
    assert result.exit_status == status_of(ENOSYS)
    lines = result.strace()
    assert lines[0] == "pkey_alloc(0, 0) = -1 ENOSYS (Function not implemented)"
    assert lines[1].startswith("syscall_0x3e7(") and lines[1].endswith(
        "= -1 ENOSYS (Function not implemented)"
    )
    assert result.unimplemented == {"pkey_alloc": 1, "syscall_0x3e7": 1}


def test_unmapped_read_is_a_segfault_report(tmp_path: Path) -> None:
    code = b"\x48\x8b\x04\x25\x00\x00\x00\x00"  # mov rax, qword ptr [0]
    result = api.run(program(tmp_path, code))
    assert result.exit_status == 128 + 11
    assert result.signal == 11
    assert "SIGSEGV" in result.report
    assert "read of unmapped address 0x0" in result.report
    assert "mov rax, qword ptr [0]" in result.report


def test_invalid_instruction_is_sigill(tmp_path: Path) -> None:
    result = api.run(program(tmp_path, b"\x0f\x0b"))  # ud2
    assert result.exit_status == 128 + 4
    assert "SIGILL" in result.report


def test_divide_by_zero_is_sigfpe(tmp_path: Path) -> None:
    code = b"\x31\xc9" + b"\xf7\xf1"  # xor ecx, ecx; div ecx
    result = api.run(program(tmp_path, code))
    assert result.exit_status == 128 + 8
    assert "SIGFPE" in result.report and "divide error" in result.report


def test_deadlock_is_reported_with_what_each_thread_waits_on(tmp_path: Path) -> None:
    code = syscall(202, DATA, FUTEX_WAIT_PRIVATE, 0, 0) + exit_group(0)  # the word is 0: sleeps forever
    result = api.run(program(tmp_path, code, bytes(8)))
    assert result.exit_status == exitcodes.DEADLOCK
    assert result.reason == "deadlock"
    assert f"futex {DATA:#x}" in result.report
    assert "thread 1000" in result.report


def test_futex_wait_with_a_changed_value_is_eagain(tmp_path: Path) -> None:
    code = syscall(202, DATA, FUTEX_WAIT_PRIVATE, 5, 0) + exit_with_rax()
    result = api.run(program(tmp_path, code, struct.pack("<I", 4)))
    assert result.exit_status == status_of(11)


def test_futex_timeout_runs_on_the_virtual_clock(tmp_path: Path) -> None:
    timeout = DATA + 16
    code = syscall(202, DATA, FUTEX_WAIT_PRIVATE, 0, timeout) + exit_with_rax()
    started = time.monotonic()
    result = api.run(program(tmp_path, code, bytes(16) + struct.pack("<qq", 30, 0)))
    assert time.monotonic() - started < 5  # 30 s of guest time
    assert result.exit_status == status_of(ETIMEDOUT)


def test_nanosleep_advances_the_monotonic_clock_only(tmp_path: Path) -> None:
    req, now = DATA, DATA + 16
    code = (
        syscall(35, req, 0)  # nanosleep({10, 0})
        + syscall(228, 1, now)  # clock_gettime(CLOCK_MONOTONIC, now)
        + b"\x8b\x3c\x25"
        + struct.pack("<I", now)  # mov edi, [now]  (tv_sec)
        + guest.mov_eax(231)
        + SYSCALL
    )
    started = time.monotonic()
    result = api.run(program(tmp_path, code, struct.pack("<qq", 10, 0) + bytes(16)))
    assert time.monotonic() - started < 5
    assert result.exit_status == (100 + 10) & 0xFF  # the clock starts 100 s after boot


def test_a_spinning_thread_is_preempted(tmp_path: Path) -> None:
    """Main spins until a flag the child sets; the child then spins forever. Only preemption ends it."""
    flag = DATA
    child_stack = DATA + 0x400
    clone = syscall(56, CLONE_THREAD_FLAGS, child_stack)
    wait_flag = (
        b"\x80\x3c\x25" + struct.pack("<I", flag) + b"\x00" + b"\x74\xf6"
    )  # cmp byte [flag],0; je back
    finish = exit_group(7)
    child = b"\xc6\x04\x25" + struct.pack("<I", flag) + b"\x01" + b"\xeb\xfe"  # mov byte [flag],1; jmp $
    branch = b"\x48\x85\xc0" + b"\x74" + bytes([len(wait_flag) + len(finish)])  # test rax,rax; jz child
    result = api.run(program(tmp_path, clone + branch + wait_flag + finish + child, bytes(8)))
    assert result.exit_status == 7
    assert result.stats.threads == 2
    names = [(e.tid, e.name) for e in result.syscalls]
    assert names == [(1000, "clone"), (1000, "exit_group")]


def test_instruction_budget_stops_a_runaway_guest(tmp_path: Path) -> None:
    result = api.run(program(tmp_path, b"\xeb\xfe"), max_instructions=100_000)  # jmp $
    assert result.exit_status == exitcodes.INSTRUCTION_BUDGET
    assert result.reason == "instruction-budget"
    assert 100_000 <= result.stats.instructions <= 100_002


def test_memory_limit_answers_enomem(tmp_path: Path) -> None:
    code = syscall(9, 0, 2 << 30, 3, 0x22) + exit_with_rax()  # mmap 2 GiB read-write
    # mmap takes six arguments; r8 (fd) and r9 (offset) are zero at entry, as Linux leaves them.
    result = api.run(program(tmp_path, code), memory_limit=1 << 30)
    assert result.exit_status == status_of(ENOMEM)
    roomy = api.run(program(tmp_path, code), memory_limit=4 << 30)
    assert roomy.exit_status != status_of(ENOMEM)


def test_clear_child_tid_wakes_the_joiner(tmp_path: Path) -> None:
    """A thread that exits clears its tid word and wakes a futex waiter on it, as pthread_join relies on."""
    ctid = DATA
    flags = CLONE_THREAD_FLAGS | 0x200000 | 0x1000000  # CHILD_CLEARTID | CHILD_SETTID
    clone = syscall(56, flags, DATA + 0x400, 0, ctid)
    # main: while (*ctid) futex(ctid, WAIT, *ctid); exit_group(3)
    load = b"\x8b\x14\x25" + struct.pack("<I", ctid)  # mov edx, [ctid]
    test = b"\x85\xd2"  # test edx, edx
    wait = guest.mov_rdi(ctid) + guest.mov_esi(FUTEX_WAIT_PRIVATE) + guest.mov_eax(202) + SYSCALL
    loop_len = len(load) + len(test) + 2 + len(wait) + 2
    body = load + test + b"\x74" + bytes([len(wait) + 2]) + wait + b"\xeb" + bytes([256 - loop_len])
    child = guest.mov_edi(0) + guest.mov_eax(60) + SYSCALL  # exit(0)
    finish = exit_group(3)
    branch = b"\x48\x85\xc0" + b"\x74" + bytes([len(body) + len(finish)])
    result = api.run(program(tmp_path, clone + branch + body + finish + child, bytes(8)))
    assert result.exit_status == 3
    child_exit = [e for e in result.syscalls if e.name == "exit"]
    assert [e.tid for e in child_exit] == [1001]


def test_a_bug_in_a_handler_is_reported_as_ours(tmp_path: Path, monkeypatch) -> None:
    from syscalls.kernel import load_handlers

    HANDLERS = load_handlers()  # every area module imported: a later import would register getpid again

    def broken(k, t):
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setitem(HANDLERS, "getpid", broken)
    result = api.run(program(tmp_path, syscall(39) + exit_group(0)), bundle_dir=tmp_path / "bundles")
    assert result.exit_status == exitcodes.INTERNAL_ERROR
    assert "internal error, a bug in the emulator: ZeroDivisionError: simulated bug" in result.report
    assert "Traceback" not in result.report


def test_futex_wait_bitset_takes_an_absolute_deadline(tmp_path: Path) -> None:
    """FUTEX_WAIT_BITSET's timeout is a point on CLOCK_MONOTONIC (the clock starts at 100 s)."""
    deadline, now = DATA + 16, DATA + 32
    wait_bitset_private = 9 | 128
    code = (
        syscall(202, DATA, wait_bitset_private, 0, deadline)[:-2]
        + b"\x49\xb9"
        + struct.pack("<Q", 0xFFFF_FFFF)  # mov r9, val3 (the bitset)
        + SYSCALL
        + syscall(228, 1, now)
        + b"\x8b\x3c\x25"
        + struct.pack("<I", now)  # mov edi, [now]
        + guest.mov_eax(231)
        + SYSCALL
    )
    result = api.run(program(tmp_path, code, bytes(16) + struct.pack("<qq", 150, 0) + bytes(16)))
    assert result.exit_status == 150
    futex = next(e for e in result.syscalls if e.name == "futex")
    assert futex.result == -ETIMEDOUT


def test_pipe_carries_bytes_then_end_of_file_then_epipe(tmp_path: Path) -> None:
    """pipe2, write, read, close the writer, read 0 (EOF), close the reader, write fails with EPIPE."""
    fds, buf, msg = DATA, DATA + 16, DATA + 64
    edi_read_end, edi_write_end = guest.mov_edi_from(fds), guest.mov_edi_from(fds + 4)
    code = (
        syscall(293, fds, 0)  # pipe2(fds, 0)
        + edi_write_end
        + guest.mov_rsi(msg)
        + guest.mov_edx(5)
        + guest.mov_eax(1)
        + SYSCALL  # write "hello"
        + edi_read_end
        + guest.mov_rsi(buf)
        + guest.mov_edx(64)
        + guest.mov_eax(0)
        + SYSCALL  # read
        + edi_write_end
        + guest.mov_eax(3)
        + SYSCALL  # close the write end
        + edi_read_end
        + guest.mov_rsi(buf)
        + guest.mov_edx(64)
        + guest.mov_eax(0)
        + SYSCALL  # read: EOF
        + edi_read_end
        + guest.mov_eax(3)
        + SYSCALL  # close the read end
        + syscall(293, fds, 0)
        + edi_read_end
        + guest.mov_eax(3)
        + SYSCALL
        + edi_write_end
        + guest.mov_rsi(msg)
        + guest.mov_edx(5)
        + guest.mov_eax(1)
        + SYSCALL  # no reader
        + exit_with_rax()
    )
    result = api.run(program(tmp_path, code, bytes(64) + b"hello"))
    lines = result.strace()
    assert lines[0] == "pipe2([3, 4], 0) = 0"
    assert lines[1] == 'write(4, "hello", 5) = 5'
    assert lines[2] == 'read(3, "hello", 64) = 5'
    assert lines[4] == 'read(3, "", 64) = 0'
    assert result.exit_status == status_of(32)  # EPIPE


def test_probes_see_function_entries_in_order() -> None:
    from conftest import built

    from emulator.machine import Console, Machine, RunConfig
    from loader import load_image

    image = load_image(built("hello"))
    machine = Machine(
        image, RunConfig(argv=["hello"], env=[]), console=Console(lambda fd, data: None, lambda fd, n: b"")
    )
    seen: list[tuple[str, int, int]] = []
    for name in ("runtime.rt0_go", "runtime.main", "main.main", "fmt.Fprintln"):
        machine.add_probe(
            image.symbols.address_of(name),
            lambda thread, name=name: seen.append((name, thread.tid, machine.cpu.instructions)),
        )
    assert machine.run().status == 0
    assert [s[0] for s in seen] == ["runtime.rt0_go", "runtime.main", "main.main", "fmt.Fprintln"]
    assert {s[1] for s in seen} == {machine.kernel.config.pid}
    counts = [s[2] for s in seen]
    assert counts == sorted(counts) and counts[0] < 100 < counts[1]
