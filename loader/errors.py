"""Errors raised while loading a guest executable.

Each class carries its own process exit code so the command line can tell the
user (and scripts) precisely why a binary was refused without parsing text.
"""

from __future__ import annotations

import os


class LoaderError(Exception):
    """The executable cannot be run; ``message`` says why and names the file."""

    exit_code: int = 79

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        super().__init__(os.fspath(path), problem)
        self.path: str = os.fspath(path)
        self.problem: str = problem
        self.message: str = f"{self.path}: {problem}"

    def __str__(self) -> str:
        return self.message


class FileMissing(LoaderError):
    """The path does not exist, is a directory, or cannot be read."""

    exit_code = 80


class NotAnElf(LoaderError):
    """The file does not start with the ELF magic bytes."""

    exit_code = 81


class WrongClass(LoaderError):
    """Not a 64-bit ELF (EI_CLASS is ELFCLASS32 or invalid)."""

    exit_code = 82


class WrongEndianness(LoaderError):
    """Not a little-endian ELF (EI_DATA is ELFDATA2MSB or invalid)."""

    exit_code = 83


class WrongMachine(LoaderError):
    """e_machine is not EM_X86_64."""

    exit_code = 84


class UnsupportedType(LoaderError):
    """e_type is not something we can exec (object file, core dump, shared library)."""

    exit_code = 85


class TruncatedElf(LoaderError):
    """The ELF header or program header table extends past the end of the file."""

    exit_code = 86


class BadSegment(LoaderError):
    """The program headers describe a memory image Linux would refuse to map."""

    exit_code = 87


class DynamicallyLinked(LoaderError):
    """The binary needs a dynamic linker (PT_INTERP), which we do not provide."""

    exit_code = 88
