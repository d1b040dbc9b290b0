"""``python -m emulator explain TARGET``: one run of a Go program, taken apart.

The sections follow "Hello World in Go — Under the Hood" (the reference
document under /work/shared/reference): bootstrap, threads and goroutines,
the compiler's output, memory, syscalls, the assembly of main.main,
allocations, binary size; then the document's concrete claims next to what
this binary, on this toolchain, actually did. Every figure is measured: the
static ones from the ELF (loader.lines, loader.packages, emulator.disasm), the
dynamic ones from one emulated run (emulator.facts). Rendering is separate
from gathering: ``explain()`` builds an ``Explanation``; ``render_text``,
``render_markdown`` and ``render_json`` print it.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from emulator.disasm import Binary, Instruction, disassemble
from emulator.facts import Mapping, RunFacts, gather
from loader.packages import SizeReport, size_by_package

KiB = 1024
CLAIMS_TITLE = "The reference document's claims, measured"
PAGE = 4096
# Syscalls grouped the way a Go engineer thinks of them.
SYSCALL_KINDS = {
    "signals": {"rt_sigaction", "rt_sigprocmask", "sigaltstack", "rt_sigreturn", "tgkill", "kill"},
    "memory": {"mmap", "munmap", "madvise", "mprotect", "brk", "mremap"},
    "threads": {"clone", "clone3", "gettid", "arch_prctl", "exit", "set_robust_list", "set_tid_address"},
    "scheduling": {"futex", "nanosleep", "clock_nanosleep", "sched_yield", "sched_getaffinity", "getpid"},
    "files": {"openat", "open", "read", "pread64", "close", "fcntl", "fstat", "newfstatat", "readlinkat"},
    "limits": {"getrlimit", "setrlimit", "prlimit64", "uname"},
    "output": {"write", "writev", "pwrite64"},
    "exit": {"exit_group"},
}


# What each bootstrap step does, from the runtime's source (asm_amd64.s rt0_go, proc.go).
BOOTSTRAP_NOTES = {
    "runtime.rt0_go": "assembly: g0 and m0, TLS, CPU features",
    "runtime.check": "self-checks of the compiler's assumptions",
    "runtime.args": "argc, argv, auxv",
    "runtime.osinit": "CPU count, huge page size",
    "runtime.schedinit": "allocator, GC, signals, GOMAXPROCS",
    "runtime.newproc": "goroutine 1, to run runtime.main",
    "runtime.mstart": "m0 enters the scheduler",
    "runtime.main": "on goroutine 1",
    "runtime.gcenable": "starts the sweeper and scavenger",
    "main.main": "your code",
}


@dataclass(frozen=True)
class Claim:
    topic: str
    claim: str  # what the reference document says
    measured: str  # what we saw
    holds: bool


@dataclass(frozen=True)
class Region:
    """One mapping of the address space, labelled with what Go keeps there."""

    start: int
    end: int
    perms: str
    label: str

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class StringLiteral:
    text: str
    address: int
    section: str
    followed_by: bytes  # the bytes right after it: another literal, not a NUL
    header_address: int | None  # the static string header main.main points at, if found
    write_buffer: int | None  # where write(2)'s bytes came from
    write_buffer_region: str
    copies: int = 1  # occurrences of the bytes in the loaded image: literals are deduplicated
    blob: str = ""  # the linker's symbol for the string data it sits in ("go:string.*"), if known


@dataclass
class Explanation:
    target: str
    path: str
    go_version: str
    stripped: bool
    file_size: int
    facts: RunFacts
    sizes: SizeReport
    prologue: list[Instruction]
    main_listing: list[Instruction]
    memory_at_main: list[Region]
    memory_at_exit: list[Region]
    string: StringLiteral | None
    claims: list[Claim] = field(default_factory=list)

    @property
    def syscalls_by_kind(self) -> dict[str, Counter[str]]:
        kinds: dict[str, Counter[str]] = {}
        for event in self.facts.syscalls:
            kinds.setdefault(syscall_kind(event.name), Counter())[event.name] += 1
        return kinds


class NotAGoProgram(ValueError):
    """The binary has no Go function table or no main.main: nothing to explain."""


def syscall_kind(name: str) -> str:
    return next((k for k, names in SYSCALL_KINDS.items() if name in names), "other")


def explain(
    path: str | os.PathLike[str], target: str | None = None, args: Sequence[str] = (), *, seed: int = 0
) -> Explanation:
    """Read the binary, run it once, and put the facts together."""
    binary = Binary(path)
    if binary.functions.address_of("main.main") is None:
        raise NotAGoProgram(f"{target or os.fspath(path)}: no main.main; explain reads Go programs")
    facts = gather(binary, args, seed=seed)
    sizes = size_by_package(binary.elf, binary.functions, binary.data_symbols)
    listing = disassemble(binary, "main.main").instructions
    arenas = _arena_reservations(facts)
    stacks = _stacks(facts)
    origins = _origins(facts)
    explanation = Explanation(
        target=target or os.fspath(path),
        path=os.fspath(path),
        go_version=binary.image.go_version or "unknown",
        stripped=not binary.data_symbols,
        file_size=sizes.file_size,
        facts=facts,
        sizes=sizes,
        prologue=_prologue(listing),
        main_listing=listing,
        memory_at_main=[r for m in facts.memory_at_main for r in _label(m, binary, arenas, stacks, origins)],
        memory_at_exit=[r for m in facts.memory_at_exit for r in _label(m, binary, arenas, stacks, origins)],
        string=_string_literal(binary, facts, listing, arenas),
    )
    explanation.claims = _claims(explanation)
    return explanation


# -- static facts -------------------------------------------------------------------


def _prologue(listing: list[Instruction]) -> list[Instruction]:
    """The stack-guard check: the compare and branch at the top, and the morestack call it jumps to."""
    head = listing[:2]
    tail = [i for i in listing if i.operands.startswith("runtime.morestack")]
    if tail:
        at = listing.index(tail[0])
        tail = listing[at : at + 2]
    return head + tail


def _string_literal(
    binary: Binary, facts: RunFacts, listing: list[Instruction], arenas: list[tuple[int, int]]
) -> StringLiteral | None:
    """Where the first string main.main passes lives, and where write(2) got its bytes."""
    header = next(
        (i.data for i in listing if i.data is not None and binary.static_string(i.data) is not None), None
    )
    if header is not None:
        text = binary.static_string(header) or ""
    else:
        text = facts.stdout.decode("utf-8", "replace").rstrip("\n")
    if not text:
        return None
    needle = text.encode()
    address = next(binary.elf.segmap.find_all(needle, writable=False), None)
    if address is None:
        return None
    where = binary.section_at(address)
    write = next((e for e in facts.syscalls if e.name == "write" and e.args[0] == 1), None)
    buffer = write.args[1] if write is not None else None
    buffer_region = ""
    if buffer is not None:
        in_arena = any(lo <= buffer < hi for lo, hi in arenas)
        buffer_region = (
            "the Go heap: fmt's buffer, a copy" if in_arena else _section_or_mapping(binary, buffer)
        )
    return StringLiteral(
        text=text,
        address=address,
        section=where[0] if where else "?",
        followed_by=binary.read(address + len(needle), 12) or b"",
        header_address=header,
        write_buffer=buffer,
        write_buffer_region=buffer_region,
        copies=len(list(binary.elf.segmap.find_all(needle))),
        blob=_string_blob(binary, address),
    )


def _string_blob(binary: Binary, addr: int) -> str:
    """``go:string.*`` when ``addr`` lies between that marker symbol and the next symbol."""
    syms = [s for s in binary.data_symbols if not s.is_function]
    marker = next((s for s in syms if s.name == "go:string.*"), None)
    if marker is None or addr < marker.addr:
        return ""
    following = min((s.addr for s in syms if s.addr > marker.addr), default=None)
    return marker.name if following is None or addr < following else ""


def _section_or_mapping(binary: Binary, addr: int) -> str:
    where = binary.section_at(addr)
    return where[0] if where else "an anonymous mapping"


# -- memory ------------------------------------------------------------------------------


def _arena_reservations(facts: RunFacts) -> list[tuple[int, int]]:
    """[start, end) of each heap arena Go reserved at a hinted address (mmap with a non-NULL
    address and no MAP_FIXED: runtime.sysReserve of an arena hint)."""
    map_fixed = 0x10
    found = []
    for e in facts.syscalls:
        if e.name == "mmap" and e.args[0] and not e.args[3] & map_fixed and e.result == e.args[0]:
            found.append((e.args[0], e.args[0] + e.args[1]))
    return found


def _stacks(facts: RunFacts) -> list[tuple[int, int, str]]:
    """(lo, hi, what) of every stack we know of at main.main: goroutines' and signal stacks."""
    stacks = []
    for g in facts.goroutines_at_main or []:
        stacks.append((g.stack_lo, g.stack_hi, f"goroutine {g.goid} stack"))
    for t in facts.threads_at_main:
        base, size = t.altstack
        if size:
            stacks.append((base, base + size, f"signal stack of thread {t.tid}"))
    return stacks


def _label(
    m: Mapping,
    binary: Binary,
    arenas: list[tuple[int, int]],
    stacks: list[tuple[int, int, str]],
    origins: list[tuple[int, int, str]],
) -> list[Region]:
    """The mapping as one labelled region, or (anonymous memory) one per runtime mmap it merges."""
    if not m.name and not any(lo <= m.start < hi for lo, hi in arenas):
        return _split_by_origin(m, origins, stacks)
    if m.name and m.name == binary.image.path:
        names = [
            s.name
            for s in binary.elf.sections
            if s.sh_addr and s.sh_size and s.sh_addr < m.end and s.sh_addr + s.sh_size > m.start
        ]
        label = " ".join(names) or "the executable"
    elif m.name == "[stack]":
        label = "main thread stack (m0's g0 stack)"
    elif m.name == "[vdso]":
        label = "vDSO (clock_gettime without a syscall)"
    elif m.name.startswith("[vvar"):
        label = "vDSO data"
    elif m.name == "[heap]":
        label = "brk heap"
    elif any(lo <= m.start < hi for lo, hi in arenas):
        label = "Go heap arena" if m.perms != "---p" else "Go heap arena, reserved"
        inside = [what for lo, hi, what in stacks if m.start <= lo < m.end]
        if inside:
            kinds = Counter(w.split(" ")[0] for w in inside)
            label += ": " + ", ".join(
                f"{n} {k} stack{'s' if n > 1 else ''}" for k, n in sorted(kinds.items())
            )
    else:
        label = "anonymous"
    return [Region(m.start, m.end, m.perms, label)]


def _origins(facts: RunFacts) -> list[tuple[int, int, str]]:
    """(start, end, what) of each anonymous mmap Go made without MAP_FIXED, named after the
    runtime's known reservations: the page allocator's five summary levels (128 KiB x 8^level,
    mpagealloc_64bit.go), the scavenger index after them, the 32 MiB heap arena index
    (mheap_.arenas: 4M pointers)."""
    map_fixed, summary_base = 0x10, 128 * KiB
    found: list[tuple[int, int, str]] = []
    levels_seen = 0
    for e in facts.syscalls:
        if e.name != "mmap" or e.args[3] & map_fixed or e.args[0] or e.result is None or e.result < 0:
            continue
        size, prot = e.args[1], e.args[2]
        if prot == 0 and size == summary_base << (3 * levels_seen) and levels_seen < 5:
            what = f"page allocator summaries, level {levels_seen}"
            levels_seen += 1
        elif prot == 0 and levels_seen == 5 and size == 512 << 20:
            what = "page allocator scavenger index"
            levels_seen += 1
        elif prot == 0:
            what = "reserved"
        elif size == 32 << 20:
            what = "heap arena index (mheap_.arenas)"
        else:
            what = "runtime off-heap memory"
        found.append((e.result, e.result + -(-size // PAGE) * PAGE, what))
    return found


def _split_by_origin(
    m: Mapping, origins: list[tuple[int, int, str]], stacks: list[tuple[int, int, str]]
) -> list[Region]:
    """Adjacent mmaps of one protection merge into one VMA: split it back along them, then join
    neighbours of the same kind again ("runtime off-heap memory (6 mappings)")."""
    cuts = sorted({m.start, m.end} | {b for lo, hi, _ in origins for b in (lo, hi) if m.start < b < m.end})
    pieces: list[tuple[int, int, str, int]] = []  # start, end, what, how many mmaps
    for start, end in itertools.pairwise(cuts):
        what = next((w for lo, hi, w in origins if lo <= start < hi), "anonymous")
        if m.perms == "---p" and what != "reserved":
            what += ", reserved"
        elif m.perms != "---p" and what.startswith("page allocator"):
            what += ", committed"
        inside = [w for lo, _hi, w in stacks if start <= lo < end]
        if inside:
            what += f" ({', '.join(inside)})"
        if pieces and pieces[-1][2] == what and not inside:
            first, _, _, count = pieces[-1]
            pieces[-1] = (first, end, what, count + 1)
        else:
            pieces.append((start, end, what, 1))
    return [
        Region(start, end, m.perms, what + (f" ({count} mappings)" if count > 1 else ""))
        for start, end, what, count in pieces
    ]


# -- the claims -------------------------------------------------------------------------


SIZE_TOLERANCE = 0.25  # "~2 MB" holds for 1.5-2.5 MB


def expected_size_mib(stripped: bool) -> float:
    """The document's binary size: ~2 MB, ~1.5 MB stripped."""
    return 1.5 if stripped else 2.0


def _claims(ex: Explanation) -> list[Claim]:
    f = ex.facts
    claims = []
    allocs = f.println_allocations
    alloc_bytes = sum(a.size for a in allocs)
    if f.println_calls:
        claims.append(
            Claim(
                "allocations",
                "fmt.Println costs 2 heap allocations, 48 B (the []any slice and the boxed string)",
                f"{len(allocs)} allocations, {alloc_bytes} B on the first call; "
                + (", ".join(a.type_name or f"{a.size} B buffer" for a in allocs) or "none"),
                len(allocs) == 2 and alloc_bytes == 48,
            )
        )
    boxed = any(i.comment.startswith("string header ->") for i in ex.main_listing)
    if ex.main_listing:
        claims.append(
            Claim(
                "escape",
                '"Hello, World!" escapes to the heap: its header is copied there by interface boxing',
                "main.main points the interface at a static string header in read-only data"
                if boxed
                else "no static string header found in main.main",
                not boxed,
            )
        )
        inlined = any(i.operands == "fmt.Fprintln" for i in ex.main_listing)
        claims.append(
            Claim(
                "inlining",
                "fmt.Println is inlined into main.main",
                "main.main calls fmt.Fprintln directly"
                if inlined
                else "main.main does not call fmt.Fprintln",
                inlined,
            )
        )
    if f.goroutines_at_main is not None:
        n = len(f.goroutines_at_main)
        claims.append(
            Claim(
                "goroutines",
                "at least 2 goroutines at main.main (main and sysmon), typically 3-5",
                f"{n} goroutines"
                + (
                    "; sysmon is a thread of its own, not a goroutine"
                    if any(t.role == "sysmon" for t in f.threads_at_main)
                    and all(g.start_function != "runtime.sysmon" for g in f.goroutines_at_main)
                    else ""
                ),
                3 <= n <= 5,
            )
        )
        main_g = next((g for g in f.goroutines_at_main if g.goid == 1), None)
        others = [g.stack_size for g in f.goroutines_at_main if g.goid != 1]
        if main_g is not None:
            claims.append(
                Claim(
                    "stacks",
                    "the main goroutine's stack is 1 MB",
                    f"goroutine 1's stack is {_size(main_g.stack_size)} when main.main starts",
                    main_g.stack_size == 1 << 20,
                )
            )
        if others:
            smallest = min(others)
            claims.append(
                Claim(
                    "stacks",
                    "a goroutine starts with an 8 KB stack (2 KB before Go 1.4)",
                    f"the runtime's goroutines have {_size(smallest)} stacks",
                    smallest == 8 * KiB,
                )
            )
    main_stack = next((r for r in ex.memory_at_main if r.label.startswith("main thread stack")), None)
    if main_stack is not None:
        arenas = _arena_reservations(f)
        child_stacks = [e.args[1] for e in f.syscalls if e.name == "clone" and e.args[1]]
        in_heap = child_stacks and all(any(lo < sp <= hi for lo, hi in arenas) for sp in child_stacks)
        claims.append(
            Claim(
                "stacks",
                "the OS thread stack (g0) is 8 MB",
                f"the main thread's stack mapping is {_size(main_stack.size)} (the emulator's, as Linux's "
                "default rlimit)"
                + (
                    "; the other threads' g0 stacks (clone's child_stack) are in the Go heap"
                    if in_heap
                    else ""
                ),
                main_stack.size == 8 << 20,
            )
        )
    counts = Counter(e.name for e in f.syscalls)
    named = ("mmap", "clone", "futex", "write", "exit_group")
    claims.append(
        Claim(
            "syscalls",
            f"the trace shows {', '.join(named)}",
            ", ".join(f"{counts.get(name, 0)} {name}" for name in named),
            all(counts.get(name, 0) for name in named),
        )
    )
    write = next((e for e in f.syscalls if e.name == "write" and e.args[0] == 1), None)
    if write is not None:
        claims.append(
            Claim(
                "syscalls",
                'write(1, "Hello, World!\\n", 14) = 14 is the output',
                f"write(1, ..., {write.args[2]}) = {write.result}",
                write.args[2] == 14 and write.result == 14,
            )
        )
    claims.append(
        Claim("gc", "0 GC cycles for a single Println", f"{f.gc_cycles} GC cycles", f.gc_cycles == 0)
    )
    entered = {m.function: m.instructions for m in f.milestones}
    first_go = min(
        (m for m in f.milestones if m.function != "runtime.rt0_go"),
        key=lambda m: m.instructions,
        default=None,
    )
    if first_go is not None and "runtime.schedinit" in entered:
        claims.append(
            Claim(
                "bootstrap",
                "the first Go (not assembly) function is runtime.schedinit",
                f"{first_go.function} runs first, at instruction {first_go.instructions:,}; "
                f"schedinit at {entered['runtime.schedinit']:,}",
                first_go.function == "runtime.schedinit",
            )
        )
    if ex.prologue:
        first = ex.prologue[0]
        claims.append(
            Claim(
                "assembly",
                "the stack check loads g from TLS: MOVQ GS:0x28, CX; CMPQ SP, 0x10(CX); JLS morestack",
                f"{first.text}: g lives in R14 (register ABI), no TLS load",
                "gs:" in first.operands or "fs:" in first.operands,
            )
        )
        frame = next(
            (i for i in ex.main_listing if i.mnemonic == "sub" and i.operands.startswith("rsp")), None
        )
        if frame is not None:
            size = int(frame.operands.split(",")[1], 0)
            claims.append(
                Claim(
                    "assembly",
                    "main.main's frame is 88 bytes ($0x58)",
                    f"sub rsp, {size:#x}: {size} bytes",
                    size == 0x58,
                )
            )
    mib = ex.file_size / (1 << 20)
    claims.append(
        Claim(
            "size",
            "the binary is ~2 MB (~1.5 MB stripped)",
            f"{mib:.1f} MiB ({'stripped' if ex.stripped else 'with symbols and DWARF'})",
            abs(mib / expected_size_mib(ex.stripped) - 1) <= SIZE_TOLERANCE,
        )
    )
    runtime = next((p for p in ex.sizes.packages if p.package == "runtime"), None)
    fmt = next((p for p in ex.sizes.packages if p.package == "fmt"), None)
    if runtime is not None and fmt is not None:
        claims.append(
            Claim(
                "size",
                "the runtime is ~1.5 MB, fmt ~300 KB",
                f"runtime {_size(runtime.total)}, fmt {_size(fmt.total)} of "
                + ("code (stripped: no data symbols)" if ex.stripped else "code and sized data"),
                False,
            )
        )
    reserved = sum(r.size for r in ex.memory_at_exit if r.perms == "---p")
    claims.append(
        Claim(
            "memory",
            "~2-5 MB of memory mapped in total",
            f"{_size(f.committed_bytes)} mapped with access rights at exit, {_size(reserved)} more reserved "
            "PROT_NONE (pages never touched cost no RAM)",
            2 << 20 <= f.committed_bytes <= 5 << 20,
        )
    )
    return claims


# -- rendering ---------------------------------------------------------------------------


def _size(n: int) -> str:
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} GiB"
    if n >= 1 << 20:
        return f"{n >> 20} MiB" if n % (1 << 20) == 0 else f"{n / (1 << 20):.1f} MiB"
    if n >= KiB:
        return f"{n // KiB} KiB" if n % KiB == 0 else f"{n / KiB:.1f} KiB"
    return f"{n} B"


def _table(rows: list[list[str]], right: set[int] = frozenset(), indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        out.append((indent + "  ".join(cells)).rstrip())
    return out


def sections(ex: Explanation) -> list[tuple[str, list[list[str]] | list[str], set[int]]]:
    """(title, rows or lines, right-aligned columns) for each section, shared by text and markdown."""
    f = ex.facts
    out: list[tuple[str, list, set[int]]] = []
    total = f.instructions
    out.append(
        (
            "Bootstrap (instructions executed when each function is first entered)",
            [["function", "at", "thread", ""]]
            + [
                [
                    "_rt0_amd64_linux",
                    "0",
                    str(f.threads_at_main[0].tid if f.threads_at_main else ""),
                    "entry point",
                ]
            ]
            + [
                [m.function, f"{m.instructions:,}", str(m.tid), BOOTSTRAP_NOTES.get(m.function, "")]
                for m in f.milestones
            ],
            {1},
        )
    )
    out.append(
        (
            "Instructions per phase",
            [["phase", "instructions", "share"]]
            + [[p.name, f"{p.instructions:,}", f"{100 * p.instructions / total:.1f}%"] for p in f.phases]
            + [["total (all threads)", f"{total:,}", "100.0%"]],
            {1, 2},
        )
    )
    package_inits = f.package_inits
    if package_inits:
        inits = [name for p in package_inits for name in p.functions]
        out.append(("Package inits, in order", [", ".join(inits)], set()))
    rows = [["tid", "M", "role", "doing"]] + [
        [str(t.tid), "" if t.m is None else f"m{t.m}", t.role, t.state] for t in f.threads_at_main
    ]
    out.append((f"Threads when main.main starts ({len(f.threads_at_main)})", rows, set()))
    if f.goroutines_at_main is not None:
        rows = [["goid", "status", "started by", "stack"]] + [
            [
                str(g.goid),
                f"{g.status} ({g.wait_reason})" if g.wait_reason else g.status,
                g.start_function,
                _size(g.stack_size),
            ]
            for g in f.goroutines_at_main
        ]
        out.append(
            (f"Goroutines when main.main starts ({len(f.goroutines_at_main)}, from runtime.allgs)", rows, {3})
        )
    else:
        out.append(("Goroutines when main.main starts", [f"not read: {f.goroutines_note}"], set()))
    header = [["start", "end", "size", "perm", "what"]]
    rows = header + [_region_row(r) for r in ex.memory_at_main]
    out.append((f"Memory when main.main starts ({len(ex.memory_at_main)} regions)", rows, {0, 1, 2}))
    before = {(r.start, r.end, r.perms) for r in ex.memory_at_main}
    changed = [r for r in ex.memory_at_exit if (r.start, r.end, r.perms) not in before]
    after = {(r.start, r.end, r.perms) for r in ex.memory_at_exit}
    gone = [r for r in ex.memory_at_main if (r.start, r.end, r.perms) not in after]
    if changed or gone:
        rows = (
            header + [_region_row(r) for r in changed] + [[*_region_row(r)[:4], "(unmapped)"] for r in gone]
        )
        out.append((f"Memory at exit: {len(changed)} new or changed, {len(gone)} gone", rows, {0, 1, 2}))
    else:
        out.append(("Memory at exit", ["the same mappings as when main.main started"], set()))
    if ex.string is not None:
        s = ex.string
        lines = [
            f'"{s.text}": {len(s.text)} bytes at {s.address:#x} in {s.section}'
            + (f" ({s.blob}, the linker's concatenated string literals)" if s.blob else ""),
            f"not NUL-terminated: followed by {_bytes_text(s.followed_by)}; "
            f"{s.copies} cop{'y' if s.copies == 1 else 'ies'} of these bytes in the loaded image",
        ]
        if s.header_address is not None:
            lines.append(
                f"main.main passes a static string header at {s.header_address:#x} {{ptr, len {len(s.text)}}}"
            )
        if s.write_buffer is not None:
            lines.append(f"write(2) sent the bytes from {s.write_buffer:#x}, in {s.write_buffer_region}")
        out.append(("The string literal", lines, set()))
    kinds = ex.syscalls_by_kind
    main_at = next((m.instructions for m in f.milestones if m.function == "main.main"), None)
    before = Counter(
        syscall_kind(e.name) for e in f.syscalls if main_at is not None and e.instructions < main_at
    )
    rows = [["kind", "calls", "before main.main", "which"]]
    for kind, c in sorted(kinds.items(), key=lambda kv: -sum(kv[1].values())):
        which = ", ".join(f"{n} {k}" for k, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))
        rows.append([kind, str(sum(c.values())), str(before.get(kind, 0)), which])
    rows.append(["total", str(len(f.syscalls)), str(sum(before.values())), ""])
    out.append(("Syscalls by kind", rows, {1, 2}))
    if ex.prologue:
        out.append(
            (
                "Stack-guard prologue of main.main",
                [["address", "instruction", ""]]
                + [[f"{i.address:#x}", i.text, f"; {i.comment}" if i.comment else ""] for i in ex.prologue],
                set(),
            )
        )
    if f.println_calls:
        rows = [["size", "type", "allocated by"]] + [
            [f"{a.size} B", a.type_name or "(no pointers)", a.caller] for a in f.println_allocations
        ]
        rows.append(
            [
                f"{sum(a.size for a in f.println_allocations)} B",
                f"{len(f.println_allocations)} allocations",
                "",
            ]
        )
        out.append(("Heap allocations of the first fmt.Println", rows, {0}))
    out.append(
        (
            "Run totals",
            [
                ["measure", "value"],
                ["heap allocations (runtime.mallocgc)", f"{f.allocations:,}"],
                ["bytes allocated", f"{f.allocated_bytes:,}"],
                ["GC cycles", str(f.gc_cycles)],
                ["goroutines created", str(f.goroutines_created)],
                ["threads created", str(f.threads_created)],
                ["memory committed at exit", _size(f.committed_bytes)],
            ],
            {1},
        )
    )
    top = ex.sizes.packages[:12]
    rest = ex.sizes.packages[12:]
    rows = [["package", "code", "data"]] + [[p.package, f"{p.text:,}", f"{p.data:,}"] for p in top]
    if rest:
        rows.append([f"{len(rest)} more", f"{sum(p.text for p in rest):,}", f"{sum(p.data for p in rest):,}"])
    rows += [[name, f"{size:,}", ""] for name, size in ex.sizes.sections.items()]
    rows.append(["file", f"{ex.file_size:,}", ""])
    title = "Binary size by package (bytes)" + (", code only: stripped" if ex.stripped else "")
    out.append((title, rows, {1, 2}))
    rows = [["", "topic", "the document says", "measured here"]] + [
        ["holds" if c.holds else "differs", c.topic, c.claim, c.measured] for c in ex.claims
    ]
    out.append((CLAIMS_TITLE, rows, set()))
    return out


def _bytes_text(data: bytes) -> str:
    """Printable bytes as a quoted string, anything else as hex."""
    text = data.decode("utf-8", "replace")
    return f'"{text}..."' if text.isprintable() else data.hex(" ")


def _region_row(r: Region) -> list[str]:
    return [f"{r.start:#x}", f"{r.end:#x}", _size(r.size), r.perms, r.label]


def render_text(ex: Explanation) -> str:
    head = f"{ex.target}: Go {ex.go_version.removeprefix('go')}, {ex.file_size:,} bytes" + (
        ", stripped" if ex.stripped else ""
    )
    out = [
        head,
        f"output: {ex.facts.stdout.decode('utf-8', 'replace').rstrip()!r}, exit {ex.facts.exit_status}",
    ]
    for title, body, right in sections(ex):
        out += ["", title]
        if title == CLAIMS_TITLE:  # two lines each: the rows are too wide for a terminal as a table
            for c in ex.claims:
                out += [
                    f"  {'holds' if c.holds else 'differs':7}  {c.topic}: {c.claim}",
                    f"  {'':7}  {c.measured}",
                ]
        elif body and isinstance(body[0], list):
            out += _table(body, right)
        else:
            out += [f"  {line}" for line in body]
    return "\n".join(out) + "\n"


def render_markdown(ex: Explanation) -> str:
    out = [f"# {ex.target}: Go {ex.go_version.removeprefix('go')}", ""]
    out.append(
        f"{ex.file_size:,} bytes{', stripped' if ex.stripped else ''}; output "
        f"`{ex.facts.stdout.decode('utf-8', 'replace').rstrip()}`, exit {ex.facts.exit_status}"
    )
    for title, body, right in sections(ex):
        out += ["", f"## {title}", ""]
        if body and isinstance(body[0], list):
            header, *rows = body
            out.append("| " + " | ".join(c or " " for c in header) + " |")
            out.append("|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|")
            out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
        else:
            out += body
    return "\n".join(out) + "\n"


def render_json(ex: Explanation) -> str:
    def plain(value):
        if dataclasses.is_dataclass(value):
            return {k: plain(v) for k, v in vars(value).items() if k != "syscalls"}
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, bytes):  # output as text, machine code as hex
            text = value.decode("utf-8", "replace")
            return text if text.isprintable() or text.endswith("\n") else value.hex()
        return value

    doc = plain(ex)
    doc["syscalls_by_kind"] = {k: dict(c) for k, c in ex.syscalls_by_kind.items()}
    doc["phases"] = [dict(plain(p), instructions=p.instructions) for p in ex.facts.phases]
    return json.dumps(doc, indent=2) + "\n"


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}
