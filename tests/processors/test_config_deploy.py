"""Every example in deploy/processor/ validates; default.yaml is the embedded default."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftline.processors.config import DEFAULT_CONFIG_YAML, default_config, load_config
from driftline.processors.config.exporters import TYPES as EXPORTER_TYPES

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "processor"
EXAMPLES = sorted(DEPLOY.glob("*.yaml"))
EXPECTED_WARNINGS = {
    "tls-mtls-auth.yaml": (
        'receivers.otlp.protocols.grpc.endpoint: "0.0.0.0:4317" listens on every network interface, so anyone who '
        "can reach this machine can connect; use 127.0.0.1 unless that is intended (and then consider tls and auth)",
        'receivers.otlp.protocols.http.endpoint: "0.0.0.0:4318" listens on every network interface, so anyone who '
        "can reach this machine can connect; use 127.0.0.1 unless that is intended (and then consider tls and auth)",
    ),
}


@pytest.fixture
def example_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The variables the examples reference, with certificate paths that exist."""
    environ = {"VENDOR_OTLP_ENDPOINT": "https://otlp.vendor.example", "VENDOR_API_KEY": "test-key",
               "OTLP_BEARER_TOKEN": "test-token"}
    for variable in ("TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CLIENT_CA_FILE"):
        path = tmp_path / f"{variable.lower()}.pem"
        path.write_text("placeholder: loading only checks that the file exists\n")
        environ[variable] = str(path)
    for variable in ("JAEGER_OTLP_ENDPOINT", "DEPLOYMENT_ENVIRONMENT"):  # these have defaults in the files
        monkeypatch.delenv(variable, raising=False)
    return environ


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_validates(path: Path, example_environment: dict[str, str]) -> None:
    config = load_config(path, environ=example_environment)
    assert config.warnings == EXPECTED_WARNINGS.get(path.name, ())


def test_there_is_an_example_for_every_exporter(example_environment: dict[str, str]) -> None:
    used = {component.type for path in EXAMPLES
            for component in load_config(path, environ=example_environment).exporters}
    assert used == set(EXPORTER_TYPES)


def test_default_yaml_is_the_embedded_default() -> None:
    assert load_config(DEPLOY / "default.yaml", environ={}) == default_config()
    assert (DEPLOY / "default.yaml").read_text() == DEFAULT_CONFIG_YAML, (
        "regenerate it: driftline processor --print-default-config > deploy/processor/default.yaml")
