"""Ports of the local stack: picked free, kept across restarts, and a held one noticed."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from lineage_processors.local.ports import (
    KeptPorts,
    bindable,
    free_ports,
    taken_port,
    write_atomically,
)


def test_free_ports_are_distinct_bindable_and_avoid_what_is_asked() -> None:
    first = free_ports(3)
    assert len(set(first)) == 3 and all(bindable(p) for p in first)
    others = free_ports(3, avoid=first)
    assert not set(others) & set(first)


def test_ports_are_picked_once_then_kept(tmp_path: Path) -> None:
    kept = KeptPorts(tmp_path / "svc", ("port", "controller_port"))
    assert kept.read() is None
    ports = kept.keep()
    assert len(ports) == 2
    assert json.loads(kept.file.read_text()) == {"port": ports[0], "controller_port": ports[1]}
    assert kept.keep() == ports == kept.read()
    assert kept.replace((1111, 2222)) == (1111, 2222)
    assert kept.keep() == (1111, 2222)


def test_an_unreadable_ports_file_reads_as_none(tmp_path: Path) -> None:
    kept = KeptPorts(tmp_path, ("port",))
    kept.file.write_text("{not json")
    assert kept.read() is None
    kept.file.write_text(json.dumps({"other": 1}))
    assert kept.read() is None


def test_a_port_held_by_a_listener_is_named(tmp_path: Path) -> None:
    [free] = free_ports(1)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        held = squatter.getsockname()[1]
        assert not bindable(held)
        assert taken_port([free, held], wait=0.2) == held
    assert taken_port([free, held], wait=0.2) is None


def test_writes_are_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "bootstrap"
    write_atomically(target, "127.0.0.1:9092\n")
    assert target.read_text() == "127.0.0.1:9092\n"
    assert [p.name for p in tmp_path.iterdir()] == ["bootstrap"]  # no temporary file left
