"""Shared pytest helpers."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from emulator.toolchains import DEFAULT_GO, build_fixture


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
