"""Sockets: not emulated yet, and refused so that the user hears it once, at exit.

The guest gets ENOSYS from ``socket`` and ``socketpair`` (Go's net package
reports "socket: function not implemented"); no host socket is ever opened,
so a sandboxed run cannot reach the host's network. The other socket calls
need a socket fd, which the guest cannot get, and answer ENOSYS from the table.
"""

from __future__ import annotations

from syscalls.kernel import Kernel, Task, handles


@handles
def socket(k: Kernel, t: Task, domain: int, type: int, protocol: int) -> int:
    return k.refuse("socket")


@handles
def socketpair(k: Kernel, t: Task, domain: int, type: int, protocol: int, sv: int) -> int:
    return k.refuse("socketpair")
