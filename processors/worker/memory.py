"""The worker's process-wide footprint: what it loads, what stays resident, and how often
Python looks for reference cycles.

:func:`lean_worker_process` is for the worker process only, called once when it starts, never
from library code: another process that opens a store (the CLI, tests) may want pyarrow, and
keeps Python's defaults. :func:`release_library_pages` is harmless anywhere.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import re
import sys
from typing import Any

# Objects allocated, net, before Python's youngest-generation cycle collection (default 700).
# A batch makes millions of tuples and dicts that all live until it is stored; at the default
# every one of them is traversed again and again while the batch grows, which cost a third of
# the worker's CPU on graph events and almost half on predictions. None of them forms a cycle
# (reference counting frees them), so the collector can run a hundred times less often.
GC_YOUNG_THRESHOLD = 100_000

# chDB's allocator (its own jemalloc, which reads JE_MALLOC_CONF when the library loads)
# keeps freed pages ten seconds for reuse. Each insert frees tens of MB, so under load that
# held 150-250 MB more than the engine was using; returned after half a second, in the
# background, they are not (measured with `lineage bench ingest --kind inferences`). In a
# graph backlog, inserts, merges and derive runs free memory several times a second, and
# pages held half a second still added up to the worker's peaks: returned after 100 ms,
# `lineage bench ingest --kind graph --events 200000` peaked at 444-471 MB where 466-533 MB
# (high-water, eight runs each; docs/benchmarks.md), for 1.2 more page faults an event, a few per
# cent of its CPU. Returning them at once (0 ms) gave 405-409 MB but cost 40% more CPU.
JEMALLOC_CONF = "background_thread:true,dirty_decay_ms:100,muzzy_decay_ms:0"

# Python's own buffers of a MB or more (fetched Kafka data, an Avro container of a batch of
# predictions, an insert's payload) come from glibc's malloc. By default glibc raises its
# mmap threshold to the size of each large block freed, up to 32 MB, so after the first
# batches those blocks are carved from the heap, where freed space is kept, not returned.
# A fixed threshold keeps every block above it in a mapping of its own, unmapped when freed:
# `lineage bench ingest --kind inferences --events 2000000` held 401-409 MB steady and
# 446-464 MB peak with it, 436-470 and 489-514 MB without (four runs each, one session).
MMAP_THRESHOLD = 256 << 10
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h
# The same, for the environment of a worker about to start: read by glibc when the process
# starts, it also covers what is allocated before lean_worker_process runs (imports, chDB's
# start-up), which kept 10-15 MB more resident when set only there.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD)}

_MADV_DONTNEED = 4
_MAPPING = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$")


def lean_worker_process() -> None:
    """Tune the worker process; call once, before the store is opened.

    * chDB imports pyarrow when it is installed, for result formats the worker never asks for
      (it reads and writes through clickhouse-connect's Native format); clickhouse-connect
      imports pandas and numpy on the first insert only to check whether the data is a
      DataFrame or an array. Together they keep about 90 MB resident. Both libraries treat
      them as optional.
    * chDB's allocator gives freed memory back after 100 ms, not ten seconds (see
      JEMALLOC_CONF), unless JE_MALLOC_CONF says otherwise.
    * Blocks of Python's of MMAP_THRESHOLD or more are mapped each on its own and returned
      when freed (see MMAP_THRESHOLD); glibc only.
    * Everything loaded so far (faust, aiokafka, the catalog) lives as long as the process:
      frozen, the cycle collector no longer walks it, and it collects rarely (see above).
    """
    fix_mmap_threshold(MMAP_THRESHOLD)
    if "chdb._chdb" not in sys.modules:  # later, jemalloc has read its settings already
        os.environ.setdefault("JE_MALLOC_CONF", JEMALLOC_CONF)
    if "pyarrow" not in sys.modules:
        sys.modules["pyarrow"] = None  # type: ignore[assignment]  # importing it now fails
    from clickhouse_connect.driver import options

    # Resolved once as "not installed": options.__getattr__ looks no further.
    options.pd = None
    options.pd_time_test = None
    options.np = None
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, oldest)


def fix_mmap_threshold(size: int) -> bool:
    """Have glibc's malloc map every block of ``size`` bytes or more on its own, whatever was
    freed before; returns whether it could (False where the C library is not glibc)."""
    mallopt = _libc_function("mallopt")
    return mallopt is not None and bool(mallopt(_M_MMAP_THRESHOLD, size))


def _libc_function(name: str) -> Any:
    """The C library's function ``name``, or None where there is no such library or
    function (not Linux, not glibc)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return getattr(libc, name)
    except (OSError, AttributeError):
        return None


def release_library_pages(library: str) -> int:
    """Unmap the resident pages of ``library``'s read-only mappings; returns the bytes covered.

    Loading chDB runs ClickHouse's static initialisers, spread over its 380 MB of code: about
    250 MB of the library's pages become resident then and are never needed again. Only
    mappings that are not writable and hold no page of their own (``Anonymous: 0``: nothing
    was relocated or copied on write there) are touched, so every page dropped is an exact
    copy of the file: the next access maps it again from the page cache, and nothing but
    resident size changes. Linux only; elsewhere, or if anything is unexpected, a no-op.
    """
    try:
        with open("/proc/self/smaps") as fh:
            smaps = fh.read()
    except OSError:
        return 0
    madvise = _libc_function("madvise")
    if madvise is None:
        return 0
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    candidates: list[tuple[int, int]] = []
    current: tuple[int, int] | None = None
    for line in smaps.splitlines():
        mapping = _MAPPING.match(line)
        if mapping:
            lo, hi, perms, path = mapping.groups()
            wanted = path.endswith(library) and "w" not in perms
            current = (int(lo, 16), int(hi, 16)) if wanted else None
        elif current is not None and line.startswith("Anonymous:"):
            if int(line.split()[1]) == 0:
                candidates.append(current)
            current = None
    released = 0
    for lo, hi in candidates:
        if madvise(lo, hi - lo, _MADV_DONTNEED) == 0:
            released += hi - lo
    return released
