"""Processor settings: ``memory_limiter``, ``batch`` (Collector keys) and ``driftline`` (free-form for now)."""

from __future__ import annotations

from driftline.processors.config._reader import Section, typed
from driftline.processors.config.model import BatchConfig, DriftlineProcessorConfig, MemoryLimiterConfig
from driftline.processors.config.registry import ComponentType

_PERCENTAGE = "is not supported by driftline; set limit_mib and spike_limit_mib in MiB instead"


def read_memory_limiter(section: Section) -> MemoryLimiterConfig:
    """``memory_limiter``: ``limit_mib`` is required; ``spike_limit_mib`` defaults to 20 % of it."""
    check_interval = section.duration("check_interval", 1.0, positive=True)
    limit_mib = section.integer("limit_mib", 0, minimum=1)
    if not section.has("limit_mib"):
        section.missing("limit_mib", "set the hard memory limit in MiB, e.g. limit_mib: 512")
    spike_limit_mib = section.integer("spike_limit_mib", limit_mib // 5, minimum=0)
    section.finish(hints={"limit_percentage": _PERCENTAGE, "spike_limit_percentage": _PERCENTAGE},
                   unsupported=("min_gc_interval_when_soft_limited", "min_gc_interval_when_hard_limited"))
    if limit_mib and spike_limit_mib >= limit_mib:
        section.report.problem(section.key_path("spike_limit_mib"),
                               f"must be less than limit_mib ({limit_mib}); about 20 % of it is a good start")
    return MemoryLimiterConfig(limit_mib=limit_mib, spike_limit_mib=spike_limit_mib, check_interval=check_interval)


def read_batch(section: Section) -> BatchConfig:
    """``batch``: the Collector's keys are read and checked so configs carry over; it has no effect yet."""
    default = BatchConfig()
    settings = BatchConfig(
        timeout=section.duration("timeout", default.timeout),
        send_batch_size=section.integer("send_batch_size", default.send_batch_size, minimum=0),
        send_batch_max_size=section.integer("send_batch_max_size", default.send_batch_max_size, minimum=0),
    )
    section.finish(("metadata_keys", "metadata_cardinality_limit"))
    if 0 < settings.send_batch_max_size < settings.send_batch_size:
        section.report.problem(section.key_path("send_batch_max_size"),
                               "must be 0 (no limit) or at least send_batch_size")
    section.report.warn(section.path, "is accepted for Collector compatibility but has no effect in this version")
    return settings


def read_driftline(section: Section) -> DriftlineProcessorConfig:
    """``driftline``: any keys, kept as given for the analysis stage to read."""
    return DriftlineProcessorConfig(options={key: _plain(section.raw(key)) for key in section.names()})


def _plain(value: object) -> object:
    """Nested data with whole-value ``${env:...}`` references typed as YAML would type them."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return typed(value)


TYPES: dict[str, ComponentType[MemoryLimiterConfig | BatchConfig | DriftlineProcessorConfig]] = {
    "batch": ComponentType(read_batch),
    "driftline": ComponentType(read_driftline, signals=("traces",)),
    "memory_limiter": ComponentType(read_memory_limiter),
}
"""Processor types by name."""
