"""The worker watch reads a live process's memory and CPU time from /proc."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from lineage_processors.bench.result import BenchResult
from lineage_processors.bench.watch import WorkerWatch


def figures(watch: WorkerWatch, events: int) -> dict[str, str]:
    result = BenchResult("watch")
    watch.report(result, events)
    return dict(result.figures)


def test_cpu_per_event_and_memory_of_a_working_process() -> None:
    watch = WorkerWatch(os.getpid())
    watch.start()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:  # CPU time for the watch to count
        pass
    watch.stop()
    watch.sample()
    watch.sample()
    watch.engine += [2 * 2**20, 4 * 2**20]
    assert len(watch.samples) == 2 and watch.peak_kb >= max(s[0] for s in watch.samples)
    shown = figures(watch, 1000)
    cpu = re.fullmatch(r"([\d,.]+) µs \(([\d.]+) s\)", shown["worker CPU per event"])
    assert cpu, shown
    assert float(cpu[2]) >= 0.2  # the busy loop, counted
    # Per event: the seconds over the 1,000 events, shown to a tenth of a second.
    assert abs(float(cpu[1].replace(",", "")) - float(cpu[2]) * 1e3) <= 50
    assert re.fullmatch(
        r"\d+ MB steady, \d+ MB peak, \d+ MB high-water \(steady: \d+ MB anonymous, "
        r"ClickHouse tracking 3 MB of it; \d+ MB file-backed\)",
        shown["worker resident memory"],
    ), shown


def test_a_process_gone_leaves_no_sample() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    watch = WorkerWatch(child.pid)
    watch.sample()
    assert watch.samples == []
    assert figures(watch, 10) == {"worker resident memory": "n/a (no sample)"}
