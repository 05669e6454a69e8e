"""Compose file, Kubernetes manifests, Dockerfile and dashboard, held against the code:
images, ports, environment variable names and values, probe and metrics paths."""

from __future__ import annotations

import json
import re
from typing import Any

from lineage_processors.ops.observability import HEALTH_PATH, METRICS_PATH, READY_PATH
from lineage_processors.settings import WorkerSettings
from lineage_processors.worker.auth import check_exposure
from tests.deploy.conftest import (
    DEPLOY,
    PROMETHEUS,
    exposed_series,
    load_yaml,
    load_yaml_all,
    metric_names,
)

ENV_NAMES = {s.env for s in WorkerSettings.SPECS}
SECRET_ENV = {s.env for s in WorkerSettings.SPECS if s.secret}
PORT = WorkerSettings().worker_port
IMAGE = "lineage-collector:0.1.0"


def k8s(name: str) -> dict[str, Any]:
    [doc] = load_yaml_all(DEPLOY / "k8s" / name)
    return dict(doc)


def compose() -> dict[str, Any]:
    return dict(load_yaml(DEPLOY / "compose" / "compose.yml"))


def substituted(env: dict[str, str]) -> dict[str, str]:
    """Compose's ${VAR:?...} and ${VAR:-default} with a value for every variable."""
    return {k: re.sub(r"\$\{[A-Z_]+(:[?-][^}]*)?\}", "x", str(v)) for k, v in env.items()}


def test_compose_runs_every_component_with_pinned_images() -> None:
    services = compose()["services"]
    assert set(services) == {"kafka", "clickhouse", "worker", "prometheus", "grafana"}
    for name, service in services.items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: {image} is not pinned"
    assert services["worker"]["image"] == IMAGE
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert services["worker"]["build"]["dockerfile"] == "deploy/docker/Dockerfile"


def test_compose_worker_settings_are_real_settings_that_parse() -> None:
    worker = compose()["services"]["worker"]
    env = {k: str(v) for k, v in worker["environment"].items()}
    assert set(env) <= ENV_NAMES, set(env) - ENV_NAMES
    settings = WorkerSettings.from_env(substituted(env))
    assert settings.worker_port == PORT
    assert settings.worker_host == "0.0.0.0"
    assert settings.kafka_bootstrap == "kafka:9092"
    assert settings.clickhouse_url.startswith("http://")
    assert settings.clickhouse_url.endswith("@clickhouse:8123/lineage")
    # Open to the network, so both tokens are set; people read as the read-only user.
    check_exposure(settings)
    assert settings.write_token and settings.read_token
    assert settings.clickhouse_reader == "lineage_reader"
    # The healthcheck asks the readiness endpoint on the worker's port.
    check = " ".join(worker["healthcheck"]["test"])
    assert f"http://127.0.0.1:{PORT}{READY_PATH}" in check


def test_compose_prometheus_and_grafana_read_our_files() -> None:
    services = compose()["services"]
    assert "../prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    grafana = services["grafana"]["volumes"]
    assert "../grafana/provisioning:/etc/grafana/provisioning:ro" in grafana
    assert "../grafana:/var/lib/grafana/dashboards:ro" in grafana
    provider = load_yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "lineage.yml")
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    source = load_yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
    assert source["datasources"][0]["url"] == "http://prometheus:9090"
    assert "9090:9090" in services["prometheus"]["ports"]


def test_compose_scrape_config_finds_the_workers() -> None:
    config = load_yaml(PROMETHEUS / "prometheus.yml")
    [job] = config["scrape_configs"]
    assert job["job_name"] == "lineage-worker"  # the alert rules' job
    assert job["metrics_path"] == METRICS_PATH
    [sd] = job["dns_sd_configs"]
    assert sd["names"] == ["worker"] and sd["port"] == PORT
    assert config["rule_files"] == ["lineage-rules.yml"]


def test_k8s_config_and_secret_hold_real_settings_that_parse() -> None:
    config = k8s("configmap.yaml")["data"]
    secret = k8s("secret.yaml")["stringData"]
    assert set(config) <= ENV_NAMES - SECRET_ENV, set(config) - (ENV_NAMES - SECRET_ENV)
    assert set(secret) <= SECRET_ENV, set(secret) - SECRET_ENV
    settings = WorkerSettings.from_env({**config, **secret})
    assert settings.worker_port == PORT
    assert settings.worker_host == "0.0.0.0"
    check_exposure(settings)
    assert settings.clickhouse_reader == "lineage_reader" and settings.clickhouse_reader_password


def test_k8s_deployment_probes_ports_and_config_match_the_code() -> None:
    deployment = k8s("deployment.yaml")
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"] == pod["metadata"]["labels"]
    [container] = pod["spec"]["containers"]
    assert container["image"] == IMAGE == compose()["services"]["worker"]["image"]
    assert container["args"] == ["worker"]
    [port] = container["ports"]
    assert (port["name"], port["containerPort"]) == ("http", PORT)
    assert container["livenessProbe"]["httpGet"] == {"path": HEALTH_PATH, "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": READY_PATH, "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == HEALTH_PATH
    # The probe's timeout leaves the readiness checks (5 s each, run together) time to answer.
    assert container["readinessProbe"]["timeoutSeconds"] > 5
    refs = {next(iter(ref.values()))["name"] for ref in container["envFrom"]}
    names = {k8s(f)["metadata"]["name"] for f in ("configmap.yaml", "secret.yaml")}
    assert refs == names
    assert container["resources"]["requests"]["memory"]
    assert container["resources"]["limits"]["memory"]
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == METRICS_PATH
    assert annotations["prometheus.io/port"] == str(PORT)
    state = {m["mountPath"] for m in container["volumeMounts"]}
    assert k8s("configmap.yaml")["data"]["LINEAGE_STATE_DIR"] in state


def test_k8s_service_and_scrape_config_select_the_worker_pods() -> None:
    labels = k8s("deployment.yaml")["spec"]["template"]["metadata"]["labels"]
    service = k8s("service.yaml")
    assert service["spec"]["selector"] == labels
    [port] = service["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (PORT, "http")
    [job] = load_yaml(PROMETHEUS / "kubernetes.yml")["scrape_configs"]
    assert job["job_name"] == "lineage-worker"
    keeps = {
        tuple(r["source_labels"]): r["regex"]
        for r in job["relabel_configs"]
        if r.get("action") == "keep"
    }
    assert keeps[("__meta_kubernetes_pod_label_app",)] == labels["app"]
    assert keeps[("__meta_kubernetes_pod_container_port_name",)] == "http"
    kustomization = load_yaml(DEPLOY / "k8s" / "kustomization.yaml")
    for name in kustomization["resources"]:
        assert (DEPLOY / "k8s" / name).exists(), name


def test_dockerfile_env_and_port() -> None:
    text = (DEPLOY / "docker" / "Dockerfile").read_text()
    env = dict(re.findall(r"(LINEAGE_[A-Z_]+)=(\S+)", text))
    assert set(env) <= ENV_NAMES, set(env) - ENV_NAMES
    assert WorkerSettings.from_env(env).worker_port == PORT
    assert f"EXPOSE {PORT}" in text
    assert re.search(r'CMD \["worker"\]', text)


def dashboard_exprs() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "lineage-dashboard.json").read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_dashboard_reads_only_metrics_the_worker_exposes() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "lineage-dashboard.json").read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    exposed = exposed_series()
    used: set[str] = set()
    for expr in dashboard_exprs():
        used |= metric_names(expr)
    assert used <= exposed, used - exposed
    # Lag, throughput, latency, DLQ and coverage each have a panel.
    for name in (
        "lineage_consumer_lag_records",
        "lineage_consumer_lag_seconds",
        "lineage_events_written_total",
        "lineage_end_to_end_latency_seconds_bucket",
        "lineage_clickhouse_write_seconds_bucket",
        "lineage_events_dead_lettered_total",
        "lineage_coverage_inferences_attributed_ratio",
        "lineage_coverage_models_reaching_source_ratio",
        "lineage_coverage_transformation_runs_with_parameters_ratio",
        "lineage_coverage_edges_to_unknown_nodes",
        "lineage_attribution_unresolved_inferences",
    ):
        assert name in used, name
