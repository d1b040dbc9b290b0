"""The vDSO: Go finds it and calls it instead of making clock syscalls, as natively,
and it tells the same time as those syscalls would.

The image is checked as an ELF (pyelftools), as Go's runtime parses it (a
transcription of runtime/vdso_linux.go's lookup) and as machine code
(capstone); the functions run on hand-made guests next to the syscalls they
replace; the Go fixtures show the effect on a real runtime.
"""

from __future__ import annotations

import io
import struct
import subprocess
from pathlib import Path

import capstone
import guest
import pytest
from conftest import built
from elftools.elf.elffile import ELFFile
from guest import DATA, exit_with_rax, program, syscall
from unicorn import x86_const

from emulator import api, cli, toolchains, vdso
from emulator.clock import (
    BOOT_NS,
    CLOCK_MONOTONIC,
    CLOCK_PROCESS_CPUTIME_ID,
    CLOCK_REALTIME,
    REALTIME_AT_BOOT_NS,
    TSC_PER_INSTRUCTION,
)
from emulator.machine import VDSO_ADDR, VVAR_ADDR, Machine, RunConfig
from emulator.memory import MMAP_BASE
from loader import load_image
from loader.auxv import AT_NULL, AT_SYSINFO_EHDR

NS = 1_000_000_000
EINVAL = 22
CLOCK_SYSCALLS = {"clock_gettime", "gettimeofday", "time"}

# Go's keys (runtime/vdso_linux_amd64.go): symbol name, its ELF hash; and the version's.
GO_SYMBOL_KEYS = {
    "__vdso_gettimeofday": 0x315CA59,
    "__vdso_clock_gettime": 0xD35EC75,
    "__vdso_getrandom": 0x25425D,
}
GO_VERSION_KEY = ("LINUX_2.6", 0x3AE75F6)


def native_output(path: Path) -> tuple[bytes, bytes, int]:
    env = dict(pair.split("=", 1) for pair in api.DEFAULT_ENV)
    proc = subprocess.run([str(path)], capture_output=True, env=env, timeout=60)
    return proc.stdout, proc.stderr, proc.returncode


def call_vdso(function: str, rdi: int = 0, rsi: int = 0) -> bytes:
    """mov rdi, rdi; mov rsi, rsi; mov rax, &function; call rax"""
    address = VDSO_ADDR + vdso.image().symbols[function].offset
    return guest.mov_rdi(rdi) + guest.mov_rsi(rsi) + b"\x48\xb8" + struct.pack("<Q", address) + b"\xff\xd0"


def store_rax(address: int) -> bytes:
    """mov qword ptr [address], rax"""
    return b"\x48\x89\x04\x25" + struct.pack("<I", address)


def write_data(length: int) -> bytes:
    """write(1, DATA, length): what the guest saw goes to its stdout."""
    return syscall(1, 1, DATA, length)


def timespec_ns(data: bytes, offset: int) -> int:
    sec, nsec = struct.unpack_from("<qq", data, offset)
    assert 0 <= nsec < NS
    return sec * NS + nsec


# -- the image -----------------------------------------------------------------


def test_elf_hash_matches_the_go_runtime_keys() -> None:
    for name, expected in GO_SYMBOL_KEYS.items():
        assert vdso.elf_hash(name.encode()) == expected
    assert vdso.elf_hash(GO_VERSION_KEY[0].encode()) == GO_VERSION_KEY[1]


def test_image_is_a_shared_object_with_versioned_symbols() -> None:
    image = vdso.image()
    assert len(image.data) == vdso.VDSO_SIZE
    f = ELFFile(io.BytesIO(image.data))
    assert (f["e_type"], f["e_machine"]) == ("ET_DYN", "EM_X86_64")
    assert [s["p_type"] for s in f.iter_segments()] == ["PT_LOAD", "PT_DYNAMIC"]
    dynamic = f.get_section_by_name(".dynamic")
    tags = {t.entry.d_tag for t in dynamic.iter_tags()}
    assert {"DT_HASH", "DT_STRTAB", "DT_SYMTAB", "DT_VERSYM", "DT_VERDEF"} <= tags
    assert next(t.soname for t in dynamic.iter_tags() if t.entry.d_tag == "DT_SONAME") == "linux-vdso.so.1"

    dynsym = f.get_section_by_name(".dynsym")
    versym = f.get_section_by_name(".gnu.version")
    versions = {
        v["vd_ndx"]: next(aux).name for v, aux in f.get_section_by_name(".gnu.version_d").iter_versions()
    }
    assert versions == {1: "linux-vdso.so.1", 2: "LINUX_2.6"}
    found = {}
    for i, sym in enumerate(dynsym.iter_symbols()):
        if sym["st_info"]["type"] == "STT_FUNC":
            assert versions[versym.get_symbol(i)["ndx"]] == "LINUX_2.6"
            assert f.get_section(sym["st_shndx"]).name == ".text"
            found[sym.name] = (sym["st_info"]["bind"], sym["st_value"])
    for function in ("clock_gettime", "gettimeofday", "time", "getcpu", "clock_getres"):
        bind, value = found[f"__vdso_{function}"]
        assert bind == "STB_GLOBAL"
        assert found[function] == ("STB_WEAK", value)  # the unprefixed alias, as Linux has it


def _go_lookup(data: bytes) -> dict[str, int]:
    """runtime/vdso_linux.go's vdsoInitFromSysinfoEhdr, vdsoFindVersion and vdsoParseSymbols (DT_HASH)."""
    phoff, phnum = struct.unpack_from("<Q", data, 32)[0], struct.unpack_from("<H", data, 56)[0]
    load_offset, dyn = None, None
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr = struct.unpack_from("<IIQQ", data, phoff + 56 * i)
        if p_type == 1 and load_offset is None:
            load_offset = p_offset - p_vaddr
        elif p_type == 2:
            dyn = p_offset
    assert load_offset is not None and dyn is not None
    table: dict[int, int] = {}
    while (entry := struct.unpack_from("<qQ", data, dyn))[0] != 0:
        table[entry[0]] = load_offset + entry[1]
        dyn += 16
    strtab, symtab, hash_table = table[5], table[6], table[4]
    versym, verdef = table[0x6FFFFFF0], table[0x6FFFFFFC]

    def string(offset: int) -> str:
        return data[strtab + offset : data.index(b"\0", strtab + offset)].decode()

    version = -1
    while True:
        flags, ndx, _, vd_hash, vd_aux, vd_next = struct.unpack_from("<HHHIII", data, verdef + 2)
        name = string(struct.unpack_from("<I", data, verdef + vd_aux)[0])
        if not flags & 1 and (vd_hash, name) == GO_VERSION_KEY[::-1]:
            version = ndx & 0x7FFF
            break
        if vd_next == 0:
            break
        verdef += vd_next
    nbucket, nchain = struct.unpack_from("<II", data, hash_table)
    buckets = struct.unpack_from(f"<{nbucket}I", data, hash_table + 8)
    chain = struct.unpack_from(f"<{nchain}I", data, hash_table + 8 + 4 * nbucket)
    found = {}
    for name, sym_hash in GO_SYMBOL_KEYS.items():
        index = buckets[sym_hash % nbucket]
        while index:
            st_name, st_info, _, st_shndx, st_value = struct.unpack_from("<IBBHQ", data, symtab + 24 * index)
            ver = struct.unpack_from("<H", data, versym + 2 * index)[0] & 0x7FFF
            typ, bind = st_info & 0xF, st_info >> 4
            if typ in (0, 2) and bind in (1, 2) and st_shndx and string(st_name) == name and ver == version:
                found[name] = load_offset + st_value
                break
            index = chain[index]
    return found


def test_go_runtime_lookup_finds_the_time_functions_and_no_getrandom() -> None:
    image = vdso.image()
    assert _go_lookup(image.data) == {
        "__vdso_clock_gettime": image.symbols["__vdso_clock_gettime"].offset,
        "__vdso_gettimeofday": image.symbols["__vdso_gettimeofday"].offset,
    }


def test_listing_is_what_capstone_decodes() -> None:
    image = vdso.image()
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    code = image.data[image.text_start : image.text_end]
    decoded = [
        (i.address, i.bytes, f"{i.mnemonic} {i.op_str}".strip()) for i in md.disasm(code, image.text_start)
    ]
    assert decoded == [(line.offset, line.encoding, line.text) for line in image.listing]
    assert sum(len(line.encoding) for line in image.listing) == len(code)


def test_code_keeps_callee_saved_registers_and_uses_no_stack() -> None:
    """Go calls it with the C ABI on g0's stack and relies on rbx, r12 and r14 surviving."""
    image = vdso.image()
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    md.detail = True
    callee_saved = {"rbx", "rbp", "rsp", "r12", "r13", "r14", "r15"}
    for insn in md.disasm(image.data[image.text_start : image.text_end], image.text_start):
        if insn.mnemonic in ("ret", "int3"):
            continue
        assert insn.mnemonic not in ("push", "pop", "call", "enter", "leave"), insn
        _, written = insn.regs_access()
        assert not {insn.reg_name(r) for r in written} & callee_saved, f"{insn.mnemonic} {insn.op_str}"
        assert "rsp" not in insn.op_str and "rbp" not in insn.op_str


def test_a_fault_inside_it_is_reported_with_the_function() -> None:
    image = vdso.image()
    start = image.symbols["__vdso_clock_gettime"].offset
    assert image.lookup(start + 3) == ("__vdso_clock_gettime", 3)
    assert image.lookup(image.text_start - 1) is None


# -- the machine -------------------------------------------------------------------


def _machine(tmp_path: Path, **config: object) -> Machine:
    path = program(tmp_path, guest.exit_group(0))
    return Machine(load_image(path), RunConfig(argv=["guest"], env=[], **config))


def _auxv(machine: Machine) -> dict[int, int]:
    sp = machine.cpu.uc.reg_read(x86_const.UC_X86_REG_RSP)
    argc = struct.unpack("<Q", machine.mem.read(sp, 8))[0]
    pos = sp + 8 * (argc + 2)
    while struct.unpack("<Q", machine.mem.read(pos, 8))[0]:  # envp
        pos += 8
    pos += 8
    auxv = {}
    while True:
        key, value = struct.unpack("<QQ", machine.mem.read(pos, 16))
        if key == AT_NULL:
            return auxv
        auxv[key] = value
        pos += 16


def test_mapped_atop_the_mmap_area_and_announced_in_auxv(tmp_path: Path) -> None:
    machine = _machine(tmp_path)
    vmas = [(v.start, v.end, v.perms(), v.name) for v in machine.mem.vmas if v.start >= VVAR_ADDR]
    assert vmas[:3] == [
        (0x7FFF_F7FF_7000, 0x7FFF_F7FF_B000, "r--p", "[vvar]"),  # as Linux 6.13+ without ASLR
        (0x7FFF_F7FF_B000, 0x7FFF_F7FF_D000, "r--p", "[vvar_vclock]"),
        (0x7FFF_F7FF_D000, MMAP_BASE, "r-xp", "[vdso]"),
    ]
    assert VDSO_ADDR == 0x7FFF_F7FF_D000 and VVAR_ADDR == 0x7FFF_F7FF_7000
    assert machine.mem.read(VDSO_ADDR, vdso.VDSO_SIZE) == vdso.image().data
    assert _auxv(machine)[AT_SYSINFO_EHDR] == VDSO_ADDR

    without = _machine(tmp_path, vdso=False)
    assert "[vdso]" not in {v.name for v in without.mem.vmas}
    assert AT_SYSINFO_EHDR not in _auxv(without)


def test_vvar_offsets_give_the_syscall_clock_at_every_instruction_count(tmp_path: Path) -> None:
    """What the vDSO computes (TSC + offset) equals what clock_gettime answers, before and after a jump."""
    machine = _machine(tmp_path)
    for jump in (0, 3 * NS + 7):
        machine.clock.sleep_until(machine.clock.monotonic() + jump)
        words = struct.unpack("<16Q", machine.mem.read(VVAR_ADDR, 128))
        for instructions in (0, 1, 123_457, 10**12):
            machine.cpu.work.instructions = instructions
            tsc = instructions * TSC_PER_INSTRUCTION
            for clock_id in vdso.SERVED_CLOCKS:
                assert (tsc + words[clock_id]) % 2**64 == machine.clock.now(clock_id)


def test_vdso_clocks_agree_with_the_syscalls_and_follow_sleeps(tmp_path: Path) -> None:
    mono_v, mono_s, real_v, real_s, req, mono_v2, mono_s2 = (DATA + 16 * i for i in range(7))
    code = (
        call_vdso("__vdso_clock_gettime", CLOCK_MONOTONIC, mono_v)
        + syscall(228, CLOCK_MONOTONIC, mono_s)
        + call_vdso("__vdso_clock_gettime", CLOCK_REALTIME, real_v)
        + syscall(228, CLOCK_REALTIME, real_s)
        + syscall(35, req, 0)  # nanosleep 10 s: every thread sleeps, the clock jumps
        + call_vdso("__vdso_clock_gettime", CLOCK_MONOTONIC, mono_v2)
        + syscall(228, CLOCK_MONOTONIC, mono_s2)
        + write_data(7 * 16)
        + guest.exit_group(0)
    )
    data = bytes(64) + struct.pack("<qq", 10, 0) + bytes(32)
    result = api.run(program(tmp_path, code, data))
    assert result.exit_status == 0
    times = [timespec_ns(result.stdout, 16 * i) for i in (0, 1, 2, 3, 5, 6)]
    mono_vdso, mono_sys, real_vdso, real_sys, after_vdso, after_sys = times
    # Each vDSO reading comes a few instructions (ns) before the syscall's.
    for vdso_ns, sys_ns in ((mono_vdso, mono_sys), (real_vdso, real_sys), (after_vdso, after_sys)):
        assert 0 < sys_ns - vdso_ns < 100
    assert BOOT_NS < mono_vdso < BOOT_NS + 10_000
    assert 0 < real_vdso - REALTIME_AT_BOOT_NS - (mono_vdso - BOOT_NS) < 200
    assert after_vdso - mono_sys >= 10 * NS
    assert [e.name for e in result.syscalls] == [
        "clock_gettime",
        "clock_gettime",
        "nanosleep",
        "clock_gettime",
        "write",
        "exit_group",
    ]


def test_gettimeofday_time_getcpu_and_clock_getres(tmp_path: Path) -> None:
    tv, tz, tloc, returned, cpu, node, res, real = (DATA + o for o in (0, 16, 24, 32, 40, 44, 48, 64))
    code = (
        syscall(228, CLOCK_REALTIME, real)
        + call_vdso("__vdso_gettimeofday", tv, tz)
        + call_vdso("__vdso_time", tloc)
        + store_rax(returned)
        + call_vdso("__vdso_getcpu", cpu, node)
        + store_rax(DATA + 80)
        + call_vdso("__vdso_clock_getres", CLOCK_MONOTONIC, res)
        + store_rax(DATA + 88)
        + write_data(96)
        + guest.exit_group(0)
    )
    data = bytes(16) + b"\xff" * 8 + bytes(16) + b"\xff" * 8 + bytes(48)
    result = api.run(program(tmp_path, code, data))
    out = result.stdout
    sec, usec = struct.unpack_from("<qq", out, 0)
    realtime = timespec_ns(out, 64)
    assert 0 <= sec * 1_000_000 + usec - realtime // 1000 <= 1  # a few ns later: same microsecond or next
    assert sec == realtime // NS
    assert struct.unpack_from("<q", out, 16)[0] == 0  # struct timezone: UTC
    assert struct.unpack_from("<qq", out, 24) == (sec, sec)  # time(&t): stored and returned
    assert struct.unpack_from("<II", out, 40) == (0, 0)  # CPU 0, node 0
    assert struct.unpack_from("<qq", out, 48) == (0, vdso.RESOLUTION_NS)
    assert struct.unpack_from("<qq", out, 80) == (0, 0)  # getcpu and clock_getres returned 0
    assert [e.name for e in result.syscalls] == ["clock_gettime", "write", "exit_group"]


def test_other_clocks_take_the_syscall_as_on_linux(tmp_path: Path) -> None:
    """CPU-time clocks and unknown ids are not the vDSO's: the kernel answers, and strace shows it."""
    code = (
        call_vdso("__vdso_clock_gettime", CLOCK_PROCESS_CPUTIME_ID, DATA)
        + call_vdso("__vdso_clock_getres", 99, DATA)
        + call_vdso("__vdso_clock_gettime", 99, DATA)
        + exit_with_rax()
    )
    result = api.run(program(tmp_path, code))
    assert result.exit_status == -EINVAL & 0xFF
    first, getres, gettime = result.strace()[:3]
    assert first.startswith("clock_gettime(CLOCK_PROCESS_CPUTIME_ID, {tv_sec=0, tv_nsec=")
    assert first.endswith("}) = 0")
    assert getres == f"clock_getres(0x63 /* CLOCK_??? */, {DATA:#x}) = -1 EINVAL (Invalid argument)"
    assert gettime == f"clock_gettime(0x63 /* CLOCK_??? */, {DATA:#x}) = -1 EINVAL (Invalid argument)"


def test_a_bad_pointer_faults_inside_the_vdso(tmp_path: Path) -> None:
    result = api.run(program(tmp_path, call_vdso("__vdso_clock_gettime", CLOCK_MONOTONIC, 0)))
    assert result.exit_status == 128 + 11
    assert "write of unmapped address 0x0" in result.report
    assert "[vdso] __vdso_clock_gettime+" in result.report
    assert result.syscalls == []


# -- Go ------------------------------------------------------------------------------------


def _clock_syscalls(result: api.RunResult) -> int:
    return sum(e.name in CLOCK_SYSCALLS for e in result.syscalls)


@pytest.mark.parametrize("version", toolchains.GO_VERSIONS)
def test_go_hello_reads_the_clock_through_the_vdso(version: str) -> None:
    result = api.run(built("hello", version))
    assert (result.stdout, result.exit_status) == (b"Hello, World!\n", 0)
    assert _clock_syscalls(result) == 0  # natively, strace -f shows none either
    without = api.run(built("hello", version), vdso=False)
    assert (without.stdout, without.exit_status) == (b"Hello, World!\n", 0)
    assert _clock_syscalls(without) > 0


def test_traces_are_identical_across_runs() -> None:
    first, second = api.run(built("hello")), api.run(built("hello"))
    assert first.strace() == second.strace()
    assert first.stats.instructions == second.stats.instructions


def test_go_mappings_go_below_the_vdso_as_natively() -> None:
    """Linux maps the vDSO first, atop the mmap area; Go's first mmap lands right under it
    (0x7ffff7fb7000 natively under ``setarch -R`` on Linux 6.13+)."""
    first_mmap = next(e for e in api.run(built("hello")).syscalls if e.name == "mmap")
    assert first_mmap.args[1] == 0x40000
    assert first_mmap.result == VVAR_ADDR - 0x40000 == 0x7FFF_F7FB_7000


def test_goroutines_match_native_without_clock_syscalls() -> None:
    path = built("goroutines")
    expected = native_output(path)
    for cpus in (1, 4):
        result = api.run(path, cpus=cpus)
        assert (result.stdout, result.stderr, result.exit_status) == expected
        assert _clock_syscalls(result) == 0


def test_cli_no_vdso_brings_the_syscalls_back(capfd: pytest.CaptureFixture[str]) -> None:
    def clock_lines(*flags: str) -> int:
        assert cli.main(["run", str(built("hello")), "--strace", *flags]) == 0
        out, err = capfd.readouterr()
        assert out == "Hello, World!\n"
        return sum("clock_gettime(" in line for line in err.splitlines())

    assert clock_lines() == 0
    assert clock_lines("--no-vdso") > 0
