"""Migration 16: graph tables written in smaller compressed blocks."""

from __future__ import annotations

from lineage_processors.store.migrations.base import Migration
from lineage_processors.store.migrations.m015_column_by_column_merges import MERGED_COLUMN_BY_COLUMN

# Every table a graph event or the derived state writes to.
SMALL_BLOCKS = (*MERGED_COLUMN_BY_COLUMN, "edges", "model_upstream", "tag_impacts")
SMALL_BLOCK_BYTES = 256 << 10

MIGRATION = Migration(
    16,
    "graph tables written in smaller compressed blocks",
    # Every column of a part is written, and read back by a merge, through buffers the
    # size of its largest compressed block, 1 MiB by default, whatever the column holds.
    # A merge of six batches of edges, whose projection makes it read every column of
    # every part at once, held 121 MB that way and 76 MB with 256 KiB blocks, at the
    # same size on disk (tests/processors/store/test_merges.py). In a graph backlog, merges of
    # several tables coincide with inserts and derive runs: the worker's peaks were about
    # 20 MB lower (docs/benchmarks.md). inferences keeps the default: its merges held 64 MB, and
    # analysts' scans of it are long.
    tuple(
        f"ALTER TABLE {table} MODIFY SETTING max_compress_block_size = {SMALL_BLOCK_BYTES}"
        for table in SMALL_BLOCKS
    ),
)
