"""A loaded machine on demand: busy-loop processes beside a scenario, as a shared machine
can be (a load average of 10 to 17 on two cores), so that a scenario's waits are
proven sized for it every time it runs, not only on an idle machine."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

# The longest a scenario's wait may take under such load: a worker needs minutes there for
# what takes it seconds on an idle machine. Waits poll their condition, so it costs nothing.
PATIENCE = 300.0

# Each spins until its parent is gone (a killed test run leaves no spinner behind) or its
# lifetime ends, whichever comes first.
SPIN = """
import os, sys, time
parent, end = os.getppid(), time.monotonic() + float(sys.argv[1])
while os.getppid() == parent and time.monotonic() < end:
    for _ in range(200_000):
        pass
"""


class CpuHog:
    """``processes`` busy loops at the test's own priority, and the highest 1-minute load
    average seen while they run."""

    def __init__(self, processes: int = 12, lifetime: float = 1800.0) -> None:
        self.processes = processes
        self.lifetime = lifetime
        self.peak_load = 0.0
        self._procs: list[subprocess.Popen[bytes]] = []
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def start(self) -> CpuHog:
        for _ in range(self.processes):
            self._procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", SPIN, str(self.lifetime)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                )
            )
        self._sampler.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(1.0):
            self.peak_load = max(self.peak_load, os.getloadavg()[0])

    def spinning(self) -> int:
        return sum(p.poll() is None for p in self._procs)

    def stop(self) -> None:
        self._stop.set()
        for proc in self._procs:
            proc.kill()
        for proc in self._procs:
            proc.wait()
        self._sampler.join(5)
