"""The GenAI client metrics, with the conventions' explicit bucket boundaries."""

from __future__ import annotations

from opentelemetry.metrics import Counter, Histogram, Meter

from driftline.semconv import names


class GenAIMetrics:
    """Instruments shared by every GenAI instrumentor created from one meter."""

    __slots__ = ("duration", "errors", "time_to_first_chunk", "token_usage")

    def __init__(self, meter: Meter) -> None:
        self.duration: Histogram = meter.create_histogram(
            names.GEN_AI_CLIENT_OPERATION_DURATION,
            unit=names.GEN_AI_CLIENT_OPERATION_DURATION_UNIT,
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(names.GEN_AI_CLIENT_OPERATION_DURATION_BUCKETS),
        )
        self.token_usage: Histogram = meter.create_histogram(
            names.GEN_AI_CLIENT_TOKEN_USAGE,
            unit=names.GEN_AI_CLIENT_TOKEN_USAGE_UNIT,
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(names.GEN_AI_CLIENT_TOKEN_USAGE_BUCKETS),
        )
        self.time_to_first_chunk: Histogram = meter.create_histogram(
            names.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
            unit=names.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK_UNIT,
            description="Time to receive the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=list(names.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK_BUCKETS),
        )
        self.errors: Counter = meter.create_counter(
            names.DRIFTLINE_INSTRUMENTATION_ERRORS,
            unit=names.DRIFTLINE_INSTRUMENTATION_ERRORS_UNIT,
            description="Faults inside driftline's recording code (swallowed).",
        )
