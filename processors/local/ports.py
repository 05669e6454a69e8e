"""Loopback ports of the local stack: free ones picked by the kernel, and kept.

Each local service (a Kafka node, the schema registry, the worker) keeps the ports picked for
it in its state folder's ``ports.json``, so that after ``lineage down`` and ``lineage up`` it
listens at the same address again and clients holding that address find it.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Collection, Sequence
from pathlib import Path

HOST = "127.0.0.1"
PORTS_FILE = "ports.json"
# A process killed a moment ago holds its listeners until its last thread has exited, a
# little after it stopped counting as running: a kept port gets this long to be free again.
PORT_RELEASE_S = 3.0


class KeptPorts:
    """The ports of one service, kept in ``folder/ports.json`` under ``keys`` (the first is
    the one clients use)."""

    def __init__(self, folder: Path, keys: Sequence[str]) -> None:
        self.file = folder / PORTS_FILE
        self.keys = tuple(keys)

    def read(self) -> tuple[int, ...] | None:
        """The kept ports, in ``keys`` order, or ``None`` if none are kept (or the file is
        unreadable)."""
        try:
            stored = json.loads(self.file.read_text())
            return tuple(int(stored[key]) for key in self.keys)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def keep(self, avoid: Collection[int] = ()) -> tuple[int, ...]:
        """The kept ports; if there are none yet, free ones (none of ``avoid``) are picked
        and kept first."""
        stored = self.read()
        if stored is not None:
            return stored
        return self.replace(free_ports(len(self.keys), avoid))

    def replace(self, ports: Sequence[int]) -> tuple[int, ...]:
        """Keep ``ports`` from now on instead of what was kept; return them."""
        self.file.parent.mkdir(parents=True, exist_ok=True)
        kept = dict(zip(self.keys, ports, strict=True))
        write_atomically(self.file, json.dumps(kept) + "\n")
        return tuple(ports)


def taken_port(ports: Sequence[int], wait: float = PORT_RELEASE_S) -> int | None:
    """The first of ``ports`` that another process still holds after ``wait`` seconds, or
    ``None`` once all of them could be bound."""
    deadline = time.monotonic() + wait
    for port in ports:
        while not bindable(port):
            if time.monotonic() >= deadline:
                return port
            time.sleep(0.05)
    return None


def bindable(port: int) -> bool:
    """True if a listener could bind ``127.0.0.1:port`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the JVM and aiohttp do: connections of a just-stopped service lingering in
        # TIME_WAIT do not block the port, a live listener does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def free_ports(count: int, avoid: Collection[int] = ()) -> list[int]:
    """Distinct ports free on 127.0.0.1 now, chosen by the kernel, none of ``avoid``."""
    # All sockets stay open until every port is known, so the kernel cannot hand out one twice.
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        while len(ports) < count:
            probe = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            probe.bind((HOST, 0))
            port = int(probe.getsockname()[1])
            if port not in avoid:
                ports.append(port)
    return ports


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file: readers (the CLI, the SDK) never
    see half of it."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
