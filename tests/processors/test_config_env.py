"""``${env:VAR}`` expansion in processor configurations, done on string values before typing."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from driftline.processors.config import (
    BearerTokenAuth,
    ComponentId,
    ConfigError,
    DriftlineProcessorConfig,
    OTLPExporterConfig,
    OTLPHTTPExporterConfig,
    parse_config,
)


def config_with(exporter: dict[str, Any], receiver_grpc: dict[str, Any] | None = None) -> str:
    """A valid configuration around one ``otlp`` exporter and an ``otlp`` gRPC receiver."""
    return yaml.safe_dump({
        "receivers": {"otlp": {"protocols": {"grpc": receiver_grpc or {}}}},
        "exporters": {"otlp": exporter},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["otlp"]}}},
    }, sort_keys=False)


def exporter(exporter: dict[str, Any], environ: dict[str, str]) -> OTLPExporterConfig:
    config = parse_config(config_with(exporter), environ=environ)
    result = config.exporters[ComponentId("otlp")]
    assert isinstance(result, OTLPExporterConfig)
    return result


def problems(exporter: dict[str, Any], environ: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(config_with(exporter), environ=environ)
    return caught.value.problems


def test_both_spellings_and_text_around_a_reference() -> None:
    result = exporter({"endpoint": "${env:HOST}:${PORT}", "headers": {"authorization": "Bearer ${env:TOKEN}"}},
                      {"HOST": "tempo", "PORT": "4317", "TOKEN": "abc"})
    assert str(result.endpoint) == "tempo:4317"
    assert result.headers == {"authorization": "Bearer abc"}


def test_defaults_apply_only_when_the_variable_is_unset() -> None:
    spec = {"endpoint": "${env:HOST:-jaeger:4317}", "headers": {"x-tenant": "${env:TENANT:-acme}"}}
    assert str(exporter(spec, {}).endpoint) == "jaeger:4317"
    assert exporter(spec, {"HOST": "tempo:4317"}).endpoint.host == "tempo"
    assert exporter(spec, {"TENANT": ""}).headers == {"x-tenant": ""}  # set but empty stays empty, as in the Collector
    assert exporter({"endpoint": "${HOST:-a:1}"}, {}).endpoint.host == "a"


def test_a_missing_variable_is_an_error_naming_it_and_reported_once() -> None:
    assert problems({"endpoint": "${env:OTLP_HOST}:4317", "headers": {"x-key": "${env:KEY_A}-${env:KEY_B}"}}, {}) == [
        "exporters.otlp.endpoint: environment variable OTLP_HOST is not set; set it, or give a default: "
        "${env:OTLP_HOST:-value}",
        "exporters.otlp.headers.x-key: environment variable KEY_A is not set; set it, or give a default: "
        "${env:KEY_A:-value}",
        "exporters.otlp.headers.x-key: environment variable KEY_B is not set; set it, or give a default: "
        "${env:KEY_B:-value}",
    ]


def test_whole_value_references_are_typed_like_yaml_but_text_settings_keep_the_text() -> None:
    spec = {"endpoint": "a:4317", "timeout": "${env:TIMEOUT}",
            "sending_queue": {"queue_size": "${env:QUEUE}", "enabled": "${env:QUEUE_ON}"},
            "retry_on_failure": {"multiplier": "${env:FACTOR}"}}
    result = exporter(spec, {"TIMEOUT": "750ms", "QUEUE": "0500", "QUEUE_ON": "true", "FACTOR": "2"})
    assert result.timeout == 0.75
    assert result.sending_queue.queue_size == 500
    assert result.sending_queue.enabled is True
    assert result.retry_on_failure.multiplier == 2.0
    config = parse_config(config_with({"endpoint": "a:4317"}, {"auth": {"bearer_token": "${env:TOKEN}"}}),
                          environ={"TOKEN": "0123"})
    grpc = config.receivers[ComponentId("otlp")].grpc
    assert grpc is not None
    assert grpc.auth == BearerTokenAuth("0123")


def test_an_expanded_value_is_still_checked() -> None:
    assert problems({"endpoint": "a:4317", "sending_queue": {"queue_size": "${env:QUEUE}"}}, {"QUEUE": "lots"}) == [
        'exporters.otlp.sending_queue.queue_size: "lots" is not a whole number; use e.g. 1000']


def test_dollar_dollar_is_a_literal_dollar_and_a_lone_dollar_stays() -> None:
    result = exporter({"endpoint": "a:4317", "headers": {"x-price": "$$5 and $5", "x-ref": "$${env:NOT_EXPANDED}"}},
                      {})
    assert result.headers == {"x-price": "$5 and $5", "x-ref": "${env:NOT_EXPANDED}"}


def test_malformed_references() -> None:
    assert problems({"endpoint": "a:4317", "headers": {
        "x-a": "${file:/etc/token}", "x-b": "${env:1BAD}", "x-c": "${env:OPEN", "x-d": "${env:A:-${env:B}}"}}, {}) == [
        "exporters.otlp.headers.x-a: ${file:/etc/token} uses the file: provider, which driftline does not have; "
        "only environment variables are supported: ${env:NAME}",
        'exporters.otlp.headers.x-b: ${env:1BAD}: "1BAD" is not an environment variable name '
        "(letters, digits and _, not starting with a digit)",
        'exporters.otlp.headers.x-c: "${env:OPEN" has a ${ without a closing }; write ${env:NAME}, '
        "or $$ for a literal $",
        "exporters.otlp.headers.x-d: ${env:A:-${env:B}: a default value cannot contain $ (no nested references)",
    ]


def test_keys_are_not_expanded() -> None:
    text = yaml.safe_dump({
        "receivers": {"otlp": {"protocols": {"grpc": {}}}},
        "processors": {"driftline": {"${env:NAME}": "${env:NAME}"}},
        "exporters": {"debug": {}},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "processors": ["driftline"],
                                             "exporters": ["debug"]}}},
    })
    config = parse_config(text, environ={"NAME": "model"})
    assert config.processors[ComponentId("driftline")] == DriftlineProcessorConfig(options={"${env:NAME}": "model"})


def test_environment_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLINE_TEST_VENDOR_URL", "https://vendor.example")
    text = yaml.safe_dump({
        "receivers": {"otlp": {"protocols": {"http": None}}},
        "exporters": {"otlphttp": {"endpoint": "${env:DRIFTLINE_TEST_VENDOR_URL}"}},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["otlphttp"]}}},
    })
    result = parse_config(text).exporters[ComponentId("otlphttp")]
    assert isinstance(result, OTLPHTTPExporterConfig)
    assert result.url_for("traces") == "https://vendor.example/v1/traces"
