"""Sandbox escapes: the escape fixture tries every route out that a Linux programmer knows.

Each route is asserted by what the guest saw. The same binary run natively reads
the secret by most of these routes, so every assertion here can fail.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import built

from emulator import api, toolchains

ENOENT, EACCES, EXDEV, EROFS, ELOOP, ENOSYS = (
    "errno 2 (no such file or directory)",
    "errno 13 (permission denied)",
    "errno 18 (invalid cross-device link)",
    "errno 30 (read-only file system)",
    "errno 40 (too many levels of symbolic links)",
    "errno 38 (function not implemented)",
)
OK = 'ok ""'

# route -> what the guest must see under the emulator
EXPECTED = {
    "absolute path": ENOENT,
    "dotdot chain from cwd": ENOENT,
    "dotdot chain from /": ENOENT,
    "dotdot inside a path": ENOENT,
    "make absolute symlink": OK,
    "absolute symlink": ENOENT,
    "make relative symlink": OK,
    "relative symlink": ENOENT,
    "symlink to the secret's directory": ENOENT,
    "symlink loop": ELOOP,
    "/proc/self/root": ENOENT,
    "readlink /proc/self/root": 'ok "/"',
    "/proc/self/root/..": ENOENT,
    "/proc/self/cwd/..": ENOENT,
    "/proc/1/root": ENOENT,
    "open / as a dirfd": OK,
    "dirfd at / then ..": ENOENT,
    "/proc/self/fd/N/..": ENOENT,
    "/.. is /": "true",
    "open_by_handle_at": ENOSYS,
    "hard link to the secret": ENOENT,
    "hard link through a symlink": ENOENT,
    "openat2 RESOLVE_BENEATH ..": EXDEV,
    "openat2 RESOLVE_BENEATH absolute": EXDEV,
    "openat2 RESOLVE_BENEATH absolute symlink": EXDEV,
    "openat2 RESOLVE_NO_SYMLINKS": ELOOP,
    "openat2 RESOLVE_IN_ROOT": ENOENT,
    "openat2 RESOLVE_NO_MAGICLINKS": ELOOP,
    "rename out of the scratch dir": EXDEV,
    "write in the read-only cwd": EROFS,
    "mkdir in the read-only cwd": EROFS,
    "chmod in the read-only cwd": EROFS,
    "remove in the read-only cwd": EROFS,
    "open for writing in the read-only cwd": EROFS,
    "hard link from the read-only cwd": EXDEV,
    "write /proc/self/maps": EACCES,
    "host env var": "unset",
    "host symlink inside a mount": ENOENT,
    "dotdot above a mount": ENOENT,
}


def parse(stdout: bytes) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in stdout.decode().splitlines())


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    """A secret outside everything the guest sees, a cwd with a file, a mount with a symlink out."""
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("TOP SECRET\n")
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("mine\n")
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    (mounted / "out").symlink_to(secret)
    return {"secret": secret, "work": work, "mounted": mounted, "tmp": tmp_path}


@pytest.mark.parametrize("version", [toolchains.GO_VERSIONS[0], toolchains.DEFAULT_GO])
def test_no_route_leads_out_of_the_sandbox(
    layout: dict[str, Path], monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    monkeypatch.setenv("ESCAPE_HOST_VAR", "leaked")
    result = api.run(
        built("escape", version),
        [str(layout["secret"]), "/tmp", "/mnt"],
        cwd=layout["work"],
        mounts=[f"{layout['mounted']}:/mnt"],
    )
    assert result.exit_status == 0, result.stderr
    assert b"TOP SECRET" not in result.stdout
    assert parse(result.stdout) == EXPECTED
    assert (layout["work"] / "keep.txt").read_text() == "mine\n"  # the read-only cwd is untouched
    assert sorted(os.listdir(layout["work"])) == ["keep.txt"]


def test_the_routes_are_real_natively(layout: dict[str, Path]) -> None:
    """The same binary outside the emulator: the secret is reachable, so the test above can fail."""
    scratch = layout["tmp"] / "scratch"
    scratch.mkdir()
    env = {"ESCAPE_HOST_VAR": "leaked", "PATH": "/usr/bin:/bin"}
    native = subprocess.run(
        [str(built("escape")), str(layout["secret"]), str(scratch), str(layout["mounted"])],
        capture_output=True,
        cwd=layout["work"],
        env=env,
        timeout=60,
    )
    seen = parse(native.stdout)
    leaked = {route for route, outcome in seen.items() if "TOP SECRET" in outcome}
    assert {"absolute path", "absolute symlink", "relative symlink", "dirfd at / then ..",
            "/proc/self/root", "host symlink inside a mount"} <= leaked  # fmt: skip
    assert seen["host env var"] == '"leaked"'


def test_a_symlink_the_guest_makes_resolves_inside_the_root(layout: dict[str, Path]) -> None:
    """An absolute symlink is followed from the guest's root, as under chroot: /etc here is ours."""
    work = layout["work"]
    (work / "passwd-link").symlink_to("/etc/passwd")
    result = api.run(built("argsenv"), ["passwd-link"], cwd=work)
    assert b"guest:x:1000:1000:" in result.stdout
