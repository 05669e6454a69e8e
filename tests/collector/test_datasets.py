from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lineage_collector import InvalidEventError, version_of_dataframe, version_of_file


def test_file_version_follows_content(tmp_path: Path) -> None:
    f = tmp_path / "data.csv"
    f.write_text("id,label\n1,a\n2,b\n")
    v1 = version_of_file(f)
    assert v1.content_hash == (
        "sha256:" + __import__("hashlib").sha256(b"id,label\n1,a\n2,b\n").hexdigest()
    )
    assert v1.row_count == 3 and v1.version == v1.content_hash[7:19]
    f.write_text("id,label\n1,a\n2,c\n")
    assert version_of_file(f).version != v1.version


def test_folder_version_covers_names_and_contents(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("x\n")
    (tmp_path / "b").write_text("y\n")
    before = version_of_file(tmp_path)
    (tmp_path / "b").rename(tmp_path / "c")
    assert version_of_file(tmp_path).version != before.version
    with pytest.raises(InvalidEventError, match="no such file or folder"):
        version_of_file(tmp_path / "missing")


def test_dataframe_version_is_stable_and_sensitive() -> None:
    df = pd.DataFrame({"age": [31, 45], "label": ["a", "b"]})
    v = version_of_dataframe(df)
    assert v == version_of_dataframe(df.copy())
    assert v.row_count == 2
    assert '"name": "age", "type": "int64"' in (v.schema or "")
    assert version_of_dataframe(df.assign(age=[31, 46])).version != v.version
    assert version_of_dataframe(df.astype({"age": "float64"})).version != v.version
    event = v.event("warehouse/people", splits={"train": 2})
    assert (event.dataset, event.version, event.row_count) == ("warehouse/people", v.version, 2)
    with pytest.raises(InvalidEventError, match="expected a pandas DataFrame"):
        version_of_dataframe([1, 2])
