"""Mapping for OpenAI embeddings (``embeddings.create``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from driftline.instrumentation._core.invocation import LLMInvocation
from driftline.instrumentation._core.reading import raw_response_body
from driftline.semconv import names

from ._common import field, server_of


def base64_float32_count(text: str) -> int:
    """How many float32 values a base64 embedding holds, from its length alone (no decoding:
    vectors run to kilobytes and only their size is wanted)."""
    padding = 2 if text.endswith("==") else 1 if text.endswith("=") else 0
    return (len(text) * 3 // 4 - padding) // 4


class EmbeddingsMapping:
    """Embeddings request/response translation (never streamed)."""

    name = "openai.embeddings"

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any],
                capture: bool) -> LLMInvocation | None:
        """Build the invocation from ``embeddings.create(**kwargs)``."""
        host, port = server_of(instance)
        model = kwargs.get("model")
        attrs: dict[str, Any] = {}
        fmt = kwargs.get("encoding_format")
        if isinstance(fmt, str):
            attrs[names.GEN_AI_REQUEST_ENCODING_FORMATS] = (fmt,)
        dims = kwargs.get("dimensions")
        if isinstance(dims, int) and not isinstance(dims, bool):
            attrs[names.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dims
        return LLMInvocation(operation=names.OPERATION_EMBEDDINGS, provider=names.PROVIDER_OPENAI,
                             request_model=model if isinstance(model, str) else None,
                             server_address=host, server_port=port, request_attributes=attrs)

    def response(self, inv: LLMInvocation, result: Any, capture: bool) -> None:
        """Fill model, usage and dimension count from a ``CreateEmbeddingResponse``."""
        result = raw_response_body(result, False)
        inv.response_model = field(result, "model")
        tokens = field(field(result, "usage"), "prompt_tokens")
        if isinstance(tokens, int):
            inv.input_tokens = tokens
        data = field(result, "data")
        if data:
            vector = field(data[0], "embedding")
            if isinstance(vector, (list, tuple)):
                inv.response_attributes[names.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = len(vector)
            elif isinstance(vector, str):
                # encoding_format="base64" asked by the caller: the SDK hands the text over undecoded.
                inv.response_attributes[names.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = base64_float32_count(vector)

    def is_stream(self, result: Any) -> bool:
        """Embeddings never stream."""
        return False

    def accumulator(self, inv: LLMInvocation, capture: bool) -> Any:  # pragma: no cover - never streamed
        """Not used."""
        raise NotImplementedError
