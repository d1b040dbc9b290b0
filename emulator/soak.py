"""Soak: one fixture many times in one process, checking every output and the host memory.

``python -m emulator.soak`` (``make soak``) runs the goroutines fixture 200
times through the Python API with seeds 0..199 and prints the resident set
size after chosen runs. A run that prints something else than the native
binary, or RSS that keeps climbing, is what a long-lived user of ``api.run``
(a test suite, a server) would hit; the exit status is 1 then.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from emulator import api, toolchains

_PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def rss_kib() -> int:
    """This process's resident set size now, in KiB (``/proc/self/statm``'s second field)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE_KIB


def native_stdout(path: Path) -> bytes:
    """What the binary prints when run for real: the reference every emulated run must match."""
    return subprocess.run([str(path)], capture_output=True, check=True, timeout=60).stdout


@dataclass
class SoakReport:
    """RSS after each run (KiB) and the runs whose result differed from the reference."""

    rss: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def at(self, run: int) -> int:
        """RSS after run number ``run`` (1-based), or after the last run if there were fewer."""
        return self.rss[min(run, len(self.rss)) - 1]

    def growth(self, since: int) -> int:
        """KiB gained from the end of run ``since`` to the end of the last run."""
        return self.rss[-1] - self.at(since)

    def summary(self, since: int) -> str:
        return (
            f"runs: {len(self.rss)}, failures: {len(self.failures)}\n"
            f"RSS KiB: first {self.rss[0]}, run {since} {self.at(since)}, "
            f"median {int(statistics.median(self.rss))}, last {self.rss[-1]}, "
            f"growth run {since}->{len(self.rss)} {self.growth(since):+d}"
        )


def soak(
    path: Path,
    expected: bytes,
    runs: int,
    *,
    collect: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> SoakReport:
    """Run ``path`` ``runs`` times with seeds 0.. and record each run's RSS and any wrong result.

    ``collect`` runs Python's cycle collector after each run, so what remains is a true leak
    rather than garbage the collector has not reached yet.
    """
    report = SoakReport()
    for seed in range(runs):
        result = api.run(path, seed=seed)
        if result.exit_status != 0 or result.stdout != expected:
            report.failures.append(
                f"seed {seed}: status {result.exit_status} ({result.reason}), stdout {result.stdout!r}"
            )
        del result
        if collect:
            gc.collect()
        report.rss.append(rss_kib())
        if progress is not None:
            progress(seed + 1, report.rss[-1])
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--fixture", default="goroutines", choices=sorted(toolchains.FIXTURES))
    parser.add_argument("--go", default=toolchains.DEFAULT_GO, metavar="VERSION")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--since", type=int, default=20, help="report RSS growth from this run on")
    parser.add_argument("--collect", action="store_true", help="gc.collect() after each run")
    parser.add_argument("--every", type=int, default=20, help="print RSS every N runs")
    ns = parser.parse_args(argv)
    path = toolchains.build_fixture(ns.fixture, ns.go)
    expected = native_stdout(path)

    def progress(run: int, rss: int) -> None:
        if run == 1 or run % ns.every == 0:
            print(f"run {run}: RSS {rss} KiB", flush=True)

    report = soak(path, expected, ns.runs, collect=ns.collect, progress=progress)
    print(report.summary(ns.since))
    for failure in report.failures[:10]:
        print(f"wrong result: {failure}", file=sys.stderr)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
