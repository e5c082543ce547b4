"""deploy/compose/ (docker compose for users) is checked without Docker: there is no Docker engine here.

The compose file's structure and the files it mounts are parsed; the processor's configuration goes
through ``driftline processor --check`` (the CLI, as users run it) and then really runs, so the
metric names the Grafana dashboard queries are checked against what a processor exposes;
``prometheus.yml`` and the dashboard's PromQL go through ``promtool`` (Debian package ``prometheus``)
where it is installed (``make test`` installs it; in CI a missing promtool fails instead of skipping).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.processors.service.support import make_request, processor, send_grpc

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_DIR = ROOT / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yaml"
PROCESSOR_CONFIG = COMPOSE_DIR / "processor.yaml"
PROMETHEUS_CONFIG = COMPOSE_DIR / "prometheus.yml"
DASHBOARD = COMPOSE_DIR / "grafana" / "dashboards" / "driftline-processor.json"
PROVISIONING = COMPOSE_DIR / "grafana" / "provisioning"
METRIC_NAME = re.compile(r"\bdriftline_[a-z0-9_]+\b")
ALL_INTERFACES_WARNING = ('warning: {key}: "0.0.0.0:{port}" listens on every network interface, so anyone who can '
                          "reach this machine can connect; use 127.0.0.1 unless that is intended (and then consider "
                          "tls and auth)")


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def _require_promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        reason = "promtool is not installed (Debian package prometheus; `make test` installs it when it can)"
        if _in_ci():
            pytest.fail(f"{reason}; CI must check the Prometheus files for real")
        pytest.skip(reason)
    return binary


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """A service's short-syntax volumes as ``{container path: source}`` (``:ro`` dropped)."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        mounts[target] = source
    return mounts


def _published(service: dict[str, Any]) -> dict[int, str]:
    """A service's ``host_ip:host_port:container_port`` ports as ``{container port: "host_ip:host_port"}``."""
    published = {}
    for port in service.get("ports", []):
        host_ip, host_port, container_port = str(port).split(":")
        published[int(container_port)] = f"{host_ip}:{host_port}"
    return published


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


# --- the compose file ------------------------------------------------------------------------------

def test_compose_runs_processor_jaeger_prometheus_and_grafana_on_loopback_ports() -> None:
    compose = _yaml(COMPOSE_FILE)
    services = compose["services"]
    assert set(services) == {"driftline", "jaeger", "prometheus", "grafana"}
    assert {name: _published(service) for name, service in services.items()} == {
        "driftline": {4317: "127.0.0.1:4317", 4318: "127.0.0.1:4318", 9464: "127.0.0.1:9464"},
        "jaeger": {16686: "127.0.0.1:16686"},
        "prometheus": {9090: "127.0.0.1:9090"},
        "grafana": {3000: "127.0.0.1:3000"},
    }
    assert set(compose["volumes"]) == {"driftline-queue", "prometheus-data"}
    assert services["driftline"]["depends_on"] == ["jaeger"]
    assert services["prometheus"]["depends_on"] == ["driftline"]
    assert services["grafana"]["depends_on"] == ["prometheus", "jaeger"]
    assert services["jaeger"]["image"].startswith("jaegertracing/all-in-one:")
    assert services["jaeger"]["environment"] == {"COLLECTOR_OTLP_ENABLED": "true"}
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["grafana"]["image"].startswith("grafana/grafana:")
    for service in services.values():   # every bind-mounted file or folder exists next to the compose file
        for source in _mounts(service).values():
            if source.startswith("."):
                assert (COMPOSE_DIR / source).exists(), source


def test_processor_is_built_from_this_repository_with_its_config_and_queue_mounted() -> None:
    driftline = _yaml(COMPOSE_FILE)["services"]["driftline"]
    build = driftline["build"]
    assert (COMPOSE_DIR / build["context"]).resolve() == ROOT
    dockerfile = ROOT / build["dockerfile"]
    assert dockerfile == COMPOSE_DIR / "Dockerfile"
    # BuildKit reads <Dockerfile>.dockerignore: the context it sends holds what building the wheel needs.
    ignored = (COMPOSE_DIR / "Dockerfile.dockerignore").read_text(encoding="utf-8").split()
    assert {".git", ".venv", "tests"} <= set(ignored)
    assert not {"processors", "instrumentation", "semconv", "setup.py", "pyproject.toml", "README.md"} & set(ignored)

    instructions = [line.split(None, 1) for line in dockerfile.read_text(encoding="utf-8").splitlines()
                    if line and not line.startswith((" ", "#"))]
    entrypoint = json.loads(next(arg for op, arg in instructions if op == "ENTRYPOINT"))
    command = json.loads(next(arg for op, arg in instructions if op == "CMD"))
    assert entrypoint == ["driftline", "processor"]
    assert '"/src[processor]"' in dockerfile.read_text(encoding="utf-8")
    assert next(arg for op, arg in instructions if op == "EXPOSE").split() == ["4317", "4318", "9464"]
    assert next(arg for op, arg in instructions if op == "VOLUME") == "/var/lib/driftline"

    assert driftline["command"] == command == ["--config", "/etc/driftline/processor.yaml"]
    assert _mounts(driftline) == {"/etc/driftline/processor.yaml": "./processor.yaml",
                                  "/var/lib/driftline": "driftline-queue"}


# --- the processor's configuration -----------------------------------------------------------------

def _driftline_cli() -> list[str]:
    script = Path(sys.executable).with_name("driftline")
    return [str(script), "processor"] if script.exists() else [sys.executable, "-m", "driftline.processors"]


def test_processor_config_passes_driftline_processor_check(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DRIFTLINE_", "OTEL_"))}
    run = subprocess.run([*_driftline_cli(), "--check", str(PROCESSOR_CONFIG)], cwd=tmp_path, env=env,
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().lower() == "config ok: 1 receiver, 1 exporter, pipelines: traces"
    # Inside a container 0.0.0.0 is intended (compose publishes on the host's loopback); nothing else is warned.
    assert run.stderr.splitlines() == [
        ALL_INTERFACES_WARNING.format(key="receivers.otlp.protocols.grpc.endpoint", port=4317),
        ALL_INTERFACES_WARNING.format(key="receivers.otlp.protocols.http.endpoint", port=4318),
        ALL_INTERFACES_WARNING.format(key="service.telemetry.metrics.address", port=9464),
    ]


def test_processor_config_listens_in_the_container_and_exports_to_jaeger_with_a_persistent_queue() -> None:
    config = _yaml(PROCESSOR_CONFIG)
    assert config["receivers"]["otlp"]["protocols"] == {"grpc": {"endpoint": "0.0.0.0:4317"},
                                                        "http": {"endpoint": "0.0.0.0:4318"}}
    assert config["service"]["telemetry"]["metrics"]["address"] == "0.0.0.0:9464"
    exporter = config["exporters"]["otlp/jaeger"]
    assert exporter["endpoint"] == "jaeger:4317"
    assert exporter["tls"] == {"insecure": True}
    assert exporter["sending_queue"]["enabled"] is True
    assert Path(exporter["sending_queue"]["storage"]).parent == Path("/var/lib/driftline")
    assert config["service"]["pipelines"]["traces"]["exporters"] == ["otlp/jaeger"]


# --- Prometheus ------------------------------------------------------------------------------------

def test_prometheus_config_scrapes_the_processor() -> None:
    config = _yaml(PROMETHEUS_CONFIG)
    [job] = config["scrape_configs"]
    assert job["job_name"] == "driftline-processor"
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert job["static_configs"] == [{"targets": ["driftline:9464"]}]
    prometheus = _yaml(COMPOSE_FILE)["services"]["prometheus"]
    assert _mounts(prometheus)["/etc/prometheus/prometheus.yml"] == "./prometheus.yml"
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]


def test_promtool_accepts_prometheus_yml() -> None:
    promtool = _require_promtool()
    run = subprocess.run([promtool, "check", "config", str(PROMETHEUS_CONFIG)], capture_output=True, text=True,
                         timeout=60, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout + run.stderr


ALERT_RULES = COMPOSE_DIR / "driftline-alerts.yml"


def test_alert_rules_file_is_generated_from_the_builtin_rules_and_loaded_by_prometheus() -> None:
    from driftline.processors.analysis.alerts import parse_rules
    from driftline.processors.analysis.promrules import render

    assert ALERT_RULES.read_text(encoding="utf-8") == render(parse_rules(None)), (
        "regenerate it: python -m driftline.processors.analysis.promrules > deploy/compose/driftline-alerts.yml")
    assert _yaml(PROMETHEUS_CONFIG)["rule_files"] == ["driftline-alerts.yml"]
    prometheus = _yaml(COMPOSE_FILE)["services"]["prometheus"]
    assert _mounts(prometheus)["/etc/prometheus/driftline-alerts.yml"] == "./driftline-alerts.yml"
    [group] = _yaml(ALERT_RULES)["groups"]
    [rule] = group["rules"]
    assert rule["alert"] == "drift-detected"
    assert (rule["for"], rule["keep_firing_for"], rule["labels"]) == ("5m", "10m", {"severity": "warning"})


def test_promtool_accepts_generated_alert_rules(tmp_path: Path) -> None:
    from driftline.processors.analysis.alerts import parse_rules
    from driftline.processors.analysis.promrules import render

    promtool = _require_promtool()
    custom = parse_rules([
        {"name": "eu-amount", "metric": "drift.score", "model": "fraud-*", "signal": "feature.amount",
         "segment": "region=eu", "method": "psi", "above": 0.25, "for": "10m", "severity": "critical"},
        {"name": "score-doubled", "metric": "drift.score", "above_baseline": 2, "for": 0},
        {"name": "truncation", "metric": "quality.value", "check": "truncation_rate", "above": 0.2, "for": "5m"},
        {"name": "accuracy", "metric": "performance.value", "check": "accuracy", "below": 0.8, "for": "30m"},
    ])
    path = tmp_path / "rules.yml"
    path.write_text(render(custom), encoding="utf-8")
    text = path.read_text(encoding="utf-8")
    assert 'driftline_model_name=~"fraud-.*"' in text
    assert 'driftline_segment=~"region=eu"' in text
    assert "offset 1d" in text
    assert 'driftline_quality_value{driftline_quality_check=~"truncation_rate"} > 0.2' in text
    assert 'driftline_model_performance{driftline_performance_metric=~"accuracy"} < 0.8' in text
    for rules_file in (path, ALERT_RULES):
        run = subprocess.run([promtool, "check", "rules", str(rules_file)], capture_output=True, text=True,
                             timeout=60, stdin=subprocess.DEVNULL)
        assert run.returncode == 0, run.stdout + run.stderr


def test_promtool_accepts_every_dashboard_query(tmp_path: Path) -> None:
    promtool = _require_promtool()
    # Grafana's $__rate_interval is not PromQL: substitute a range, then let promtool parse each query as a rule.
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"driftline:dashboard:query{number}", "expr": expr.replace("$__rate_interval", "1m")}
        for number, expr in enumerate(_dashboard_exprs())]}]}
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    run = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"SUCCESS: {len(_dashboard_exprs())} rules found" in run.stdout + run.stderr


# --- Grafana ---------------------------------------------------------------------------------------

def test_grafana_provisions_prometheus_and_jaeger_and_the_dashboard() -> None:
    grafana = _yaml(COMPOSE_FILE)["services"]["grafana"]
    mounts = _mounts(grafana)
    assert mounts["/etc/grafana/provisioning"] == "./grafana/provisioning"

    datasources = _yaml(PROVISIONING / "datasources" / "datasources.yaml")
    assert datasources["apiVersion"] == 1
    assert {(d["uid"], d["type"], d["url"]) for d in datasources["datasources"]} == {
        ("prometheus", "prometheus", "http://prometheus:9090"), ("jaeger", "jaeger", "http://jaeger:16686")}

    providers = _yaml(PROVISIONING / "dashboards" / "dashboards.yaml")
    assert providers["apiVersion"] == 1
    [provider] = providers["providers"]
    assert provider["type"] == "file"
    assert mounts[provider["options"]["path"]] == "./grafana/dashboards"
    assert sorted(p.name for p in (COMPOSE_DIR / "grafana" / "dashboards").iterdir()) == [DASHBOARD.name]

    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] == "driftline-processor"
    assert [panel["title"] for panel in dashboard["panels"]] == [
        "Received spans/s", "Exported spans/s", "Sending queue (requests)", "Memory"]
    uids = {panel["datasource"]["uid"] for panel in dashboard["panels"]} | {
        target["datasource"]["uid"] for panel in dashboard["panels"] for target in panel["targets"]}
    assert uids == {"prometheus"}
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])


def _exposed_names(text: str) -> tuple[set[str], set[str]]:
    """From an exposition: (names a query may use — declared by ``# TYPE`` or sampled, names with samples)."""
    declared = {match[1] for match in re.finditer(r"^# TYPE (\S+) \S+$", text, flags=re.MULTILINE)}
    sampled = {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}
    return declared | sampled, sampled


async def _send(target: str) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        outcome = await send_grpc(channel, make_request(0, 40), give_up_after=30)
        assert outcome.accepted, outcome


def test_dashboard_queries_only_metrics_the_processor_exposes(tmp_path: Path) -> None:
    referenced = {name for expr in _dashboard_exprs() for name in METRIC_NAME.findall(expr)}
    assert referenced == {
        "driftline_receiver_accepted_spans_total", "driftline_receiver_refused_spans_total",
        "driftline_exporter_sent_spans_total", "driftline_exporter_send_failed_spans_total",
        "driftline_exporter_queue_size", "driftline_exporter_queue_capacity", "driftline_process_memory_rss"}

    # The compose configuration itself, on loopback: any free ports, the queue in tmp_path, and a second
    # processor standing in for Jaeger (an OTLP/gRPC server).
    config = _yaml(PROCESSOR_CONFIG)
    protocols = config["receivers"]["otlp"]["protocols"]
    protocols["grpc"]["endpoint"] = protocols["http"]["endpoint"] = "127.0.0.1:0"
    config["service"]["telemetry"]["metrics"]["address"] = "127.0.0.1:0"
    exporter = config["exporters"]["otlp/jaeger"]
    exporter["sending_queue"]["storage"] = str(tmp_path / Path(exporter["sending_queue"]["storage"]).name)
    backend_config = """
receivers:
  otlp: {protocols: {grpc: {endpoint: 127.0.0.1:0}}}
exporters:
  file: {path: ./jaeger.jsonl}
service:
  telemetry: {metrics: {address: 127.0.0.1:0}}
  pipelines: {traces: {receivers: [otlp], exporters: [file]}}
"""
    with processor(backend_config, tmp_path, name="jaeger") as jaeger:
        exporter["endpoint"] = jaeger.grpc_target
        with processor(yaml.safe_dump(config), tmp_path, name="driftline") as driftline:
            asyncio.run(_send(driftline.grpc_target))
            assert driftline.metrics_url is not None
            with urllib.request.urlopen(driftline.metrics_url, timeout=10) as response:
                text = response.read().decode()
            assert driftline.metric("driftline_receiver_accepted_spans_total", transport="grpc") == 40
            assert driftline.metric("driftline_exporter_queue_capacity", exporter="otlp/jaeger") == 1000
    exposed, sampled = _exposed_names(text)
    assert referenced <= exposed, f"the dashboard queries metrics the processor does not expose: {referenced - exposed}"
    # What a running processor with traffic has samples for (the others appear once something is refused or lost).
    assert {"driftline_receiver_accepted_spans_total", "driftline_exporter_queue_size",
            "driftline_exporter_queue_capacity", "driftline_process_memory_rss"} <= sampled
