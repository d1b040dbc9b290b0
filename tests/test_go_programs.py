"""Real Go binaries under the emulator: what a user sees must match the native run."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import built

from emulator import api, toolchains


def native(
    path: Path, *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(path), *args], capture_output=True, env=env, cwd=cwd, timeout=60)


def env_dict(pairs: tuple[str, ...]) -> dict[str, str]:
    return dict(p.split("=", 1) for p in pairs)


@pytest.mark.parametrize("version", toolchains.GO_VERSIONS)
def test_hello_on_every_toolchain(version: str) -> None:
    result = api.run(built("hello", version))
    assert (result.stdout, result.stderr, result.exit_status) == (b"Hello, World!\n", b"", 0)
    assert result.unimplemented == {}


def test_stripped_hello() -> None:
    result = api.run(built("hello", stripped=True))
    assert (result.stdout, result.exit_status) == (b"Hello, World!\n", 0)


def test_hello_syscalls_end_with_the_write_and_exit_group() -> None:
    result = api.run(built("hello"))
    lines = result.strace()
    assert lines[-2:] == ['write(1, "Hello, World!\\n", 14) = 14', "exit_group(0) = ?"]
    assert result.stats.threads >= 2  # Go starts sysmon and at least one more M
    assert any(e.name == "clone" for e in result.syscalls)


@pytest.mark.parametrize("name", ["goroutines", "recursion"])
def test_matches_native(name: str) -> None:
    path = built(name)
    expected = native(path, env=env_dict(api.DEFAULT_ENV))
    result = api.run(path)
    assert (result.stdout, result.stderr, result.exit_status) == (
        expected.stdout,
        expected.stderr,
        expected.returncode,
    )


def test_goroutines_use_several_threads() -> None:
    result = api.run(built("goroutines"), cpus=4)
    assert result.stats.threads >= 4
    assert result.stdout == native(built("goroutines"), env=env_dict(api.DEFAULT_ENV)).stdout


def test_args_env_and_file(tmp_path: Path) -> None:
    path = built("argsenv")
    data = tmp_path / "data.txt"
    data.write_text("line one\nline two\n")
    env = (*api.DEFAULT_ENV, "GREETING=hi there")
    expected = native(path, str(data), "x y", env=env_dict(env))
    result = api.run(path, [str(data), "x y"], env=env, mounts=[f"{tmp_path}:{tmp_path}"])
    assert expected.returncode == 0
    assert (result.stdout, result.stderr, result.exit_status) == (
        expected.stdout,
        expected.stderr,
        expected.returncode,
    )


def test_args_missing_file_exits_like_native(tmp_path: Path) -> None:
    path = built("argsenv")
    missing = str(tmp_path / "nope")
    expected = native(path, missing, env=env_dict(api.DEFAULT_ENV))
    result = api.run(path, [missing])
    assert (result.stdout, result.exit_status) == (expected.stdout, expected.returncode) != (b"", 0)


def _without_addresses(trace: bytes) -> bytes:
    return re.sub(rb"0x[0-9a-f]+", b"0x?", trace)


def test_panic_exits_2_with_the_same_goroutine_trace() -> None:
    path = built("panic")
    expected = native(path, env=env_dict(api.DEFAULT_ENV))
    result = api.run(path)
    assert result.exit_status == expected.returncode == 2
    assert result.stdout == expected.stdout
    assert (
        b"panic: main.fixtureError{code:42}" in result.stderr or b"fixture failure code 42" in result.stderr
    )
    assert _without_addresses(result.stderr) == _without_addresses(expected.stderr)


def test_cpu_heavy_program_matches_native() -> None:
    path = built("cpu")
    expected = native(path, env=env_dict(api.DEFAULT_ENV))
    result = api.run(path)
    assert (result.stdout, result.exit_status) == (expected.stdout, 0)


def test_same_seed_same_trace_different_seed_different_randomness() -> None:
    first = api.run(built("hello"), seed=7).strace()
    second = api.run(built("hello"), seed=7).strace()
    other = api.run(built("hello"), seed=8).strace()
    assert first == second
    assert first != other  # AT_RANDOM moves Go's heap arena hint


@pytest.mark.parametrize("version", toolchains.GO_VERSIONS)
def test_every_syscall_happens_at_the_same_instruction_every_run(version: str) -> None:
    """Go seeds its per-M random state from the time stamp counter: a host TSC leaking in
    (RDTSCP, once) moved Go 1.21's syscalls by a few hundred instructions between runs."""
    runs = [api.run(built("hello", version)) for _ in range(2)]
    first, second = ([(e.instructions, e.tid, e.name, e.args, e.result) for e in r.syscalls] for r in runs)
    assert first == second


def test_goroutine_trace_is_deterministic_across_threads() -> None:
    first = api.run(built("goroutines"), cpus=4)
    second = api.run(built("goroutines"), cpus=4)
    assert [(e.tid, e.name, e.args, e.result) for e in first.syscalls] == [
        (e.tid, e.name, e.args, e.result) for e in second.syscalls
    ]
    assert first.stats.instructions == second.stats.instructions
