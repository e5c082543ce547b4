"""Bearer-token authentication of incoming requests (``auth: {bearer_token: ...}`` on a receiver).

The Collector does this with its ``bearertokenauth`` extension: the request must carry
``authorization: Bearer <token>``. The scheme is matched case-insensitively (RFC 9110 §11.1) and the
token in constant time, so response timing does not reveal how much of a guess was right.
"""

from __future__ import annotations

import hmac

from driftline.processors.config.model import BearerTokenAuth

__all__ = ["BearerTokenVerifier"]


class BearerTokenVerifier:
    """Checks ``authorization`` header values (HTTP) or metadata values (gRPC) against one token."""

    __slots__ = ("_expected",)

    def __init__(self, auth: BearerTokenAuth) -> None:
        self._expected = _utf8(auth.token)

    def __repr__(self) -> str:  # never the token
        return "BearerTokenVerifier()"

    def verify(self, authorization: str | None) -> bool:
        """True when ``authorization`` is ``Bearer <token>`` with the configured token."""
        if authorization is None:
            return False
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(_utf8(credentials.strip()), self._expected)


def _utf8(text: str) -> bytes:
    # surrogatepass: header values decoded with surrogateescape must still compare, never raise.
    return text.encode("utf-8", "surrogatepass")
