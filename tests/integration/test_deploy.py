"""deploy/: the Prometheus config, alert rules and their unit tests (checked with the real
`promtool`), the compose file, the Grafana dashboard, and a real scrape of the worker metrics
by the real `prometheus` binary.

Prometheus comes from the `prometheus` Debian package (/usr/bin/prometheus, /usr/bin/promtool);
without it the Prometheus tests skip locally and fail in CI (`missing_peer`).
"""

from __future__ import annotations

import importlib.machinery
import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY, start_http_server

import services.reporting.metrics  # noqa: F401  (registers the API's metrics)
from services.runtime.app import SERVICES
from services.runtime.metrics import ServiceMetrics
from services.runtime.settings import Settings
from tests.conftest import missing_peer

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
PROMETHEUS_DIR = DEPLOY / "prometheus"
COMPOSE = DEPLOY / "compose.yaml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "meetlat.json"
DATASOURCE = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"

EXPECTED_ALERTS = {
    "MeetlatWorkerDown",
    "MeetlatWorkerRestarting",
    "MeetlatDeadLettering",
    "MeetlatNoEventsProcessed",
    "MeetlatSlowProcessing",
    "MeetlatDatabaseRetrying",
    "MeetlatApiDown",
    "MeetlatIntakeUnavailable",
}
# Metrics Prometheus adds itself (not defined in services/runtime/metrics.py).
PROMETHEUS_METRICS = {"up"}
DEADLINE_S = 60.0


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing_peer(f"prometheus not installed: no `{name}` on PATH (apt-get install prometheus)")
        raise AssertionError("unreachable")  # missing_peer skips or fails
    return path


def _run(*args: str) -> str:
    proc = subprocess.run(
        args, cwd=REPO, capture_output=True, text=True, timeout=DEADLINE_S, check=False
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"`{' '.join(args)}` exited {proc.returncode}:\n{output}"
    return output


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- metric names -----------------------------------------------------------------------


def exposed_metric_names() -> set[str]:
    """The sample names the meetlat_ metrics of services/runtime/metrics.py are scraped as
    (a counter `x` is exposed as `x_total`, a histogram as `x_bucket`, `x_sum`, `x_count`)."""
    names: set[str] = set()
    for family in REGISTRY.collect():
        if not family.name.startswith("meetlat_"):
            continue
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    return names


_PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "inf", "nan"}


def promql_metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, aggregations, keywords, label
    names, durations and Grafana variables removed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    expr = re.sub(r"\{[^}]*\}", " ", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # range selectors
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\b", " ", expr)
    expr = re.sub(r"\boffset\s+-?\w+", " ", expr)
    expr = re.sub(r"\$\{?\w+\}?", " ", expr)  # Grafana variables
    expr = re.sub(r"\b\d[\w.]*", " ", expr)  # numbers (1e3, 0.99, 5m)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        if expr[match.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation
        if match.group().lower() not in _PROMQL_KEYWORDS:
            names.add(match.group())
    return names


def test_promql_metric_names_finds_only_metrics() -> None:
    expr = (
        "histogram_quantile(0.99, sum by (service, le) (rate(meetlat_processing_seconds_bucket"
        '{service="scoring", le=~"0.5|1"}[$__rate_interval]))) > 0.5 and on () '
        "sum(up offset 5m) unless count without (instance) (meetlat_events_in_total)"
    )
    assert promql_metric_names(expr) == {
        "meetlat_processing_seconds_bucket",
        "up",
        "meetlat_events_in_total",
    }


def test_metrics_module_defines_the_documented_metrics() -> None:
    assert {
        "meetlat_events_in_total",
        "meetlat_events_out_total",
        "meetlat_deadlettered_total",
        "meetlat_processing_seconds_bucket",
        "meetlat_api_request_seconds_count",
    } <= exposed_metric_names()


# --- Prometheus config and alert rules ------------------------------------------------------


def test_promtool_check_config() -> None:
    out = _run(_tool("promtool"), "check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert "SUCCESS" in out


def test_promtool_check_rules() -> None:
    out = _run(_tool("promtool"), "check", "rules", str(PROMETHEUS_DIR / "alerts.yml"))
    assert "SUCCESS" in out


def test_promtool_test_rules() -> None:
    out = _run(_tool("promtool"), "test", "rules", str(PROMETHEUS_DIR / "alerts_test.yml"))
    assert "SUCCESS" in out


def _alert_names() -> set[str]:
    rules = (PROMETHEUS_DIR / "alerts.yml").read_text()
    return set(re.findall(r"^\s*- alert:\s*(\w+)", rules, re.M))


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    alerts = _alert_names()
    assert alerts >= EXPECTED_ALERTS
    tests = (PROMETHEUS_DIR / "alerts_test.yml").read_text()
    firing = set(re.findall(r"alertname:\s*(\w+)\s*\n\s*exp_alerts:\s*\n\s*- exp_labels:", tests))
    assert firing == alerts, f"alerts never asserted to fire: {sorted(alerts - firing)}"
    healthy = tests.split("- name: ")[1]
    assert healthy.startswith("healthy pipeline fires nothing")
    quiet = set(re.findall(r"alertname:\s*(\w+),\s*exp_alerts:\s*\[\]", healthy))
    assert quiet == alerts, f"not checked on healthy data: {sorted(alerts - quiet)}"


def test_alert_rules_use_only_defined_metrics() -> None:
    known = exposed_metric_names() | PROMETHEUS_METRICS
    for name in ("alerts.yml", "alerts_test.yml"):
        used = set(re.findall(r"\bmeetlat_\w+", (PROMETHEUS_DIR / name).read_text()))
        assert used, name
        assert used <= known, f"{name} uses undefined metrics {sorted(used - known)}"


def test_metrics_port_is_the_same_everywhere() -> None:
    port = Settings.model_fields["metrics_port"].default
    scrape_config = (PROMETHEUS_DIR / "prometheus.yml").read_text()
    assert re.search(rf"^\s*port:\s*{port}\s*$", scrape_config, re.M)
    assert re.search(rf"^EXPOSE\s+{port}\s*$", (DEPLOY / "Dockerfile").read_text(), re.M)
    assert f'MEETLAT_METRICS_PORT: "{port}"' in COMPOSE.read_text()


# --- compose ----------------------------------------------------------------------------


def _compose_service_blocks(text: str) -> dict[str, str]:
    """The text of each service under the top-level `services:` key (no YAML library
    needed: the file's services are two-space-indented keys)."""
    services = re.search(r"^services:\s*\n(.*?)(?=^\S)", text + "\nend:\n", re.M | re.S)
    assert services, "compose.yaml has no top-level services:"
    parts = re.split(r"^  ([A-Za-z0-9._-]+):[ \t]*\n", services.group(1), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_compose_runs_one_worker_per_service_group() -> None:
    blocks = _compose_service_blocks(COMPOSE.read_text())
    assert {"kafka", "postgres", "prometheus", "grafana"} <= set(blocks)
    app_ids: dict[str, str] = {}
    for service in SERVICES:
        assert service in blocks, f"no compose service for {service}"
        command = re.search(r"^\s+command:\s*(\[.*\])\s*$", blocks[service], re.M)
        assert command, f"{service}: no command"
        assert json.loads(command.group(1)) == ["meetlat", "worker", "--service", service]
        app_id = re.search(r"^\s+MEETLAT_APP_ID:\s*(\S+)\s*$", blocks[service], re.M)
        assert app_id, f"{service}: no MEETLAT_APP_ID"
        app_ids[service] = app_id.group(1).strip("\"'")
    assert len(set(app_ids.values())) == len(app_ids), f"shared consumer groups: {app_ids}"


def test_compose_runs_the_api_and_prometheus_scrapes_it() -> None:
    port = Settings.model_fields["api_port"].default
    api = _compose_service_blocks(COMPOSE.read_text())["api"]
    command = re.search(r"^\s+command:\s*(\[.*\])\s*$", api, re.M)
    assert command and json.loads(command.group(1)) == [
        "meetlat",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        str(port),
    ]
    assert f'"127.0.0.1:{port}:{port}"' in api, "the API's host port, on loopback only"
    assert f"urlopen('http://127.0.0.1:{port}/metrics/'" in api, "its health check"
    scrape_config = (PROMETHEUS_DIR / "prometheus.yml").read_text()
    job = re.search(r"- job_name: meetlat-api\n(.*?)(?=\n\n|\Z)", scrape_config, re.S)
    assert job, "no scrape job for the API"
    assert "metrics_path: /metrics/" in job.group(1)
    assert f'targets: ["api:{port}"]' in job.group(1)
    assert re.search(rf"^EXPOSE\s+{port}\s*$", (DEPLOY / "Dockerfile").read_text(), re.M)


def test_compose_parses_as_yaml() -> None:
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert services["kafka"]["image"] == "apache/kafka:3.9.1"
    assert services["postgres"]["image"] == "postgres:16"
    for name in ("kafka", "postgres"):
        assert services[name]["healthcheck"]["test"], name
    volumes = set(compose.get("volumes") or {})
    for name, service in services.items():
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            assert source.startswith(".") or source in volumes, f"{name}: volume {source}"
        for dependency, spec in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"
    app_ids = set()
    for service in SERVICES:
        worker = services[service]
        assert worker["command"] == ["meetlat", "worker", "--service", service]
        assert worker["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
        env = worker["environment"]
        assert env["MEETLAT_BROKER_URL"] == "kafka://kafka:9092"
        assert env["MEETLAT_DATABASE_URL"] == (
            "postgresql+psycopg://meetlat:meetlat@postgres:5432/meetlat"
        )
        assert env["MEETLAT_PARTITIONS"] == "12"
        assert env["MEETLAT_METRICS_PORT"] == "9464"
        app_ids.add(env["MEETLAT_APP_ID"])
        for dependency in ("kafka", "postgres"):
            assert worker["depends_on"][dependency]["condition"] == "service_healthy"
        assert "ports" not in worker and "container_name" not in worker, "must stay scalable"
    assert len(app_ids) == len(SERVICES)


# --- Grafana ----------------------------------------------------------------------------


def _panels(container: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in container.get("panels", []):
        yield panel
        yield from _panels(panel)  # panels inside collapsed rows


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        target["expr"]
        for panel in _panels(dashboard)
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def test_dashboard_uses_only_defined_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = _dashboard_exprs()
    assert exprs
    known = exposed_metric_names() | PROMETHEUS_METRICS
    used: set[str] = set()
    for expr in exprs:
        names = promql_metric_names(expr)
        assert names, f"no metric in {expr!r}"
        assert names <= known, f"{expr!r} uses undefined metrics {sorted(names - known)}"
        used |= names
    assert {
        "meetlat_events_in_total",
        "meetlat_events_out_total",
        "meetlat_deadlettered_total",
        "meetlat_processing_seconds_bucket",
        "meetlat_database_retries_total",
        "up",
    } <= used
    uid = re.search(r"^\s+uid:\s*(\S+)\s*$", DATASOURCE.read_text(), re.M)
    assert uid
    for panel in _panels(dashboard):
        if "targets" in panel:
            assert panel["datasource"]["uid"] == uid.group(1), panel["title"]


# --- a real scrape ----------------------------------------------------------------------


class Prometheus:
    def __init__(self, base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.base_url = base_url
        self.process = process
        self.log = log

    def get(self, path: str, **params: str) -> dict[str, Any]:
        url = f"{self.base_url}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=5) as response:
            body: dict[str, Any] = json.load(response)
            return body

    def query(self, promql: str) -> list[dict[str, Any]]:
        body = self.get("/api/v1/query", query=promql)
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture(scope="module")
def worker_metrics() -> Iterator[int]:
    """The scoring service's metrics, served on a free loopback port as a worker does."""
    scoring = ServiceMetrics("scoring")
    scoring.consumed("call.placed", 3)
    scoring.produced("score.revision", 2)
    scoring.deadlettered("contradicts_contact")
    with scoring.timed():
        pass
    port = _free_port()
    server, thread = start_http_server(port, addr="127.0.0.1")
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def prometheus(
    worker_metrics: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    """The real Prometheus, scraping `worker_metrics` every second."""
    binary = _tool("prometheus")
    tmp = tmp_path_factory.mktemp("prometheus")
    config = tmp / "prometheus.yml"
    config.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: meetlat\n"
        "    static_configs:\n"
        f"      - targets: ['127.0.0.1:{worker_metrics}']\n"
    )
    web_port = _free_port()
    log = tmp / "prometheus.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{web_port}",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = Prometheus(f"http://127.0.0.1:{web_port}", process, log)
    try:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            assert process.poll() is None, f"prometheus exited:\n{server.log_text()}"
            try:
                with urllib.request.urlopen(f"{server.base_url}/-/ready", timeout=2) as ready:
                    if ready.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert time.monotonic() < deadline, f"prometheus not ready:\n{server.log_text()}"
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def test_prometheus_scrapes_worker_metrics(prometheus: Prometheus) -> None:
    labels = {"service": "scoring", "type": "call.placed"}
    expected = REGISTRY.get_sample_value("meetlat_events_in_total", labels)
    assert expected is not None and expected >= 3
    deadline = time.monotonic() + DEADLINE_S
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        found = [
            series
            for series in prometheus.query("meetlat_events_in_total")
            if series["metric"].get("service") == "scoring"
            and series["metric"].get("type") == "call.placed"
        ]
        if found:
            break
        time.sleep(0.5)
    assert found, f"no scoring series scraped within {DEADLINE_S:.0f}s:\n{prometheus.log_text()}"
    assert found[0]["metric"]["job"] == "meetlat"
    assert float(found[0]["value"][1]) == expected
    (up,) = prometheus.query('up{job="meetlat"}')
    assert up["value"][1] == "1"
    (count,) = prometheus.query('meetlat_processing_seconds_count{service="scoring"}')
    assert float(count["value"][1]) >= 1
    assert prometheus.query('meetlat_deadlettered_total{reason="contradicts_contact"}')


def test_dashboard_queries_are_valid_promql(prometheus: Prometheus) -> None:
    """Every dashboard query runs on the real Prometheus (Grafana's range variables filled in)."""
    for expr in _dashboard_exprs():
        promql = expr.replace("$__rate_interval", "1m").replace("$__range", "5m")
        try:
            prometheus.query(promql)
        except urllib.error.HTTPError as exc:  # 400: the query does not parse
            pytest.fail(f"{expr!r}: {exc.read().decode(errors='replace')}")


# --- image ------------------------------------------------------------------------------

# Debian packages the product itself needs (not only its tests): PDF reports and the mail
# spelling check. scripts/test installs them for the tests; the image must carry them too.
RUNTIME_PACKAGES = (
    "libpango-1.0-0",
    "libpangoft2-1.0-0",
    "libharfbuzz-subset0",
    "fonts-dejavu-core",
    "hunspell-nl",
)


def test_the_image_installs_the_runtime_packages_the_tests_use() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    final_stage = dockerfile.rsplit("\nFROM ", 1)[1]
    test_script = (REPO / "scripts" / "test").read_text()
    for package in RUNTIME_PACKAGES:
        assert re.search(rf"\b{re.escape(package)}\b", test_script), package
        assert re.search(rf"\s{re.escape(package)}\s", final_stage), package


def _wheel(source: Path, out: Path) -> Path:
    """Build Meetlat's wheel from `source` as the image's build stage does (`pip wheel`)."""
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    built = subprocess.run(
        [*pip, "--wheel-dir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = out.glob("*.whl")
    return wheel


def test_a_wheel_with_the_compiled_scoring_domain_is_tagged_for_its_interpreter(
    tmp_path: Path,
) -> None:
    """The compiled scoring modules are CPython extensions: a wheel that holds them installs
    only where they run (it was py3-none-any until 2026-12-07); without them the wheel is pure."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(REPO / name, source / name)
    skip = shutil.ignore_patterns("__pycache__", "*.so", "native.json")
    for package in ("schemas", "services"):
        shutil.copytree(REPO / package, source / package, ignore=skip)

    pure = _wheel(source, tmp_path / "pure")
    assert pure.name.endswith("-py3-none-any.whl")

    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]  # e.g. .cpython-311-x86_64-linux-gnu.so
    (source / "services" / "scoring" / f"rules{suffix}").write_bytes(b"\x7fELF")
    compiled = _wheel(source, tmp_path / "compiled")
    version = f"cp{sys.version_info.major}{sys.version_info.minor}"
    assert compiled.name.startswith(f"meetlat-0.1.0-{version}-{version}-")
    assert not compiled.name.endswith("-any.whl")
    with zipfile.ZipFile(compiled) as archive:
        assert f"services/scoring/rules{suffix}" in archive.namelist()
