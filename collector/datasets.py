"""Derive a dataset version from content: a file, a folder of files, or a pandas DataFrame.

The version is a prefix of the content hash, so the same content always gets the same version
and any change gets a new one, without anybody numbering versions by hand.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lineage_collector.errors import InvalidEventError
from lineage_collector.events import DatasetRef, DatasetVersion

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ContentVersion:
    """What content-hashing found: the hash, the version derived from it, and the size."""

    content_hash: str  # sha256:<hex>
    row_count: int
    schema: str | None = None

    @property
    def version(self) -> str:
        """The first 12 hex digits of the hash: short, and collisions are negligible."""
        return self.content_hash.split(":", 1)[1][:12]

    def ref(self, dataset: str, role: str = "") -> DatasetRef:
        return DatasetRef(dataset, self.version, role)

    def event(
        self,
        dataset: str,
        *,
        storage_uri: str | None = None,
        splits: dict[str, int] | None = None,
    ) -> DatasetVersion:
        return DatasetVersion(
            dataset,
            self.version,
            self.content_hash,
            self.row_count,
            schema=self.schema,
            storage_uri=storage_uri,
            splits=splits or {},
        )


def version_of_file(path: str | Path, *, count_lines: bool = True) -> ContentVersion:
    """Hash a file, or every file under a folder (names and contents, in sorted order).

    ``row_count`` is the number of lines (for CSV and JSON-lines files; minus nothing, headers
    included) unless ``count_lines`` is False, then 0.
    """
    root = Path(path)
    if not root.exists():
        raise InvalidEventError(f"cannot version {root}: no such file or folder")
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    digest = hashlib.sha256()
    lines = 0
    for file in files:
        if root.is_dir():
            digest.update(str(file.relative_to(root)).encode() + b"\0")
        with open(file, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
                if count_lines:
                    lines += chunk.count(b"\n")
    return ContentVersion(f"sha256:{digest.hexdigest()}", lines)


def version_of_dataframe(df: Any) -> ContentVersion:
    """Hash a pandas DataFrame's columns, types, index and values.

    Uses pandas' own stable per-row hashing, so equal frames give equal versions whatever
    their memory layout; column order and dtypes are part of the content.
    """
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas comes with chdb, but the SDK may be alone
        raise InvalidEventError("versioning a DataFrame needs pandas: pip install pandas") from None
    if not isinstance(df, pd.DataFrame):
        raise InvalidEventError(f"expected a pandas DataFrame, got {type(df).__name__}")
    schema = [{"name": str(c), "type": str(t)} for c, t in df.dtypes.items()]
    digest = hashlib.sha256(json.dumps(schema, sort_keys=True).encode())
    digest.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    return ContentVersion(f"sha256:{digest.hexdigest()}", len(df), json.dumps(schema))
