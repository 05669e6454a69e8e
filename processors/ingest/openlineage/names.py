"""Node ids of OpenLineage jobs and datasets.

OpenLineage namespaces are URIs (``postgres://db:5432``, ``s3://bucket``) or plain names
(``bigquery``, ``file``), and names may hold any character, while node names allow letters,
digits and ``_ . - / : +``. A node's name is ``<ns>/<name>``, written so that the namespace
always ends at the first ``/`` that is not part of a leading URI scheme's ``://``:

- a leading scheme keeps its ``://`` (``s3://bucket`` + ``path/x`` -> ``s3://bucket/path/x``,
  the dataset's own URI); every other ``/`` of the namespace is written ``+2F``
  (``wh/a`` + ``t`` -> ``wh+2Fa/t``, while ``wh`` + ``a/t`` -> ``wh/a/t``);
- the name keeps its ``/`` (it is everything after the namespace's end);
- any character node names cannot hold, and ``+`` itself, is written ``+HH`` per UTF-8 byte
  (``abfss://c@acct`` -> ``abfss://c+40acct``, ``a b`` -> ``a+20b``): see :func:`encode_part`;
- a namespace without a scheme that ends in ``:`` has that ``:`` written ``+3A``, so that its
  ``/`` and a name starting with ``/`` never read as a scheme's ``://``;
- a namespace without a scheme that would start with something node names cannot start with
  (``/``, ``:``, an escape), is empty, or starts with ``_`` gets a leading ``_``, so one
  leading ``_`` is always that mark.

Versions are written like names, ``/`` and ``:`` escaped too, after the one ``@`` of the id.
So (namespace, name, version) -> id is injective, which :func:`split_node_name` shows by
reading the parts back.
"""

from __future__ import annotations

import re

_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-/:")
_NAMESPACE_CHARS = _NAME_CHARS - {"/"}
_VERSION_CHARS = _NAME_CHARS - {"/", ":"}
_FIRST_CHARS = _NAME_CHARS - {"/", ":", "_"}
# RFC 3986's scheme, then "//": the namespaces that are URIs with an authority.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_ESCAPE = re.compile(r"(?:\+[0-9A-F]{2})+")


def encode_part(text: str, *, allowed: frozenset[str] = _NAME_CHARS) -> str:
    """Write ``text`` in node-id characters: any other character becomes ``+HH`` per byte."""
    out = []
    for ch in text:
        if ch in allowed:
            out.append(ch)
        else:
            out.extend(f"+{b:02X}" for b in ch.encode("utf-8"))
    return "".join(out)


def decode_part(text: str) -> str:
    """The text :func:`encode_part` wrote as ``text``."""
    return _ESCAPE.sub(lambda m: bytes.fromhex(m.group().replace("+", "")).decode("utf-8"), text)


def encode_version(version: str) -> str:
    """A dataset version in node-id characters, ``/`` and ``:`` escaped too."""
    return encode_part(version, allowed=_VERSION_CHARS)


def encode_namespace(namespace: str) -> str:
    """The namespace as it starts a node name: it holds no ``/`` but its scheme's ``//``."""
    scheme = _SCHEME.match(namespace)
    if scheme:
        # The scheme's characters are all node-name characters but '+' (escaped as +2B,
        # which still reads as a scheme): the id starts as the URI does.
        head = scheme.group()
        return encode_part(head) + encode_part(namespace[len(head) :], allowed=_NAMESPACE_CHARS)
    body = encode_part(namespace, allowed=_NAMESPACE_CHARS)
    if body.endswith(":"):
        body = body[:-1] + "+3A"
    if not body or body[0] not in _FIRST_CHARS:
        body = "_" + body
    return body


def node_name(namespace: str, name: str) -> str:
    """The node name of an OpenLineage job or dataset: ``<ns>/<name>``, encoded."""
    return f"{encode_namespace(namespace)}/{encode_part(name)}"


def split_node_name(node: str) -> tuple[str, str]:
    """The (namespace, name) :func:`node_name` made ``node`` of."""
    scheme = _SCHEME.match(node)
    start = scheme.end() if scheme else 0
    cut = node.index("/", start)
    ns, name = node[:cut], node[cut + 1 :]
    if not scheme and ns.startswith("_"):
        ns = ns[1:]
    return decode_part(ns), decode_part(name)


def job_node(namespace: str, name: str) -> str:
    """``job:<ns>/<name>``."""
    return f"job:{node_name(namespace, name)}"


def dataset_node(namespace: str, name: str, version: str = "") -> str:
    """``dataset:<ns>/<name>`` or, with a datasetVersion, ``dataset:<ns>/<name>@<version>``."""
    base = f"dataset:{node_name(namespace, name)}"
    return f"{base}@{encode_version(version)}" if version else base
