"""A short soak: the goroutines fixture again and again in one process through the Python API.

``make soak`` runs 200; here 15 plus 10 keep the normal suite fast. The
bounds come from measurements (``python -m emulator.soak --runs 200``, with
and without ``--collect``). Before this test's fixes each dead machine
stayed alive until Python's cycle collector reached it, about 15 MiB each
(RSS 54 -> 154 -> 266 MiB at runs 1, 20 and 200), and every run leaked its
capstone handle (about 90 KiB, +16 MiB over runs 20-200 even with the
collector forced). Now: 44 -> 53 -> 57 MiB, flat from run 100 on, and
+0.2 MiB over runs 20-200 with the collector forced.
"""

from __future__ import annotations

import gc

from conftest import built

from emulator.soak import native_stdout, soak

MIB = 1024  # RSS figures are in KiB


def test_repeated_runs_print_the_native_output_and_do_not_grow_the_host_memory() -> None:
    path = built("goroutines")
    expected = native_stdout(path)
    assert expected.startswith(b"workers=8 items=8000000 checksum=")

    report = soak(path, expected, 15)
    assert report.failures == []
    # One more dead machine kept (a ~15 MiB engine) would break this.
    assert report.growth(since=5) < 8 * MIB, report.summary(since=5)

    gc.collect()
    collected = soak(path, expected, 10, collect=True)
    assert collected.failures == []
    # The capstone handle leak alone added ~1 MiB over these 10 runs.
    assert collected.growth(since=2) < MIB // 2, collected.summary(since=2)
