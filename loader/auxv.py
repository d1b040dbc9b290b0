"""Auxiliary vector entry types (AT_*), as in Linux's include/uapi/linux/auxvec.h.

The kernel passes these key/value pairs above envp on the initial stack; the
Go runtime reads AT_RANDOM, AT_PAGESZ, AT_HWCAP and AT_SYSINFO_EHDR from them.
"""

from __future__ import annotations

AT_NULL = 0  # end of vector
AT_IGNORE = 1
AT_EXECFD = 2
AT_PHDR = 3  # program headers of the program
AT_PHENT = 4  # size of one program header entry
AT_PHNUM = 5  # number of program headers
AT_PAGESZ = 6
AT_BASE = 7  # interpreter base address (0: none)
AT_FLAGS = 8
AT_ENTRY = 9  # program entry point
AT_NOTELF = 10
AT_UID = 11
AT_EUID = 12
AT_GID = 13
AT_EGID = 14
AT_PLATFORM = 15  # address of a string naming the CPU
AT_HWCAP = 16  # CPUID feature bits (EDX of leaf 1 on x86)
AT_CLKTCK = 17  # frequency of times()
AT_SECURE = 23  # setuid-style secure mode
AT_BASE_PLATFORM = 24
AT_RANDOM = 25  # address of 16 random bytes
AT_HWCAP2 = 26
AT_RSEQ_FEATURE_SIZE = 27
AT_RSEQ_ALIGN = 28
AT_HWCAP3 = 29
AT_HWCAP4 = 30
AT_EXECFN = 31  # address of the filename passed to execve
AT_SYSINFO = 32
AT_SYSINFO_EHDR = 33  # address of the vDSO ELF header
AT_MINSIGSTKSZ = 51

AT_NAMES: dict[int, str] = {
    value: name
    for name, value in list(globals().items())
    if name.startswith("AT_") and isinstance(value, int)
}


def at_name(key: int) -> str:
    """Display name of an auxv key, e.g. ``AT_RANDOM``; unknown keys show their number."""
    return AT_NAMES.get(key, f"AT_{key}")
