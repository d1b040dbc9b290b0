"""Loading static x86-64 Linux ELF executables (Go binaries in particular).

Knows ELF and Go's binary formats, and nothing of the emulator: the result is
plain data (segments to map, entry point, symbols, the initial stack bytes).
"""

from loader.errors import (
    BadSegment,
    DynamicallyLinked,
    FileMissing,
    LoaderError,
    NotAnElf,
    TruncatedElf,
    UnsupportedType,
    WrongClass,
    WrongEndianness,
    WrongMachine,
)
from loader.image import PROT_EXEC, PROT_READ, PROT_WRITE, Image, Segment, load_image
from loader.stack import InitialStack, build_initial_stack
from loader.symbols import Symbol, SymbolTable

__all__ = [
    "PROT_EXEC",
    "PROT_READ",
    "PROT_WRITE",
    "BadSegment",
    "DynamicallyLinked",
    "FileMissing",
    "Image",
    "InitialStack",
    "LoaderError",
    "NotAnElf",
    "Segment",
    "Symbol",
    "SymbolTable",
    "TruncatedElf",
    "UnsupportedType",
    "WrongClass",
    "WrongEndianness",
    "WrongMachine",
    "build_initial_stack",
    "load_image",
]
