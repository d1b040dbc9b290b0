"""Go runtime events: goroutines, threads, stack growth, GC, allocations, inits, panics, phases.

Each event comes from a probe on one runtime function, reading its arguments
from Go's register ABI (RAX, RBX, RCX, RDI, ... in ABIInternal functions; the
current g in R14) and runtime structures at offsets that depend on the
toolchain (``emulator.goabi``).
Frequent functions (``mallocgc``) are recorded by the native entry recorder
(``Cpu.record_entries``), so they cost no Python call until the next pause;
``copystack``'s record carries the old stack bounds of its ``gp`` argument (the
words RAX points at, read as it is entered).

GoEvent kinds and their ``details`` (also documented in emulator/eventlog.py):

- ``goroutine``: ``{"goid", "parent", "start"}`` a goroutine created by ``go``
  (``runtime.newproc1`` returning; ``start`` is its function); event goid = creator.
- ``thread``: ``{"m", "tid"}`` an OS thread started for runtime M number ``m``.
- ``stack-growth``: ``{"old_size", "new_size"}`` (``runtime.copystack``; a shrink
  has new < old) of goroutine ``goid``.
- ``gc``: ``{"trigger"}`` ``runtime.gcStart`` asked for a cycle ("heap", "time", "cycle").
- ``alloc``: ``{"bytes", "type", "caller"}`` one ``runtime.mallocgc`` call: its size, the Go type
  allocated ("" for memory without pointers, e.g. byte buffers) and the function that called
  mallocgc (``runtime.newobject``, ``runtime.makeslice``, ``runtime.growslice``...).
- ``init``: ``{"package", "functions"}`` a package's init tasks running (``runtime.doInit1``).
- ``panic``: ``{"value"}`` ``runtime.gopanic`` (value: the string for string and error
  constants, else its type's address in hex).
- ``recover``: ``{}`` a deferred call recovered (``runtime.recovery`` resumes the goroutine).
- ``phase``: ``{"phase"}`` one of "bootstrap", "runtime-init", "package-init", "main", "exit".
"""

from __future__ import annotations

import struct

from emulator import goabi
from emulator.calls import EntryRecorder
from emulator.cpu import EntryRecord
from emulator.events import GoEvent
from loader.elffile import read_elf

PHASES = ("bootstrap", "runtime-init", "package-init", "main", "exit")


class GoRuntime:
    """Probes on the runtime of one machine's guest, emitting GoEvents."""

    def __init__(self, machine, recorder: EntryRecorder, layout: goabi.Layout) -> None:
        self._machine = machine
        self._recorder = recorder
        self._layout = layout
        self._symbols = machine.image.symbols
        self._phase = ""
        self._pending_m: list[int] = []
        self._main_tid = machine.current.tid
        self._goids: dict[int, int] = {}
        self._inits_seen: set[int] = set()
        self._runtime_initialised = False  # the runtime package's own init task has run
        self._functions: dict[int, str] = {}  # return address -> function, for allocations' callers
        self._types: dict[int, str] = {}  # abi.Type address -> type name
        self._types_base: int | None = None  # runtime.types, read from the file by install

    def goid_of(self, g: int) -> int | None:
        """The goroutine id of the g at ``g`` (None if unreadable).

        Cached: a g changes goid only when newproc1 reuses it, which _on_goroutine sees.
        """
        if not g:
            return None
        goid = self._goids.get(g)
        if goid is None:
            goid = self._u64(g + self._layout.g_goid)
            if goid is not None:
                self._goids[g] = goid
        return goid

    def install(self) -> None:
        """Probe every runtime function this binary has; before the run."""
        watch = self._watch
        watch("runtime.main", lambda r, t: self._enter_phase(r, t, "runtime-init"))
        watch("main.main", lambda r, t: self._enter_phase(r, t, "main"))
        watch("runtime.exit", lambda r, t: self._enter_phase(r, t, "exit"))
        watch("runtime.mallocgc", self._on_malloc)
        watch(
            "runtime.gcStart",
            lambda r, t: self._emit(r, t, "gc", {"trigger": goabi.GC_TRIGGERS.get(r.rax, r.rax)}),
        )
        # Go's own tracer ends a cycle (GCDone) in gcMarkTermination: marking is over, sweeping starts.
        watch("runtime.gcMarkTermination", lambda r, t: self._emit(r, t, "gc-done", {}))
        watch("runtime.gopanic", self._on_panic)
        watch("runtime.recovery", lambda r, t: self._emit(r, t, "recover", {}, goid=self.goid_of(r.rax)))
        watch("runtime.newosproc", self._on_newosproc)
        for site in self._return_sites("runtime.newproc.func1", "runtime.newproc1"):
            self._recorder.watch(site, self._on_goroutine)
        watch("runtime.doInit1", self._on_init)
        watch("runtime.copystack", self._on_copystack)
        self._machine.add_clone_hook(self._on_clone)
        self._types_base = _types_base(self._machine.image.path)  # now, not during the run
        self._machine.emit(
            GoEvent(self._machine.cpu.instructions, self._main_tid, "phase", None, {"phase": "bootstrap"})
        )
        self._phase = "bootstrap"

    # -- probes ---------------------------------------------------------------------

    def _watch(self, name: str, handler) -> None:
        address = self._symbols.address_of(name)
        if address is not None:
            self._recorder.watch(address, handler)

    def _emit(self, record: EntryRecord, tid: int, kind: str, details: dict, goid: int | None = -1) -> None:
        if goid == -1:
            goid = self.goid_of(record.g) if record.g else None
        self._machine.emit(GoEvent(record.instructions, tid, kind, goid, details))

    def _enter_phase(self, record: EntryRecord, tid: int, phase: str) -> None:
        if PHASES.index(phase) > PHASES.index(self._phase):
            self._phase = phase
            self._emit(record, tid, "phase", {"phase": phase})

    def _on_init(self, record: EntryRecord, tid: int) -> None:
        """A package's init tasks. doInit1 runs a task the first time it is called for it and
        returns at once later (the runtime's own tasks come round twice): one event per task.

        runtime.main first runs runtime_inittasks (the runtime and what it imports, such as
        internal/bytealg, the runtime's own task last), then the program's: those are package-init."""
        task = record.rax
        if task in self._inits_seen:
            return
        self._inits_seen.add(task)
        count = self._u32(task + self._layout.init_task_nfns) or 0
        functions = []
        for i in range(min(count, 256)):
            pc = self._u64(task + self._layout.init_task_fns + 8 * i)
            where = self._symbols.lookup(pc) if pc else None
            if where is not None:
                functions.append(self._symbols.display_name(where[0]))
        package = functions[0].rsplit(".init", 1)[0] if functions else "?"
        if self._runtime_initialised:
            self._enter_phase(record, tid, "package-init")
        self._runtime_initialised |= package == "runtime"
        self._emit(record, tid, "init", {"package": package, "functions": functions})

    def _on_malloc(self, record: EntryRecord, tid: int) -> None:
        """mallocgc(size uintptr, typ *_type, needzero bool): RAX, RBX; the caller from the return
        address (newobject, makeslice, growslice... name what is being allocated)."""
        details = {"bytes": record.rax, "type": self._type_name(record.rbx) if record.rbx else ""}
        details["caller"] = self._function_at(record.return_address)
        self._emit(record, tid, "alloc", details)

    def _function_at(self, pc: int) -> str:
        name = self._functions.get(pc)
        if name is None:
            where = self._symbols.lookup(pc) if pc else None
            name = self._functions[pc] = self._symbols.display_name(where[0]) if where else "?"
        return name

    def _type_name(self, addr: int) -> str:
        name = self._types.get(addr)
        if name is None:
            name = self._types[addr] = goabi.type_name(self._bytes, self._types_base, addr) or ""
        return name

    def _on_panic(self, record: EntryRecord, tid: int) -> None:
        type_addr, data = record.rax, record.rbx
        value: str = hex(type_addr)
        kind = self._bytes(type_addr + self._layout.type_kind, 1)
        if kind and kind[0] & goabi.KIND_MASK == goabi.KIND_STRING:
            header = self._bytes(data, 16)
            if header:
                ptr, length = struct.unpack("<QQ", header)
                text = self._bytes(ptr, min(length, 256))
                if text is not None:
                    value = text.decode("utf-8", "replace")
        self._emit(record, tid, "panic", {"value": value})

    def _on_goroutine(self, record: EntryRecord, tid: int) -> None:
        newg, lay = record.rax, self._layout
        self._goids.pop(newg, None)  # a reused g has a new id now
        start = self._u64(newg + lay.g_startpc)
        where = self._symbols.lookup(start) if start else None
        details = {
            "goid": self.goid_of(newg),
            "parent": self._u64(newg + lay.g_parent_goid),
            "start": self._symbols.display_name(where[0]) if where else hex(start or 0),
        }
        self._emit(record, tid, "goroutine", details, goid=details["parent"])

    def _on_newosproc(self, record: EntryRecord, tid: int) -> None:
        m_id = self._u64(record.rax + self._layout.m_id)
        if m_id is not None:
            self._pending_m.append(m_id)

    def _on_clone(self, parent: int, child: int) -> None:
        """The thread newosproc asked for: which M runs on it."""
        if self._pending_m:
            m_id = self._pending_m.pop(0)
            self._machine.emit(
                GoEvent(self._machine.cpu.instructions, parent, "thread", None, {"m": m_id, "tid": child})
            )

    def _on_copystack(self, record: EntryRecord, tid: int) -> None:
        """copystack(gp *g, newsize uintptr): gp.stack (its first field) as the call found it."""
        lo, hi = record.rax_word0, record.rax_word1
        if not 0 < lo < hi:
            return
        details = {"old_size": hi - lo, "new_size": record.rbx}
        self._emit(record, tid, "stack-growth", details, goid=self.goid_of(record.rax))

    # -- reading the guest -----------------------------------------------------------

    def _return_sites(self, caller: str, callee: str) -> list[int]:
        """Addresses right after each ``call callee`` (E8 rel32) in ``caller``."""
        sym, target = self._symbols.sized(caller), self._symbols.address_of(callee)
        if sym is None or target is None:
            return []
        start = sym.addr
        code = self._bytes(start, sym.size) or b""
        sites = []
        for i in range(len(code) - 4):
            if code[i] == 0xE8 and start + i + 5 + struct.unpack_from("<i", code, i + 1)[0] == target:
                sites.append(start + i + 5)
        return sites

    def _bytes(self, addr: int, size: int) -> bytes | None:
        return self._machine.mem.peek(addr, size)

    def _u64(self, addr: int) -> int | None:
        return self._machine.mem.peek_u64(addr)

    def _u32(self, addr: int) -> int | None:
        raw = self._bytes(addr, 4)
        return int.from_bytes(raw, "little") if raw else None


def _types_base(path: str) -> int | None:
    """runtime.types of the binary at ``path`` (the image keeps only what is mapped)."""
    try:
        elf = read_elf(path)
        return elf.types_base
    except (OSError, ValueError, struct.error, IndexError):
        return None


def attach(machine, recorder: EntryRecorder) -> GoRuntime | None:
    """Go runtime probes for ``machine``'s guest, if its toolchain is one we know."""
    layout = goabi.layout_for(machine.image.go_version)
    if layout is None:
        return None
    runtime = GoRuntime(machine, recorder, layout)
    runtime.install()
    return runtime
