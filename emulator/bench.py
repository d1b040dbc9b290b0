"""Benchmark our emulator against native execution and qemu-user.

Run ``python -m emulator.bench`` (``make bench``).  Each fixture binary is run
``--runs`` times under every runner; the table shows medians of wall time and
of the child's peak RSS (from ``wait4`` rusage), plus how many times slower we
are than qemu-user and than native.  Guest stdout is discarded.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_FIXTURES = ("hello", "cpu", "goroutines")
RUNNERS = ("native", "qemu", "ours", "observed")
# "observed": ours with the observation layer on; hello with the default call path and every event,
# the CPU-heavy fixture with every call recorded. Compared with plain "ours" on emulation time.
OBSERVED_FLAGS = {"cpu": ("--calls=all",)}
DEFAULT_OBSERVED_FLAGS = ("--calls", "--events", os.devnull)
QEMU = "qemu-x86_64"
# Fixtures whose correct behaviour is a non-zero exit (panic exits 2 by design).
EXPECTED_EXIT = {"panic": 2, "nilderef": 2}

# Short enough to run again under valgrind (a minute or so each) for the instruction counts.
COUNTED_FIXTURES = ("hello", "goroutines")
_COLLECTED = re.compile(r"^==\d+== Collected : (\d+)\s*$", re.M)

# Our CLI prints this to stderr with --stats; it excludes Python start-up and loading.
_EMU_LINE = re.compile(r"^emulation:\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*s\s*$", re.M)
_REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Run:
    """Outcome of one execution of a binary under one runner."""

    exit_code: int  # negative: killed by that signal
    wall: float  # seconds
    maxrss_kib: int
    emulation: float | None = None  # seconds, ours only
    timed_out: bool = False


@dataclass
class Result:
    """Medians over the successful runs of one fixture under one runner."""

    fixture: str
    runner: str
    status: str  # "ok", "n/a", "failed (exit N)", "timeout"
    runs: list[Run] = field(default_factory=list)
    wall: float | None = None
    maxrss_kib: float | None = None
    emulation: float | None = None
    vs_qemu: float | None = None
    vs_native: float | None = None
    vs_plain: float | None = None  # median over rounds of observed / plain emulation time
    instructions: int | None = None  # host instructions in the emulation window (callgrind)
    vs_plain_instructions: float | None = None
    note: str = ""


# A child forked from Python inherits Python's RSS high-water mark, and Linux
# keeps it across exec, so wait4 from here would report >= ~16 MiB even for a
# 2 MiB Go hello.  This tiny reaper forks the target from a small process and
# reports the target's own wait4 rusage (and wall time) through a file.
_REAPER_SRC = r"""
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>

int main(int argc, char **argv) {
    struct timespec t0, t1;
    struct rusage ru;
    int status;
    if (argc < 3) return 127;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) { perror("reaper: fork"); return 127; }
    if (pid == 0) { execvp(argv[2], argv + 2); perror(argv[2]); _exit(127); }
    if (wait4(pid, &status, 0, &ru) < 0) { perror("reaper: wait4"); return 127; }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    FILE *f = fopen(argv[1], "w");
    if (!f) return 127;
    long long ns = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
    fprintf(f, "%d %ld %lld\n", status, ru.ru_maxrss, ns);
    return fclose(f) ? 127 : 0;
}
"""


def reaper_path() -> Path | None:
    """Build (once) and return the reaper, or None when there is no C compiler."""
    from emulator.toolchains import cache_dir

    tag = hashlib.sha256(_REAPER_SRC.encode()).hexdigest()[:12]
    exe = cache_dir() / "bench" / f"reaper-{tag}"
    if exe.is_file():
        return exe
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        return None
    exe.parent.mkdir(parents=True, exist_ok=True)
    src = exe.with_suffix(".c")
    src.write_text(_REAPER_SRC)
    tmp = exe.with_name(exe.name + ".tmp")
    # Static keeps the reaper's own footprint (the floor of every reading) minimal.
    for extra in (["-static"], []):
        proc = subprocess.run([cc, "-O2", *extra, "-o", str(tmp), str(src)], capture_output=True)
        if proc.returncode == 0:
            os.replace(tmp, exe)
            return exe
    return None


def measure(
    cmd: Sequence[str],
    timeout: float,
    env: dict[str, str] | None = None,
    reaper: Path | None = None,
) -> tuple[Run, str]:
    """Run ``cmd`` once; return its timing/rusage and its stderr text.

    ``os.wait4`` gives the rusage of exactly one child, which is where peak RSS
    comes from; with ``reaper`` that wait4 happens in the reaper instead (see
    ``_REAPER_SRC``).  Stderr goes to a temp file so a chatty child can never
    block on a full pipe.  The child gets its own session so a timeout can kill
    the whole process group, grandchildren included.
    """
    with tempfile.TemporaryFile() as err, tempfile.TemporaryDirectory() as tmpdir:
        report = Path(tmpdir) / "rusage"
        argv = [str(reaper), str(report), *cmd] if reaper else list(cmd)
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
            start_new_session=True,
        )
        expired = threading.Event()
        reaped = threading.Lock()

        def kill() -> None:
            # os.killpg, not proc.kill: Popen.kill polls and could reap the child
            # before our wait4 does, losing its rusage.
            with reaped:
                if proc.returncode is None:
                    expired.set()
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
            with reaped:
                # Setting returncode also stops Popen from trying to reap it again.
                proc.returncode = os.waitstatus_to_exitcode(status)
        except BaseException:
            kill()  # e.g. Ctrl-C: the child is in its own session and would not see it
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        exit_code, maxrss = proc.returncode, usage.ru_maxrss
        if reaper and report.is_file():
            raw_status, maxrss_s, wall_ns = report.read_text().split()
            exit_code = os.waitstatus_to_exitcode(int(raw_status))
            maxrss, wall = int(maxrss_s), int(wall_ns) / 1e9
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    run = Run(exit_code=exit_code, wall=wall, maxrss_kib=maxrss, timed_out=expired.is_set())
    return run, stderr


def _ours_env() -> dict[str, str]:
    """Environment that lets ``python -m emulator`` import the repo's package."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def _runner_cmd(runner: str, binary: Path, stats: bool, fixture: str = "") -> list[str]:
    if runner == "native":
        return [str(binary)]
    if runner == "qemu":
        return [QEMU, str(binary)]
    cmd = [sys.executable, "-m", "emulator", "run"]
    if stats:
        cmd.append("--stats")
    if runner == "observed":
        cmd.extend(OBSERVED_FLAGS.get(fixture, DEFAULT_OBSERVED_FLAGS))
    return [*cmd, str(binary)]


def bench_fixture(
    fixture: str, runners: Sequence[str], binary: Path, runs: int, timeout: float, reaper: Path | None = None
) -> list[Result]:
    """Run one fixture under each runner ``runs`` times and summarise each.

    Interleaved, every runner's i-th run before any runner's (i+1)-th: on a shared machine the
    load drifts over a bench, and runs taken in blocks would compare one moment's load with
    another's (observed/plain swung from 0.9x to 1.5x that way)."""
    results = {runner: Result(fixture=fixture, runner=runner, status="ok") for runner in runners}
    stats = {runner: runner in ("ours", "observed") for runner in runners}
    if "qemu" in results and shutil.which(QEMU) is None:
        results["qemu"].status = "n/a"
        results["qemu"].note = f"{QEMU} not on PATH (apt-get install qemu-user)"
    for i in range(runs):
        for runner in runners:
            if results[runner].status == "ok":
                stats[runner] = _run_once(results[runner], binary, i, stats[runner], timeout, reaper)
    for res in results.values():
        if res.status == "ok":
            res.wall = statistics.median(r.wall for r in res.runs)
            res.maxrss_kib = statistics.median(r.maxrss_kib for r in res.runs)
            emus = [r.emulation for r in res.runs if r.emulation is not None]
            res.emulation = statistics.median(emus) if len(emus) == len(res.runs) else None
    return list(results.values())


def _run_once(res: Result, binary: Path, i: int, stats: bool, timeout: float, reaper: Path | None) -> bool:
    """Run ``i`` of ``res``'s runner, recorded in ``res``; whether the next runs ask for --stats."""
    fixture, runner = res.fixture, res.runner
    ours = runner in ("ours", "observed")
    env = _ours_env() if ours else None
    run, stderr = measure(_runner_cmd(runner, binary, stats, fixture), timeout, env, reaper)
    if stats and i == 0 and run.exit_code == 2 and "--stats" in stderr and "unrecognized" in stderr:
        # An older CLI without --stats: still time it, just without emulation-only time.
        stats = False
        run, stderr = measure(_runner_cmd(runner, binary, stats, fixture), timeout, env, reaper)
    if ours:
        m = _EMU_LINE.findall(stderr)
        run.emulation = float(m[-1]) if m else None
    res.runs.append(run)
    if run.timed_out:
        res.status = f"timeout ({timeout:g} s)"
    elif run.exit_code != EXPECTED_EXIT.get(fixture, 0):
        res.status = f"failed (exit {run.exit_code})"
        lines = [ln for ln in stderr.splitlines() if ln.strip() and not _EMU_LINE.match(ln)]
        res.note = lines[-1].strip()[:200] if lines else ""
    return stats


def window_instructions(binary: Path, runner: str, fixture: str, timeout: float) -> int | None:
    """Host instructions executed inside ``Machine.run`` (the emulation window), counted by
    valgrind's callgrind: the same on every run (to a few thousand of ~400 million, with a fixed hash
    seed), where the wall time of a 0.1 s run on a shared machine moves by 20%. None without
    valgrind or a build with its header."""
    if shutil.which("valgrind") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={tmp}/callgrind.out",
            sys.executable,
            "-m",
            "emulator.bench",
            "--count-window",
            *_runner_cmd(runner, binary, False, fixture)[3:],  # what follows "python -m emulator"
        ]
        env = {**_ours_env(), "PYTHONHASHSEED": "0"}  # the same dict and set layouts every run
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
    counts = _COLLECTED.findall(proc.stderr)
    ok = proc.returncode == EXPECTED_EXIT.get(fixture, 0) and counts and int(counts[-1]) > 0
    return int(counts[-1]) if ok else None


def count_windows(results: list[Result], binaries: dict[str, Path], timeout: float) -> None:
    """Fill ``instructions`` on the ours/observed rows of COUNTED_FIXTURES (two at a time)."""
    from concurrent.futures import ThreadPoolExecutor

    rows = [
        r
        for r in results
        if r.fixture in COUNTED_FIXTURES and r.runner in ("ours", "observed") and r.status == "ok"
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = pool.map(
            lambda r: window_instructions(binaries[r.fixture], r.runner, r.fixture, timeout), rows
        )
        for row, count in zip(rows, counts, strict=True):
            row.instructions = count


def _count_window(cli_args: Sequence[str]) -> int:
    """``--count-window ARGS``: the CLI with ARGS, callgrind counting only inside Machine.run."""
    from emulator import _native, cli, machine

    run = machine.Machine.run

    def counted(self: machine.Machine) -> object:
        _native.callgrind_collect(True)
        try:
            return run(self)
        finally:
            _native.callgrind_collect(False)

    machine.Machine.run = counted  # type: ignore[method-assign]
    return cli.main(list(cli_args))


def add_ratios(results: list[Result]) -> None:
    """Fill ours/qemu and ours/native wall-time ratios on the 'ours' rows, and observed/plain: the
    median of each round's ratio (runs taken side by side share the machine's load of the moment)."""
    by_key = {(r.fixture, r.runner): r for r in results}
    for r in results:
        plain = by_key.get((r.fixture, "ours"))
        if r.runner == "observed" and r.emulation and plain is not None and plain.emulation:
            pairs = [
                (o.emulation, p.emulation)
                for o, p in zip(r.runs, plain.runs, strict=False)
                if o.emulation and p.emulation
            ]
            r.vs_plain = statistics.median(o / p for o, p in pairs) if pairs else None
            if r.instructions and plain.instructions:
                r.vs_plain_instructions = r.instructions / plain.instructions
        if r.runner != "ours" or r.wall is None:
            continue
        for other, attr in (("qemu", "vs_qemu"), ("native", "vs_native")):
            base = by_key.get((r.fixture, other))
            if base is not None and base.wall:
                setattr(r, attr, r.wall / base.wall)


def _fmt_secs(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{v:.4f}" if v < 1 else f"{v:.2f}"


def _fmt_ratio(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f}x"


def format_table(results: list[Result]) -> str:
    """Plain, column-aligned text table, one row per fixture and runner."""
    header = (
        "fixture",
        "runner",
        "wall_s",
        "emu_s",
        "maxrss_KiB",
        "ours/qemu",
        "ours/native",
        "observed/plain",
        "instr_M",
        "obs/plain_instr",
        "status",
    )
    rows = [header]
    for r in results:
        ours = r.runner in ("ours", "observed")
        rows.append(
            (
                r.fixture,
                r.runner,
                _fmt_secs(r.wall),
                _fmt_secs(r.emulation) if ours else "-",
                "n/a" if r.maxrss_kib is None else f"{r.maxrss_kib:.0f}",
                _fmt_ratio(r.vs_qemu) if ours else "-",
                _fmt_ratio(r.vs_native) if ours else "-",
                f"{r.vs_plain:.2f}x" if r.vs_plain is not None else "-",
                f"{r.instructions / 1e6:.1f}" if r.instructions else "-",
                f"{r.vs_plain_instructions:.3f}x" if r.vs_plain_instructions is not None else "-",
                r.status + (f": {r.note}" if r.note and r.status != "ok" else ""),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = []
    for row in rows:
        cells = [
            c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=False))
        ]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; exits 0 even when our emulator fails a fixture."""
    from emulator import toolchains  # deferred: keeps `--help` instant

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--count-window"]:
        return _count_window(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m emulator.bench", description=__doc__)
    parser.add_argument("--runs", type=int, default=11, help="runs per fixture and runner (default 11)")
    parser.add_argument(
        "--fixtures",
        default=",".join(DEFAULT_FIXTURES),
        help=f"comma-separated fixtures (default {','.join(DEFAULT_FIXTURES)})",
    )
    parser.add_argument(
        "--runners", default=",".join(RUNNERS), help=f"comma-separated subset of {','.join(RUNNERS)}"
    )
    parser.add_argument("--go", default=toolchains.DEFAULT_GO, choices=toolchains.GO_VERSIONS)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per run before kill")
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="PATH",
        help="write JSON (all runs included) to PATH, or to stdout instead of the table",
    )
    parser.add_argument(
        "--no-reaper", action="store_true", help="wait4 the runner directly instead of via the C reaper"
    )
    parser.add_argument(
        "--no-count",
        action="store_true",
        help=f"skip the callgrind instruction counts of ours and observed ({', '.join(COUNTED_FIXTURES)})",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    fixtures = [f for f in args.fixtures.split(",") if f]
    runners = [r for r in args.runners.split(",") if r]
    for f in fixtures:
        if f not in toolchains.FIXTURES:
            parser.error(f"unknown fixture {f!r}; known: {', '.join(toolchains.FIXTURES)}")
    for r in runners:
        if r not in RUNNERS:
            parser.error(f"unknown runner {r!r}; known: {', '.join(RUNNERS)}")

    reaper = None if args.no_reaper else reaper_path()
    if reaper:
        rss_method = "wait4 in a forking C reaper"
    else:
        rss_method = "wait4 from Python (includes the benchmark's own ~16 MiB inherited peak)"
        print(f"note: maxrss via {rss_method}: no C compiler or --no-reaper", file=sys.stderr)
    if "qemu" in runners and shutil.which(QEMU) is None:
        print(f"note: {QEMU} not found; qemu column is n/a (apt-get install qemu-user)", file=sys.stderr)
    results: list[Result] = []
    binaries: dict[str, Path] = {}
    for fixture in fixtures:
        binary = binaries[fixture] = toolchains.build_fixture(fixture, args.go)
        print(
            f"bench: {fixture} under {', '.join(runners)} x{args.runs}, interleaved ...",
            file=sys.stderr,
            flush=True,
        )
        results.extend(bench_fixture(fixture, runners, binary, args.runs, args.timeout, reaper))
    if not args.no_count and shutil.which("valgrind") is not None:
        print("bench: host instructions of the emulation under callgrind ...", file=sys.stderr, flush=True)
        count_windows(results, binaries, args.timeout)
    add_ratios(results)

    if args.json:
        doc = {
            "go": args.go,
            "runs": args.runs,
            "rss_method": rss_method,
            "results": [asdict(r) for r in results],
        }
        text = json.dumps(doc, indent=2)
        if args.json == "-":
            print(text)
            return 0
        Path(args.json).write_text(text + "\n")
    print(
        f"go {args.go}, {args.runs} runs each, interleaved, medians (observed/plain: of the paired runs' "
        f"ratios); guest stdout discarded; maxrss via {rss_method}; instr_M: host instructions of the "
        "emulation under callgrind (deterministic)"
    )
    print(format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
