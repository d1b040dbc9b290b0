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


def test_the_counted_window_runs_the_cli_unchanged(capfd) -> None:
    """Outside valgrind the counting hooks do nothing: the run is the CLI's own."""
    from conftest import built

    assert bench.main(["--count-window", "run", str(built("hello"))]) == 0
    assert capfd.readouterr().out == "Hello, World!\n"


def test_instruction_counts_of_the_emulation_window_are_repeatable() -> None:
    """Under callgrind the emulation's host instructions are the same run after run, so the
    instruction column means something on a machine whose wall times move by 20%."""
    import shutil

    import pytest
    from conftest import built

    from emulator import _native

    if shutil.which("valgrind") is None:
        pytest.skip("valgrind not installed")
    if not _native.callgrind_collect(False):  # outside valgrind: does nothing but answer
        pytest.skip("the extension was built without valgrind's header (valgrind installed later?)")
    hello = built("hello")
    rows = [bench.Result("hello", "ours", "ok") for _ in range(2)]
    bench.count_windows(rows, {"hello": hello}, timeout=600)
    first, again = (r.instructions for r in rows)
    assert first and again and first > 100_000_000  # hello: about 350 M
    assert abs(first - again) / first < 0.005
