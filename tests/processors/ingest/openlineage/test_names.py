"""OpenLineage namespaces and names as node ids: injective, readable, parseable."""

from __future__ import annotations

import pytest

from lineage_collector.ids import parse_node_id
from lineage_processors.ingest.openlineage.names import dataset_node, encode_part, job_node


@pytest.mark.parametrize(
    ("namespace", "name", "node"),
    [
        ("postgres://db:5432", "shop.public.orders", "postgres://db:5432/shop.public.orders"),
        ("s3://bucket", "path/to/file.parquet", "s3://bucket/path/to/file.parquet"),
        ("abfss://c@acct.dfs.core.windows.net", "t", "abfss://c+40acct.dfs.core.windows.net/t"),
        ("file", "/data/events/dt=2025-09-01", "file//data/events/dt+3D2025-09-01"),
        ("bigquery", "proj.ds.tbl name", "bigquery/proj.ds.tbl+20name"),
        ("kafka://b:9092", "a+b", "kafka://b:9092/a+2Bb"),
        ("hive", "données", "hive/donn+C3+A9es"),
        ("/mnt", "x", "_/mnt/x"),
        ("@home", "x", "_+40home/x"),
    ],
)
def test_namespaces_and_names_encode_into_node_ids(namespace: str, name: str, node: str) -> None:
    assert job_node(namespace, name) == f"job:{node}"
    assert dataset_node(namespace, name) == f"dataset:{node}"
    parsed = parse_node_id(dataset_node(namespace, name, "2024-05-01T00:00:00Z/a+b@c"))
    assert (parsed.kind, parsed.name, parsed.version) == (
        "dataset",
        node,
        "2024-05-01T00+3A00+3A00Z+2Fa+2Bb+40c",
    )
    assert str(parse_node_id(f"job:{node}")) == f"job:{node}"


def test_encoding_is_deterministic_and_tells_escapes_from_plus() -> None:
    assert encode_part("a+20b") == "a+2B20b"
    assert encode_part("a b") == "a+20b"
    assert encode_part("x") == encode_part("x")
