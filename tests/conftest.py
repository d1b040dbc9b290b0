"""Shared pytest helpers."""

from __future__ import annotations

import functools
from pathlib import Path

from emulator.toolchains import DEFAULT_GO, build_fixture


@functools.cache
def built(name: str, version: str = DEFAULT_GO, stripped: bool = False) -> Path:
    """Path of a built Go fixture binary; builds (and installs Go) on first use only.

    Import it in tests with ``from conftest import built``.
    """
    return build_fixture(name, version, stripped)
