"""Helpers shared by the tests of the local Kafka broker and cluster and the local schema
registry."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, PartitionMetadata


def jvm_pids(matches: Callable[[list[str]], bool]) -> list[int]:
    """Every live process whose command line, split into its arguments, ``matches``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if matches(args):
            found.append(int(entry.name))
    return found


def kill_jvm(pid: int, timeout: float = 30) -> None:
    """SIGKILL process ``pid`` and wait until it has exited (gone, or a zombie)."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while True:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return
        assert time.monotonic() < deadline, f"process {pid} outlived SIGKILL by {timeout} s"
        time.sleep(0.05)


def path_with_only(folder: Path, monkeypatch: pytest.MonkeyPatch, *tools: str) -> None:
    """Set PATH to the new ``folder``, holding links to ``tools`` (from today's PATH) only."""
    folder.mkdir()
    for tool in tools:
        found = shutil.which(tool)
        assert found is not None, f"these tests need {tool} on PATH"
        (folder / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(folder))


def partition_metadata(bootstrap: str, topic: str) -> dict[int, PartitionMetadata]:
    """Each partition of ``topic``, as the cluster describes it now: leader, replicas, ISR."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    return dict(admin.list_topics(topic, timeout=30).topics[topic].partitions)


def wait_for_full_isr(bootstrap: str, topics: list[str], replicas: int, timeout: float) -> None:
    """Wait until every partition of ``topics`` has ``replicas`` replicas, all in sync."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            lagging: dict[str, list[int]] = {}
            for topic in topics:
                for p, meta in partition_metadata(bootstrap, topic).items():
                    if len(meta.replicas) != replicas or sorted(meta.isrs) != sorted(meta.replicas):
                        lagging.setdefault(topic, []).append(p)
            if not lagging:
                return
            problem = f"short of in-sync replicas: {lagging}"
        except KafkaException as exc:  # stale metadata while a node comes back
            problem = f"metadata request failed: {exc.args[0]}"
        assert time.monotonic() < deadline, (
            f"not every partition had {replicas} in-sync replicas within {timeout} s; {problem}"
        )
        time.sleep(0.3)
