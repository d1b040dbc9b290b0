"""The Go standard library's own tests as the emulator's conformance suite.

Each package's ``go test -c`` binary (pinned newest toolchain, no cgo) runs
natively and under the emulator with ``-test.short -test.v`` from the
package's source directory; the verbose output names every test that passed,
skipped or failed. A package conforms when the emulated run passes and skips
exactly the tests the native run does. Tests that start subprocesses or open
loopback sockets are skipped with the same ``-test.skip`` pattern in both runs
(they are listed in the table), and each emulated run has an instruction
budget and a wall timeout so one hang does not stall the table.

``python -m emulator.conformance [PKG ...]`` (``make conformance``) prints it.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from emulator import exitcodes
from emulator.cpu import CPUID_LEAVES
from emulator.toolchains import (
    DEFAULT_GO,
    ToolchainError,
    build_env,
    cache_dir,
    ensure_toolchain,
    toolchain_dir,
)


@dataclass(frozen=True)
class Package:
    """One standard-library package under test."""

    path: str
    area: str  # "compute", "concurrency", "files"
    skip: str = ""  # -test.skip pattern (both runs): what the emulator does not do (subprocesses...)


def _only(*names: str) -> str:
    return f"^({'|'.join(names)})$"


# What os's tests do that the emulator does not, skipped in both runs. Found by grepping the
# tests for exec.Command, testenv.Command, MustHaveExec, StartProcess, os.Executable, net.Listen
# and httptest (the Windows-only ones left out), then by running them.
_OS_SKIPS = _only(
    # They start a subprocess (fork, exec): new processes are not emulated.
    "TestErrProcessDone",
    "TestExecutable",
    "TestExecutableDeleted",
    "TestFileChdirTestlog",
    "TestFindProcessViaPidfd",
    "TestGetppid",
    "TestHostname",
    "TestKillFindProcess",
    "TestKillStartProcess",
    "TestNewFileStdinBlocked",
    "TestOpenFileNonBlocking",
    "TestPidfdLeak",
    "TestProcessReleaseTwice",
    "TestProcessWithHandleLinux",
    "TestReadNonblockingFd",
    "TestReadlink",
    "TestRemoveAllNoFcntl",
    "TestRemoveAllWithExecutedProcess",
    "TestRootDirAsTemp",
    "TestStartProcess",
    "TestStartProcessAttr",
    "TestStartProcessWithPidfd",
    "TestStatStdin",
    "TestStdPipe",
    "TestUNIXProcessAlive",
    # They open TCP or Unix sockets: networking is not emulated.
    "TestGetPollFDAndNetwork",
    "TestLargeCopyViaNetwork",
    "TestSendFile",
    "TestSpliceFile",
    # They skip themselves when run as root, as the native run here is; the guest is uid 1000,
    # so emulated they would run (and pass): a difference of user, not of emulation.
    "TestFilePermissions",
    "TestReadOnlyWriteFile",
    "TestRemoveAllButReadOnlyAndPathError",
    "TestRemoveAllSymlinkRemovalFailure",
    "TestRemoveUnreadableDir",
) + (
    # Subtests that bind a Unix socket, found by running; a top-level "|" of -test.skip separates
    # whole test paths, and "/" the levels of one (testing's splitRegexp).
    "|^TestRootConsistency/^unix_domain_socket"
    "|^TestRootConsistency(Link|Rename)$/^(from|to)$/^unix_domain_socket"
)

# Host directories the emulated run also sees read-only: os's tests open, list and chdir into
# /usr/bin as "a system directory" (TestChdirAndGetwd, TestReaddirnamesOneAtATime).
HOST_DIRS = ("/usr/bin",)

PACKAGES = (
    Package("strconv", "compute"),
    Package("strings", "compute"),
    Package("bytes", "compute"),
    Package("sort", "compute"),
    Package("math/big", "compute", skip=_only("TestEscape", "TestLinkerGC")),
    Package("encoding/json", "compute", skip=_only("TestDecoderMaxBytesError", "TestHTTPDecoding")),
    Package("regexp", "compute"),
    Package("compress/flate", "compute"),
    Package("crypto/sha256", "compute"),
    Package("unicode/utf8", "compute"),
    Package("container/list", "compute"),
    Package("encoding/base64", "compute"),
    Package("hash/crc32", "compute"),
    Package("sync", "concurrency", skip=_only("TestIssue76126", "TestMutexMisuse")),
    Package("sync/atomic", "concurrency"),
    Package("context", "concurrency", skip=_only("ExampleAfterFunc_connection")),
    Package("time", "concurrency"),
    Package("os", "files", skip=_OS_SKIPS),
    Package("io/fs", "files"),
    Package("path/filepath", "files"),
    Package("archive/zip", "files"),
)
FAST = (
    "unicode/utf8",
    "container/list",
    "sort",
    "encoding/base64",
    "hash/crc32",
    "path/filepath",  # files: testdata, the private /tmp, the GOROOT mount (about 4 s emulated)
)  # what tests/test_conformance.py runs

# Go's internal/cpu feature names -> where CPUID reports them: (leaf, register index eax=0.., bit).
_GO_CPU_FEATURES = {
    "sse3": (1, 2, 0),
    "pclmulqdq": (1, 2, 1),
    "ssse3": (1, 2, 9),
    "fma": (1, 2, 12),
    "sse41": (1, 2, 19),
    "sse42": (1, 2, 20),
    "popcnt": (1, 2, 23),
    "aes": (1, 2, 25),
    "avx": (1, 2, 28),
    "bmi1": (7, 1, 3),
    "avx2": (7, 1, 5),
    "bmi2": (7, 1, 8),
    "erms": (7, 1, 9),
    "avx512f": (7, 1, 16),
    "avx512dq": (7, 1, 17),
    "adx": (7, 1, 19),
    "avx512cd": (7, 1, 28),
    "sha": (7, 1, 29),
    "avx512bw": (7, 1, 30),
    "avx512vl": (7, 1, 31),
    "vpclmulqdq": (7, 2, 10),
    "fsrm": (7, 3, 4),
    "rdtscp": (0x80000001, 3, 27),
}


def emulated_cpu_godebug() -> str:
    """GODEBUG that turns off, natively, the CPU features the emulated CPU lacks: both runs then
    take the same code paths and run the same implementation-specific subtests (crypto's AVX2
    and SHA-NI variants, say)."""
    missing = [
        name
        for name, (leaf, reg, bit) in _GO_CPU_FEATURES.items()
        if not CPUID_LEAVES.get((leaf, 0), (0, 0, 0, 0))[reg] >> bit & 1
    ]
    return ",".join(f"cpu.{name}=off" for name in missing)


def guest_env() -> dict[str, str]:
    """The environment of both runs."""
    return {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C", "GODEBUG": emulated_cpu_godebug()}


def host_cpus() -> int:
    """The CPUs the native run may use: the emulated run is given as many (--cpus), since tests
    skip on one CPU (sync/atomic's)."""
    return len(os.sched_getaffinity(0))


DEFAULT_MAX_INSTRUCTIONS = 200_000_000_000
DEFAULT_TIMEOUT = 1800.0  # wall seconds per emulated package (math/big takes about 1,400)
_RESULT_LINE = re.compile(r"^\s*--- (PASS|SKIP|FAIL): (\S+)")
_RUN_LINE = re.compile(r"^=== RUN\s+(\S+)")


def goroot(version: str = DEFAULT_GO) -> Path:
    return toolchain_dir(version) / "go"


def binary_path(package: str, version: str = DEFAULT_GO) -> Path:
    return cache_dir() / "conformance" / version / (package.replace("/", "_") + ".test")


def source_dir(package: str, version: str = DEFAULT_GO) -> Path:
    """Where the package's tests expect to run: their testdata is relative to it."""
    return goroot(version) / "src" / package


def build(package: str, version: str = DEFAULT_GO) -> Path:
    """``go test -c`` the package unless its binary exists; returns the binary."""
    out = binary_path(package, version)
    if out.is_file():
        return out
    go = ensure_toolchain(version)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    env = build_env(version)
    env["GOCACHE"] = str(cache_dir() / "gocache" / version)
    env["GOFLAGS"] = ""
    proc = subprocess.run(
        [str(go), "test", "-c", "-o", str(tmp), package],
        cwd=source_dir(package, version),
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"go test -c {package} failed:\n{proc.stderr.strip()}")
    os.replace(tmp, out)
    return out


@dataclass
class TestRun:
    """One run of a test binary and what its verbose output says."""

    status: int | None  # exit status; None when killed by the wall timeout
    seconds: float
    passed: set[str] = field(default_factory=set)
    skipped: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    started: list[str] = field(default_factory=list)  # every === RUN, in order
    tail: str = ""  # the last lines of output, for the first cause of a failure

    @property
    def ran(self) -> int:
        return len(self.started)

    @property
    def result(self) -> str:
        if self.status is None:
            return "timeout"
        if self.status == exitcodes.INSTRUCTION_BUDGET:
            return "budget"
        if self.status == 0:
            return "ok"
        return "FAIL" if self.failed else f"exit {self.status}"


def parse(output: str, status: int | None, seconds: float) -> TestRun:
    run = TestRun(status, seconds)
    for line in output.splitlines():
        if m := _RUN_LINE.match(line):
            run.started.append(m.group(1))
        elif m := _RESULT_LINE.match(line):
            {"PASS": run.passed, "SKIP": run.skipped, "FAIL": run.failed}[m.group(1)].add(m.group(2))
    run.tail = "\n".join(output.rstrip().splitlines()[-15:])
    return run


def test_args(pkg: Package) -> list[str]:
    args = ["-test.short", "-test.v", "-test.count=1"]
    if pkg.skip:
        args.append(f"-test.skip={pkg.skip}")
    return args


def _run(cmd: list[str], cwd: Path, timeout: float, extra_env: dict[str, str] | None = None) -> TestRun:
    started = time.perf_counter()
    env = {**guest_env(), **(extra_env or {})}
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"") + (e.stderr or b"")
        return parse(out.decode("utf-8", "replace"), None, time.perf_counter() - started)
    out = proc.stdout + proc.stderr
    return parse(out.decode("utf-8", "replace"), proc.returncode, time.perf_counter() - started)


def run_native(pkg: Package, version: str = DEFAULT_GO, timeout: float = 300.0) -> TestRun:
    return _run([str(build(pkg.path, version)), *test_args(pkg)], source_dir(pkg.path, version), timeout)


def run_emulated(
    pkg: Package,
    version: str = DEFAULT_GO,
    timeout: float = DEFAULT_TIMEOUT,
    max_instructions: int = DEFAULT_MAX_INSTRUCTIONS,
) -> TestRun:
    """In a child process whose cwd is the package directory: the guest's relative paths
    resolve there, and a hang is ended by the wall timeout without taking us with it. The
    whole GOROOT is shown read-only at its own path, as the native run sees it: tests read
    ``../../testdata`` and other packages' sources (testenv.GOROOT); so are HOST_DIRS."""
    root = os.path.realpath(goroot(version))
    shown = [f"--mount={root}:{root}:ro", *(f"--mount={d}:{d}:ro" for d in HOST_DIRS if os.path.isdir(d))]
    cmd = [
        sys.executable,
        "-m",
        "emulator",
        "run",
        str(build(pkg.path, version)),
        *shown,
        *(f"--env={key}={value}" for key, value in guest_env().items()),
        f"--cpus={host_cpus()}",
        f"--max-instructions={max_instructions}",
        "--",
        *test_args(pkg),
    ]
    here = Path(__file__).resolve().parents[1]
    return _run(cmd, source_dir(pkg.path, version), timeout, {"PYTHONPATH": str(here)})


@dataclass
class Row:
    """One package's line of the table."""

    package: Package
    native: TestRun
    emulated: TestRun

    @property
    def conforms(self) -> bool:
        """Same tests passed and skipped, none failed, same exit status."""
        n, e = self.native, self.emulated
        return (e.status, e.passed, e.skipped, e.failed) == (n.status, n.passed, n.skipped, n.failed)

    def first_cause(self) -> str:
        """What went wrong first, from the emulated run's output."""
        n, e = self.native, self.emulated
        if self.conforms:
            return ""
        missing = sorted(n.passed - e.passed)
        lines = e.tail.splitlines()
        notes = ("unimplemented syscalls", "not supported yet")  # the emulator's lines at exit
        unimplemented = [line for line in lines if any(note in line for note in notes)]
        reports = [line for line in lines if line.startswith(("emulator:", "fatal error", "panic:"))]
        what = (unimplemented or reports or [line for line in lines if "FAIL" in line] or lines[-1:] or [""])[
            0
        ]
        if e.failed:
            what = f"failed {', '.join(sorted(e.failed)[:3])}: {what}"
        elif missing and e.status is not None and e.status != exitcodes.INSTRUCTION_BUDGET:
            what = f"{len(missing)} native passes missing (first {missing[0]}): {what}"
        elif e.status is None or e.status == exitcodes.INSTRUCTION_BUDGET:
            last = e.started[-1] if e.started else "(none started)"
            what = f"stopped in {last}: {what}"
        return what.strip()[:160]


def _cell(text: str) -> str:
    """Markdown-safe: a skip pattern's alternation would split the column."""
    return text.replace("|", "\\|") or "-"


def _counts(run: TestRun) -> str:
    return f"{run.ran}/{len(run.passed)}/{len(run.skipped)}"


def format_table(rows: list[Row]) -> str:
    head = (
        "| package | native | emulated | run/pass/skip native | run/pass/skip emulated | emulated s "
        "| ratio | conforms | skipped by pattern | first cause |"
    )
    lines = [head, "|" + " --- |" * 10]
    for r in rows:
        ratio = r.emulated.seconds / r.native.seconds if r.native.seconds else float("inf")
        lines.append(
            f"| {r.package.path} | {r.native.result} | {r.emulated.result} | {_counts(r.native)} "
            f"| {_counts(r.emulated)} | {r.emulated.seconds:.1f} | {ratio:.0f}x "
            f"| {'yes' if r.conforms else 'no'} | {_cell(r.package.skip)} | {_cell(r.first_cause())} |"
        )
    conforming = sum(r.conforms for r in rows)
    lines.append(f"\n{conforming} of {len(rows)} packages conform")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulator.conformance", description=__doc__.splitlines()[0]
    )
    parser.add_argument("packages", nargs="*", help="packages to run (default: the whole list)")
    parser.add_argument("--fast", action="store_true", help=f"only {', '.join(FAST)}")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="wall seconds per emulated run"
    )
    parser.add_argument("--max-instructions", type=int, default=DEFAULT_MAX_INSTRUCTIONS)
    parser.add_argument("-j", "--jobs", type=int, default=1, help="packages run at once")
    parser.add_argument("--go", default=DEFAULT_GO, help=f"toolchain (default {DEFAULT_GO})")
    ns = parser.parse_args(argv)
    known = {p.path: p for p in PACKAGES}
    names = list(FAST) if ns.fast else ns.packages or list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"error: not in the conformance list: {', '.join(unknown)}", file=sys.stderr)
        return exitcodes.USAGE

    def one(name: str) -> Row:
        pkg = known[name]
        native = run_native(pkg, ns.go)
        emulated = run_emulated(pkg, ns.go, ns.timeout, ns.max_instructions)
        print(
            f"{name}: native {native.result} {native.seconds:.2f} s, emulated {emulated.result} "
            f"{emulated.seconds:.1f} s",
            file=sys.stderr,
            flush=True,
        )
        return Row(pkg, native, emulated)

    try:
        for name in names:
            build(name, ns.go)  # one go build at a time
    except (RuntimeError, ToolchainError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    with ThreadPoolExecutor(ns.jobs) as pool:
        rows = list(pool.map(one, names))
    print(format_table(rows))
    return 0 if all(r.conforms for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
