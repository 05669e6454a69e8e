"""Node ids of OpenLineage jobs and datasets.

OpenLineage namespaces are URIs (``postgres://db:5432``, ``s3://bucket``) and names may hold
any character, while node names allow letters, digits and ``_ . - / : +``. A node's name is
``<ns>/<name>`` -- for URI namespaces, the dataset's own URI (``s3://bucket/path``) -- with
every other character, and ``+`` itself, written ``+HH`` per UTF-8 byte (``abfss://c@acct`` ->
``abfss://c+40acct``, ``a b`` -> ``a+20b``); see :func:`encode_part`. A namespace that would
start with something node names cannot start with (``/``, ``:``, an escape) gets a leading
``_``. Versions are written the same way, ``/`` and ``:`` escaped too. So the mapping is
injective: namespace ``wh/a`` with name ``t`` is not namespace ``wh`` with name ``a/t``.
"""

from __future__ import annotations

_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-/:")
_VERSION_CHARS = _NAME_CHARS - {"/", ":"}
_FIRST_CHARS = _NAME_CHARS - {"/", ":"}


def encode_part(text: str, *, allowed: frozenset[str] = _NAME_CHARS) -> str:
    """Write ``text`` in node-id characters: any other character becomes ``+HH`` per byte."""
    out = []
    for ch in text:
        if ch in allowed:
            out.append(ch)
        else:
            out.extend(f"+{b:02X}" for b in ch.encode("utf-8"))
    return "".join(out)


def encode_version(version: str) -> str:
    """A dataset version in node-id characters, ``/`` and ``:`` escaped too."""
    return encode_part(version, allowed=_VERSION_CHARS)


def node_name(namespace: str, name: str) -> str:
    """The node name of an OpenLineage job or dataset: ``<ns>/<name>``, encoded."""
    ns = encode_part(namespace)
    if not ns or ns[0] not in _FIRST_CHARS:
        ns = "_" + ns
    return f"{ns}/{encode_part(name)}"


def job_node(namespace: str, name: str) -> str:
    """``job:<ns>/<name>``."""
    return f"job:{node_name(namespace, name)}"


def dataset_node(namespace: str, name: str, version: str = "") -> str:
    """``dataset:<ns>/<name>`` or, with a datasetVersion, ``dataset:<ns>/<name>@<version>``."""
    base = f"dataset:{node_name(namespace, name)}"
    return f"{base}@{encode_version(version)}" if version else base
