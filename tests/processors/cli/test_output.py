from __future__ import annotations

import json

from lineage_processors.answers.runner import Table
from lineage_processors.cli.output import render

TABLE = Table(["depth", "node", "attrs"], [[1, "run:a", {"k": "v"}], [2, "dataset:x@v1", None]])


def test_table_is_aligned() -> None:
    assert render(TABLE, "table").splitlines() == [
        "depth  node          attrs",
        "-----  ------------  ----------",
        '1      run:a         {"k": "v"}',
        "2      dataset:x@v1",
    ]


def test_json_and_csv() -> None:
    assert json.loads(render(TABLE, "json"))[1] == {
        "depth": 2,
        "node": "dataset:x@v1",
        "attrs": None,
    }
    assert render(TABLE, "csv").splitlines() == [
        "depth,node,attrs",
        '1,run:a,"{""k"": ""v""}"',
        "2,dataset:x@v1,",
    ]
