"""The Go runtime layout table against the DWARF each pinned toolchain wrote for its hello fixture."""

from __future__ import annotations

import dataclasses
import functools

import pytest
from conftest import built
from elftools.elf.elffile import ELFFile

from emulator import goabi
from emulator.toolchains import GO_VERSIONS


@functools.cache
def dwarf_facts(version: str) -> tuple[dict[str, tuple[int, dict[str, int]]], dict[str, int]]:
    """(struct name -> (byte size, member offsets), constant name -> value) for what the table names."""
    structs = {struct for steps in goabi.DWARF_FIELDS.values() for struct, _ in steps}
    found: dict[str, tuple[int, dict[str, int]]] = {}
    constants: dict[str, int] = {}
    with open(built("hello", version), "rb") as f:
        for cu in ELFFile(f).get_dwarf_info().iter_CUs():
            for die in cu.iter_DIEs():
                attr = die.attributes.get("DW_AT_name")
                name = attr.value.decode() if attr is not None else ""
                if die.tag == "DW_TAG_constant" and name in goabi.CONSTANTS:
                    constants[name] = die.attributes["DW_AT_const_value"].value
                elif die.tag == "DW_TAG_structure_type" and name in structs and name not in found:
                    members = {
                        c.attributes["DW_AT_name"].value.decode(): c.attributes[
                            "DW_AT_data_member_location"
                        ].value
                        for c in die.iter_children()
                        if c.tag == "DW_TAG_member"
                    }
                    found[name] = (die.attributes["DW_AT_byte_size"].value, members)
    return found, constants


@pytest.mark.parametrize("version", GO_VERSIONS)
def test_every_offset_and_constant_matches_the_dwarf(version: str) -> None:
    layout = goabi.layout_for("go" + version)
    assert layout is not None
    structs, constants = dwarf_facts(version)

    def offset(steps: tuple[tuple[str, str | None], ...]) -> int:
        total = 0
        for struct, member in steps:
            size, members = structs[struct]
            total += size if member is None else members[member]
        return total

    assert {name: offset(steps) for name, steps in goabi.DWARF_FIELDS.items()} == dataclasses.asdict(layout)
    assert constants == goabi.CONSTANTS


def test_the_table_covers_every_pinned_toolchain_and_field() -> None:
    assert set(goabi.DWARF_FIELDS) == {f.name for f in dataclasses.fields(goabi.Layout)}
    assert set(goabi.LAYOUTS) == {goabi.go_minor(v) for v in GO_VERSIONS}
    assert goabi.go_minor("go1.27.3") == goabi.go_minor("1.27.3") == (1, 27)
    assert goabi.layout_for("go1.20.1") is None and goabi.layout_for(None) is None
    assert goabi.G_STATUS[4] == "waiting" and goabi.GC_TRIGGERS == {0: "heap", 1: "time", 2: "cycle"}
