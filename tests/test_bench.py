"""The benchmark's bookkeeping: runners interleaved, observed/plain from paired runs."""

from __future__ import annotations

from pathlib import Path

from emulator import bench


def test_runners_take_turns_and_the_ratio_pairs_their_runs(monkeypatch) -> None:
    """Each round runs every runner once (so load that drifts during the bench hits both alike), and
    observed/plain is the median of the rounds' ratios, not the ratio of two medians."""
    plain_times = iter([0.10, 0.20, 0.30])  # the machine got busier, then quiet for the last observed
    observed_times = iter([0.11, 0.22, 0.12])
    order: list[str] = []

    def measure(cmd, timeout, env=None, reaper=None):
        observed = "--calls" in cmd
        order.append("observed" if observed else "ours")
        seconds = next(observed_times if observed else plain_times)
        return bench.Run(exit_code=0, wall=seconds + 0.5, maxrss_kib=1000), f"emulation: {seconds} s\n"

    monkeypatch.setattr(bench, "measure", measure)
    results = bench.bench_fixture("hello", ["ours", "observed"], Path("/bin/true"), 3, 10.0)
    bench.add_ratios(results)

    assert order == ["ours", "observed"] * 3
    plain, observed = results
    assert (plain.emulation, observed.emulation) == (0.20, 0.12)  # their ratio would say 0.6x
    assert round(observed.vs_plain, 6) == 1.1  # rounds: 1.1x, 1.1x, 0.4x
    assert "1.10x" in bench.format_table(results)


def test_a_failing_runner_stops_but_the_others_go_on(monkeypatch) -> None:
    def measure(cmd, timeout, env=None, reaper=None):
        code = 1 if "--calls" in cmd else 0
        return bench.Run(exit_code=code, wall=0.5, maxrss_kib=1000), "emulation: 0.1 s\nboom\n"

    monkeypatch.setattr(bench, "measure", measure)
    plain, observed = bench.bench_fixture("hello", ["ours", "observed"], Path("/bin/true"), 3, 10.0)
    assert (len(plain.runs), plain.status) == (3, "ok")
    assert (len(observed.runs), observed.status, observed.note) == (1, "failed (exit 1)", "boom")
