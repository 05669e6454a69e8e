"""Resident memory and CPU time of a bench's worker, read from ``/proc`` while it works."""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from lineage_processors.bench.result import BenchResult


@dataclass
class WorkerWatch:
    """Resident memory and CPU time of a worker process, read from ``/proc`` while it works.

    Memory: ``steady`` is the median of the samples taken while events flow, ``peak`` the
    largest of them, ``high-water`` the kernel's mark since the process started (VmHWM, which
    includes start-up). Resident memory is anonymous (Python objects, ClickHouse's allocations)
    plus file-backed (mostly pages of chDB's 550 MB library in use); both are shown, with what
    ClickHouse's own memory tracker counts of the anonymous part.
    CPU: user and system time of the whole process (every thread, chDB's included) between
    :meth:`start` and :meth:`stop`, per event; on a shared machine it moves far less than a
    rate does, because time spent waiting for a core is not in it.
    """

    pid: int
    samples: list[tuple[int, int, int]] = field(default_factory=list)  # rss, anon, file (kB)
    peak_kb: int = 0
    engine: list[int] = field(default_factory=list)  # bytes ClickHouse itself accounts for
    cpu: list[float] = field(default_factory=list)  # process CPU seconds at start and stop

    ENGINE_SQL = "SELECT value FROM system.metrics WHERE metric = 'MemoryTracking'"

    def _status(self) -> dict[str, int]:
        try:
            text = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return {}
        out = {}
        for line in text.splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[name] = int(value.split()[0])
        return out

    def sample(self) -> None:
        status = self._status()
        if "VmRSS" in status:
            self.samples.append((status["VmRSS"], status["RssAnon"], status["RssFile"]))
            self.peak_kb = max(self.peak_kb, status["VmHWM"])

    def _cpu_seconds(self) -> float:
        # Fields 14 and 15 of /proc/PID/stat, after the command name in parentheses.
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def start(self) -> None:
        self.cpu = [self._cpu_seconds()]

    def stop(self) -> None:
        self.cpu.append(self._cpu_seconds())

    def report(self, result: BenchResult, events: int) -> None:
        if len(self.cpu) == 2 and events:
            used = self.cpu[1] - self.cpu[0]
            result.add("worker CPU per event", f"{used / events * 1e6:,.1f} µs ({used:.1f} s)")
        if not self.samples:
            result.add("worker resident memory", "n/a (no sample)")
            return
        rss, anon, file = (statistics.median(col) / 1024 for col in zip(*self.samples, strict=True))
        peak = max(sample[0] for sample in self.samples) / 1024
        engine = (
            f", ClickHouse tracking {statistics.median(self.engine) / 2**20:.0f} MB of it"
            if self.engine
            else ""
        )
        result.add(
            "worker resident memory",
            f"{rss:.0f} MB steady, {peak:.0f} MB peak, {self.peak_kb / 1024:.0f} MB high-water "
            f"(steady: {anon:.0f} MB anonymous{engine}; {file:.0f} MB file-backed)",
        )
