"""Every schema round-trips, shares the envelope, and stays compatible with the released ones."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.utils import generate_many

from lineage_collector.catalog import RELEASED_FOLDER, build_catalog, load_catalog
from lineage_collector.errors import SchemaError
from lineage_collector.wire import Decoder, encode

REPO = Path(__file__).resolve().parents[2]
CATALOG = load_catalog()
ENVELOPE = ["event_id", "event_time", "producer", "namespace"]
RELEASES = sorted((REPO / "schemas" / RELEASED_FOLDER).iterdir())


def released_schemas() -> list[tuple[str, Path]]:
    return [
        (release.name, path) for release in RELEASES for path in sorted(release.rglob("*.avsc"))
    ]


def round_trip(writer: dict, reader: dict, record: dict) -> dict:  # type: ignore[type-arg]
    buf = io.BytesIO()
    schemaless_writer(buf, parse_schema(writer), record)
    buf.seek(0)
    return schemaless_reader(buf, parse_schema(writer), parse_schema(reader))  # type: ignore[return-value]


def test_catalogue_holds_every_stage() -> None:
    assert CATALOG.names() == [
        f"lineage.events.{n}"
        for n in [
            "DatasetVersion",
            "Deployment",
            "Inference",
            "InferenceBatch",
            "SourceExtraction",
            "SubjectLinks",
            "Tag",
            "TrainingRun",
            "TransformationRun",
        ]
    ]


@pytest.mark.parametrize("name", CATALOG.names())
def test_every_event_starts_with_the_envelope_and_documents_fields(name: str) -> None:
    schema = CATALOG.by_name(name).expanded
    assert [f["name"] for f in schema["fields"][:4]] == ENVELOPE
    assert schema["doc"]
    assert all(f.get("doc") for f in schema["fields"]), "every field says what it holds"


@pytest.mark.parametrize("name", CATALOG.names())
def test_every_schema_round_trips_through_the_wire(name: str) -> None:
    schema = CATALOG.by_name(name)
    decoder = Decoder(CATALOG)
    for record in generate_many(schema.expanded, 20):
        decoded_schema, decoded = decoder.decode(encode(schema, record))
        assert decoded_schema.name == name
        assert decoded == round_trip(schema.expanded, schema.expanded, record)


@pytest.mark.parametrize(("release", "path"), released_schemas(), ids=lambda v: str(v)[-40:])
def test_current_schema_is_compatible_with_release(release: str, path: Path) -> None:
    old = json.loads(path.read_text())
    name = f"{old['namespace']}.{old['name']}"
    current = CATALOG.by_name(name).expanded  # a released event may never disappear
    # Backward: records written by the released SDK read with today's schema.
    for record in generate_many(old, 20):
        round_trip(old, current, record)
    # Forward: records written today read by the released worker.
    for record in generate_many(current, 20):
        round_trip(current, old, record)


def test_a_released_writer_is_decoded_into_the_current_schema() -> None:
    """A producer on an older release: its fingerprint resolves to today's reader."""
    current = CATALOG.by_name("lineage.events.Tag")
    old = json.loads(json.dumps(current.expanded))
    old["fields"] = [f for f in old["fields"] if f["name"] != "active"]  # pretend it is new
    files = [
        (
            path.parent.relative_to(REPO / "schemas").as_posix().replace("/", "."),
            str(path),
            path.read_text(),
        )
        for path in sorted((REPO / "schemas" / "lineage").rglob("*.avsc"))
    ]
    catalog = build_catalog(files, [("old/Tag.avsc", json.dumps(old))])
    from lineage_collector.catalog import build_event_schema

    old_schema = build_event_schema(old, "old/Tag.avsc")
    record = {
        "event_id": "e",
        "event_time": 0,
        "producer": "p",
        "namespace": "n",
        "node": "dataset:a@v1",
        "tag": "pii",
        "incident_id": None,
        "record_count": None,
        "window_start": None,
        "window_end": None,
        "reason": None,
    }
    schema, decoded = Decoder(catalog).decode(encode(old_schema, record))
    assert schema.name == "lineage.events.Tag"
    assert decoded["active"] is True  # filled from today's default
    assert decoded["tag"] == "pii"


def test_references_must_name_known_types() -> None:
    text = json.dumps(
        {
            "type": "record",
            "name": "X",
            "namespace": "lineage.events",
            "fields": [{"name": "a", "type": "lineage.types.Nope"}],
        }
    )
    with pytest.raises(SchemaError, match=r"unknown type 'lineage\.types\.Nope'"):
        build_catalog([("lineage.events", "schemas/lineage/events/X.avsc", text)])
