"""The worker's allocator settings, observed in a process of their own."""

from __future__ import annotations

import subprocess
import sys

# Allocates and frees a 4 MB block, then holds a 1 MB one, and prints by how many bytes the
# blocks glibc keeps in mappings of their own grew.
_PROBE = """
import ctypes, sys
from processors.footprint import fix_mmap_threshold

class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "fixed":
    assert fix_mmap_threshold(256 << 10)
libc.free(libc.malloc(4 << 20))  # glibc's own rule now keeps blocks under 4 MB on the heap
before = libc.mallinfo2().hblkhd
block = libc.malloc(1 << 20)
print(libc.mallinfo2().hblkhd - before)
libc.free(block)
"""


def mapped_growth(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout)


def test_a_fixed_threshold_keeps_large_blocks_in_mappings_returned_when_freed() -> None:
    # By default, freeing the 4 MB block raised the threshold: the next 1 MB block comes from
    # the heap, which keeps freed space. Fixed, it is mapped on its own.
    assert mapped_growth("default") == 0
    assert mapped_growth("fixed") >= 1 << 20
