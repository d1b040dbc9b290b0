"""Normalisation rules, each on its own, on real strace logs of the Go fixtures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from stracing import needs_strace, record, strace_problem

from emulator.normalize import (
    CLOCK,
    DEFAULT_RULES,
    HEAP,
    HOST_FILE,
    HOST_VALUE,
    RULES,
    STARTUP,
    THREADS,
    TIMING,
    normalize,
)
from emulator.stracelog import parse_strace, read_strace

_HEX = re.compile(r"0x[0-9a-f]+")


@pytest.fixture(scope="module")
def hello(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if strace_problem() is not None:
        pytest.skip(str(strace_problem()))
    return record(tmp_path_factory.mktemp("normalize") / "hello.log", "hello", "-f")


@pytest.fixture(scope="module")
def goroutines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if strace_problem() is not None:
        pytest.skip(str(strace_problem()))
    return record(tmp_path_factory.mktemp("normalize") / "goroutines.log", "goroutines", "-f")


def _tokens(texts: list[str], prefix: str) -> list[str]:
    return list(dict.fromkeys(t for text in texts for t in re.findall(rf"\b{prefix}\d+\b", text)))


@needs_strace
def test_addresses_are_named_in_order_of_first_appearance(hello: Path) -> None:
    log = read_strace(hello)
    normal = normalize(log)
    everything = [
        e.text() for e in sorted((e for t in normal.threads for e in normal.entries(t)), key=lambda e: e.line)
    ]
    names = _tokens(everything, "ADDR")
    assert names == [f"ADDR{i}" for i in range(1, len(names) + 1)]
    # the same value always gets the same name, and every big hex value got one
    raw_values = [
        int(v, 16) for c in log.calls for v in _HEX.findall(" ".join([*c.args, c.result_text or ""]))
    ]
    for value in raw_values:
        assert (value in normal.addresses) == (value >= 0x10000)
    fixed = [e for e in normal.threads[0] if e.name == "mmap" and "MAP_FIXED" in e.args[3] and e.cls is None]
    assert fixed and all(e.args[0] == e.result for e in fixed)  # mmap(ADDRn, ..., MAP_FIXED) = ADDRn


def test_strings_and_small_values_are_not_addresses() -> None:
    normal = normalize(
        parse_strace('write(1, "0x7fff12345678\\n", 15) = 15\nfcntl(5, F_GETFL) = 0x8001 (flags O_WRONLY)\n')
    )
    assert [e.text() for e in normal.threads[0]] == [
        'write(1, "0x7fff12345678\\n", 15) = 15',
        "fcntl(5, F_GETFL) = 0x8001 (flags O_WRONLY)",
    ]


@needs_strace
def test_thread_ids_follow_creation_order(goroutines: Path) -> None:
    log = read_strace(goroutines)
    normal = normalize(log)
    order = log.creation_order()
    assert normal.tids == {pid: i for i, pid in enumerate(order)}
    for thread, entries in normal.threads.items():
        for entry in entries:
            if entry.name == "gettid":
                assert entry.result == f"TID{thread}"
    clones = sorted(normal.set_aside[THREADS], key=lambda e: e.line)
    assert [e.result for e in clones if e.name == "clone"] == [f"TID{i}" for i in range(1, len(order))]


def test_thread_ids_in_kill_arguments_and_signal_info() -> None:
    # lines from a strace 6.1 run of hello (-f -o), clone's arguments shortened
    normal = normalize(
        parse_strace(
            "3883  clone(child_stack=0x3345d9cd4000, flags=CLONE_VM|CLONE_THREAD, tls=0x33450090) = 3884\n"
            "3884  getpid()                          = 3883\n"
            "3884  tgkill(3883, 3883, SIGURG)        = 0\n"
            "3883  --- SIGURG {si_signo=SIGURG, si_code=SI_TKILL, si_pid=3883, si_uid=0} ---\n"
            "3883  rt_sigreturn({mask=[]})           = 0\n"
        ),
        DEFAULT_RULES - {"timing"},
    )
    texts = [e.text() for t in normal.threads for e in normal.threads[t]]
    assert "tgkill(TID0, TID0, SIGURG) = 0" in texts
    assert "getpid() = TID0" in texts
    assert "--- SIGURG {si_signo=SIGURG, si_code=SI_TKILL, si_pid=TID0, si_uid=0} ---" in texts


@needs_strace
def test_timing_calls_and_preemption_signals_are_set_aside(goroutines: Path) -> None:
    normal = normalize(read_strace(goroutines))
    compared = {e.name for entries in normal.threads.values() for e in entries}
    assert not compared & {"futex", "nanosleep", "sched_yield", "tgkill", "rt_sigreturn", "--- SIGURG"}
    assert {e.name for e in normal.set_aside[TIMING]} >= {"futex", "nanosleep"}


def test_clock_reads_are_a_class_of_their_own() -> None:
    # our own --strace output without a vDSO
    log = parse_strace(
        "clock_gettime(CLOCK_MONOTONIC, {tv_sec=100, tv_nsec=19247}) = 0\n"
        "gettimeofday({tv_sec=1700000000, tv_usec=5}, NULL) = 0\n"
        "getpid() = 1000\n"
    )
    normal = normalize(log)
    assert [e.name for e in normal.set_aside[CLOCK]] == ["clock_gettime", "gettimeofday"]
    assert [e.name for e in normal.set_aside[TIMING]] == ["getpid"]
    assert normal.threads[0] == []


@needs_strace
def test_host_files_are_one_entry_each_compared_by_path_and_result(hello: Path) -> None:
    log = read_strace(hello)
    normal = normalize(log)
    host = [e for e in normal.threads[0] if e.cls == HOST_FILE]
    paths = [e.args[0] for e in host]
    assert '"/proc/self/cgroup"' in paths and '"/proc/self/mountinfo"' in paths
    assert all(e.result == "fd" for e in host)
    folded = {n for e in host for n in e.lines}
    for call in log.calls:
        if call.name in ("read", "pread64", "close") and call.pid == log.main_pid:
            assert call.line in folded, call.raw  # hello reads nothing but host files
    assert not [e for e in normal.threads[0] if e.name in ("read", "pread64", "close", "openat")]


def test_cgroup_v1_and_v2_files_compare_equal() -> None:
    # a cgroup v1 host (strace 6.1 on this machine) and our emulator's v2 files
    v1 = normalize(
        parse_strace(
            'openat(AT_FDCWD, "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", O_RDONLY|O_CLOEXEC) = 3\n'
            'openat(AT_FDCWD, "/sys/fs/cgroup/cpu/cpu.cfs_period_us", O_RDONLY|O_CLOEXEC) = 4\n'
            "sched_getaffinity(0, 8192, [0 1]) = 32\n"
            'pread64(3, "-1\\n", 64, 0) = 3\n'
            "close(3) = 0\n"
            "close(4) = 0\n"
        )
    )
    v2 = normalize(
        parse_strace(
            'openat(AT_FDCWD, "/sys/fs/cgroup/cpu.max", O_RDONLY|O_CLOEXEC) = 3\n'
            "sched_getaffinity(0, 8192, [0]) = 8\n"
            'pread64(3, "max 100000\\n", 64, 0) = 11\n'
            "close(3) = 0\n"
        )
    )
    (cgroup1, affinity1), (cgroup2, affinity2) = v1.threads[0], v2.threads[0]
    assert cgroup1.key == cgroup2.key == 'host-file("/sys/fs/cgroup/*") = fd'
    assert cgroup1.lines == (1, 2, 4, 5, 6) and cgroup2.lines == (1, 3, 4)
    assert (affinity1.cls, affinity1.text()) == (HOST_VALUE, "sched_getaffinity(0, 8192, [2 CPUs]) = SIZE")
    assert (affinity2.cls, affinity2.text()) == (HOST_VALUE, "sched_getaffinity(0, 8192, [1 CPUs]) = SIZE")


def test_missing_host_file_keeps_its_errno() -> None:
    normal = normalize(
        parse_strace('openat(AT_FDCWD, "/sys/nope", O_RDONLY) = -1 ENOENT (No such file or directory)\n')
    )
    assert normal.threads[0][0].text() == 'host-file("/sys/nope") = ENOENT'


@needs_strace
def test_thread_creation_takes_clone_and_its_signal_mask(hello: Path) -> None:
    normal = normalize(read_strace(hello))
    taken = normal.set_aside[THREADS]
    clones = [e for e in taken if e.name == "clone"]
    masks = [e for e in taken if e.name == "rt_sigprocmask"]
    assert clones and len(masks) == 2 * len(clones)
    assert not [e for entries in normal.threads.values() for e in entries if e.name == "clone"]


def test_heap_commits_and_new_arenas_are_set_aside() -> None:
    # strace 6.1 of the cpu fixture (Go 1.27): its random heap base put the heap 60 MiB into the
    # first arena, so growing it took a second arena, its metadata and another 4 MiB commit
    normal = normalize(
        parse_strace(
            "mmap(0x27fdac000000, 67108864, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x27fdac000000\n"
            "mmap(NULL, 33554432, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f5767800000\n"
            "madvise(0x7f5767800000, 33554432, MADV_NOHUGEPAGE) = 0\n"
            "mmap(NULL, 69648, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f576a089000\n"
            "mmap(0x27fdafc00000, 4194304, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS, -1, 0)"
            " = 0x27fdafc00000\n"
            "mmap(0x7f576a0a5000, 131072, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS, -1, 0)"
            " = 0x7f576a0a5000\n"
            "mmap(0x27fdb0000000, 67108864, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x27fdb0000000\n"
            "mmap(NULL, 69648, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f576a017000\n"
            "mmap(0x27fdb0000000, 4194304, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS, -1, 0)"
            " = 0x27fdb0000000\n"
        )
    )
    assert [e.line for e in normal.set_aside[HEAP]] == [1, 5, 7, 8, 9]
    assert [e.line for e in normal.threads[0]] == [2, 3, 4, 6]


@needs_strace
def test_startup_execve_is_set_aside(hello: Path) -> None:
    normal = normalize(read_strace(hello))
    assert [e.name for e in normal.set_aside[STARTUP]] == ["execve"]


@needs_strace
def test_every_rule_can_be_switched_off(hello: Path) -> None:
    log = read_strace(hello)
    raw = normalize(log, rules=())
    assert raw.set_aside == {}
    assert [e.events[0] for e in raw.threads[0]] == [e for e in log.events if e.pid == log.main_pid]
    assert not any("ADDR" in e.text() or "TID" in e.text() for e in raw.threads[0])

    def compared(rules: frozenset[str]) -> list[str]:
        normal = normalize(log, rules)
        return [e.text() for entries in normal.threads.values() for e in entries]

    full = compared(DEFAULT_RULES)
    effects = {  # rule -> something compared only without it
        "timing": lambda texts: any(t.startswith("nanosleep(") for t in texts),  # sysmon's
        "addresses": lambda texts: any("0x7f" in t for t in texts),
        "thread-ids": lambda texts: f"gettid() = {log.main_pid}" in texts,
        "thread-creation": lambda texts: any(t.startswith("clone(") for t in texts),
        "heap-growth": lambda texts: any(", 4194304, PROT_READ|PROT_WRITE" in t for t in texts),
        "host-files": lambda texts: any('"/proc/self/cgroup"' in t and t.startswith("openat") for t in texts),
        "host-values": lambda texts: not any(t.endswith("= SIZE") for t in texts),
        "startup": lambda texts: any(t.startswith("execve(") for t in texts),
        "exits": lambda texts: any(t.startswith("+++") for t in texts),
    }
    unnormalised = compared(frozenset())
    for rule, shows in effects.items():
        assert not shows(full), rule
        if rule == "timing" and not shows(unnormalised):
            continue  # sysmon slept or not before the native run ended: scheduling decides
        assert shows(compared(DEFAULT_RULES - {rule})), rule
    assert set(RULES) - set(effects) == {"clock", "fd-paths", "moved"}  # no effect on a native hello
    with pytest.raises(ValueError, match="unknown"):
        normalize(log, ["no-such-rule"])


def test_calls_that_exit_group_cut_off_are_timing() -> None:
    """Natively, threads killed mid-syscall by exit_group show ``= ?`` or ``???()``, at random."""
    from emulator.normalize import TIMING, normalize
    from emulator.stracelog import parse_strace

    log = parse_strace(
        "100 nanosleep({tv_sec=0, tv_nsec=20000},  <unfinished ...>\n"
        "101 exit_group(0) = ?\n"
        "100 <... nanosleep resumed> <unfinished ...>) = ?\n"
        "100 ???() = ?\n"
        "100 +++ exited with 0 +++\n"
        "101 +++ exited with 0 +++\n"
    )
    normal = normalize(log)
    timing = [e.key for e in normal.set_aside.get(TIMING, [])]
    assert len(timing) == 2 and all(("???" in str(k) or "nanosleep" in str(k)) for k in timing)
    remaining = [e.text() for seq in normal.threads.values() for e in seq]
    assert any("exit_group" in line for line in remaining)
