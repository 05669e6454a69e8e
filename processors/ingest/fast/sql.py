"""The mapping of :mod:`lineage_processors.ingest.reference.events`, written as SQL over staged
events.

Each of our graph event kinds is staged, one table per kind, with its Avro fields as columns
(:mod:`lineage_processors.ingest.fast.staged`). For every store table, :func:`insert_sql` is one
``INSERT … SELECT`` that turns the staged events of every kind present into that table's rows,
exactly as the Python mappers would: same node ids, same properties, same edges. The two are held
equal by ``tests/processors/ingest/fast/test_staged.py``, which maps the same events both ways.

:func:`invalid_sql` counts staged events the SQL does not map as Python would: those the Python
mapping refuses (a malformed name or node id), and metrics so large or small that the two
write them differently. A batch with any goes the Python way, which sends the refused ones to
the DLQ with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence

from lineage_collector import ids
from lineage_processors.ingest.reference.mapping import TABLES
from lineage_processors.store.sink import SOURCE_COLUMNS

# The character classes of lineage_collector.ids, with '-' last so that no escape is needed.
_NAME = "[A-Za-z0-9_.-][A-Za-z0-9_./:+-]*"
_VERSION = "[A-Za-z0-9_.+-]+"
_UNVERSIONED = "|".join(k for k in ids.KINDS if k not in ids.VERSIONED_KINDS)
_VERSIONED = "|".join(sorted(ids.VERSIONED_KINDS))
_NODE = f"^(({_UNVERSIONED}):{_NAME}|({_VERSIONED}):{_NAME}(@{_VERSION})?)$"


_EMPTY = "''"


def _name_ok(expr: str) -> str:
    return f"match({expr}, '^{_NAME}$')"


def _version_ok(expr: str) -> str:
    return f"match({expr}, '^{_VERSION}$')"


def _node_ok(expr: str) -> str:
    return f"match({expr}, '{_NODE}')"


def _id(kind: str, name: str, version: str | None = None) -> str:
    """The node id ``kind:name[@version]`` of SQL expressions ``name`` and ``version``."""
    if version is None:
        return f"concat('{kind}:', {name})"
    return f"concat('{kind}:', {name}, '@', {version})"


def _node_of(kind: str, name: str, version: str | None = None) -> str:
    """(node_id, kind, name, version) of the node made of SQL expressions ``name``, ``version``."""
    return f"tuple({_id(kind, name, version)}, '{kind}', {name}, {version or _EMPTY})"


def _dataset_node(ref: str) -> str:
    return _node_of("dataset", f"tupleElement({ref}, 'dataset')", f"tupleElement({ref}, 'version')")


def _dataset(ref: str) -> str:
    return _id("dataset", f"tupleElement({ref}, 'dataset')", f"tupleElement({ref}, 'version')")


def _ref_ok(ref: str) -> str:
    name, version = f"tupleElement({ref}, 'dataset')", f"tupleElement({ref}, 'version')"
    return f"{_name_ok(name)} AND {_version_ok(version)}"


def _q(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _node_row(node: str) -> str:
    """(node_id, kind, name, version) of a node id expression, checked valid beforehand."""
    return (
        f"tuple({node}, splitByChar(':', {node}, 2)[1], "
        f"splitByChar('@', substring({node}, position({node}, ':') + 1))[1], "
        f"if(position({node}, '@') > 0, substringIndex({node}, '@', -1), ''))"
    )


def _iso_time(expr: str) -> str:
    """Python's ``datetime.isoformat()`` of a UTC DateTime64(3), as iso_time writes it."""
    ms = f"toUnixTimestamp64Milli({expr})"
    return (
        f"concat(formatDateTime({expr}, '%Y-%m-%dT%H:%i:%S', 'UTC'), "
        f"if({ms} % 1000 = 0, '', concat('.', leftPad(toString(({ms} % 1000) * 1000), 6, '0'))),"
        " '+00:00')"
    )


def _float_repr(expr: str) -> str:
    """Python's ``repr`` of a float in :data:`_FIXED_FLOAT`'s range: ``3.0``, not ``3``."""
    s = f"toString({expr})"
    return f"if(isFinite({expr}) AND match({s}, '^-?[0-9]+$'), concat({s}, '.0'), {s})"


def _fixed_float(expr: str) -> str:
    """Whether Python and ClickHouse both write ``expr`` in plain decimals: Python turns to
    exponents below 1e-4 and from 1e16 on, ClickHouse elsewhere. Outside, Python maps it."""
    return f"(NOT isFinite({expr}) OR {expr} = 0 OR (abs({expr}) >= 1e-4 AND abs({expr}) < 1e16))"


def _props(node: str, pairs: Sequence[tuple[str, str]]) -> str:
    """Property rows (node, key, value) of literal keys."""
    rows = [f"tuple({node}, {_q(k)}, {v})" for k, v in pairs]
    return f"[{', '.join(rows)}]"


def _optional_props(node: str, names: Sequence[str]) -> str:
    """Rows for optional string fields, each only when set and not empty."""
    parts = [
        f"if(ifNull({n}, '') = '', [], [tuple({node}, {_q(n)}, assumeNotNull({n}))])" for n in names
    ]
    return f"arrayConcat({', '.join(parts)})"


def _map_props(node: str, column: str, prefix: str, value: str = "v") -> str:
    """Rows ``prefix.key = value`` for every entry of a Map column."""
    return (
        f"arrayMap((k, v) -> tuple({node}, concat({_q(prefix)}, k), {value}), "
        f"mapKeys({column}), mapValues({column}))"
    )


class Kind:
    """How one event kind's staged columns become rows: SQL expressions per table."""

    def __init__(
        self,
        name: str,
        subject: str,
        valid: str,
        nodes: str,
        properties: str = "[]",
        edges: str = "[]",
        subject_links: str = "[]",
        extra: dict[str, tuple[str, str]] | None = None,
    ) -> None:
        self.name = name
        self.subject = subject  # the node id events_raw keeps as the event's subject
        self.valid = valid  # true when the Python mapping would take the event
        # Array(Tuple(...)) expressions of one event's rows in the table of that name.
        self.rows = {
            "nodes": nodes,
            "properties": properties,
            "edges": edges,
            "subject_links": subject_links,
        }
        # Tables of one row per event: (tuple of the row, WHERE condition).
        self.single = extra or {}


_TR_RUN = _id("run", "run_id")
_RUN_NODE = _node_of("run", "run_id")
_JOB_NODE = _node_of("job", "job")
_MODEL_NODE = _node_of("model", "model", "model_version")
_TR_JOB = _id("job", "job")
_TR_MODEL = _id("model", "model", "model_version")

KINDS: dict[str, Kind] = {
    "SourceExtraction": Kind(
        "SourceExtraction",
        subject=_id("source", "source"),
        valid=f"{_name_ok('source')} AND {_ref_ok('output')}",
        nodes=f"[{_node_of('source', 'source')}, {_dataset_node('output')}]",
        properties=(
            "arrayConcat("
            + _props(_id("source", "source"), [("source_system", "source_system"), ("uri", "uri")])
            + ", "
            + _optional_props(_id("source", "source"), ["schema_fingerprint"])
            + ", "
            + _props(
                _dataset("output"),
                [
                    ("extracted_records", "toString(record_count)"),
                    ("extraction_time", _iso_time("extraction_time")),
                ],
            )
            + ")"
        ),
        edges=f"[tuple({_id('source', 'source')}, {_dataset('output')}, 'extracted', '', "
        "event_time, '')]",
    ),
    "TransformationRun": Kind(
        "TransformationRun",
        subject=_TR_RUN,
        valid=(
            f"{_name_ok('run_id')} AND {_name_ok('job')} AND "
            f"arrayAll(d -> {_ref_ok('d')}, inputs) AND arrayAll(d -> {_ref_ok('d')}, outputs)"
        ),
        nodes=(
            f"arrayConcat([{_JOB_NODE}, {_RUN_NODE}], "
            f"arrayMap(d -> {_dataset_node('d')}, inputs), "
            f"arrayMap(d -> {_dataset_node('d')}, outputs))"
        ),
        properties=(
            "arrayConcat("
            + _map_props(_TR_RUN, "parameters", "param.")
            + ", "
            + _props(
                _TR_RUN,
                [
                    ("status", "status"),
                    ("kind", "kind"),
                    ("job", _TR_JOB),
                    ("masking", "if(masking, 'true', 'false')"),
                ],
            )
            + ", "
            + _optional_props(
                _TR_RUN, ["code_version", "error_message", "annotator", "guideline_version"]
            )
            + ")"
        ),
        edges=(
            f"arrayConcat([tuple({_TR_JOB}, {_TR_RUN}, 'job', '', event_time, run_id)], "
            f"arrayMap(d -> tuple({_dataset('d')}, {_TR_RUN}, 'input', "
            "tupleElement(d, 'role'), event_time, run_id), inputs), "
            f"arrayMap(d -> tuple({_TR_RUN}, {_dataset('d')}, 'output', "
            "tupleElement(d, 'role'), event_time, run_id), outputs))"
        ),
    ),
    "DatasetVersion": Kind(
        "DatasetVersion",
        subject=_id("dataset", "dataset", "version"),
        valid=f"{_name_ok('dataset')} AND {_version_ok('version')}",
        nodes=f"[{_node_of('dataset', 'dataset', 'version')}]",
        properties=(
            "arrayConcat("
            + _props(
                _id("dataset", "dataset", "version"),
                [("content_hash", "content_hash"), ("row_count", "toString(row_count)")],
            )
            + ", "
            + _optional_props(_id("dataset", "dataset", "version"), ["schema", "storage_uri"])
            + ", "
            + f"arrayMap(s -> tuple({_id('dataset', 'dataset', 'version')}, "
            "concat('split.', tupleElement(s, 'name'), '.row_count'), "
            "toString(tupleElement(s, 'row_count'))), splits))"
        ),
    ),
    "SubjectLinks": Kind(
        "SubjectLinks",
        subject="node",
        valid=_node_ok("node"),
        nodes=f"[{_node_row('node')}]",
        subject_links="arrayMap(s -> tuple(s, key_id, node), subjects)",
    ),
    "TrainingRun": Kind(
        "TrainingRun",
        subject=_TR_MODEL,
        valid=(
            f"{_name_ok('model')} AND {_version_ok('model_version')} AND {_name_ok('run_id')} "
            f"AND arrayAll(d -> {_ref_ok('d')}, datasets) "
            f"AND arrayAll(v -> {_fixed_float('v')}, mapValues(metrics))"
        ),
        nodes=(
            f"arrayConcat([{_MODEL_NODE}, {_RUN_NODE}], "
            f"arrayMap(d -> {_dataset_node('d')}, datasets))"
        ),
        properties=(
            "arrayConcat("
            + _map_props(_TR_MODEL, "metrics", "metric.", _float_repr("v"))
            + ", "
            + _map_props(_TR_RUN, "hyperparameters", "hyperparameter.")
            + ", "
            + _props(_TR_RUN, [("status", "status")])
            + ", "
            + _optional_props(_TR_RUN, ["code_version", "error_message"])
            + ")"
        ),
        edges=(
            f"arrayConcat([tuple({_TR_RUN}, {_TR_MODEL}, 'output', '', event_time, run_id)], "
            f"arrayMap(d -> tuple({_dataset('d')}, {_TR_RUN}, 'input', "
            "tupleElement(d, 'role'), event_time, run_id), datasets))"
        ),
        extra={
            # A model version is what a completed run made (see map_training_run).
            "model_training": (
                f"{_TR_MODEL}, {_TR_RUN}, arrayMap(d -> {_dataset('d')}, datasets), "
                "arrayMap(d -> tupleElement(d, 'role'), datasets), ifNull(code_version, ''), "
                "event_time, event_id",
                "status = 'COMPLETED'",
            ),
        },
    ),
    "Deployment": Kind(
        "Deployment",
        subject=_id("deployment", "deployment"),
        valid=(
            f"{_name_ok('deployment')} AND {_name_ok('model')} AND {_version_ok('model_version')}"
        ),
        nodes=(
            f"[{_node_of('deployment', 'deployment')}, "
            f"{_node_of('model', 'model', 'model_version')}]"
        ),
        properties=_props(_id("deployment", "deployment"), [("environment", "environment")]),
        edges=(
            f"[tuple({_id('model', 'model', 'model_version')}, "
            f"{_id('deployment', 'deployment')}, 'deployed', '', valid_from, '')]"
        ),
        extra={
            "deployments": (
                f"{_id('deployment', 'deployment')}, {_id('model', 'model', 'model_version')}, "
                "environment, valid_from, valid_until, event_time, event_id",
                "1",
            ),
        },
    ),
    "Tag": Kind(
        "Tag",
        subject="node",
        valid=_node_ok("node"),
        # A tag on a prediction names no graph node: predictions are not nodes.
        nodes=f"if(startsWith(node, 'inference:'), [], [{_node_row('node')}])",
        extra={
            "tags": (
                "node, tag, ifNull(incident_id, ''), record_count, window_start, window_end, "
                "ifNull(reason, ''), if(active, 1, 0), event_time, event_id",
                "1",
            ),
        },
    ),
}

# For the tables of Kind.rows: the width of a row's tuple, and the columns that follow it
# (when and which event).
_ROW_SHAPE = {
    "nodes": (4, ("namespace", "event_time", "event_id")),
    "properties": (3, ("event_time", "event_id")),
    "edges": (6, ("event_id",)),
    "subject_links": (3, ("event_time", "event_id")),
}


def _select(kind: Kind, table: str, payload: str) -> str | None:
    """The SELECT giving ``table``'s rows from ``{stage}``, or None if the kind gives none."""
    src = "src_topic, src_partition, src_offset"
    if table in kind.rows:
        rows = kind.rows[table]
        if rows == "[]":
            return None
        width, tail = _ROW_SHAPE[table]
        parts = [f"tupleElement(r, {i + 1})" for i in range(width)]
        return (
            f"SELECT {', '.join(parts + list(tail))}, {src} FROM {{stage}} ARRAY JOIN {rows} AS r"
        )
    if table in kind.single:
        columns, where = kind.single[table]
        return f"SELECT {columns}, {src} FROM {{stage}} WHERE {where}"
    if table == "events_raw":
        return (
            f"SELECT event_id, {_q(kind.name)}, event_time, producer, namespace, "
            f"{kind.subject}, {payload}, {src} FROM {{stage}}"
        )
    return None


def insert_sql(table: str, stages: dict[str, tuple[str, str]]) -> str | None:
    """``INSERT … SELECT`` of ``table``'s rows from the staged kinds, or None if none gives
    any. ``stages`` maps a kind to its stage table and the SQL of its raw JSON payload."""
    selects = []
    for kind_name, (stage, payload) in stages.items():
        sql = _select(KINDS[kind_name], table, payload)
        if sql is not None:
            selects.append(sql.replace("{stage}", stage))
    if not selects:
        return None
    columns = list(TABLES[table])
    if table != "events_raw":
        columns += SOURCE_COLUMNS[table]
    return f"INSERT INTO {table} ({', '.join(columns)}) " + " UNION ALL ".join(selects)


def invalid_sql(stages: dict[str, str]) -> str:
    """How many staged events must be mapped in Python (see the module's docstring)."""
    counts = [
        f"(SELECT count() FROM {stage} WHERE NOT ({KINDS[k].valid}))" for k, stage in stages.items()
    ]
    return f"SELECT {' + '.join(counts) or '0'}"
