"""A specialised Avro encoder for ``lineage.events.InferenceBatch`` bodies.

The inference logger's hot path. fastavro is general and careful; this writes exactly the one
record shape, field by field in schema order, and produces the same bytes (a test holds the
two against each other on generated data). It is about three times faster than fastavro here,
which is what lets one process log a couple of hundred thousand predictions a second.

Avro binary, as the specification defines it: ``long`` is a zig-zag varint; ``string`` is its
UTF-8 length (a long) then the bytes; a union is the branch index (a long) then the value; an
array is blocks of ``count`` then items, ended by a zero count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Zig-zag varints of small non-negative numbers, precomputed: string lengths mostly.
_SMALL = [bytes([n << 1]) if n < 64 else b"" for n in range(64)]
_NULL = b"\x00"
_SOME = b"\x02"  # union branch 1: the non-null side of ["null", X]


def long_bytes(n: int) -> bytes:
    """Zig-zag varint encoding of an Avro ``long``."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def string_bytes(s: str) -> bytes:
    data = s.encode()
    size = len(data)
    return (_SMALL[size] if size < 64 else long_bytes(size)) + data


def _optional(s: str | None) -> bytes:
    return _NULL if s is None else _SOME + string_bytes(s)


def _inputs(refs: Sequence[dict[str, Any]]) -> bytes:
    if not refs:
        return _NULL
    parts = [long_bytes(len(refs))]
    for ref in refs:
        parts.append(string_bytes(ref["kind"]))
        parts.append(string_bytes(ref["ref"]))
        parts.append(_optional(ref.get("dataset")))
    parts.append(_NULL)
    return b"".join(parts)


# One queued prediction: (inference_id, millis, inputs, output, subject).
Item = tuple[str, int, Sequence[dict[str, Any]], str | None, str | None]


def encode_batch_body(
    event_id: str,
    event_millis: int,
    producer: str,
    namespace: str,
    model: str | None,
    model_version: str | None,
    deployment: str | None,
    items: Sequence[Item],
) -> bytes:
    """The Avro body of one ``InferenceBatch`` (no framing)."""
    parts = [
        string_bytes(event_id),
        long_bytes(event_millis),
        string_bytes(producer),
        string_bytes(namespace),
        _optional(model),
        _optional(model_version),
        _optional(deployment),
    ]
    if items:
        parts.append(long_bytes(len(items)))
        append = parts.append
        times: dict[int, bytes] = {}  # predictions cluster in time: encode each ms once
        for inference_id, millis, inputs, output, subject in items:
            data = inference_id.encode()
            size = len(data)
            append(_SMALL[size] if size < 64 else long_bytes(size))
            append(data)
            stamp = times.get(millis)
            if stamp is None:
                stamp = times[millis] = long_bytes(millis)
            append(stamp)
            append(_inputs(inputs) if inputs else _NULL)
            append(_NULL if output is None else _SOME + string_bytes(output))
            append(_NULL if subject is None else _SOME + string_bytes(subject))
    parts.append(_NULL)
    return b"".join(parts)
