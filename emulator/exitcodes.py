"""The emulator's own exit statuses, distinct from what guests commonly use.

A guest's own status passes through unchanged; a guest killed by signal N
exits 128+N as a shell shows it (so a guest killed by SIGXFSZ at
``--max-write-bytes`` exits 153). The loader's codes (80-88) are in
``loader.errors``. Limits the guest meets as an errno (memory, threads, file
descriptors) have no status: the guest decides how the run ends.
"""

USAGE = 64  # a bad flag or argument (argparse's own 2 would collide with Go's panic status)
INTERNAL_ERROR = 70  # a bug in the emulator: reported as such, with a reproducer
INSTRUCTION_BUDGET = 90  # --max-instructions reached
DEADLOCK = 91  # every guest thread blocked and no timer pending
TIMEOUT = 92  # --timeout: the host-time limit passed
INTERRUPTED = 130  # Ctrl-C (SIGINT to the emulator), as a shell reports 128+SIGINT
