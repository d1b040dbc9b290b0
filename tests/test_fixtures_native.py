"""The Go fixtures run natively and print what the emulator tests will expect.

These pin the reference behaviour: if a fixture changes, the expected values
here (checked once against an independent Python computation) must change too.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import built
from elftools.elf.elffile import ELFFile

from emulator import toolchains


def run(path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(path), *args], capture_output=True, text=True, env=env, timeout=60)


def clean_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("GREETING", None)
    return env


@pytest.mark.parametrize("stripped", [False, True])
def test_hello(stripped: bool) -> None:
    proc = run(built("hello", stripped=stripped))
    assert proc.returncode == 0
    assert proc.stdout == "Hello, World!\n"
    assert proc.stderr == ""


def test_stripped_hello_has_no_symbols() -> None:
    with built("hello", stripped=True).open("rb") as f:
        names = {s.name for s in ELFFile(f).iter_sections()}
    assert ".symtab" not in names
    assert not any(n.startswith(".debug_") for n in names)
    with built("hello").open("rb") as f:
        assert ".symtab" in {s.name for s in ELFFile(f).iter_sections()}


def test_panic_exits_2_with_trace() -> None:
    proc = run(built("panic"))
    assert proc.returncode == 2
    assert proc.stdout == "about to panic\n"
    assert proc.stderr.startswith("panic: fixture failure code 42")
    assert "goroutine 1 [running]:" in proc.stderr
    assert "main.main()" in proc.stderr


def test_argsenv_with_file_and_env(tmp_path: Path) -> None:
    data = tmp_path / "input.txt"
    data.write_text("line one\nline two\n")
    env = clean_env() | {"GREETING": "hello there"}
    proc = run(built("argsenv"), str(data), "two words", "", env=env)
    assert proc.returncode == 0
    assert proc.stdout == (
        f'args: ["{data}" "two words" ""]\nGREETING=hello there\nfile 18 bytes:\nline one\nline two\n'
    )


def test_argsenv_without_args_or_env() -> None:
    proc = run(built("argsenv"), env=clean_env())
    assert proc.returncode == 0
    assert proc.stdout == "args: []\nGREETING=<unset>\nno file\n"


def test_goroutines_checksum() -> None:
    proc = run(built("goroutines"))
    assert proc.returncode == 0
    assert proc.stdout == "workers=8 items=8000000 checksum=21db06a82f8abce3\n"


def test_goroutines_single_thread_same_result() -> None:
    env = clean_env() | {"GOMAXPROCS": "1"}
    proc = run(built("goroutines"), env=env)
    assert proc.stdout == "workers=8 items=8000000 checksum=21db06a82f8abce3\n"


def test_cpu_digest() -> None:
    proc = run(built("cpu"))
    assert proc.returncode == 0
    assert proc.stdout == "96fcc2b8631bd568180f5fb571210c3cdb229df7c329960188188f4b683ecf5d\n"


def test_recursion() -> None:
    proc = run(built("recursion"))
    assert proc.returncode == 0
    assert proc.stdout == "depth 100000 result 9974378071740079953\n"


def test_cache_dir_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EMULATOR_CACHE", str(tmp_path))
    assert toolchains.cache_dir() == tmp_path
    assert toolchains.fixture_path("hello", "1.21.13") == tmp_path / "fixtures" / "1.21.13" / "hello"
    assert toolchains.fixture_path("hello", stripped=True).name == "hello-stripped"


def test_build_is_cached() -> None:
    path = built("hello")
    mtime = path.stat().st_mtime_ns
    assert toolchains.build_fixture("hello") == path
    assert path.stat().st_mtime_ns == mtime
