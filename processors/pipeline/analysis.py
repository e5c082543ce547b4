"""The analysis stage: hooks that see decoded spans between receive and export.

A pipeline's ``driftline`` processor becomes an :class:`AnalysisStage`. Its hooks come from
factories registered by name (:func:`register_hook`); the drift and quality engine registers its
own, and tests or users can add theirs, without touching receivers or exporters.

Two kinds of hook (see :class:`~.contracts.AnalysisHook`):

* **enriching** hooks run before the batch is queued for export and may change the spans (then call
  ``batch.mark_modified()``). If one raises, the batch is put back exactly as received and
  forwarded; the fault is counted (``driftline.analysis.errors``) and logged once per hook per
  minute, never with span content.
* **observing** hooks run after the batch is queued, from a bounded backlog worked off by a task on
  the event loop. A full backlog skips analysis for that batch (``driftline.analysis.dropped_spans``)
  rather than slowing forwarding.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from driftline.processors.pipeline.batch import TraceBatch
from driftline.processors.pipeline.contracts import AnalysisHook
from driftline.processors.telemetry import SelfTelemetry

__all__ = ["AnalysisStage", "HookFactory", "hook_factories", "register_hook"]

_log = logging.getLogger(__name__)

HookFactory = Callable[[Mapping[str, object]], AnalysisHook]
"""Builds a hook from the ``driftline`` processor's options (its YAML mapping)."""

_FACTORIES: dict[str, HookFactory] = {}

DEFAULT_BACKLOG_BATCHES = 256
"""Observing hooks may fall this many batches behind before batches are skipped."""

_LOG_EVERY_S = 60.0


def register_hook(name: str, factory: HookFactory) -> None:
    """Make ``factory`` build a hook for every ``driftline`` processor (replacing one of the same name)."""
    _FACTORIES[name] = factory


def unregister_hook(name: str) -> None:
    """Remove the factory registered as ``name`` (no error if absent)."""
    _FACTORIES.pop(name, None)


def hook_factories() -> Mapping[str, HookFactory]:
    """The registered factories, by name."""
    return dict(_FACTORIES)


class AnalysisStage:
    """Runs a pipeline's hooks on each batch; never lets them drop or delay forwarding."""

    def __init__(self, hooks: Sequence[AnalysisHook], telemetry: SelfTelemetry, *,
                 backlog_batches: int = DEFAULT_BACKLOG_BATCHES) -> None:
        self._enrichers = [hook for hook in hooks if hook.enriches]
        self._observers = [hook for hook in hooks if not hook.enriches]
        self._telemetry = telemetry
        self._backlog: deque[TraceBatch] = deque()
        self._backlog_limit = backlog_batches
        self._wake = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._task: asyncio.Task[None] | None = None
        self._last_logged: dict[str, float] = {}

    @classmethod
    def from_options(cls, options: Mapping[str, object], telemetry: SelfTelemetry) -> AnalysisStage:
        """Build a stage with one hook from each registered factory; a factory that raises is logged
        and left out (the pipeline still forwards)."""
        hooks: list[AnalysisHook] = []
        for name, factory in hook_factories().items():
            try:
                hook = factory(options)
                bind = getattr(hook, "bind", None)
                if bind is not None:
                    bind(telemetry)  # optional: hooks that export metrics register them here
                hooks.append(hook)
            except Exception:
                _log.exception("analysis hook %s could not be created; the pipeline runs without it", name)
                telemetry.analysis_error(name)
        return cls(hooks, telemetry)

    @property
    def hooks(self) -> tuple[AnalysisHook, ...]:
        """Enriching hooks first, then observing ones."""
        return (*self._enrichers, *self._observers)

    def enrich(self, batch: TraceBatch) -> None:
        """Run the enriching hooks on ``batch``; a hook that raises leaves the batch as it was before it."""
        for hook in self._enrichers:
            snapshot = batch.payload() if not batch.modified else bytes(batch.request.SerializeToString())
            try:
                hook.process(batch)
            except Exception:
                self._fault(hook.name)
                batch.restore(snapshot)

    def observe(self, batch: TraceBatch) -> None:
        """Hand ``batch`` to the observing hooks without waiting for them."""
        if not self._observers:
            return
        if len(self._backlog) >= self._backlog_limit:
            self._telemetry.analysis_dropped(batch.span_count)
            return
        self._backlog.append(batch)
        self._empty.clear()
        self._wake.set()

    async def idle(self) -> None:
        """Return once the observing hooks have worked off the backlog (for tests and shutdown)."""
        await self._empty.wait()

    def start(self) -> None:
        """Start the task that works off the observing hooks' backlog."""
        if self._observers and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._work(), name="driftline-analysis")

    async def _work(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._backlog:
                batch = self._backlog.popleft()
                for hook in self._observers:
                    try:
                        hook.process(batch)
                    except Exception:
                        self._fault(hook.name)
                await asyncio.sleep(0)  # yield to receivers between batches
            self._empty.set()

    async def stop(self) -> None:
        """Stop the backlog task (what is left is not analysed) and close every hook."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for hook in self.hooks:
            try:
                hook.close()
            except Exception:
                self._fault(hook.name)

    def _fault(self, name: str) -> None:
        self._telemetry.analysis_error(name)
        now = time.monotonic()
        if now - self._last_logged.get(name, -_LOG_EVERY_S) >= _LOG_EVERY_S:
            self._last_logged[name] = now
            # exc_info shows where the hook failed; span content is never formatted into the message
            _log.error("analysis hook %s raised; the batch is forwarded unchanged (logged once a minute)",
                       name, exc_info=True)
