"""Report against the lineage of conftest.py, with exact expected answers."""

from __future__ import annotations

from lineage_processors.answers.report import report
from tests.processors.answers.conftest import MODEL1, Stored


def test_report_in_markdown_and_html(stored: Stored) -> None:
    md = report(stored.runner, "q-model@1.0", "md")
    assert md.startswith(f"# Training data of {MODEL1}\n")
    for heading in (
        "Model version",
        "Training run",
        "Dataset versions and splits",
        "Transformations",
        "Sources",
        "Open incidents",
    ):
        assert f"\n## {heading}\n" in md
    assert "| dataset:q/clean@v1 | train |" in md
    assert "| source:q/crm | source_system=salesforce, uri=sf://a |" in md
    assert "| source:q/crm | pii | INC-Q | 40 |" in md
    assert "f1=0.8" in md
    html = report(stored.runner, "q-model@1.0", "html")
    assert "<h2>Open incidents</h2>" in html and "<td>INC-Q</td>" in html
