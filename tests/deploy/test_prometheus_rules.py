"""Alert rules and scrape configuration, checked and unit-tested by the real promtool."""

from __future__ import annotations

import re

from tests.deploy.conftest import (
    DEPLOY,
    PROMETHEUS,
    exposed_series,
    load_yaml,
    metric_names,
    promtool,
    slug,
)

RULES = PROMETHEUS / "lineage-rules.yml"
RULE_TESTS = PROMETHEUS / "tests" / "lineage-rules.test.yml"


def alerts() -> list[dict[str, object]]:
    groups = load_yaml(RULES)["groups"]
    return [r for g in groups for r in g["rules"] if "alert" in r]


def test_promtool_checks_the_rules() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 12 rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_checks_the_compose_scrape_config() -> None:
    result = promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_then_resolved() -> None:
    tests = load_yaml(RULE_TESTS)["tests"]
    for alert in alerts():
        name = alert["alert"]
        cases: list[tuple[int, bool]] = []
        for t in tests:
            for case in t.get("alert_rule_test", []):
                if case["alertname"] == name:
                    minutes = int(re.fullmatch(r"(\d+)m", case["eval_time"]).group(1))  # type: ignore[union-attr]
                    cases.append((minutes, bool(case["exp_alerts"])))
        fired = [m for m, firing in cases if firing]
        assert fired, f"{name} is never tested firing"
        assert any(not firing and m > min(fired) for m, firing in cases), (
            f"{name} is never tested resolving after it fired"
        )


def test_every_alert_links_to_a_runbook_section() -> None:
    runbook = (DEPLOY.parent / "docs" / "runbook.md").read_text()
    anchors = {slug(line.lstrip("#")) for line in runbook.splitlines() if line.startswith("## ")}
    for alert in alerts():
        url = alert["annotations"]["runbook_url"]  # type: ignore[index]
        path, _, anchor = url.partition("#")
        assert path == "docs/runbook.md", url
        assert anchor in anchors, f"{alert['alert']}: no section #{anchor} in runbook.md"
        assert alert["labels"]["severity"] in {"warning", "critical"}  # type: ignore[index]


def test_rules_read_only_metrics_the_worker_exposes() -> None:
    exposed = exposed_series()
    groups = load_yaml(RULES)["groups"]
    used = set()
    for rule in (r for g in groups for r in g["rules"]):
        used |= metric_names(rule["expr"])
    assert used, "no lineage metric in the rules"
    assert used <= exposed, used - exposed
    # The coverage recording rule selects the share gauges by a name pattern.
    pattern = re.compile("lineage_coverage_.+_ratio")
    shares = {n for n in exposed if pattern.fullmatch(n)}
    assert len(shares) == 3, shares
