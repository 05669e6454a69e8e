"""OpenLineage namespaces and names as node ids: injective, readable, parseable."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from lineage_collector.ids import parse_node_id
from lineage_processors.ingest.openlineage.names import (
    dataset_node,
    decode_part,
    encode_part,
    job_node,
    split_node_name,
)


@pytest.mark.parametrize(
    ("namespace", "name", "node"),
    [
        ("postgres://db:5432", "shop.public.orders", "postgres://db:5432/shop.public.orders"),
        ("s3://bucket", "path/to/file.parquet", "s3://bucket/path/to/file.parquet"),
        ("s3://lake/curated", "orders", "s3://lake+2Fcurated/orders"),
        ("abfss://c@acct.dfs.core.windows.net", "t", "abfss://c+40acct.dfs.core.windows.net/t"),
        ("git+ssh://host", "repo", "git+2Bssh://host/repo"),
        ("kafka://", "topic", "kafka:///topic"),
        ("file", "/data/events/dt=2025-09-01", "file//data/events/dt+3D2025-09-01"),
        ("bigquery", "proj.ds.tbl name", "bigquery/proj.ds.tbl+20name"),
        ("kafka://b:9092", "a+b", "kafka://b:9092/a+2Bb"),
        ("hive", "données", "hive/donn+C3+A9es"),
        ("wh/a", "t", "wh+2Fa/t"),
        ("wh", "a/t", "wh/a/t"),
        ("arn:aws:glue:eu-west-1:123", "db.t", "arn:aws:glue:eu-west-1:123/db.t"),
        ("s3:", "//x/t", "s3+3A///x/t"),
        ("/mnt", "x", "_+2Fmnt/x"),
        ("_/mnt", "x", "__+2Fmnt/x"),
        ("@home", "x", "_+40home/x"),
        ("", "x", "_/x"),
    ],
)
def test_namespaces_and_names_encode_into_node_ids(namespace: str, name: str, node: str) -> None:
    assert job_node(namespace, name) == f"job:{node}"
    assert dataset_node(namespace, name) == f"dataset:{node}"
    assert split_node_name(node) == (namespace, name)
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


# Texts built mostly of the characters that make ids collide: separators, scheme marks,
# escapes and the prefix mark, with any other character now and then.
_TRICKY = st.text(st.sampled_from("/:+_@.-aZ9 é") | st.characters(), max_size=12)
_SCHEMES = st.sampled_from(["", "s3://", "postgres://", "git+ssh://", "a:", "a:/", "_"])
_NAMESPACES = st.builds(lambda s, t: s + t, _SCHEMES, _TRICKY)
_TRIPLES = st.tuples(_NAMESPACES, _TRICKY, _TRICKY)


@given(_TRIPLES, _TRIPLES)
@example(("wh/a", "t", ""), ("wh", "a/t", ""))
@example(("s3:", "//x/t", ""), ("s3://x", "t", ""))
@example(("/mnt", "x", ""), ("_", "mnt/x", ""))
@example(("_/mnt", "x", ""), ("/mnt", "x", ""))
def test_distinct_datasets_get_distinct_ids(
    a: tuple[str, str, str], b: tuple[str, str, str]
) -> None:
    if a != b:
        assert dataset_node(*a) != dataset_node(*b)
        assert job_node(*a[:2]) != job_node(*b[:2]) or a[:2] == b[:2]


@given(_NAMESPACES, _TRICKY, _TRICKY)
def test_every_id_parses_and_reads_back(namespace: str, name: str, version: str) -> None:
    # Reading the parts back from every id proves the mapping injective for all inputs,
    # not only for the pairs drawn above.
    node = dataset_node(namespace, name, version)
    parsed = parse_node_id(node)
    assert str(parsed) == node
    assert parsed.kind == "dataset"
    assert split_node_name(parsed.name) == (namespace, name)
    assert decode_part(parsed.version) == version
    assert parse_node_id(job_node(namespace, name)).name == parsed.name
