"""Durations in the Collector's Go form, and bare integers read as nanoseconds (with a warning)."""

from __future__ import annotations

import pytest
import yaml

from driftline.processors.config import ComponentId, OTLPExporterConfig, parse_config, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("200ms", 0.2), ("5s", 5.0), ("1m30s", 90.0), ("1h", 3600.0), ("1.5h", 5400.0), ("0", 0.0), ("0s", 0.0),
    ("300us", 0.0003), ("2\u00b5s", 0.000002), ("2\u03bcs", 0.000002), ("1ns", 1e-9), (".5s", 0.5),
    ("1h2m3s4ms", 3723.004), ("-1.5s", -1.5), ("+2m", 120.0),
])
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds, abs=1e-12)


@pytest.mark.parametrize("text", ["200 ms", "5", "s", "", "1d", "1.2.3s", "5S", "-", "1m 30s", "ms5", "1e3s"])
def test_not_durations(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_longer_than_go_can_hold() -> None:
    with pytest.raises(ValueError, match="longest duration"):
        parse_duration("3000000h")


def timeout_of(value: object) -> tuple[float, tuple[str, ...]]:
    text = yaml.safe_dump({
        "receivers": {"otlp": {"protocols": {"grpc": {}}}},
        "exporters": {"otlp": {"endpoint": "a:4317", "timeout": value}},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["otlp"]}}},
    })
    config = parse_config(text, environ={})
    exporter = config.exporters[ComponentId("otlp")]
    assert isinstance(exporter, OTLPExporterConfig)
    return exporter.timeout, config.warnings


def test_a_bare_integer_is_nanoseconds_as_in_the_collector_with_a_warning() -> None:
    assert timeout_of(5) == (5e-9, (
        "exporters.otlp.timeout: 5 has no unit, so it is read as 5 nanoseconds (as the Collector does); "
        "write 5s for seconds or 5ms for milliseconds",))
    assert timeout_of(0) == (0.0, ())
    assert timeout_of("10s") == (10.0, ())
