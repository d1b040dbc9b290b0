"""The Go standard library's own tests under the emulator: a small fast subset.

Each package's test binary runs natively and emulated with -test.short -test.v
from its source directory; the emulated run must pass and skip exactly the
tests the native one does. ``make conformance`` runs the whole list.
"""

from __future__ import annotations

import pytest

from emulator import conformance


@pytest.mark.parametrize("package", conformance.FAST)
def test_package_conforms(package: str) -> None:
    pkg = next(p for p in conformance.PACKAGES if p.path == package)
    native = conformance.run_native(pkg)
    emulated = conformance.run_emulated(pkg, timeout=300)
    assert native.status == 0 and native.passed, native.tail
    row = conformance.Row(pkg, native, emulated)
    assert row.conforms, row.first_cause()
    assert emulated.started == native.started  # the same tests, in the same order


def test_parse_counts_runs_passes_skips_and_failures() -> None:
    output = """=== RUN   TestA
--- PASS: TestA (0.00s)
=== RUN   TestB
=== RUN   TestB/sub
    --- SKIP: TestB/sub (0.00s)
        b_test.go:9: short mode
--- PASS: TestB (0.00s)
=== RUN   TestC
    c_test.go:3: got 1, want 2
--- FAIL: TestC (0.01s)
FAIL
"""
    run = conformance.parse(output, 1, 0.5)
    assert run.started == ["TestA", "TestB", "TestB/sub", "TestC"]
    assert (run.passed, run.skipped, run.failed) == ({"TestA", "TestB"}, {"TestB/sub"}, {"TestC"})
    assert run.result == "FAIL"


def test_a_timeout_and_a_budget_are_named() -> None:
    assert conformance.parse("=== RUN   TestSlow\n", None, 9.0).result == "timeout"
    assert conformance.parse("", 90, 1.0).result == "budget"
