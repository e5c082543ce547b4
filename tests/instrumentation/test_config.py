"""Settings from the environment (``driftline.instrumentation._core.config``): every variable, its
default, loose spellings, and bad values (a warning that names the variable, once, and a safe default)."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from driftline.instrumentation._core import config
from driftline.instrumentation._core.config import (
    DEFAULT_CONTENT_MAX_LENGTH,
    CaptureMode,
    Settings,
    load_settings,
    parse_bool,
    parse_capture_mode,
    parse_max_length,
    parse_static_attributes,
)
from driftline.semconv import names


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget which bad values were already reported (the memory is process-wide)."""
    monkeypatch.setattr(config, "_warned", set())


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# -- OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT ----------------------------------------------------


@pytest.mark.parametrize(("raw", "mode"), [
    (None, CaptureMode.NO_CONTENT),
    ("", CaptureMode.NO_CONTENT),
    ("   ", CaptureMode.NO_CONTENT),
    ("NO_CONTENT", CaptureMode.NO_CONTENT),
    ("SPAN_ONLY", CaptureMode.SPAN_ONLY),
    ("EVENT_ONLY", CaptureMode.EVENT_ONLY),
    ("SPAN_AND_EVENT", CaptureMode.SPAN_AND_EVENT),
    ("span_and_event", CaptureMode.SPAN_AND_EVENT),
    (" Event_Only\n", CaptureMode.EVENT_ONLY),
    # older boolean spellings
    ("true", CaptureMode.SPAN_ONLY),
    ("TRUE", CaptureMode.SPAN_ONLY),
    ("1", CaptureMode.SPAN_ONLY),
    ("false", CaptureMode.NO_CONTENT),
    ("False", CaptureMode.NO_CONTENT),
    ("0", CaptureMode.NO_CONTENT),
])
def test_capture_mode(raw: str | None, mode: CaptureMode, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert parse_capture_mode(raw) is mode
    assert warnings_of(caplog) == []


@pytest.mark.parametrize("raw", ["everything", "SPAN", "span-only", "2"])
def test_capture_mode_unknown_value(raw: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert parse_capture_mode(raw) is CaptureMode.NO_CONTENT
        assert parse_capture_mode(raw) is CaptureMode.NO_CONTENT  # reported once, not on every read

    (warning,) = warnings_of(caplog)
    assert names.ENV_CAPTURE_MESSAGE_CONTENT in warning
    assert repr(raw) in warning
    assert "SPAN_AND_EVENT" in warning  # says what would have been valid


@pytest.mark.parametrize(("mode", "on_span", "on_event", "enabled"), [
    (CaptureMode.NO_CONTENT, False, False, False),
    (CaptureMode.SPAN_ONLY, True, False, True),
    (CaptureMode.EVENT_ONLY, False, True, True),
    (CaptureMode.SPAN_AND_EVENT, True, True, True),
])
def test_capture_mode_destinations(mode: CaptureMode, on_span: bool, on_event: bool, enabled: bool) -> None:
    assert (mode.on_span, mode.on_event, mode.enabled) == (on_span, on_event, enabled)


# -- DRIFTLINE_CONTENT_REDACT (booleans) ------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    ("true", True), ("TRUE", True), ("1", True), ("yes", True), ("on", True), (" True ", True),
    ("false", False), ("FALSE", False), ("0", False), ("no", False), ("off", False),
])
def test_bool(raw: str, expected: bool) -> None:
    assert parse_bool(raw, not expected, names.ENV_CONTENT_REDACT) is expected


@pytest.mark.parametrize("default", [True, False])
def test_bool_unset_is_the_default(default: bool) -> None:
    assert parse_bool(None, default, names.ENV_CONTENT_REDACT) is default
    assert parse_bool("  ", default, names.ENV_CONTENT_REDACT) is default


def test_bool_bad_value(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert parse_bool("sometimes", True, names.ENV_CONTENT_REDACT) is True
        assert parse_bool("sometimes", True, names.ENV_CONTENT_REDACT) is True

    (warning,) = warnings_of(caplog)
    assert names.ENV_CONTENT_REDACT in warning
    assert "'sometimes'" in warning


# -- DRIFTLINE_CONTENT_MAX_LENGTH --------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    (None, DEFAULT_CONTENT_MAX_LENGTH),
    ("", DEFAULT_CONTENT_MAX_LENGTH),
    ("20", 20),
    (" 20 ", 20),
    ("0", 0),  # unlimited
    ("1000000", 1_000_000),
])
def test_max_length(raw: str | None, expected: int, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert parse_max_length(raw) == expected
    assert warnings_of(caplog) == []


@pytest.mark.parametrize("raw", ["-1", "abc", "1.5", "20k", "1e3"])
def test_max_length_bad_value(raw: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert parse_max_length(raw) == DEFAULT_CONTENT_MAX_LENGTH

    (warning,) = warnings_of(caplog)
    assert names.ENV_CONTENT_MAX_LENGTH in warning
    assert repr(raw) in warning
    assert str(DEFAULT_CONTENT_MAX_LENGTH) in warning


# -- DRIFTLINE_SPAN_ATTRIBUTES -------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    (None, {}),
    ("", {}),
    ("team=search", {"team": "search"}),
    ("team=search,tier=gold", {"team": "search", "tier": "gold"}),
    (" team = search , tier=gold ", {"team": "search", "tier": "gold"}),
    ("team=search,,tier=gold,", {"team": "search", "tier": "gold"}),  # blank items are ignored
    ("note=a%2Cb%3Dc%20d", {"note": "a,b=c d"}),  # percent-encoded, as OTEL_RESOURCE_ATTRIBUTES
    ("expr=a=b", {"expr": "a=b"}),  # only the first '=' separates
    ("empty=", {"empty": ""}),
    ("team=a,team=b", {"team": "b"}),  # the last one wins
    ("count=3", {"count": "3"}),  # values stay strings
])
def test_static_attributes(raw: str | None, expected: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert parse_static_attributes(raw) == expected
    assert warnings_of(caplog) == []


def test_static_attributes_malformed_items(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        parsed = parse_static_attributes("team=search,justakey,=orphan,tier=gold")
        parse_static_attributes("justakey")  # the same bad item again: no second warning

    assert parsed == {"team": "search", "tier": "gold"}
    warnings = warnings_of(caplog)
    assert len(warnings) == 2
    assert all(names.ENV_SPAN_ATTRIBUTES in w for w in warnings)
    assert "'justakey'" in warnings[0]
    assert "'=orphan'" in warnings[1]


# -- load_settings -------------------------------------------------------------------------------------


def test_defaults() -> None:
    assert load_settings({}) == Settings(capture=CaptureMode.NO_CONTENT, max_length=DEFAULT_CONTENT_MAX_LENGTH,
                                         redact=True, static_attributes={})


def test_every_variable() -> None:
    settings = load_settings({
        names.ENV_CAPTURE_MESSAGE_CONTENT: "SPAN_AND_EVENT",
        names.ENV_CONTENT_MAX_LENGTH: "20",
        names.ENV_CONTENT_REDACT: "false",
        names.ENV_SPAN_ATTRIBUTES: "team=search",
        "UNRELATED": "ignored",
    })

    assert settings == Settings(capture=CaptureMode.SPAN_AND_EVENT, max_length=20, redact=False,
                                static_attributes={"team": "search"})


def test_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(names.ENV_CAPTURE_MESSAGE_CONTENT, "EVENT_ONLY")
    monkeypatch.setenv(names.ENV_CONTENT_MAX_LENGTH, "0")
    monkeypatch.delenv(names.ENV_CONTENT_REDACT, raising=False)
    monkeypatch.delenv(names.ENV_SPAN_ATTRIBUTES, raising=False)

    assert load_settings() == Settings(capture=CaptureMode.EVENT_ONLY, max_length=0, redact=True)


def test_bad_values_fall_back_one_by_one(caplog: pytest.LogCaptureFixture) -> None:
    """One bad variable does not discard the good ones."""
    with caplog.at_level(logging.WARNING):
        settings = load_settings({
            names.ENV_CAPTURE_MESSAGE_CONTENT: "SPAN_ONLY",
            names.ENV_CONTENT_MAX_LENGTH: "lots",
            names.ENV_CONTENT_REDACT: "perhaps",
            names.ENV_SPAN_ATTRIBUTES: "team=search,broken",
        })

    assert settings == Settings(capture=CaptureMode.SPAN_ONLY, max_length=DEFAULT_CONTENT_MAX_LENGTH,
                                redact=True, static_attributes={"team": "search"})
    assert len(warnings_of(caplog)) == 3


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        load_settings({}).max_length = 5  # type: ignore[misc]
