"""Shared pytest helpers, and the hypothesis profiles.

Two profiles: ``default`` for the normal run (few examples, derandomized so
every run and CI tries the same inputs) and ``fuzz`` for ``make fuzz``
(``HYPOTHESIS_PROFILE=fuzz``: many examples, random). Fuzz tests pick their
example counts with :func:`examples`.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from emulator.toolchains import DEFAULT_GO, build_fixture

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
_LONG = PROFILE == "fuzz"

_COMMON = {
    "deadline": None,  # examples run the emulator: their time is measured in benchmarks, not here
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    "print_blob": True,
}
settings.register_profile("default", derandomize=True, database=None, **_COMMON)
settings.register_profile("fuzz", derandomize=False, **_COMMON)
settings.load_profile(PROFILE)


def examples(normal: int, long: int) -> settings:
    """Settings with ``normal`` examples in the normal run, ``long`` under ``make fuzz``."""
    return settings(max_examples=long if _LONG else normal)


@functools.cache
def built(name: str, version: str = DEFAULT_GO, stripped: bool = False) -> Path:
    """Path of a built Go fixture binary; builds (and installs Go) on first use only.

    Import it in tests with ``from conftest import built``.
    """
    return build_fixture(name, version, stripped)


TRACEBACK = "Traceback (most recent call last)"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    """Fail any test during which a Python traceback reached stderr (ours or a child's sharing
    fd 2): users must only ever see one-line errors and reports."""
    report: pytest.TestReport = yield
    if report.when == "call" and report.passed and TRACEBACK in report.capstderr:
        report.outcome = "failed"
        report.longrepr = f"a Python traceback reached stderr:\n{report.capstderr}"
    return report
