"""OpenAI instrumentation: chat completions, the Responses API and embeddings, sync and async.

>>> from driftline.instrumentation.openai import OpenAIInstrumentor
>>> OpenAIInstrumentor().instrument()

Also activated by ``DRIFTLINE_AUTO_INSTRUMENT=true`` and by ``opentelemetry-instrument``
(entry point ``driftline_openai``). Tested with openai 3.x (httpx2-based); the patched methods
have the same names in 1.x/2.x.
"""

from __future__ import annotations

from collections.abc import Sequence

from driftline.instrumentation._core.instrumentor import GenAIInstrumentor, Patch

from ._chat import ChatMapping
from ._embeddings import EmbeddingsMapping
from ._responses import ResponsesMapping

__all__ = ["OpenAIInstrumentor"]

_CHAT = "openai.resources.chat.completions.completions"
_RESPONSES = "openai.resources.responses.responses"
_EMBEDDINGS = "openai.resources.embeddings"


class OpenAIInstrumentor(GenAIInstrumentor):
    """Spans (``chat gpt-4o``, CLIENT), metrics and opt-in content for the official ``openai`` SDK."""

    scope_name = "driftline.instrumentation.openai"
    _dependencies = ("openai >= 1.60",)

    def patches(self) -> Sequence[Patch]:
        """Chat (create, parse), Responses (create, parse), embeddings — sync and async."""
        chat, responses, embeddings = ChatMapping(), ResponsesMapping(), EmbeddingsMapping()
        return (
            Patch(_CHAT, "Completions.create", chat),
            Patch(_CHAT, "AsyncCompletions.create", chat, asynchronous=True),
            Patch(_CHAT, "Completions.parse", chat),
            Patch(_CHAT, "AsyncCompletions.parse", chat, asynchronous=True),
            Patch(_RESPONSES, "Responses.create", responses),
            Patch(_RESPONSES, "AsyncResponses.create", responses, asynchronous=True),
            Patch(_RESPONSES, "Responses.parse", responses),
            Patch(_RESPONSES, "AsyncResponses.parse", responses, asynchronous=True),
            Patch(_EMBEDDINGS, "Embeddings.create", embeddings),
            Patch(_EMBEDDINGS, "AsyncEmbeddings.create", embeddings, asynchronous=True),
        )
