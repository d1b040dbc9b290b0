"""Fuzzing the syscall layer: random calls with hostile arguments from a tiny guest.

One guest run makes a whole batch: its data holds a table of (number, six
arguments) rows and a loop issues them one by one, then calls exit_group(42).
The test reads what each call returned from the SyscallEvents (which also
runs the strace decoder over every hostile pointer). Whatever the calls, the
guest must get an answer Linux could give (a result or -errno) and reach
its exit: the run never ends in an internal error or a traceback.

Left out, because they end or reshape the run on purpose: exit/exit_group,
rt_sigreturn, thread and process creation, execve, signals sent to ourselves,
timers that fire signals, and calls that unmap, re-protect or zero the
guest's own code (those are checked below with addresses away from it).
Calls that may block for good (an empty pipe, a futex, pause) may end the run
in a deadlock report: that is accepted only with such a call last.
"""

from __future__ import annotations

import struct
from pathlib import Path

import guest
from conftest import examples
from hypothesis import event, given
from hypothesis import strategies as st

from emulator import api
from syscalls import errno
from syscalls.kernel import load_handlers
from syscalls.table import TABLE

PAGE = 0x1000
ROW = struct.Struct("<8Q")  # number, six arguments, chain (first argument = previous result)
MAX_ROWS = 64
TABLE_ADDR = guest.BASE + 0x1000
SCRATCH = TABLE_ADDR + MAX_ROWS * ROW.size + PAGE & ~(PAGE - 1)  # page aligned, after the table
SCRATCH_END = SCRATCH + 2 * PAGE  # the end of the guest's only mapping
MARKER = 42
UNMAPPED = 0x1000_0000
KERNEL_HALF = 0xFFFF_8000_0000_0000
NON_CANONICAL = 0x0000_8000_0000_0000
U64 = (1 << 64) - 1

EXIT, EXIT_GROUP, RT_SIGRETURN = 60, 231, 15
# Calls that end the run, start threads or processes, or replace the program.
# clone fork vfork execve execveat clone3
ENDS_OR_FORKS = {EXIT, EXIT_GROUP, RT_SIGRETURN, 56, 57, 58, 59, 322, 435}
# Signals to ourselves (a fatal default action ends the run) and timers that send them.
# kill rt_sigqueueinfo tkill tgkill rt_tgsigqueueinfo pidfd_send_signal alarm setitimer timer_create
# timer_settime
SIGNALS = {62, 129, 200, 234, 297, 424, 37, 38, 222, 223}
# Calls that change the guest's own mappings (its code and this table live in one segment).
# mprotect munmap mremap madvise shmat shmctl shmdt remap_file_pages pkey_mprotect
REMAPS = {10, 11, 25, 28, 30, 31, 67, 216, 329}
EXCLUDED = ENDS_OR_FORKS | SIGNALS | REMAPS
# ...except on what the previous call returned (a fresh mmap, or an errno: no address of ours),
# one page at most: munmap, mprotect, madvise.
ON_PREVIOUS_RESULT = [11, 10, 28]
# Calls that can wait forever in a guest with one thread: a deadlock report is then the right end.
MAY_BLOCK = {
    "read",
    "readv",
    "write",
    "writev",
    "futex",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "pause",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "wait4",
    "waitid",
    "nanosleep",
    "clock_nanosleep",
}
MAP_FIXED, MAP_FIXED_NOREPLACE = 0x10, 0x100000
MMAP = 9

IMPLEMENTED = sorted(nr for nr, sc in TABLE.items() if sc.name in load_handlers() and nr not in EXCLUDED)
KNOWN = sorted(nr for nr in TABLE if nr not in EXCLUDED)
UNKNOWN = [335, 400, 460, 512, 1000, 0x4000_0000, 0x4000_0001, U64]  # gaps, x32, beyond the table


def loop_code() -> bytes:
    """For each row at rbx (r12 rows): load rax, rdi, rsi, rdx, r10, r8, r9; if the row's chain
    word is set, rdi = the previous call's result (r13); syscall; r13 = rax."""
    body = (
        b"\x48\x8b\x03"  # mov rax, [rbx]
        b"\x48\x8b\x7b\x08"  # mov rdi, [rbx+8]
        b"\x48\x8b\x73\x10"  # mov rsi, [rbx+16]
        b"\x48\x8b\x53\x18"  # mov rdx, [rbx+24]
        b"\x4c\x8b\x53\x20"  # mov r10, [rbx+32]
        b"\x4c\x8b\x43\x28"  # mov r8, [rbx+40]
        b"\x4c\x8b\x4b\x30"  # mov r9, [rbx+48]
        b"\x48\x83\x7b\x38\x00"  # cmp qword [rbx+56], 0
        b"\x74\x03"  # je over the next instruction
        b"\x4c\x89\xef" + guest.SYSCALL + b"\x49\x89\xc5"  # mov rdi, r13  # mov r13, rax
        b"\x48\x83\xc3\x40"  # add rbx, 64
        b"\x49\xff\xcc"  # dec r12
    )
    check = b"\x4d\x85\xe4" + b"\x74" + bytes([len(body) + 2])  # test r12, r12; jz done
    back = -(len(check) + len(body) + 2)
    return check + body + b"\xeb" + struct.pack("<b", back)  # jmp back to the check


def program(tmp_path: Path, rows: list[tuple[int, ...]], scratch: bytes = b"") -> Path:
    """The batch guest: the loop over ``rows``, then exit_group(MARKER); scratch pages after."""
    code = (
        b"\x48\xbb"
        + struct.pack("<Q", TABLE_ADDR)  # mov rbx, TABLE_ADDR
        + b"\x49\xbc"
        + struct.pack("<Q", len(rows))  # mov r12, len(rows)
        + loop_code()
        + guest.exit_group(MARKER)
    )
    table = b"".join(ROW.pack(*row) for row in rows)
    image = code.ljust(TABLE_ADDR - guest.ENTRY, b"\xcc") + table
    image = image.ljust(SCRATCH - guest.ENTRY, b"\0") + scratch
    path = tmp_path / "batch"
    path.write_bytes(guest.elf(image, bss=SCRATCH_END - guest.ENTRY - len(image)))
    return path


def run_batch(tmp_path: Path, rows: list[tuple[int, ...]], scratch: bytes = b"") -> api.RunResult:
    result = api.run(program(tmp_path, rows, scratch), max_instructions=10_000_000)
    assert result.reason != "internal-error", result.report
    return result


def row(call: tuple[int, ...]) -> tuple[int, ...]:
    """A table row for ``call`` (number and leading arguments), unchained."""
    return (*call, *[0] * (8 - len(call)))


def signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


# -- random batches ------------------------------------------------------------

POINTERS = st.one_of(
    st.sampled_from([0, UNMAPPED, KERNEL_HALF, U64 - 7, NON_CANONICAL, SCRATCH_END]),
    st.integers(0, 2 * PAGE - 1).map(lambda off: SCRATCH + off),  # valid, unaligned too
    st.integers(1, 64).map(lambda back: SCRATCH_END - back),  # straddling the end of the mapping
    st.integers(0, 1 << 20).map(lambda off: KERNEL_HALF + off),
)
NUMBERS = st.one_of(
    st.integers(0, 20),
    st.sampled_from([U64, U64 - 1, (1 << 31) - 1, 1 << 31, 1 << 32, 1 << 63, 1 << 40, 0x7FFF_F000, 65, 64]),
    st.integers(0, U64),
)
ARG = st.one_of(POINTERS, NUMBERS)
NUMBER = st.one_of(
    st.sampled_from(IMPLEMENTED),
    st.sampled_from(IMPLEMENTED),
    st.sampled_from(KNOWN),
    st.sampled_from(UNKNOWN),
)


def safe(row: tuple[int, ...]) -> tuple[int, ...]:
    """Keep a row off the guest's own code and table (a random pointer there would rewrite the
    program, not test the kernel) and keep mmap from replacing them with MAP_FIXED."""
    nr, *args, chain = row
    args = [SCRATCH + a % PAGE if guest.BASE <= a < SCRATCH else a for a in args]
    if nr == MMAP:
        args[3] &= ~(MAP_FIXED | MAP_FIXED_NOREPLACE)
    if nr in ON_PREVIOUS_RESULT:
        chain, args[1] = 1, args[1] % (PAGE + 1)
    return (nr, *args, chain)


ROWS = st.lists(
    st.tuples(
        st.one_of(NUMBER, st.sampled_from(ON_PREVIOUS_RESULT)),
        ARG,
        ARG,
        ARG,
        ARG,
        ARG,
        ARG,
        st.integers(0, 1),
    ).map(safe),
    min_size=1,
    max_size=MAX_ROWS,
)


# What the scratch page holds for the calls that read structures from it: pointers and numbers
# (iovecs, timespecs, sigactions, sigsets built of hostile values), paths (long, deep, through
# /proc and /tmp, the sandbox's own), or plain bytes.
PATHS = st.lists(
    st.sampled_from(
        [b"/", b"tmp", b"proc", b"self", b"fd", b"etc", b"hostname", b"..", b".", b"", b"a" * 300, b"\xff"]
    ),
    max_size=40,
).map(lambda parts: b"/".join(parts) + b"\0")
SCRATCH_BYTES = st.one_of(
    st.lists(ARG, max_size=32).map(lambda words: b"".join(struct.pack("<Q", w) for w in words)),
    st.binary(max_size=256),
    PATHS,
)


@examples(normal=150, long=3000)
@given(rows=ROWS, scratch=SCRATCH_BYTES)
def test_random_syscalls_get_linux_answers_and_the_guest_survives(
    tmp_path: Path, rows: list[tuple[int, ...]], scratch: bytes
) -> None:
    result = run_batch(tmp_path, rows, scratch)
    made = result.syscalls
    for event_, row in zip(made, rows, strict=False):
        assert event_.nr == row[0]
        assert event_.result is None or -4095 <= signed(event_.result) < 1 << 63, event_
        if event_.result is not None and -4095 <= signed(event_.result) < 0:
            assert -signed(event_.result) in errno.NAMES, event_
            event(f"errno {errno.NAMES[-signed(event_.result)]}")
    assert result.strace()  # every call renders as text, whatever its arguments pointed at
    if result.reason == "deadlock":
        blocked = rows[len(made)]
        assert TABLE[blocked[0]].name in MAY_BLOCK, result.report
        event("ended blocked")
        return
    assert (result.reason, result.exit_status) == ("exit", MARKER), result.report
    assert [e.nr for e in made] == [r[0] for r in rows] + [EXIT_GROUP]


# -- the answers Linux gives, for calls whose answer is certain ----------------

FUTEX_WAIT_PRIVATE, AT_FDCWD = 128, 0xFFFF_FF9C
SIGKILL, SIGSEGV, CLOCK_MONOTONIC = 9, 11, 1
KNOWN_ANSWERS = {
    # bad file descriptors
    "read bad fd": ((0, 1000, SCRATCH, 8), errno.EBADF),
    "write bad fd": ((1, 0xFFFF_FFFF, SCRATCH, 8), errno.EBADF),
    "close bad fd": ((3, 1000), errno.EBADF),
    "fstat bad fd": ((5, 77, SCRATCH), errno.EBADF),
    "fcntl bad fd": ((72, 1000, 1), errno.EBADF),
    "lseek bad fd": ((8, 1000, 0, 0), errno.EBADF),
    # bad buffers on a good descriptor
    "write null buffer": ((1, 1, 0, 5), errno.EFAULT),
    "write unmapped buffer": ((1, 1, UNMAPPED, 5), errno.EFAULT),
    "write kernel buffer": ((1, 2, KERNEL_HALF, 5), errno.EFAULT),
    "writev unmapped iovec": ((20, 1, UNMAPPED, 1), errno.EFAULT),
    "fstat unmapped statbuf": ((5, 1, UNMAPPED), errno.EFAULT),
    "openat null path": ((257, AT_FDCWD, 0, 0), errno.EFAULT),
    "openat kernel path": ((257, AT_FDCWD, KERNEL_HALF, 0), errno.EFAULT),
    "clock_gettime null": ((228, CLOCK_MONOTONIC, 0), errno.EFAULT),
    "clock_gettime straddling": ((228, CLOCK_MONOTONIC, SCRATCH_END - 8), errno.EFAULT),
    "uname null": ((63, 0), errno.EFAULT),
    "getrandom unmapped": ((318, UNMAPPED, 16, 0), errno.EFAULT),
    "nanosleep null": ((35, 0, 0), errno.EFAULT),
    "futex null": ((202, 0, FUTEX_WAIT_PRIVATE, 0, 0), errno.EFAULT),
    "sigaltstack unmapped": ((131, UNMAPPED, 0), errno.EFAULT),
    "sched_getaffinity null": ((204, 0, 8, 0), errno.EFAULT),
    # bad values
    "unknown number 1000": ((1000,), errno.ENOSYS),
    "x32 number": ((0x4000_0000,), errno.ENOSYS),
    "beyond the table": ((U64,), errno.ENOSYS),
    "rt_sigaction signal 0": ((13, 0, SCRATCH, 0, 8), errno.EINVAL),
    "rt_sigaction signal 65": ((13, 65, SCRATCH, 0, 8), errno.EINVAL),
    "rt_sigaction SIGKILL": ((13, SIGKILL, SCRATCH, 0, 8), errno.EINVAL),
    "rt_sigaction sigsetsize 16": ((13, SIGSEGV, SCRATCH, 0, 16), errno.EINVAL),
    "rt_sigprocmask bad how": ((14, 99, SCRATCH, 0, 8), errno.EINVAL),
    "clock_gettime bad clock": ((228, 999, SCRATCH), errno.EINVAL),
    "futex unaligned": ((202, SCRATCH + 1, FUTEX_WAIT_PRIVATE, 1, 0), errno.EINVAL),
    "mmap length 0": ((9, 0, 0, 3, 0x22, U64, 0), errno.EINVAL),
    "mmap neither private nor shared": ((9, 0, PAGE, 3, 0x20, U64, 0), errno.EINVAL),
    "munmap unaligned": ((11, SCRATCH + 1, PAGE), errno.EINVAL),
    "munmap length 0": ((11, UNMAPPED, 0), errno.EINVAL),
    "mprotect unmapped": ((10, UNMAPPED, PAGE, 1), errno.ENOMEM),
}


def test_known_bad_calls_get_the_errno_linux_gives(tmp_path: Path) -> None:
    """All in one guest: each row's answer, by case name, against Linux's."""
    cases = sorted(KNOWN_ANSWERS)
    rows = [row(call) for call, _ in (KNOWN_ANSWERS[c] for c in cases)]
    result = run_batch(tmp_path, rows)
    assert (result.reason, result.exit_status) == ("exit", MARKER), result.report
    got = {case: errno.name(-signed(e.result)) for case, e in zip(cases, result.syscalls, strict=False)}
    assert got == {case: errno.name(KNOWN_ANSWERS[case][1]) for case in cases}


def test_a_chained_row_works_on_the_previous_result(tmp_path: Path) -> None:
    """mmap then munmap/madvise of exactly what it returned: the chain the random batches use."""
    anonymous = row((MMAP, 0, PAGE, 3, 0x22, U64, 0))
    rows = [anonymous, (11, 0, PAGE, 0, 0, 0, 0, 1), anonymous, (28, 0, PAGE, 4, 0, 0, 0, 1)]
    result = run_batch(tmp_path, rows)
    assert (result.reason, result.exit_status) == ("exit", MARKER), result.report
    first, unmap, second, advise = result.syscalls[:4]
    assert (unmap.args[0], unmap.result) == (first.result, 0)
    assert (advise.args[0], advise.result) == (second.result, 0)


LONG_NAME = b"a" * 300  # NAME_MAX is 255
HOSTILE_PATHS = {
    "openat": ((257, AT_FDCWD, SCRATCH, 0), errno.ENAMETOOLONG),
    "open": ((2, SCRATCH, 0, 0), errno.ENAMETOOLONG),
    "access": ((21, SCRATCH, 0), errno.ENAMETOOLONG),
    "newfstatat": ((262, AT_FDCWD, SCRATCH, SCRATCH + 1024, 0), errno.ENAMETOOLONG),
    "readlinkat": ((267, AT_FDCWD, SCRATCH, SCRATCH + 1024, 100), errno.ENAMETOOLONG),
}


def test_a_path_component_over_name_max_is_enametoolong(tmp_path: Path) -> None:
    """Found by this fuzzing: the host's OSError ENAMETOOLONG used to escape the file calls (an
    internal error, exit 70); the sandboxed filesystem maps it to the guest's errno."""
    cases = sorted(HOSTILE_PATHS)
    rows = [row(call) for call, _ in (HOSTILE_PATHS[c] for c in cases)]
    result = run_batch(tmp_path, rows, LONG_NAME + b"\0")
    assert (result.reason, result.exit_status) == ("exit", MARKER), result.report
    got = {case: errno.name(-signed(e.result)) for case, e in zip(cases, result.syscalls, strict=False)}
    assert got == {case: errno.name(HOSTILE_PATHS[case][1]) for case in cases}
