"""What one export attempt came to, and how long to wait before the next (exporterhelper semantics)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from driftline.processors.config.model import RetrySettings
from driftline.processors.otlp.status import RetryAdvice

__all__ = ["Backoff", "Outcome"]


@dataclass(frozen=True)
class Outcome:
    """The result of one export attempt, as the retry loop needs it.

    ``delivered``: the backend took the request (``rejected`` of its spans refused by a partial
    success, which is never retried). Otherwise ``retryable`` says whether OTLP allows another
    attempt and ``delay`` is the server's hint (``RetryInfo`` / ``Retry-After``) in seconds.
    ``message`` is safe to log: a status code and the backend's own error text, never span content.
    """

    delivered: bool
    retryable: bool = False
    delay: float | None = None
    rejected: int = 0
    message: str = ""

    @classmethod
    def success(cls, rejected: int = 0, message: str = "") -> Outcome:
        """The backend accepted the request (all spans, or all but ``rejected``)."""
        return cls(True, rejected=rejected, message=message)

    @classmethod
    def failure(cls, advice: RetryAdvice, message: str) -> Outcome:
        """The backend (or the network) refused the request; ``advice`` says whether to retry."""
        return cls(False, retryable=advice.retryable, delay=advice.delay, message=message)

    @classmethod
    def transient(cls, message: str) -> Outcome:
        """A failure to reach the backend (refused, reset, timed out): always retryable."""
        return cls(False, retryable=True, message=message)


class Backoff:
    """Exponential backoff with jitter, the Collector's ``configretry.BackOffConfig``.

    The n-th wait (n from 0) is ``min(initial_interval · multiplier**n, max_interval)`` scaled by
    ``1 + randomization_factor · (2U − 1)``, U uniform in [0, 1): e.g. the defaults give 5 s ± 50 %,
    then 7.5 s ± 50 %, ... up to 30 s ± 50 %. Reference: cenkalti/backoff ``ExponentialBackOff``,
    which the Collector uses.
    """

    def __init__(self, settings: RetrySettings, uniform: Callable[[], float] = random.random) -> None:
        self._settings = settings
        self._uniform = uniform

    def wait(self, n: int) -> float:
        """Seconds to wait before retry number ``n + 1``."""
        s = self._settings
        try:
            base = min(s.initial_interval * s.multiplier ** n, s.max_interval)
        except OverflowError:
            base = s.max_interval
        return max(0.0, base * (1.0 + s.randomization_factor * (2.0 * self._uniform() - 1.0)))
