"""Loopback ports for the child servers the project starts (a `milvus-lite server`, `serve`),
shared by the supervisor, the benchmarks and the tests that start them."""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A port nothing listens on now (the OS picks it; a race with another process is possible
    and shows up as the child failing to bind, which its starter reports)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def port_open(port: int, timeout_s: float = 0.5) -> bool:
    """Whether something accepts connections on the loopback port."""
    with socket.socket() as s:
        s.settimeout(timeout_s)
        return s.connect_ex((LOOPBACK, port)) == 0
