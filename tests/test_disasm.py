"""``disasm``: a Go function with symbols and source lines, checked against ``go tool objdump``."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import built

from emulator import cli, exitcodes
from emulator.disasm import Binary, UnknownFunction, disassemble, render
from emulator.toolchains import go_binary
from loader import FileMissing

CASES = [(v, s) for v in ("1.21.13", "1.27.3") for s in (False, True)]
# "  main.go:6		0x499de0		493b6610		CMPQ SP, 0x10(R14)"
_OBJDUMP_ROW = re.compile(r"^\s+(\S+):(\d+)\s+0x([0-9a-f]+)\s+([0-9a-f]+)\s")


def _objdump(version: str, path, symbol: str) -> list[tuple[int, str, str]]:
    """(address, file base name:line, hex bytes) of each instruction, per the Go toolchain."""
    proc = subprocess.run(
        [str(go_binary(version)), "tool", "objdump", "-s", f"^{re.escape(symbol)}$", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    rows = []
    for line in proc.stdout.splitlines():
        m = _OBJDUMP_ROW.match(line)
        if m:
            rows.append((int(m.group(3), 16), f"{m.group(1)}:{m.group(2)}", m.group(4)))
    return rows


@pytest.mark.parametrize(("version", "stripped"), CASES)
def test_main_main_matches_go_tool_objdump(version: str, stripped: bool) -> None:
    path = built("hello", version, stripped=stripped)
    listing = disassemble(Binary(path), "main.main")
    ours = [(i.address, f"{i.file.rsplit('/', 1)[-1]}:{i.line}", i.raw.hex()) for i in listing.instructions]
    # objdump of a stripped binary has no symbols to select by, so compare with the unstripped twin
    assert ours == _objdump(version, built("hello", version), "main.main")


@pytest.mark.parametrize(("version", "stripped"), CASES)
def test_main_main_listing_names_calls_data_and_lines(version: str, stripped: bool) -> None:
    text = render(disassemble(Binary(built("hello", version, stripped=stripped)), "main.main"))
    assert "call fmt.Fprintln" in text
    assert "call runtime.morestack_noctxt" in text
    assert "cmp rsp, qword ptr [r14 + 0x10]" in text and "g.stackguard0" in text
    assert 'string header -> "Hello, World!"' in text
    headers = [line for line in text.splitlines() if not line.startswith(("  ", "TEXT"))]
    assert headers[:3] == ["fixtures/hello/main.go:6", "fixtures/hello/main.go:7", headers[2]]
    assert headers[2].startswith("fmt/print.go:")  # fmt.Println, inlined into main.main
    assert "fixtures/hello/main.go:8" in headers
    assert "; type:string" in text  # named from the type descriptor, found through moduledata.types
    assert "; go:itab.*os.File,io.Writer" in text  # os.Stdout as an io.Writer


def test_abi_suffix_is_optional() -> None:
    binary = Binary(built("hello"))
    plain = disassemble(binary, "runtime.rt0_go")
    suffixed = disassemble(binary, "runtime.rt0_go.abi0")
    assert plain.instructions == suffixed.instructions
    assert plain.function == "runtime.rt0_go"
    assert plain.instructions[0].file == "runtime/asm_amd64.s"


def test_unknown_function_lists_close_matches() -> None:
    with pytest.raises(UnknownFunction) as info:
        disassemble(Binary(built("hello")), "main.mian")
    assert info.value.close[0] == "main.main"


def test_cli_unknown_symbol_is_a_usage_error(capfd: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["disasm", str(built("hello")), "fmt.Printline"])
    out, err = capfd.readouterr()
    assert status == exitcodes.USAGE
    assert out == ""
    assert err.count("\n") == 1
    assert "did you mean" in err and "fmt.Fprintln" in err


def test_cli_prints_the_listing(capfd: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["disasm", "hello", "main.main", "--go", "1.21.13", "--stripped"])
    out, _ = capfd.readouterr()
    assert status == 0
    assert out.startswith("TEXT main.main  0x")
    assert "call fmt.Fprintln" in out


def test_cli_missing_file() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "emulator", "disasm", "/no/such/file", "main.main"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == FileMissing.exit_code
    assert proc.stderr == "emulator: /no/such/file: no such file\n"


def test_rip_relative_data_is_named_after_its_symbol() -> None:
    """Sized symbols by name, bulk string data by the linker's go:string.* marker plus an offset."""
    text = render(disassemble(Binary(built("hello")), "runtime.main"))
    assert "; runtime.m0" in text
    assert re.search(r"lea \w+, \[rip \+ 0x[0-9a-f]+\] +; go:string\.\*\+0x[0-9a-f]+", text)
    assert "; type:chan bool" in text  # main_init_done = make(chan bool)
