"""The hand-written InferenceBatch encoder writes exactly what fastavro writes."""

from __future__ import annotations

import io
import random

from fastavro import schemaless_writer

from lineage_collector.catalog import load_catalog
from lineage_collector.inference_codec import encode_batch_body, long_bytes
from lineage_collector.wire import Decoder

SCHEMA = load_catalog().by_name("lineage.events.InferenceBatch")


def fastavro_body(record: dict[str, object]) -> bytes:
    buf = io.BytesIO()
    schemaless_writer(buf, SCHEMA.parsed, record)
    return buf.getvalue()


def random_text(rng: random.Random) -> str:
    alphabet = "abcXYZ019-_/ éü€😀"
    return "".join(rng.choice(alphabet) for _ in range(rng.choice([0, 1, 5, 63, 64, 200])))


def test_matches_fastavro_on_generated_batches() -> None:
    rng = random.Random(7)
    for _ in range(200):
        items = []
        for _ in range(rng.choice([0, 1, 3, 70])):
            inputs = [
                {
                    "kind": random_text(rng),
                    "ref": random_text(rng),
                    "dataset": rng.choice([None, random_text(rng)]),
                }
                for _ in range(rng.choice([0, 0, 1, 2]))
            ]
            items.append(
                (
                    random_text(rng) or "x",
                    rng.randrange(-(2**40), 2**42),
                    inputs,
                    rng.choice([None, random_text(rng)]),
                    rng.choice([None, "ab" * 32]),
                )
            )
        header = (
            random_text(rng),
            rng.randrange(0, 2**42),
            random_text(rng),
            random_text(rng),
            rng.choice([None, "m"]),
            rng.choice([None, "1.0"]),
            rng.choice([None, "d"]),
        )
        record = {
            "event_id": header[0],
            "event_time": header[1],
            "producer": header[2],
            "namespace": header[3],
            "model": header[4],
            "model_version": header[5],
            "deployment": header[6],
            "inferences": [
                {"inference_id": i, "event_time": t, "inputs": inp, "output": o, "subject": s}
                for i, t, inp, o, s in items
            ],
        }
        ours = encode_batch_body(*header, items)
        assert ours == fastavro_body(record)
        _, decoded = Decoder(load_catalog()).decode(b"\xc3\x01" + SCHEMA.fingerprint + ours)
        assert [d["inference_id"] for d in decoded["inferences"]] == [i[0] for i in items]


def test_zigzag_varints_from_the_specification() -> None:
    # Examples given in the Avro specification's table of long encodings.
    assert [long_bytes(n) for n in (0, -1, 1, -2, 2, -64, 64)] == [
        b"\x00",
        b"\x01",
        b"\x02",
        b"\x03",
        b"\x04",
        b"\x7f",
        b"\x80\x01",
    ]
