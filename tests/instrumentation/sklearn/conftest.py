"""The sklearn tests use the ML tests' ``ml_telemetry`` fixture (environment set, ML recorder rebuilt,
spans and metrics captured)."""

from tests.instrumentation.ml.conftest import ml_telemetry

__all__ = ["ml_telemetry"]
