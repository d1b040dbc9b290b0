"""Where a stopped guest thread is: a frame-pointer backtrace and the goroutine it runs.

Read from guest memory when a report is written, never while the guest runs.
Go keeps frame pointers on amd64: a function with a frame pushes RBP and
points RBP at the saved value, so ``[rbp]`` is the caller's RBP and
``[rbp+8]`` the return address. Frameless leaf functions do not, so a
leaf's caller can be missing (Go's own unwinder uses the pclntab's SP
deltas). Every step is checked, since a report is written when something
already went wrong: the frame must lie in writable memory and above the
previous one on the same stack, the return address in executable memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from emulator.goabi import LAYOUTS, TLS_G, go_minor
from emulator.memory import PROT_EXEC, PROT_READ, PROT_WRITE, AddressSpace

MAX_FRAMES = 32
# Where a goroutine's or a thread's frame chain ends.
_OUTERMOST = ("runtime.goexit", "runtime.mstart", "runtime.rt0_go")


@dataclass(frozen=True)
class Goroutine:
    """The goroutine a thread runs, or why it is not known."""

    goid: int | None
    note: str = ""  # "system stack" for g0/gsignal (goid 0), or why goid is unknown

    def describe(self) -> str:
        if self.goid is None:
            return f"goroutine unknown ({self.note})"
        return f"goroutine {self.goid}" + (f" ({self.note})" if self.note else "")


def _vma_with(mem: AddressSpace, addr: int, prot: int):
    vma = mem.vmas.find(addr)
    return vma if vma is not None and vma.prot & prot == prot else None


def frame_pcs(
    mem: AddressSpace, rip: int, rbp: int, function_of: Callable[[int], str | None], depth: int = MAX_FRAMES
) -> list[int]:
    """``rip`` then the return addresses up the RBP chain, innermost first."""
    pcs, fp = [rip], rbp
    while len(pcs) < depth and not (function_of(pcs[-1]) or "").startswith(_OUTERMOST):
        vma = _vma_with(mem, fp, PROT_READ | PROT_WRITE)
        if fp % 8 or vma is None or fp + 16 > vma.end:
            break
        caller_fp, ret = mem.peek_u64(fp), mem.peek_u64(fp + 8)
        if caller_fp is None or ret is None or _vma_with(mem, ret, PROT_EXEC) is None:
            break
        pcs.append(ret)
        if caller_fp <= fp and mem.vmas.find(caller_fp) is vma:
            break  # on one stack a caller's frame lies above its callee's: a loop, or garbage
        fp = caller_fp
    return pcs


def goroutine(
    mem: AddressSpace,
    go_version: str | None,
    regs: dict[str, int],
    signal_stack: tuple[int, int] | None = None,
) -> Goroutine:
    """The goroutine running on a thread: its g from TLS (-8(FS)) or R14 (ABIInternal).

    Trusted when the thread's RSP lies within that g's stack bounds, or when
    RSP is on the thread's signal stack ``(start, end)``: a handler runs there
    for the goroutine it interrupted until Go switches g to gsignal.
    """
    minor = go_minor(go_version)
    if minor is None:
        return Goroutine(None, "not a Go binary, or its version is unreadable")
    layout = LAYOUTS.get(minor)
    if layout is None:
        return Goroutine(None, f"no runtime.g layout known for Go {minor[0]}.{minor[1]}")
    rsp = regs["rsp"]
    in_handler = signal_stack is not None and signal_stack[0] <= rsp < signal_stack[1]
    for g in (mem.peek_u64(regs["fs_base"] + TLS_G) if regs["fs_base"] else None, regs["r14"]):
        if not g:
            continue
        lo, hi = mem.peek_u64(g + layout.g_stack_lo), mem.peek_u64(g + layout.g_stack_hi)
        if lo is None or hi is None or not (lo <= rsp < hi or (in_handler and 0 < lo < hi)):
            continue
        goid = mem.peek_u64(g + layout.g_goid)
        if goid is None:
            continue
        if goid == 0:
            return Goroutine(0, "g0 or gsignal: the system stack")
        return Goroutine(goid, "in a signal handler" if in_handler else "")
    return Goroutine(None, "no g whose stack holds RSP (not in Go code, or before the runtime set g)")
