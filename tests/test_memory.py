"""The address space: VMA bookkeeping against a page-by-page model, and what unicorn holds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from unicorn import UC_ARCH_X86, UC_MODE_64, Uc

from emulator.memory import (
    CHUNK,
    PAGE,
    AddressSpace,
    MappingExists,
    MemoryLimitReached,
    NotMapped,
    Vma,
    VmaMap,
)
from syscalls.abi import BadAddress

RW, RO, NONE = 3, 1, 0
BASE = 0x10_0000_0000


def space(limit: int = 1 << 32) -> AddressSpace:
    return AddressSpace(Uc(UC_ARCH_X86, UC_MODE_64), limit)


def uc_regions(a: AddressSpace) -> list[tuple[int, int]]:
    return [(b, e + 1) for b, e, _ in a.uc.mem_regions()]


# -- VmaMap against a model that keeps one entry per page ---------------------

ops = st.lists(
    st.tuples(
        st.sampled_from(["map", "unmap", "protect"]),
        st.integers(0, 63),  # first page
        st.integers(1, 16),  # pages
        st.sampled_from([NONE, RO, RW, 7]),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(ops)
def test_vma_map_agrees_with_a_page_model(operations) -> None:
    vmas, pages = VmaMap(), {}
    for op, first, count, prot in operations:
        start, end = first * PAGE, (first + count) * PAGE
        if op == "map":
            vmas.carve(start, end)
            vmas.insert(Vma(start, end, prot))
            pages.update({p: prot for p in range(first, first + count)})
        elif op == "unmap":
            vmas.carve(start, end)
            for p in range(first, first + count):
                pages.pop(p, None)
        elif all(p in pages for p in range(first, first + count)):
            vmas.protect(start, end, prot)
            pages.update({p: prot for p in range(first, first + count)})
    seen = {}
    previous = None
    for vma in vmas:
        assert vma.start < vma.end
        if previous is not None:
            assert previous.end <= vma.start
            assert not (previous.end == vma.start and previous.prot == vma.prot), "adjacent equal VMAs merge"
        previous = vma
        for p in range(vma.start // PAGE, vma.end // PAGE):
            seen[p] = vma.prot
    assert seen == pages


def test_find_free_is_top_down_and_skips_mappings() -> None:
    vmas = VmaMap()
    vmas.insert(Vma(0x7000_0000, 0x8000_0000, RW))
    assert vmas.find_free(0x1000, 0x8000_0000) == 0x7000_0000 - 0x1000
    assert vmas.find_free(0x1000, 0x9000_0000) == 0x9000_0000 - 0x1000


# -- AddressSpace and unicorn --------------------------------------------------


def test_prot_none_reservations_never_reach_unicorn() -> None:
    a = space()
    a.map(BASE, 512 << 20, NONE)
    assert uc_regions(a) == []
    assert a.committed == 0
    with pytest.raises(BadAddress):
        a.read(BASE, 8)


def test_commits_inside_a_reservation_map_whole_chunks_and_never_split() -> None:
    a = space()
    a.map(BASE, 64 << 20, NONE)
    a.map(BASE + 0x1000, 0x3000, RW)
    a.map(BASE + 0x10_0000, 0x1000, RW)
    assert uc_regions(a) == [(BASE, BASE + CHUNK)]
    a.unmap(BASE + 0x2000, 0x1000)  # a hole in the middle of the chunk
    a.protect(BASE + 0x1000, 0x1000, RO)
    assert uc_regions(a) == [(BASE, BASE + CHUNK)]
    a.map(BASE + 8 * CHUNK, 3 * CHUNK, RW)  # a large commit is one region
    assert uc_regions(a)[-1] == (BASE + 8 * CHUNK, BASE + 11 * CHUNK)


def test_madvise_dontneed_reads_back_zeroes() -> None:
    a = space()
    a.map(BASE, 4 * PAGE, RW)
    a.write(BASE, b"\xaa" * 4 * PAGE)
    a.discard(BASE + PAGE, 2 * PAGE)
    assert a.read(BASE, PAGE) == b"\xaa" * PAGE
    assert a.read(BASE + PAGE, 2 * PAGE) == bytes(2 * PAGE)


def test_a_fresh_mapping_over_old_memory_is_zero() -> None:
    a = space()
    a.map(BASE, 2 * PAGE, RW)
    a.write(BASE, b"\x55" * 2 * PAGE)
    a.unmap(BASE, PAGE)
    a.map(BASE, PAGE, RW)
    assert a.read(BASE, PAGE) == bytes(PAGE)
    a.map(BASE + PAGE, PAGE, RW)  # MAP_FIXED over a live page replaces it
    assert a.read(BASE + PAGE, PAGE) == bytes(PAGE)


def test_unmapping_everything_in_a_chunk_returns_it_to_the_host() -> None:
    a = space()
    a.map(BASE, PAGE, RW)
    a.unmap(BASE, PAGE)
    assert uc_regions(a) == []


def test_permissions_are_checked_for_syscall_access() -> None:
    a = space()
    a.map(BASE, PAGE, RO)
    assert a.read(BASE, 4) == bytes(4)
    with pytest.raises(BadAddress):
        a.write(BASE, b"x")
    with pytest.raises(BadAddress):
        a.read(BASE + PAGE - 2, 4)  # runs off the mapping


def test_memory_limit_counts_committed_pages_only() -> None:
    a = space(limit=1 << 20)
    a.map(BASE, 1 << 30, NONE)  # reservations are free
    a.map(BASE, 1 << 20, RW)
    with pytest.raises(MemoryLimitReached):
        a.map(BASE + (1 << 20), PAGE, RW)
    with pytest.raises(MemoryLimitReached):
        a.protect(BASE + (2 << 20), PAGE, RW)
    a.protect(BASE, PAGE, NONE)
    a.map(BASE + (1 << 20), PAGE, RW)  # the page given up makes room
    assert a.committed == 1 << 20


def test_fixed_noreplace_and_holes() -> None:
    a = space()
    a.map(BASE, PAGE, RW)
    with pytest.raises(MappingExists):
        a.map(BASE, PAGE, RW, replace=False)
    with pytest.raises(NotMapped):
        a.protect(BASE, 2 * PAGE, RO)


def test_hints_are_honoured_when_free() -> None:
    a = space()
    assert a.find_free(PAGE, 0xC0_0000_0000) == 0xC0_0000_0000
    a.map(0xC0_0000_0000, PAGE, NONE)
    assert a.find_free(PAGE, 0xC0_0000_0000) != 0xC0_0000_0000


def test_brk_grows_and_shrinks_the_heap() -> None:
    a = space()
    a.brk_start = a.brk = BASE
    assert a.set_brk(BASE + 3 * PAGE + 5) == BASE + 3 * PAGE + 5
    a.write(BASE + 3 * PAGE, b"x")
    assert a.set_brk(BASE + PAGE) == BASE + PAGE
    with pytest.raises(BadAddress):
        a.read(BASE + 2 * PAGE, 1)
    assert a.set_brk(BASE - PAGE) == BASE + PAGE  # below the start: unchanged
