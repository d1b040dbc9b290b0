"""The sandboxed filesystem as a guest sees it: Go's file APIs, generated files, mounts, the private /tmp."""

from __future__ import annotations

import os
import struct
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import guest
import pytest
from conftest import built
from guest import DATA, SYSCALL, exit_group, exit_with_rax, program, syscall

from emulator import api, cli, exitcodes, toolchains
from syscalls.errno import (
    EACCES,
    EBUSY,
    EEXIST,
    EINVAL,
    ELOOP,
    ENAMETOOLONG,
    ENOENT,
    ENOTDIR,
    EXDEV,
    SyscallError,
)
from syscalls.procfs import ETC_FILES
from syscalls.vfs import FIXED_TIME_NS, RESOLVE_BENEATH, RESOLVE_IN_ROOT, Missing, Vfs

O_WRONLY, O_CREAT = 0o1, 0o100
EROFS = 30


def env_dict(pairs: tuple[str, ...]) -> dict[str, str]:
    return dict(p.split("=", 1) for p in pairs)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A working directory like a user's: a file to read and a subdirectory."""
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "input.txt").write_text("input line\n")
    return work


@pytest.mark.parametrize("version", toolchains.GO_VERSIONS)
def test_files_fixture_prints_what_it_prints_natively(workdir: Path, version: str) -> None:
    path = built("files", version)
    native = subprocess.run(
        [str(path)], capture_output=True, cwd=workdir, env=env_dict(api.DEFAULT_ENV), timeout=60
    )
    assert native.returncode == 0 and b"input.txt: 11 bytes" in native.stdout
    result = api.run(path, cwd=workdir)
    assert (result.stdout, result.stderr, result.exit_status) == (native.stdout, native.stderr, 0)
    assert result.unimplemented == {}


def test_files_fixture_trace_is_identical_across_runs(workdir: Path) -> None:
    first = api.run(built("files"), cwd=workdir).strace()
    second = api.run(built("files"), cwd=workdir).strace()
    assert first == second
    assert any(line.startswith("getdents64(") for line in first)
    assert any(line.startswith("newfstatat(") for line in first)


def _emulator_tmp_dirs() -> set[str]:
    return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("emulator-tmp-")}


def _mkdir_guest(tmp_path: Path, path: bytes) -> Path:
    code = syscall(83, DATA, 0o755) + exit_with_rax()  # mkdir(path, 0755); exit with its result
    return program(tmp_path, code, path + b"\0")


def test_private_tmp_is_removed_at_exit(tmp_path: Path) -> None:
    before = _emulator_tmp_dirs()
    result = api.run(_mkdir_guest(tmp_path, b"/tmp/made"))
    assert result.exit_status == 0
    assert result.kept_tmp is None
    assert _emulator_tmp_dirs() <= before


def test_keep_tmp_leaves_what_the_guest_wrote(tmp_path: Path) -> None:
    result = api.run(_mkdir_guest(tmp_path, b"/tmp/made"), keep_tmp=True)
    assert result.exit_status == 0 and result.kept_tmp is not None
    try:
        assert os.path.isdir(os.path.join(result.kept_tmp, "made"))
    finally:
        import shutil

        shutil.rmtree(result.kept_tmp)


def _write_guest(tmp_path: Path, path: bytes) -> Path:
    """open(path, O_CREAT|O_WRONLY, 0644), write "hi" to it, exit with write's result."""
    text = DATA + 0x100
    code = (
        syscall(2, DATA, O_CREAT | O_WRONLY, 0o644)
        + b"\x48\x89\xc7"  # mov rdi, rax: the fd
        + guest.mov_rsi(text)
        + b"\x48\xba"
        + (2).to_bytes(8, "little")  # mov rdx, 2
        + guest.mov_eax(1)
        + SYSCALL
        + exit_with_rax()
    )
    data = path + b"\0"
    return program(tmp_path, code, data.ljust(0x100, b"\0") + b"hi")


def test_rw_mount_writes_reach_the_host_and_ro_mounts_answer_erofs(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    result = api.run(_write_guest(tmp_path, b"/data/out.txt"), mounts=[f"{shared}:/data:rw"])
    assert result.exit_status == 2
    assert (shared / "out.txt").read_text() == "hi"
    (shared / "out.txt").unlink()
    only_open = program(
        tmp_path, syscall(2, DATA, O_CREAT | O_WRONLY, 0o644) + exit_with_rax(), b"/data/out.txt\0"
    )
    result = api.run(only_open, mounts=[f"{shared}:/data"])
    assert result.exit_status == -EROFS & 0xFF
    assert not (shared / "out.txt").exists()


def _urandom_guest(tmp_path: Path) -> Path:
    buf = DATA + 0x100
    code = (
        syscall(2, DATA, 0)
        + b"\x48\x89\xc7"  # mov rdi, rax: the fd
        + guest.mov_rsi(buf)
        + b"\x48\xba"
        + (16).to_bytes(8, "little")  # mov rdx, 16
        + guest.mov_eax(0)
        + SYSCALL
        + syscall(1, 1, buf, 16)
        + exit_group(0)
    )
    return program(tmp_path, code, b"/dev/urandom\0")


def test_dev_urandom_follows_the_seed(tmp_path: Path) -> None:
    path = _urandom_guest(tmp_path)
    first, again, other = (api.run(path, seed=s).stdout for s in (1, 1, 2))
    assert len(first) == 16
    assert first == again != other


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/proc/self/cmdline", b"/proc/self/cmdline\0"),
        ("/proc/self/environ", b"TMPDIR=/tmp\0"),
        ("/proc/self/maps", b"[stack]\n"),
        ("/proc/self/status", b"Threads:\t"),
        ("/proc/cpuinfo", b"processor\t: 0\n"),
        ("/proc/meminfo", b"MemTotal:"),
        ("/etc/passwd", b"guest:x:1000:1000:"),
        ("/etc/hosts", b"127.0.0.1\tlocalhost\n"),
        ("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", b"2097152\n"),
    ],
)
def test_generated_files(path: str, expected: bytes) -> None:
    result = api.run(built("argsenv"), [path])
    assert result.exit_status == 0, result.stdout
    assert expected in result.stdout


@pytest.mark.parametrize(
    ("path", "size"), [("/etc/hosts", len(ETC_FILES["/etc/hosts"])), ("/proc/meminfo", 0)]
)
def test_stat_size_of_generated_files(tmp_path: Path, path: str, size: int) -> None:
    """An /etc file's size is its length, as on a disk (os.Stat and a read agree: os's TestStat);
    a /proc file's is 0, as Linux's."""
    buf = DATA + 0x100
    code = syscall(4, DATA, buf) + guest.mov_edi_from(buf + 48) + guest.mov_eax(231) + SYSCALL
    result = api.run(program(tmp_path, code, path.encode() + b"\0"))
    assert result.exit_status == size & 0xFF and size < 0x100


def test_etc_localtime_is_absent_so_go_uses_utc() -> None:
    result = api.run(built("argsenv"), ["/etc/localtime"])
    assert result.stdout.endswith(b"read error: open /etc/localtime: no such file or directory\n")


def test_root_option_makes_a_directory_the_guests_root(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("from the root\n")
    result = api.run(built("argsenv"), ["/hello.txt"], root=tmp_path)
    assert result.stdout.endswith(b"file 14 bytes:\nfrom the root\n")
    relative = api.run(built("argsenv"), ["hello.txt"], root=tmp_path)  # the guest starts at /
    assert relative.stdout.endswith(b"from the root\n")


def test_a_file_mount(tmp_path: Path) -> None:
    (tmp_path / "one.txt").write_text("one file\n")
    result = api.run(built("argsenv"), ["/srv/one.txt"], mounts=[f"{tmp_path / 'one.txt'}:/srv/one.txt"])
    assert result.stdout.endswith(b"one file\n")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--mount", "/nonexistent-host-dir:/x"], "no such host path"),
        (["--mount", "nocolon"], "--mount wants HOST:GUEST[:ro|rw]"),
        (["--mount", "/tmp:relative"], "the guest path must be absolute"),
        (["--root", "/nonexistent-root"], "is not a directory"),
    ],
)
def test_bad_mount_flags_are_usage_errors(
    flags: list[str], message: str, capfd: pytest.CaptureFixture[str]
) -> None:
    status = cli.main(["run", str(built("hello")), *flags])
    err = capfd.readouterr().err
    assert status == exitcodes.USAGE
    assert message in err and len(err.strip().splitlines()) == 1


def test_cli_keep_tmp_names_the_directory(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["run", str(_mkdir_guest(tmp_path, b"/tmp/kept")), "--keep-tmp"])
    err = capfd.readouterr().err
    assert status == 0
    kept = err.strip().rsplit(" ", 1)[1]
    try:
        assert err.startswith("emulator: the guest's /tmp is kept at ")
        assert os.path.isdir(os.path.join(kept, "kept"))
    finally:
        import shutil

        shutil.rmtree(kept)


def test_proc_self_auxv_is_the_vector_the_process_started_with() -> None:
    out = api.run(built("argsenv"), ["/proc/self/auxv"]).stdout
    data = out.split(b" bytes:\n", 1)[1]
    pairs = [struct.unpack_from("<QQ", data, i) for i in range(0, len(data), 16)]
    assert pairs[-1] == (0, 0)
    assert (6, 4096) in pairs  # AT_PAGESZ
    assert (11, 1000) in pairs  # AT_UID


# --- the walk itself, on a namespace over a host directory ----------------------------------------


class _Clock:
    def now(self, clock_id: int) -> int:
        return 5 * 10**18


class _Kernel:
    """Just what the namespace asks of a kernel."""

    def __init__(self) -> None:
        from syscalls.files import FdTable
        from syscalls.kernel import KernelConfig

        self.config = KernelConfig()
        self.fds = FdTable()
        self.clock = _Clock()


def _namespace(root: Path, *mounts: str) -> Vfs:
    return Vfs(api.filesystem(mounts, root=root), _Kernel())  # type: ignore[arg-type]


def _errno_of(call: Callable[[], object]) -> int:
    with pytest.raises(SyscallError) as caught:
        call()
    return caught.value.errno


def test_walk_clamps_dotdot_and_resolves_absolute_symlinks_in_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f").write_text("x")
    (root / "up").symlink_to("/../../../d/f")
    ns = _namespace(root)
    assert ns.walk("/", "../../../d/f").path == "/d/f"
    assert ns.walk("/d", "/up").path == "/d/f"
    assert ns.walk("/", "up", follow=False).kind == "lnk"
    assert _errno_of(lambda: ns.walk("/", "d/f/")) == ENOTDIR
    assert _errno_of(lambda: ns.walk("/", "d/f/x")) == ENOTDIR
    assert _errno_of(lambda: ns.walk("/", "")) == ENOENT


def test_walk_gives_eloop_after_forty_links(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "target").write_text("x")
    (root / "l0").symlink_to("target")
    for i in range(1, 42):
        (root / f"l{i}").symlink_to(f"l{i - 1}")
    ns = _namespace(root)
    assert ns.walk("/", "l39").path == "/target"  # 40 links: allowed
    assert _errno_of(lambda: ns.walk("/", "l40")) == ELOOP  # 41: too many


def test_a_link_whose_target_ends_in_a_slash_names_a_directory(tmp_path: Path) -> None:
    """ "link => file/" is ENOTDIR, as Linux; os.Root's own walk says so too (os's
    TestRootConsistencyOpen/symlink_to_file_ends_in_slash)."""
    root = tmp_path / "root"
    (root / "dir").mkdir(parents=True)
    (root / "file").write_text("x")
    (root / "to_file").symlink_to("file/")
    (root / "to_dir").symlink_to("dir/")
    (root / "to_new").symlink_to("new/")
    ns = _namespace(root)
    assert _errno_of(lambda: ns.walk("/", "to_file")) == ENOTDIR
    assert ns.walk("/", "to_dir").path == "/dir"
    missing = ns.walk("/", "to_new", allow_missing=True)
    assert isinstance(missing, Missing) and missing.must_dir


def test_resolve_in_root_and_beneath(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "jail" / "etc").mkdir(parents=True)
    (root / "jail" / "etc" / "f").write_text("x")
    (root / "jail" / "abs").symlink_to("/etc/f")
    ns = _namespace(root)
    assert ns.walk("/jail", "abs", resolve=RESOLVE_IN_ROOT).path == "/jail/etc/f"
    assert ns.walk("/jail", "../../etc/f", resolve=RESOLVE_IN_ROOT).path == "/jail/etc/f"
    assert _errno_of(lambda: ns.walk("/jail", "abs", resolve=RESOLVE_BENEATH)) == EXDEV
    assert ns.walk("/jail", "etc/../etc/f", resolve=RESOLVE_BENEATH).path == "/jail/etc/f"


def test_mounts_longest_prefix_and_their_parents(tmp_path: Path) -> None:
    root, data, inner = tmp_path / "root", tmp_path / "data", tmp_path / "inner"
    for d in (root, data, inner):
        d.mkdir()
    (inner / "deep.txt").write_text("deep")
    ns = _namespace(root, f"{data}:/srv/data", f"{inner}:/srv/data/inner")
    assert ns.walk("/", "/srv/data/inner/deep.txt").host == str(inner / "deep.txt")
    assert ns.walk("/", "/srv").kind == "dir"  # a mount point's ancestor exists
    names = [c.path for c in ns.children(ns.walk("/", "/srv/data"))]
    assert names == ["/srv/data/inner"]
    assert ns.walk("/srv/data/inner", "../../..").path == "/"  # `..` leaves a mount in the guest's tree


def test_inode_numbers_follow_first_use_not_the_host(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    for name in ("b", "a"):
        (root / name).write_text(name)
    os.link(root / "a", root / "hard")
    ns = _namespace(root)
    first = [ns.stat(ns.walk("/", n)).ino for n in ("b", "a", "hard")]
    assert first[0] < first[1] == first[2]
    again = _namespace(root)
    assert [again.stat(again.walk("/", n)).ino for n in ("b", "a", "hard")] == first
    assert ns.stat(ns.walk("/", "a")).mtime == FIXED_TIME_NS


def test_dev_stdin_is_the_standard_input_through_proc_self_fd() -> None:
    result = api.run(built("argsenv"), ["/dev/stdin"], stdin=b"piped in\n")
    assert result.stdout.endswith(b"file 9 bytes:\npiped in\n")


def test_random_file_calls_only_ever_answer_errnos(tmp_path: Path) -> None:
    """Thousands of file calls with random paths, flags and fds: every one returns, none raises."""
    import random

    from emulator.machine import Console, Machine, RunConfig
    from loader import load_image
    from syscalls.kernel import load_handlers
    from syscalls.table import BY_NAME

    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "file").write_text("data")
    config = RunConfig(argv=["hello"], env=[], filesystem=api.filesystem([f"{shared}:/w:rw"], cwd=tmp_path))
    machine = Machine(load_image(built("hello")), config, Console(lambda fd, data: None, lambda fd, n: b""))
    kernel, task = machine.kernel, machine.current
    paths = [
        b"/w/a",
        b"/w/a/b",
        b"/w/l",
        b"/w",
        b"../w/file",
        b"/",
        b"/tmp/a",
        b"/tmp/l",
        b"..",
        b".",
        b"",
        b"/proc/self/fd/3",
        b"/proc/self/exe",
        b"/dev/null",
        b"/proc/self/root/..",
        b"/dev/stdout",
        b"x" * 300,
    ]
    numbers = [
        0,
        1,
        2,
        3,
        4,
        5,
        6,
        0xFFFFFF9C,
        0o100,
        0o101,
        0o1102,
        0o200000,
        0o400000,
        0x100,
        0x200,
        0x400,
        0x1000,
        0o10000000,
        0o777,
        8192,
    ]
    scratch = 0x7FFFFFFE0000
    rng = random.Random(5)
    names = sorted(n for n, h in load_handlers().items() if h.__module__ == "syscalls.files")
    try:
        for _ in range(3000):
            args = []
            for i in range(6):
                roll = rng.random()
                if roll < 0.35:
                    machine.mem.poke(scratch + 0x1000 * i, rng.choice(paths) + b"\0")
                    args.append(scratch + 0x1000 * i)
                elif roll < 0.8:
                    args.append(rng.choice(numbers))
                else:
                    args.append(scratch + 0x8000 + rng.randrange(0x4000))
            result = kernel.handle(task, BY_NAME[rng.choice(names)].nr, args)
            assert isinstance(result, int)
    finally:
        kernel.vfs.close()


def test_diff_takes_mounts_and_refuses_a_bad_one_before_running(capfd: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["diff", "hello", "--mount", "/nonexistent-host-dir:/x"])
    err = capfd.readouterr().err
    assert status == exitcodes.USAGE
    assert err == "emulator: --mount '/nonexistent-host-dir:/x': no such host path '/nonexistent-host-dir'\n"


@pytest.mark.parametrize(("out_offset", "expected"), [(0, -EINVAL & 0xFF), (6, -EINVAL & 0xFF), (12, 12)])
def test_copy_file_range_refuses_overlapping_ranges_of_one_file(
    tmp_path: Path, out_offset: int, expected: int
) -> None:
    """Linux answers EINVAL, and Go's io.Copy(f, f) then falls back to read and write (os's
    TestCopyFile/CopyFileItself); ranges apart are copied."""
    text, offsets = DATA + 0x40, DATA + 0x80
    mov_rdi_rbx, mov_rdx_rbx = b"\x48\x89\xdf", b"\x48\x89\xda"
    code = (
        syscall(2, DATA, 0o102, 0o644)  # open("/tmp/f", O_CREAT|O_RDWR)
        + b"\x48\x89\xc3"  # mov rbx, rax
        + mov_rdi_rbx
        + guest.mov_rsi(text)
        + b"\x48\xba"
        + (12).to_bytes(8, "little")
        + guest.mov_eax(1)
        + SYSCALL
        + mov_rdi_rbx
        + guest.mov_rsi(offsets)
        + mov_rdx_rbx
        + guest.mov_r10(offsets + 8)
        + b"\x49\xb8"
        + (100).to_bytes(8, "little")  # mov r8, 100
        + b"\x49\xb9"
        + bytes(8)  # mov r9, 0
        + guest.mov_eax(326)
        + SYSCALL
        + exit_with_rax()
    )
    data = (
        b"/tmp/f".ljust(0x40, b"\0") + b"hello world!".ljust(0x40, b"\0") + struct.pack("<QQ", 0, out_offset)
    )
    assert api.run(program(tmp_path, code, data)).exit_status == expected


@pytest.mark.parametrize(("call", "name"), [(83, b"/tmp/ro/new"), (87, b"/tmp/ro/file")])
def test_a_directory_without_write_permission_refuses_new_and_removed_names(
    tmp_path: Path, call: int, name: bytes
) -> None:
    """The guest (uid 1000) owns every file, so a 0555 directory refuses mkdir and unlink inside it
    with EACCES, as Linux does for a non-root owner (os's TestRemoveAllButReadOnlyAndPathError)."""
    code = (
        syscall(83, DATA, 0o755)  # mkdir /tmp/ro
        + syscall(2, DATA + 0x40, 0o101, 0o644)  # open /tmp/ro/file O_CREAT|O_WRONLY
        + syscall(90, DATA, 0o555)  # chmod /tmp/ro 0555
        + syscall(call, DATA + 0x80, 0o755)
        + exit_with_rax()
    )
    data = b"/tmp/ro".ljust(0x40, b"\0") + b"/tmp/ro/file".ljust(0x40, b"\0") + name + b"\0"
    assert api.run(program(tmp_path, code, data)).exit_status == -EACCES & 0xFF


def test_directories_deeper_than_the_hosts_path_max(tmp_path: Path) -> None:
    """mkdir and chdir by relative steps go past 4096 bytes (the private /tmp's host path too);
    getcwd then answers ENAMETOOLONG, as Linux does, and Go's os.Getwd walks up ".." itself
    (os's TestGetwdDeep and TestRemoveAllLongPath)."""
    or_rbx_rax = b"\x48\x09\xc3"
    body = syscall(83, DATA, 0o755) + or_rbx_rax + syscall(80, DATA) + or_rbx_rax + b"\x49\xff\xcc"  # dec r12
    loop = body + b"\x0f\x85" + struct.pack("<i", -(len(body) + 6))  # jnz to the loop's start
    fail = exit_group(1)
    tail = syscall(79, DATA + 0x200, 8192) + exit_with_rax()
    code = (
        syscall(80, DATA + 0x100)  # chdir /tmp
        + b"\x31\xdb"  # xor ebx, ebx: the OR of every mkdir and chdir result
        + b"\x41\xbc"
        + struct.pack("<I", 25)  # mov r12d, 25: 25 levels of 201 bytes
        + loop
        + b"\x48\x85\xdb"  # test rbx, rbx
        + b"\x75"
        + bytes([len(tail)])  # jnz fail
        + tail
        + fail
    )
    data = (b"a" * 200).ljust(0x100, b"\0") + b"/tmp\0"
    assert api.run(program(tmp_path, code, data)).exit_status == -ENAMETOOLONG & 0xFF


S_IFIFO, O_RDONLY, O_NONBLOCK, ENXIO = 0o10000, 0, 0o4000, 6


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # A non-blocking reader first, then a writer (it does not wait: there is a reader): the
        # bytes written are the bytes read (os's TestFIFONonBlockingEOF).
        (
            syscall(2, DATA + 0x40, O_RDONLY | O_NONBLOCK)  # fd 3
            + syscall(2, DATA + 0x40, O_WRONLY)  # fd 4
            + syscall(1, 4, DATA, 5)
            + syscall(0, 3, DATA + 0x100, 64),
            5,
        ),
        (syscall(2, DATA + 0x40, O_WRONLY | O_NONBLOCK), -ENXIO & 0xFF),  # no reader yet
    ],
)
def test_mknod_makes_a_fifo_whose_ends_meet(tmp_path: Path, steps: bytes, expected: int) -> None:
    code = syscall(133, DATA + 0x40, S_IFIFO | 0o600, 0) + steps + exit_with_rax()
    data = b"hello".ljust(0x40, b"\0") + b"/tmp/fifo\0"
    assert api.run(program(tmp_path, code, data)).exit_status == expected


@pytest.mark.parametrize(
    ("old", "new"), [(b"/tmp/d/.", b"/tmp/e"), (b"/tmp/d", b"/tmp/.."), (b"/", b"/tmp/e")]
)
def test_rename_of_dot_dotdot_or_the_root_is_ebusy(tmp_path: Path, old: bytes, new: bytes) -> None:
    """As Linux (not a plain last name): os.Rename("dir/.", x) fails
    (os's TestRootConsistencyRename/from/dot)."""
    code = syscall(83, DATA + 0x80, 0o755) + syscall(82, DATA, DATA + 0x40) + exit_with_rax()
    data = old.ljust(0x40, b"\0") + new.ljust(0x40, b"\0") + b"/tmp/d\0"
    assert api.run(program(tmp_path, code, data)).exit_status == -EBUSY & 0xFF


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (syscall(83, DATA + 0x40, 0o755), -EEXIST),  # mkdir("/tmp/l/"): the link is the name taken
        (syscall(86, DATA + 0x80, DATA + 0xC0), -ENOENT),  # link("/tmp/f", "/tmp/new/")
        (syscall(133, DATA + 0xC0, 0o100644, 0), -ENOENT),  # mknod("/tmp/new/", S_IFREG)
        (syscall(83, DATA + 0xC0, 0o755), 0),  # mkdir("/tmp/new/")
    ],
)
def test_creating_through_a_trailing_slash(tmp_path: Path, call: bytes, expected: int) -> None:
    """A trailing slash neither makes creation follow a dangling link nor names a new file (os's
    TestRootMultiMkdir/bsSbA and TestRootMultiLink/bF_to_bsA: what os.Root's own walk answers)."""
    code = syscall(88, DATA, DATA + 0x100) + syscall(2, DATA + 0x80, 0o101, 0o644) + call + exit_with_rax()
    data = b"s_target".ljust(0x40, b"\0") + b"/tmp/l/".ljust(0x40, b"\0") + b"/tmp/f".ljust(0x40, b"\0")
    data += b"/tmp/new/".ljust(0x40, b"\0") + b"/tmp/l\0"
    assert api.run(program(tmp_path, code, data)).exit_status == expected & 0xFF


def test_a_directory_fd_follows_a_rename_of_its_parent(tmp_path: Path) -> None:
    """openat on a directory descriptor still reaches it after its parent is renamed, as Linux's
    descriptors refer to the inode (os's TestRootRenameAfterOpen)."""
    code = (
        syscall(83, DATA, 0o755)  # mkdir /tmp/a
        + syscall(83, DATA + 0x40, 0o755)  # mkdir /tmp/a/b
        + syscall(2, DATA + 0x40, 0o200000)  # open /tmp/a/b O_DIRECTORY: fd 3
        + syscall(82, DATA, DATA + 0x80)  # rename /tmp/a /tmp/c
        + syscall(257, 3, DATA + 0xC0, 0o101, 0o644)  # openat(3, "f", O_CREAT|O_WRONLY)
        + syscall(4, DATA + 0x100, DATA + 0x200)  # stat /tmp/c/b/f
        + exit_with_rax()
    )
    data = b"/tmp/a".ljust(0x40, b"\0") + b"/tmp/a/b".ljust(0x40, b"\0") + b"/tmp/c".ljust(0x40, b"\0")
    data += b"f".ljust(0x40, b"\0") + b"/tmp/c/b/f\0"
    assert api.run(program(tmp_path, code, data)).exit_status == 0
