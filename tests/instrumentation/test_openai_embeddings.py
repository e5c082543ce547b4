"""Embeddings (``embeddings.create``, sync and async) against the fake provider."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from driftline.semconv import names
from tests.conftest import Telemetry
from tests.fakes.llm_server import DEFAULT_EMBEDDING_DIMENSIONS, FakeLLMServer
from tests.instrumentation.openai_support import EMBEDDING_MODEL, Caller, only_llm_span, point_attrs
from tests.instrumentation.sdk_support import attrs, response_model, sdk_fixture, words

sdk = sdk_fixture(Caller)


async def embed(sdk: Caller, texts: str | list[str], **kwargs: Any) -> Any:
    return await sdk("embeddings.create", model=EMBEDDING_MODEL, input=texts, **kwargs)


async def test_embeddings_span(sdk: Caller, telemetry: Callable[..., Telemetry], fake_llm: FakeLLMServer) -> None:
    tel = telemetry()
    texts = ["the quick brown fox", "jumps over"]

    result = await embed(sdk, texts)

    assert len(result.data) == 2
    assert len(result.data[0].embedding) == DEFAULT_EMBEDDING_DIMENSIONS
    span = only_llm_span(tel)
    assert span.name == f"embeddings {EMBEDDING_MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert attrs(span) == {
        names.GEN_AI_OPERATION_NAME: names.OPERATION_EMBEDDINGS,
        names.GEN_AI_PROVIDER_NAME: names.PROVIDER_OPENAI,
        names.GEN_AI_REQUEST_MODEL: EMBEDDING_MODEL,
        names.SERVER_ADDRESS: "127.0.0.1",
        names.SERVER_PORT: fake_llm.port,
        names.GEN_AI_RESPONSE_MODEL: response_model(EMBEDDING_MODEL),
        names.GEN_AI_USAGE_INPUT_TOKENS: words(*texts),
        names.GEN_AI_EMBEDDINGS_DIMENSION_COUNT: DEFAULT_EMBEDDING_DIMENSIONS,
    }
    (point,) = tel.metric_points(names.GEN_AI_CLIENT_TOKEN_USAGE)  # input only: embeddings produce no tokens
    assert point_attrs(point)[names.GEN_AI_TOKEN_TYPE] == names.TOKEN_TYPE_INPUT
    assert point.sum == words(*texts)


@pytest.mark.parametrize("encoding_format", ["float", "base64"])
async def test_encoding_format_and_dimensions(sdk: Caller, telemetry: Callable[..., Telemetry],
                                              encoding_format: str) -> None:
    tel = telemetry()

    result = await embed(sdk, "one vector", encoding_format=encoding_format, dimensions=16)

    assert isinstance(result.data[0].embedding, list if encoding_format == "float" else str)
    span_attrs = attrs(only_llm_span(tel))
    assert span_attrs[names.GEN_AI_REQUEST_ENCODING_FORMATS] == (encoding_format,)
    assert span_attrs[names.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] == 16


async def test_dimension_count_of_base64_vectors(sdk: Caller, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    # No `dimensions` in the request: the count can only come from the answer, here base64 text.
    result = await embed(sdk, "one vector", encoding_format="base64")

    assert isinstance(result.data[0].embedding, str)
    assert attrs(only_llm_span(tel))[names.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] == DEFAULT_EMBEDDING_DIMENSIONS


async def test_embeddings_error(sdk: Caller, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    with pytest.raises(openai.BadRequestError):
        await embed(sdk, "bad [[error:400]]")

    span = only_llm_span(tel)
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)[names.ERROR_TYPE] == "openai.BadRequestError"
    assert tel.metric_points(names.GEN_AI_CLIENT_TOKEN_USAGE) == []
