"""A fake LLM provider that speaks the real OpenAI and Anthropic HTTP APIs on loopback.

Point the real SDKs at it::

    with FakeLLMServer() as srv:
        oai = openai.OpenAI(base_url=srv.openai_base_url, api_key="x", max_retries=0)
        ant = anthropic.Anthropic(base_url=srv.anthropic_base_url, api_key="x", max_retries=0)

Endpoints
---------
``POST /v1/chat/completions``
    OpenAI Chat Completions, plain JSON or ``stream: true`` (``data:`` SSE frames ending
    with ``data: [DONE]``; with ``stream_options.include_usage`` every chunk carries
    ``"usage": null`` and a final chunk with ``choices: []`` carries the usage).
``POST /v1/responses``
    OpenAI Responses API, plain JSON or streamed with ``event:`` lines and
    ``sequence_number`` on every event (``response.created``, ``response.in_progress``,
    ``response.output_item.added``, ``response.content_part.added``,
    ``response.output_text.delta`` ..., ``response.output_text.done``,
    ``response.content_part.done``, ``response.output_item.done``, then
    ``response.completed`` -- or ``response.incomplete`` for ``[[length]]``).
    Tool calls are ``function_call`` output items, streamed with
    ``response.function_call_arguments.delta``/``.done``.
``POST /v1/embeddings``
    Deterministic unit vectors (8 dimensions, or ``dimensions``).  The openai SDK asks for
    ``encoding_format: "base64"`` when the caller gives none and decodes the answer itself;
    base64 answers are little-endian float32, exactly as OpenAI sends them.  Every value is
    float32-representable, so both encodings decode to the same floats.
``POST /v1/messages``
    Anthropic Messages, plain JSON or streamed (``message_start``, ``ping``,
    ``content_block_start``/``_delta``/``_stop`` per block, ``message_delta``,
    ``message_stop``); works with ``messages.create(stream=True)`` and ``messages.stream()``.
Anything else
    404 with a JSON error body readable by both SDKs.

Directives
----------
Directives are written into the text of the LAST user message (chat: last ``role ==
"user"`` message, string content or ``text`` parts; Responses: ``input`` when it is a
string, else the last user item; Anthropic: last user message, string or ``text`` blocks;
embeddings: the first input string) as ``[[name]]`` or ``[[name:arg]]``; several may be
combined and unknown names are ignored.

``[[reply:TEXT]]``
    Reply with TEXT (up to the closing ``]]``) instead of ``"Hello from the fake provider."``.
``[[tool:NAME:JSON]]`` (repeatable; ``[[tool:NAME]]`` means ``{}``)
    Answer with a call to tool NAME with JSON arguments.  There is no text unless
    ``[[reply:...]]`` is also given.  Chat: ``message.tool_calls`` (ids ``call_N``),
    ``finish_reason: "tool_calls"``, ``content: null``; Responses: ``function_call`` items;
    Anthropic: ``tool_use`` blocks with ``stop_reason: "tool_use"``.  Arguments are streamed
    in at least two pieces.  So that agent loops end, tool directives are ignored once the
    conversation holds tool results after the directive's user message (chat ``role:
    "tool"`` messages, Responses ``function_call_output`` items; on Anthropic the results
    are themselves the last user message, which has no directives).
``[[length]]``
    ``finish_reason: "length"`` / ``stop_reason: "max_tokens"`` / Responses
    ``status: "incomplete"`` with ``incomplete_details.reason == "max_output_tokens"``.
``[[error:STATUS]]``
    Fail with HTTP STATUS and the provider's real error body (``retry-after: 0`` on 429),
    so the SDK raises its own class for it: 400 ``BadRequestError``, 401
    ``AuthenticationError``, 403 ``PermissionDeniedError``, 404 ``NotFoundError``, 429
    ``RateLimitError``, 500 ``InternalServerError`` (Anthropic also has 503
    ``ServiceUnavailableError`` and 529 ``OverloadedError``).  Streamed requests fail the
    same way, before any event.
``[[chunks:N]]``
    Number of text deltas when streaming (default 3, at most one per character); the
    pieces are of near-equal length and concatenate to the reply.
``[[delay_ms:N]]``
    Sleep N ms before each streamed content delta (text or tool-argument piece) and
    before a non-streamed answer (including an error answer).
``[[first_delay_ms:N]]``
    Sleep N ms before the first event of a stream, i.e. after the response headers.
``[[stream_break_after:N]]``
    After N content deltas (or after all of them, if fewer), close the connection in the
    middle of the chunked body.  httpx2 reports the incomplete chunked read as
    ``httpx2.RemoteProtocolError``; the openai SDK wraps it as ``openai.APIConnectionError``
    while iterating, the anthropic SDK lets the raw ``httpx2.RemoteProtocolError`` out of
    the iteration (for both ``messages.create(stream=True)`` and ``messages.stream()``).
``[[stream_error_after:N]]``
    After N content deltas (or after all of them) send an in-stream error and end the
    stream.  OpenAI: ``data: {"error": {...}}`` (on Responses also ``event: error`` and the
    ``ResponseErrorEvent`` fields) -- the openai SDK raises ``openai.APIError`` (the base
    class, not an ``APIStatusError``).  Anthropic: ``event: error`` with ``{"type":
    "error", "error": {"type": "overloaded_error", ...}}`` -- the anthropic SDK raises
    ``anthropic.APIStatusError`` whose ``status_code`` is the stream's 200.

Usage is deterministic: input tokens are the whitespace-separated words of all input
text (system/instructions plus every message or input item, directives included), at
least 1; output tokens are the words of the reply text plus 5 per tool call.  The
response ``model`` is the requested one with ``-2025-01-01`` appended.  Ids come from a
per-server counter (``chatcmpl-N``, ``resp_N``, ``msg_N``, ``call_N``, ``toolu_N``...).

Transport: HTTP/1.1 with keep-alive; JSON answers carry ``Content-Length``, streams use
chunked transfer encoding so that a deliberately broken stream is visible to the client
as an incomplete body and a finished one leaves the connection reusable.  A client that
hangs up is counted in :attr:`FakeLLMServer.client_disconnects` and never produces a
traceback.

Run as a script (``python tests/fakes/llm_server.py --port 0 --port-file PATH``) it writes
the chosen port to PATH once listening and serves until SIGTERM or SIGINT, then exits 0.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import json
import math
import os
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any

__all__ = [
    "DEFAULT_CHUNKS",
    "DEFAULT_EMBEDDING_DIMENSIONS",
    "DEFAULT_REPLY",
    "MODEL_SUFFIX",
    "TOOL_CALL_TOKENS",
    "Directives",
    "FakeLLMServer",
    "RecordedRequest",
    "ToolCallSpec",
    "main",
    "parse_directives",
    "split_text",
]

DEFAULT_REPLY = "Hello from the fake provider."
"""Reply text when no ``[[reply:...]]`` directive is given."""

DEFAULT_CHUNKS = 3
"""Number of streamed text deltas when no ``[[chunks:N]]`` directive is given."""

DEFAULT_EMBEDDING_DIMENSIONS = 8
"""Embedding vector length when the request gives no ``dimensions``."""

MODEL_SUFFIX = "-2025-01-01"
"""Appended to the requested model name to form the response's ``model``."""

TOOL_CALL_TOKENS = 5
"""Output tokens charged for each tool call."""

JSONDict = dict[str, Any]


# --------------------------------------------------------------------------- directives


@dataclass(frozen=True)
class ToolCallSpec:
    """A tool call requested with ``[[tool:NAME:JSON]]``.

    ``arguments`` is the JSON text sent to OpenAI clients; ``input`` is the object sent to
    Anthropic clients (a non-object JSON value is wrapped as ``{"value": ...}``, text that is
    not JSON as ``{"raw": ...}`` while OpenAI clients get that text verbatim).
    """

    name: str
    arguments: str
    input: JSONDict


@dataclass
class Directives:
    """The behaviour requested by the ``[[...]]`` directives of one request."""

    reply: str | None = None
    tools: list[ToolCallSpec] = field(default_factory=list)
    length: bool = False
    error_status: int | None = None
    chunks: int = DEFAULT_CHUNKS
    delay_ms: int = 0
    first_delay_ms: int = 0
    stream_break_after: int | None = None
    stream_error_after: int | None = None


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _parse_int(arg: str | None, *, minimum: int) -> int | None:
    if arg is None:
        return None
    try:
        value = int(arg.strip())
    except ValueError:
        return None
    return value if value >= minimum else None


def _tool_spec(name: str, raw: str | None) -> ToolCallSpec:
    if raw is None or not raw.strip():
        return ToolCallSpec(name=name, arguments="{}", input={})
    try:
        value = json.loads(raw)
    except ValueError:
        return ToolCallSpec(name=name, arguments=raw, input={"raw": raw})
    if isinstance(value, dict):
        return ToolCallSpec(name=name, arguments=_compact(value), input=value)
    return ToolCallSpec(name=name, arguments=_compact(value), input={"value": value})


def _scan_tool(text: str, start: int) -> tuple[ToolCallSpec, int] | None:
    """Parse ``NAME[:JSON]]]`` from ``start``; return the spec and the index after ``]]``."""
    close = text.find("]]", start)
    colon = text.find(":", start)
    if close < 0:
        return None
    if colon < 0 or close < colon:
        name = text[start:close].strip()
        return (_tool_spec(name, None), close + 2) if name else None
    name = text[start:colon].strip()
    if not name:
        return None
    begin = colon + 1
    while begin < len(text) and text[begin].isspace():
        begin += 1
    try:
        _, end = json.JSONDecoder().raw_decode(text, begin)
    except ValueError:
        end = -1
    if end >= 0:
        after = end
        while after < len(text) and text[after].isspace():
            after += 1
        if text.startswith("]]", after):
            return _tool_spec(name, text[begin:end]), after + 2
    close = text.find("]]", begin)
    if close < 0:
        return None
    return _tool_spec(name, text[begin:close]), close + 2


def _apply_directive(found: Directives, name: str, arg: str | None) -> None:
    if name == "reply":
        found.reply = arg if arg is not None else ""
    elif name == "length":
        found.length = True
    elif name == "error":
        found.error_status = _parse_int(arg, minimum=400) or found.error_status
    elif name == "chunks":
        found.chunks = _parse_int(arg, minimum=1) or found.chunks
    elif name == "delay_ms":
        found.delay_ms = _parse_int(arg, minimum=0) or 0
    elif name == "first_delay_ms":
        found.first_delay_ms = _parse_int(arg, minimum=0) or 0
    elif name == "stream_break_after":
        found.stream_break_after = _parse_int(arg, minimum=0)
    elif name == "stream_error_after":
        found.stream_error_after = _parse_int(arg, minimum=0)


def parse_directives(text: str) -> Directives:
    """Collect every ``[[name]]`` / ``[[name:arg]]`` directive found in ``text``."""
    found = Directives()
    pos = 0
    while (start := text.find("[[", pos)) >= 0:
        i = start + 2
        while i < len(text) and (text[i].isalnum() or text[i] == "_"):
            i += 1
        name = text[start + 2 : i]
        if not name:
            pos = start + 2
            continue
        if name == "tool" and text.startswith(":", i):
            scanned = _scan_tool(text, i + 1)
            if scanned is None:
                pos = start + 2
                continue
            found.tools.append(scanned[0])
            pos = scanned[1]
            continue
        if text.startswith("]]", i):
            arg: str | None = None
            pos = i + 2
        elif text.startswith(":", i):
            close = text.find("]]", i + 1)
            if close < 0:
                break
            arg = text[i + 1 : close]
            pos = close + 2
        else:
            pos = start + 2
            continue
        _apply_directive(found, name, arg)
    return found


def split_text(text: str, pieces: int) -> list[str]:
    """Split ``text`` into ``pieces`` near-equal parts (fewer if it is shorter).

    The parts are never empty and concatenate to ``text``; an empty text gives no parts.
    """
    if not text:
        return []
    count = max(1, min(pieces, len(text)))
    size, extra = divmod(len(text), count)
    parts: list[str] = []
    start = 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        parts.append(text[start:end])
        start = end
    return parts


# --------------------------------------------------------------------------- request text


def _words(text: str) -> int:
    return len(text.split())


def _directive_text(content: Any) -> str:
    """Text of a message's content that may hold directives (strings and text parts)."""
    if isinstance(content, str):
        return content
    texts: list[str] = []
    if isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and part.get("type") in ("text", "input_text"):
                text = part.get("text")
                if isinstance(text, str):
                    texts.append(text)
    return "\n".join(texts)


def _all_text(content: Any) -> str:
    """All text of a content value, tool results included, for token counting."""
    if isinstance(content, str):
        return content
    texts: list[str] = []
    if isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict):
                for key in ("text", "output"):
                    value = part.get(key)
                    if isinstance(value, str):
                        texts.append(value)
                if part.get("type") == "tool_result" or isinstance(part.get("content"), list):
                    texts.append(_all_text(part.get("content")))
    return "\n".join(texts)


def _dict_items(value: Any) -> list[JSONDict]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


# --------------------------------------------------------------------------- plan of a reply


@dataclass
class _Plan:
    """What one answer contains, derived from the request and its directives."""

    directives: Directives
    text: str | None
    tools: list[ToolCallSpec]
    input_tokens: int
    output_tokens: int
    model: str


def _make_plan(directive_text: str, input_tokens: int, model: Any, *, allow_tools: bool) -> _Plan:
    directives = parse_directives(directive_text)
    tools = list(directives.tools) if allow_tools else []
    if directives.reply is not None:
        text: str | None = directives.reply
    else:
        text = None if tools else DEFAULT_REPLY
    output_tokens = _words(text or "") + TOOL_CALL_TOKENS * len(tools)
    model_name = model if isinstance(model, str) and model else "fake-model"
    return _Plan(
        directives=directives,
        text=text,
        tools=tools,
        input_tokens=max(1, input_tokens),
        output_tokens=output_tokens,
        model=model_name + MODEL_SUFFIX,
    )


# --------------------------------------------------------------------------- error bodies


def _openai_error(status: int) -> JSONDict:
    kinds: dict[int, tuple[str, str | None, str]] = {
        400: ("invalid_request_error", None, "Invalid request (fake provider error 400)."),
        401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided: x."),
        403: ("invalid_request_error", "unsupported_country_region_territory", "Access denied."),
        404: ("invalid_request_error", "model_not_found", "The model does not exist."),
        409: ("invalid_request_error", None, "Conflict (fake provider error 409)."),
        422: ("invalid_request_error", None, "Unprocessable entity (fake provider error 422)."),
        429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please retry."),
    }
    default = (
        ("server_error", None, "The server had an error while processing your request.")
        if status >= 500
        else ("invalid_request_error", None, f"Fake provider error {status}.")
    )
    kind, code, message = kinds.get(status, default)
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _anthropic_error(status: int) -> JSONDict:
    kinds: dict[int, tuple[str, str]] = {
        400: ("invalid_request_error", "Invalid request (fake provider error 400)."),
        401: ("authentication_error", "invalid x-api-key"),
        402: ("billing_error", "Billing problem (fake provider error 402)."),
        403: ("permission_error", "Your API key does not have permission to use this resource."),
        404: ("not_found_error", "Not found (fake provider error 404)."),
        413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
        429: ("rate_limit_error", "Number of requests has exceeded your rate limit."),
        500: ("api_error", "Internal server error"),
        504: ("timeout_error", "Request timed out."),
        529: ("overloaded_error", "Overloaded"),
    }
    default = (
        ("api_error", f"Fake provider error {status}.")
        if status >= 500
        else ("invalid_request_error", f"Fake provider error {status}.")
    )
    kind, message = kinds.get(status, default)
    return {"type": "error", "error": {"type": kind, "message": message}}


_OPENAI_STREAM_ERROR: JSONDict = {
    "message": "The server had an error while processing your request.",
    "type": "server_error",
    "param": None,
    "code": "server_error",
}


# --------------------------------------------------------------------------- embeddings


def _embedding(seed: str, dimensions: int) -> list[float]:
    """A deterministic unit vector whose values are exactly representable in float32."""
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    raw: list[float] = []
    for index in range(dimensions):
        block = hashlib.sha256(digest + index.to_bytes(4, "little")).digest()
        raw.append(int.from_bytes(block[:8], "little") / 2**63 - 1.0)
    norm = math.sqrt(sum(value * value for value in raw)) or 1.0
    packed = struct.pack(f"<{dimensions}f", *(value / norm for value in raw))
    return list(struct.unpack(f"<{dimensions}f", packed))


# --------------------------------------------------------------------------- public records


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request received by the fake server.

    ``headers`` has lower-case keys; ``body`` is the parsed JSON body, or ``None`` when the
    body was empty or not JSON; ``path`` excludes the query string, kept in ``query``.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    query: str = ""


class _StreamStopped(Exception):
    """Raised inside a handler to stop writing a stream (directive, or server stopping)."""


class _HTTPServer(ThreadingHTTPServer):
    """The socket server; knows its :class:`FakeLLMServer` and stays quiet on errors."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], owner: FakeLLMServer) -> None:
        self.owner = owner
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name with getfqdn; a loopback test
        # server has no use for that lookup.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client went away: not worth a traceback
        super().handle_error(request, client_address)


# --------------------------------------------------------------------------- SSE writer


class _SSEStream:
    """Writes one server-sent-event stream as a chunked HTTP/1.1 body."""

    def __init__(
        self,
        handler: _Handler,
        directives: Directives,
        make_error: Callable[[], tuple[str | None, JSONDict]],
        extra_headers: dict[str, str],
    ) -> None:
        self._handler = handler
        self._directives = directives
        self._make_error = make_error
        self._extra_headers = extra_headers
        self._stopping = handler.owner._stopping
        self._sent_any = False
        self.content_count = 0

    def start(self) -> None:
        """Send the status line and headers of the stream."""
        handler = self._handler
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream; charset=utf-8")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Transfer-Encoding", "chunked")
        for key, value in self._extra_headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.headers_sent = True

    def _sleep_ms(self, milliseconds: int) -> None:
        if milliseconds > 0 and self._stopping.wait(milliseconds / 1000.0):
            self._abort()

    def _write_chunk(self, payload: bytes) -> None:
        self._handler.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))

    def _frame(self, data: str, name: str | None) -> bytes:
        prefix = f"event: {name}\n" if name is not None else ""
        return f"{prefix}data: {data}\n\n".encode()

    def event(self, payload: JSONDict, name: str | None = None) -> None:
        """Send one event that is not a content delta."""
        if not self._sent_any:
            self._sent_any = True
            self._sleep_ms(self._directives.first_delay_ms)
        self._write_chunk(self._frame(_compact(payload), name))

    def delta(self, payload: JSONDict, name: str | None = None) -> None:
        """Send one content delta (text or tool-argument piece), honouring the directives."""
        self._check_interruption()
        self._sleep_ms(self._directives.delay_ms)
        self.event(payload, name)
        self.content_count += 1

    def before_finish(self) -> None:
        """Apply a break/error directive whose count was not reached by the deltas."""
        self._check_interruption()

    def finish(self, last_data: str | None = None) -> None:
        """End the stream, optionally after a final raw ``data:`` frame such as ``[DONE]``."""
        tail = b"" if last_data is None else self._frame(last_data, None)
        if tail:
            self._handler.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail))
        else:
            self._handler.wfile.write(b"0\r\n\r\n")

    def _check_interruption(self) -> None:
        directives = self._directives
        if directives.stream_break_after is not None and self.content_count >= directives.stream_break_after:
            self._abort()
        if directives.stream_error_after is not None and self.content_count >= directives.stream_error_after:
            name, payload = self._make_error()
            self.event(payload, name)
            self.finish()
            raise _StreamStopped

    def _abort(self) -> None:
        """Drop the connection in the middle of the chunked body."""
        handler = self._handler
        handler.close_connection = True
        try:
            handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise _StreamStopped


# --------------------------------------------------------------------------- request handler


class _Handler(BaseHTTPRequestHandler):
    """Serves one client connection (possibly several keep-alive requests)."""

    protocol_version = "HTTP/1.1"
    server_version = "FakeLLM/1.0"
    sys_version = ""
    disable_nagle_algorithm = True
    headers_sent = False

    @property
    def owner(self) -> FakeLLMServer:
        """The :class:`FakeLLMServer` this handler belongs to."""
        server = self.server
        assert isinstance(server, _HTTPServer)
        return server.owner

    def setup(self) -> None:
        super().setup()
        self.owner._register_connection(self.connection)

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:
            self.close_connection = True

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.owner._unregister_connection(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the fake server never writes access logs."""

    # ---------------------------------------------------------------- plumbing

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while True:
                size_line = self.rfile.readline(65537)
                if not size_line:
                    raise ConnectionResetError("client closed during a chunked body")
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        owner = self.owner
        owner._begin_request()
        self.headers_sent = False
        try:
            path, _, query = self.path.partition("?")
            raw = self._read_body()
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = None
            headers = {key.lower(): value for key, value in self.headers.items()}
            owner._record(RecordedRequest(self.command, path, headers, body, query))
            route = _ROUTES.get((self.command, path.rstrip("/") or "/"))
            if route is None:
                self._send_json(
                    404,
                    {
                        "type": "error",
                        "error": {
                            "type": "not_found_error",
                            "message": f"Unknown request URL: {self.command} {path}.",
                            "param": None,
                            "code": "unknown_url",
                        },
                    },
                )
            elif not isinstance(body, dict):
                self._send_json(
                    400,
                    {
                        "type": "error",
                        "error": {
                            "type": "invalid_request_error",
                            "message": "The request body must be a JSON object.",
                            "param": None,
                            "code": None,
                        },
                    },
                )
            else:
                route(self, body)
        except _StreamStopped:
            pass
        except OSError:
            self.close_connection = True
            owner._note_disconnect()
        except Exception as exc:  # a bug in the fake: answer 500 rather than hang the client
            self.close_connection = True
            if not self.headers_sent:
                try:
                    self._send_json(500, {"error": {"message": f"fake server bug: {exc!r}", "type": "server_error"}})
                except OSError:
                    pass
        finally:
            owner._end_request()

    # Every verb goes through _dispatch; only POST has routes, so the others always answer 404.
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def _send_json(self, status: int, payload: JSONDict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.headers_sent = True
        self.wfile.write(data)

    def _pause(self, milliseconds: int) -> None:
        if milliseconds > 0 and self.owner._stopping.wait(milliseconds / 1000.0):
            self.close_connection = True
            raise _StreamStopped

    def _openai_headers(self, request_id: str) -> dict[str, str]:
        return {"x-request-id": request_id, "openai-processing-ms": "1"}

    def _anthropic_headers(self, request_id: str) -> dict[str, str]:
        return {"request-id": request_id}

    def _maybe_fail(self, plan: _Plan, *, anthropic: bool) -> bool:
        """Answer with the ``[[error:...]]`` status if asked; return whether it did."""
        status = plan.directives.error_status
        if status is None:
            return False
        self._pause(plan.directives.delay_ms)
        request_id = self.owner._new_id("req_")
        headers = self._anthropic_headers(request_id) if anthropic else self._openai_headers(request_id)
        if status == 429:
            headers["retry-after"] = "0"
        if anthropic:
            payload = _anthropic_error(status)
            payload["request_id"] = request_id
        else:
            payload = _openai_error(status)
        self._send_json(status, payload, headers)
        return True

    # ---------------------------------------------------------------- chat completions

    def _chat_completions(self, body: JSONDict) -> None:
        messages = _dict_items(body.get("messages"))
        user_index = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
        directive_text = _directive_text(messages[user_index].get("content")) if user_index >= 0 else ""
        tool_results_follow = any(m.get("role") == "tool" for m in messages[user_index + 1 :])
        input_tokens = sum(_words(_all_text(m.get("content"))) for m in messages)
        plan = _make_plan(directive_text, input_tokens, body.get("model"), allow_tools=not tool_results_follow)
        if self._maybe_fail(plan, anthropic=False):
            return
        owner = self.owner
        completion_id = owner._new_id("chatcmpl-")
        call_ids = [owner._new_id("call_") for _ in plan.tools]
        created = int(time.time())
        if plan.directives.length:
            finish_reason = "length"
        elif plan.tools:
            finish_reason = "tool_calls"
        else:
            finish_reason = "stop"
        usage = {
            "prompt_tokens": plan.input_tokens,
            "completion_tokens": plan.output_tokens,
            "total_tokens": plan.input_tokens + plan.output_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }
        base: JSONDict = {
            "id": completion_id,
            "created": created,
            "model": plan.model,
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }
        headers = self._openai_headers(owner._new_id("req_"))

        if body.get("stream") is not True:
            self._pause(plan.directives.delay_ms)
            message: JSONDict = {"role": "assistant", "content": plan.text, "refusal": None, "annotations": []}
            if plan.tools:
                message["tool_calls"] = [
                    {"id": call_id, "type": "function", "function": {"name": tool.name, "arguments": tool.arguments}}
                    for call_id, tool in zip(call_ids, plan.tools, strict=True)
                ]
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
            self._send_json(200, {**base, "object": "chat.completion", "choices": [choice], "usage": usage}, headers)
            return

        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True

        def chunk(delta: JSONDict, finish: str | None = None) -> JSONDict:
            payload: JSONDict = {
                **base,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            if include_usage:
                payload["usage"] = None
            return payload

        stream = _SSEStream(self, plan.directives, lambda: (None, {"error": dict(_OPENAI_STREAM_ERROR)}), headers)
        stream.start()
        stream.event(chunk({"role": "assistant", "content": "" if plan.text is not None else None, "refusal": None}))
        for piece in split_text(plan.text or "", plan.directives.chunks):
            stream.delta(chunk({"content": piece}))
        for index, (call_id, tool) in enumerate(zip(call_ids, plan.tools, strict=True)):
            opening = {
                "index": index,
                "id": call_id,
                "type": "function",
                "function": {"name": tool.name, "arguments": ""},
            }
            stream.event(chunk({"tool_calls": [opening]}))
            for piece in split_text(tool.arguments, max(2, plan.directives.chunks)):
                stream.delta(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
        stream.before_finish()
        stream.event(chunk({}, finish_reason))
        if include_usage:
            stream.event({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage})
        stream.finish("[DONE]")

    # ---------------------------------------------------------------- responses

    def _responses(self, body: JSONDict) -> None:
        raw_input = body.get("input")
        instructions = body.get("instructions")
        input_tokens = _words(instructions) if isinstance(instructions, str) else 0
        allow_tools = True
        if isinstance(raw_input, str):
            directive_text = raw_input
            input_tokens += _words(raw_input)
        else:
            items = _dict_items(raw_input)
            user_index = max((i for i, item in enumerate(items) if item.get("role") == "user"), default=-1)
            directive_text = _directive_text(items[user_index].get("content")) if user_index >= 0 else ""
            allow_tools = not any(item.get("type") == "function_call_output" for item in items[user_index + 1 :])
            for item in items:
                input_tokens += _words(_all_text(item.get("content")))
                output = item.get("output")
                if isinstance(output, str):
                    input_tokens += _words(output)
        plan = _make_plan(directive_text, input_tokens, body.get("model"), allow_tools=allow_tools)
        if self._maybe_fail(plan, anthropic=False):
            return
        owner = self.owner
        response_id = owner._new_id("resp_")
        message_id = owner._new_id("msg_") if plan.text is not None else ""
        call_ids = [(owner._new_id("fc_"), owner._new_id("call_")) for _ in plan.tools]
        created = time.time()
        incomplete = plan.directives.length
        item_status = "incomplete" if incomplete else "completed"
        usage = {
            "input_tokens": plan.input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": plan.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": plan.input_tokens + plan.output_tokens,
        }

        def text_part(text: str) -> JSONDict:
            return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}

        def message_item(status: str, content: list[JSONDict]) -> JSONDict:
            return {"id": message_id, "type": "message", "status": status, "role": "assistant", "content": content}

        def call_item(index: int, status: str, arguments: str) -> JSONDict:
            item_id, call_id = call_ids[index]
            tool = plan.tools[index]
            return {
                "id": item_id,
                "type": "function_call",
                "status": status,
                "arguments": arguments,
                "call_id": call_id,
                "name": tool.name,
            }

        final_output: list[JSONDict] = []
        if plan.text is not None:
            final_output.append(message_item(item_status, [text_part(plan.text)]))
        final_output += [call_item(i, "completed", tool.arguments) for i, tool in enumerate(plan.tools)]

        def response(status: str, output: list[JSONDict], with_usage: bool) -> JSONDict:
            tools = body.get("tools")
            finished = status in ("completed", "incomplete")
            return {
                "id": response_id,
                "object": "response",
                "created_at": int(created),
                "status": status,
                "background": False,
                "completed_at": int(time.time()) if finished else None,
                "error": None,
                "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
                "instructions": instructions if isinstance(instructions, str) else None,
                "max_output_tokens": body.get("max_output_tokens"),
                "metadata": body.get("metadata") or {},
                "model": plan.model,
                "output": output,
                "parallel_tool_calls": body.get("parallel_tool_calls", True),
                "previous_response_id": body.get("previous_response_id"),
                "reasoning": {"effort": None, "summary": None},
                "service_tier": "default",
                "store": body.get("store", True),
                "temperature": body.get("temperature", 1.0),
                "text": {"format": {"type": "text"}, "verbosity": "medium"},
                "tool_choice": body.get("tool_choice", "auto"),
                "tools": tools if isinstance(tools, list) else [],
                "top_p": body.get("top_p", 1.0),
                "truncation": "disabled",
                "usage": usage if with_usage else None,
                "user": None,
            }

        final_status = "incomplete" if incomplete else "completed"
        headers = self._openai_headers(owner._new_id("req_"))
        if body.get("stream") is not True:
            self._pause(plan.directives.delay_ms)
            self._send_json(200, response(final_status, final_output, True), headers)
            return

        sequence = itertools.count()

        def make_error() -> tuple[str | None, JSONDict]:
            payload: JSONDict = {
                "type": "error",
                "sequence_number": next(sequence),
                "code": _OPENAI_STREAM_ERROR["code"],
                "message": _OPENAI_STREAM_ERROR["message"],
                "param": None,
                "error": dict(_OPENAI_STREAM_ERROR),
            }
            return "error", payload

        stream = _SSEStream(self, plan.directives, make_error, headers)

        def emit(kind: str, fields: JSONDict, *, is_delta: bool = False) -> None:
            payload: JSONDict = {"type": kind, "sequence_number": next(sequence), **fields}
            if is_delta:
                stream.delta(payload, kind)
            else:
                stream.event(payload, kind)

        stream.start()
        emit("response.created", {"response": response("in_progress", [], False)})
        emit("response.in_progress", {"response": response("in_progress", [], False)})
        output_index = 0
        if plan.text is not None:
            where: JSONDict = {"item_id": message_id, "output_index": output_index}
            emit("response.output_item.added", {"output_index": output_index, "item": message_item("in_progress", [])})
            emit("response.content_part.added", {**where, "content_index": 0, "part": text_part("")})
            for piece in split_text(plan.text, plan.directives.chunks):
                emit(
                    "response.output_text.delta",
                    {**where, "content_index": 0, "delta": piece, "logprobs": []},
                    is_delta=True,
                )
            emit("response.output_text.done", {**where, "content_index": 0, "text": plan.text, "logprobs": []})
            emit("response.content_part.done", {**where, "content_index": 0, "part": text_part(plan.text)})
            emit("response.output_item.done", {"output_index": output_index, "item": final_output[output_index]})
            output_index += 1
        for index, tool in enumerate(plan.tools):
            where = {"item_id": call_ids[index][0], "output_index": output_index}
            emit(
                "response.output_item.added",
                {"output_index": output_index, "item": call_item(index, "in_progress", "")},
            )
            for piece in split_text(tool.arguments, max(2, plan.directives.chunks)):
                emit("response.function_call_arguments.delta", {**where, "delta": piece}, is_delta=True)
            emit("response.function_call_arguments.done", {**where, "arguments": tool.arguments})
            emit("response.output_item.done", {"output_index": output_index, "item": final_output[output_index]})
            output_index += 1
        stream.before_finish()
        emit(f"response.{final_status}", {"response": response(final_status, final_output, True)})
        stream.finish()

    # ---------------------------------------------------------------- embeddings

    def _embeddings(self, body: JSONDict) -> None:
        raw_input = body.get("input")
        inputs: list[str | list[Any]]
        if isinstance(raw_input, str) or (
            isinstance(raw_input, list) and raw_input and all(isinstance(v, int) for v in raw_input)
        ):
            inputs = [raw_input]
        elif isinstance(raw_input, list):
            inputs = [v for v in raw_input if isinstance(v, (str, list))]
        else:
            inputs = []
        first_text = next((v for v in inputs if isinstance(v, str)), "")
        tokens = sum(_words(v) if isinstance(v, str) else len(v) for v in inputs)
        plan = _make_plan(first_text, tokens, body.get("model"), allow_tools=False)
        if self._maybe_fail(plan, anthropic=False):
            return
        dimensions = body.get("dimensions")
        size = dimensions if isinstance(dimensions, int) and dimensions > 0 else DEFAULT_EMBEDDING_DIMENSIONS
        as_base64 = body.get("encoding_format") == "base64"
        data: list[JSONDict] = []
        for index, value in enumerate(inputs):
            vector = _embedding(value if isinstance(value, str) else _compact(value), size)
            encoded: Any = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode("ascii") if as_base64 else vector
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        self._pause(plan.directives.delay_ms)
        payload = {
            "object": "list",
            "data": data,
            "model": plan.model,
            "usage": {"prompt_tokens": plan.input_tokens, "total_tokens": plan.input_tokens},
        }
        self._send_json(200, payload, self._openai_headers(self.owner._new_id("req_")))

    # ---------------------------------------------------------------- anthropic messages

    def _messages(self, body: JSONDict) -> None:
        messages = _dict_items(body.get("messages"))
        user_index = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
        directive_text = _directive_text(messages[user_index].get("content")) if user_index >= 0 else ""
        input_tokens = _words(_all_text(body.get("system"))) + sum(
            _words(_all_text(m.get("content"))) for m in messages
        )
        plan = _make_plan(directive_text, input_tokens, body.get("model"), allow_tools=True)
        if self._maybe_fail(plan, anthropic=True):
            return
        owner = self.owner
        message_id = owner._new_id("msg_")
        tool_ids = [owner._new_id("toolu_") for _ in plan.tools]
        if plan.directives.length:
            stop_reason = "max_tokens"
        elif plan.tools:
            stop_reason = "tool_use"
        else:
            stop_reason = "end_turn"

        def usage(output_tokens: int) -> JSONDict:
            return {
                "input_tokens": plan.input_tokens,
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                "service_tier": "standard",
            }

        def message(content: list[JSONDict], reason: str | None, output_tokens: int) -> JSONDict:
            return {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": plan.model,
                "content": content,
                "stop_reason": reason,
                "stop_sequence": None,
                "usage": usage(output_tokens),
            }

        headers = self._anthropic_headers(owner._new_id("req_"))
        if body.get("stream") is not True:
            self._pause(plan.directives.delay_ms)
            content: list[JSONDict] = []
            if plan.text is not None:
                content.append({"type": "text", "text": plan.text})
            content += [
                {"type": "tool_use", "id": tool_id, "name": tool.name, "input": tool.input}
                for tool_id, tool in zip(tool_ids, plan.tools, strict=True)
            ]
            self._send_json(200, message(content, stop_reason, plan.output_tokens), headers)
            return

        error_payload: JSONDict = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        stream = _SSEStream(self, plan.directives, lambda: ("error", error_payload), headers)

        def emit(payload: JSONDict, *, is_delta: bool = False) -> None:
            kind = str(payload["type"])
            if is_delta:
                stream.delta(payload, kind)
            else:
                stream.event(payload, kind)

        stream.start()
        emit({"type": "message_start", "message": message([], None, 1)})
        emit({"type": "ping"})
        index = 0
        if plan.text is not None:
            emit({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})
            for piece in split_text(plan.text, plan.directives.chunks):
                emit(
                    {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}},
                    is_delta=True,
                )
            emit({"type": "content_block_stop", "index": index})
            index += 1
        for tool_id, tool in zip(tool_ids, plan.tools, strict=True):
            block = {"type": "tool_use", "id": tool_id, "name": tool.name, "input": {}}
            emit({"type": "content_block_start", "index": index, "content_block": block})
            for piece in split_text(_compact(tool.input), max(2, plan.directives.chunks)):
                emit(
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": piece},
                    },
                    is_delta=True,
                )
            emit({"type": "content_block_stop", "index": index})
            index += 1
        stream.before_finish()
        emit(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": plan.output_tokens},
            }
        )
        emit({"type": "message_stop"})
        stream.finish()


_ROUTES: dict[tuple[str, str], Callable[[_Handler, JSONDict], None]] = {
    ("POST", "/v1/chat/completions"): _Handler._chat_completions,
    ("POST", "/v1/responses"): _Handler._responses,
    ("POST", "/v1/embeddings"): _Handler._embeddings,
    ("POST", "/v1/messages"): _Handler._messages,
}


# --------------------------------------------------------------------------- the server


class FakeLLMServer:
    """A loopback HTTP server speaking the OpenAI and Anthropic APIs; see the module docstring.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.  Every request is
    recorded in :attr:`requests`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Prepare a server for ``host``:``port`` (0 picks a free port at :meth:`start`)."""
        self._host = host
        self._requested_port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lifecycle = threading.Lock()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._active = 0
        self._disconnects = 0
        self._opened = 0
        self._ids = itertools.count(1)
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self.requests: list[RecordedRequest] = []
        """Every request received, in arrival order."""

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> FakeLLMServer:
        """Bind and serve in a daemon thread; return ``self``."""
        with self._lifecycle:
            if self._httpd is not None:
                raise RuntimeError("FakeLLMServer is already running")
            self._stopping.clear()
            httpd = _HTTPServer((self._host, self._requested_port), self)
            thread = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"FakeLLMServer:{httpd.server_port}",
                daemon=True,
            )
            self._httpd = httpd
            self._thread = thread
            thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections, join the thread and close the socket.

        Idempotent; the server may be started again afterwards (on a new port when 0).
        """
        with self._lifecycle:
            httpd, thread = self._httpd, self._thread
            self._httpd = None
            self._thread = None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if thread is not None:
            thread.join()

    def __enter__(self) -> FakeLLMServer:
        """Start the server."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    # ---------------------------------------------------------------- addresses

    @property
    def host(self) -> str:
        """The host the server binds to."""
        return self._host

    @property
    def port(self) -> int:
        """The bound TCP port (known once started, or when a fixed port was asked for)."""
        httpd = self._httpd
        if httpd is not None:
            return httpd.server_port
        if self._requested_port:
            return self._requested_port
        raise RuntimeError("FakeLLMServer has no port until it is started")

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` without a trailing slash."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """Base URL for ``openai.OpenAI(base_url=...)``: ``http://HOST:PORT/v1``."""
        return f"{self.base_url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """Base URL for ``anthropic.Anthropic(base_url=...)``: ``http://HOST:PORT``."""
        return self.base_url

    # ---------------------------------------------------------------- observations

    def clear(self) -> None:
        """Forget the recorded requests; reset :attr:`client_disconnects` and :attr:`connections_opened`."""
        with self._lock:
            self.requests.clear()
            self._disconnects = 0
            self._opened = 0

    @property
    def connections_opened(self) -> int:
        """How many TCP connections clients opened (keep-alive reuse keeps this low)."""
        with self._lock:
            return self._opened

    @property
    def client_disconnects(self) -> int:
        """How many responses were cut short because the client hung up."""
        with self._lock:
            return self._disconnects

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is being handled; return False if ``timeout`` ran out.

        Useful after a client abandons a stream, to let the server notice before asserting.
        """
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._active:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
            return True

    # ---------------------------------------------------------------- handler hooks

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _new_id(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}{next(self._ids)}"

    def _note_disconnect(self) -> None:
        with self._lock:
            self._disconnects += 1

    def _begin_request(self) -> None:
        with self._lock:
            self._active += 1

    def _end_request(self) -> None:
        with self._idle:
            self._active -= 1
            self._idle.notify_all()

    def _register_connection(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)
            self._opened += 1

    def _unregister_connection(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)


# --------------------------------------------------------------------------- script entry


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT; with ``--port-file`` write the port there once listening."""
    parser = argparse.ArgumentParser(description="Fake OpenAI/Anthropic provider on loopback.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port, 0 for any free one (default)")
    parser.add_argument("--port-file", default=None, help="write the chosen port to this file once listening")
    args = parser.parse_args(argv)

    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    server = FakeLLMServer(args.host, args.port).start()
    try:
        if args.port_file:
            temporary = f"{args.port_file}.tmp{os.getpid()}"
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(f"{server.port}\n")
            os.replace(temporary, args.port_file)
        print(f"fake LLM provider listening on {server.base_url}", flush=True)
        while not stop_requested.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
