"""Helpers for tests of the deployment files under ``deploy/``: the real tools, the files."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from lineage_processors.ops.metrics import WorkerMetrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMETHEUS = DEPLOY / "prometheus"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_yaml_all(path: Path) -> list[Any]:
    return list(yaml.safe_load_all(path.read_text()))


def tool(name: str) -> str:
    """Path of a Prometheus tool, or fail saying how to get it."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} not found: it comes with Debian's prometheus package "
            "(`make system-deps` installs it, or `apt-get install prometheus`)",
            pytrace=False,
        )
    return found


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("promtool"), *args], capture_output=True, text=True, timeout=120, cwd=DEPLOY
    )


def exposed_series() -> set[str]:
    """Every series name the worker's registry can expose (histograms with their parts)."""
    metrics = WorkerMetrics.fresh()
    names = set()
    for family in metrics.registry.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names |= {f"{family.name}_{part}" for part in ("bucket", "sum", "count")}
        else:
            names.add(family.name)
    return names


def metric_names(expr: str) -> set[str]:
    """The ``lineage_*`` metric names a PromQL expression reads (not name patterns)."""
    return set(re.findall(r"\blineage_[a-z_]+(?![.(\w])", expr))


def slug(heading: str) -> str:
    """The anchor a Markdown renderer gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")
