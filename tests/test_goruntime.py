"""Go runtime events: goroutines, threads, stack growth, allocations, inits and phases, as seen by probes."""

from __future__ import annotations

import pytest
from conftest import built

from emulator import api
from emulator.events import CallEvent, GoEvent
from emulator.goruntime import PHASES
from emulator.toolchains import GO_VERSIONS


def _go(result: api.RunResult, kind: str) -> list[GoEvent]:
    return [e for e in result.events if isinstance(e, GoEvent) and e.kind == kind]


def test_hello_phases_inits_and_allocations_in_the_println_window() -> None:
    result = api.run(built("hello"), calls="")
    phases = [e.details["phase"] for e in _go(result, "phase")]
    assert phases == list(PHASES)
    counts = [e.instructions for e in _go(result, "phase")]
    assert counts == sorted(counts) and counts[-1] <= result.stats.instructions
    inits = [e.details["package"] for e in _go(result, "init")]
    assert inits.index("runtime") < inits.index("os") and "unicode" in inits
    assert len(inits) == len(set(inits)), "a package initialised twice"
    # the runtime's own init tasks (internal/bytealg ... runtime) come before the package-init phase
    package_phase = next(e for e in _go(result, "phase") if e.details["phase"] == "package-init")
    runtime_init = next(e for e in _go(result, "init") if e.details["package"] == "runtime")
    first_package = next(e for e in _go(result, "init") if e.instructions >= package_phase.instructions)
    assert runtime_init.instructions < package_phase.instructions == first_package.instructions
    assert inits.index(first_package.details["package"]) == inits.index("runtime") + 1
    main_phase = next(e for e in _go(result, "phase") if e.details["phase"] == "main")
    assert all(e.instructions <= main_phase.instructions for e in _go(result, "init"))
    # Allocations attributable to the inlined fmt.Println: between its call and its return.
    events = result.events
    start = next(i for i, e in enumerate(events) if isinstance(e, CallEvent) and e.function == "fmt.Println")
    end = next(
        i
        for i, e in enumerate(events)
        if i > start and isinstance(e, CallEvent) and e.function == "fmt.Println"
    )
    allocs = [e for e in events[start:end] if isinstance(e, GoEvent) and e.kind == "alloc"]
    assert allocs and all(int(e.details["bytes"]) > 0 for e in allocs)
    # the cold sync.Pool builds the first printer: runtime.newobject allocates a fmt.pp
    assert {"type": "fmt.pp", "caller": "runtime.newobject"}.items() <= allocs[2].details.items()
    created = _go(result, "goroutine")
    assert created[0].details == {"goid": 1, "parent": 0, "start": "runtime.main"}
    threads = _go(result, "thread")
    assert [e.details["tid"] for e in threads] == [1001, 1002] and [e.details["m"] for e in threads] == [1, 2]


def test_goroutines_fixture_creates_eight_workers() -> None:
    result = api.run(built("goroutines"), go_events=True)
    assert result.exit_status == 0
    starts = [e.details["start"] for e in _go(result, "goroutine")]
    assert starts.count("main.main.func1") == 8
    workers = [e for e in _go(result, "goroutine") if e.details["start"] == "main.main.func1"]
    assert all(e.goid == 1 and e.details["parent"] == 1 for e in workers)
    assert len({e.details["goid"] for e in workers}) == 8


def test_recursion_grows_the_stack_by_doubling() -> None:
    result = api.run(built("recursion"), go_events=True)
    growth = [e for e in _go(result, "stack-growth") if e.goid == 1]
    assert len(growth) >= 10
    assert all(e.details["new_size"] == 2 * e.details["old_size"] for e in growth)
    assert max(e.details["new_size"] for e in growth) >= 8 << 20


def test_panic_and_recover_events() -> None:
    result = api.run(built("nilderef"), go_events=True)
    assert result.exit_status == 2
    assert len(_go(result, "panic")) >= 3
    assert len(_go(result, "recover")) == 2


@pytest.mark.parametrize("version", [GO_VERSIONS[0], GO_VERSIONS[-1]])
def test_init_order_ends_with_main_after_its_dependency(version: str) -> None:
    result = api.run(built("inits", version), go_events=True)
    assert result.stdout == b"hello from inits-configured (main.init ran)\n"
    inits = [e.details for e in _go(result, "init")]
    packages = [d["package"] for d in inits]
    assert packages[-1] == "main"
    assert inits[-1]["functions"] == ["main.init", "main.init.0"]
    assert packages.index("fixtures/inits/config") < packages.index("main")
    assert packages.index("runtime") < packages.index("fixtures/inits/config")


def test_a_large_allocation_starts_a_gc_cycle_that_ends() -> None:
    """cpu allocates 20 MiB at once: mallocgc sees the size, the heap trigger starts a cycle, and
    mark termination ends it (Go's own tracer emits GCDone there) once the background marking is done."""
    result = api.run(built("cpu"), go_events=True, max_instructions=15_000_000)
    assert any(int(e.details["bytes"]) == 20 << 20 for e in _go(result, "alloc"))
    starts, done = _go(result, "gc"), _go(result, "gc-done")
    assert [e.details["trigger"] for e in starts][:1] == ["heap"]
    assert len(done) == 1 and done[0].instructions > starts[0].instructions


def test_gc_cycles_count_ended_cycles_and_one_still_marking() -> None:
    """gcStart is called again while a cycle runs: the requests alone would count two cycles."""
    from emulator.events import GoEvent
    from emulator.facts import _gc_cycles

    def ev(kind: str) -> GoEvent:
        return GoEvent(0, 1000, kind, 1, {})

    assert _gc_cycles([]) == 0
    assert _gc_cycles([ev("gc"), ev("gc"), ev("gc-done")]) == 1
    assert _gc_cycles([ev("gc"), ev("gc-done"), ev("gc")]) == 2
