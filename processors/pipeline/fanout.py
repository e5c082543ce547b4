"""A pipeline: enrich, hand each batch to every exporter's queue, then let observers analyse it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from driftline.processors.pipeline.analysis import AnalysisStage
from driftline.processors.pipeline.batch import Batch, MetricsBatch, TraceBatch
from driftline.processors.pipeline.contracts import Exporter, Refused

__all__ = ["Fanout", "Pipeline"]


class Pipeline:
    """One ``service.pipelines.traces[/name]`` or ``metrics[/name]``: its analysis stages (in order, traces
    only) and exporters.

    A batch goes to all exporters or to none: if any exporter's queue is full the request is
    refused retryably before anything is queued, so the sender's retry makes no duplicates.
    """

    def __init__(self, name: str, exporters: Sequence[Exporter], stages: Sequence[AnalysisStage] = ()) -> None:
        self.name = name
        self.exporters = tuple(exporters)
        self.stages = tuple(stages)
        self._closed = False

    def check_capacity(self) -> None:
        """Raise :class:`Refused` if the pipeline cannot take a batch now."""
        if self._closed:
            raise Refused("the processor is shutting down; retry against another instance or later",
                          reason="shutting_down", retry_after=5.0)
        full = [exporter.id for exporter in self.exporters if not exporter.can_accept()]
        if full:
            raise Refused(f"the sending queue of {', '.join(full)} is full; retry later",
                          reason="backpressure", retry_after=1.0)

    async def consume(self, batch: Batch) -> None:
        """Queue ``batch`` on every exporter, or raise :class:`Refused`."""
        self.check_capacity()
        spans = batch if isinstance(batch, TraceBatch) else None  # analysis hooks see spans only
        if spans is not None:
            for stage in self.stages:
                stage.enrich(spans)
        if len(self.exporters) == 1:
            taken = [await self.exporters[0].offer(batch)]
        else:
            taken = list(await asyncio.gather(*(exporter.offer(batch) for exporter in self.exporters)))
        if not all(taken):
            refused = [exporter.id for exporter, ok in zip(self.exporters, taken, strict=True) if not ok]
            raise Refused(f"the sending queue of {', '.join(refused)} could not take the request; retry later",
                          reason="backpressure", retry_after=1.0)
        if spans is not None:
            for stage in self.stages:
                stage.observe(spans)

    def close(self) -> None:
        """Refuse (retryably) every batch from now on."""
        self._closed = True


class Fanout:
    """What a receiver feeds: every pipeline that lists it (a receiver may serve several pipelines)."""

    def __init__(self, pipelines: Sequence[Pipeline]) -> None:
        self.pipelines = tuple(pipelines)

    async def consume(self, batch: Batch) -> None:
        """Hand ``batch`` to each pipeline; capacity is checked on all of them first."""
        for pipeline in self.pipelines:
            pipeline.check_capacity()
        if len(self.pipelines) == 1:
            await self.pipelines[0].consume(batch)
            return
        for index, pipeline in enumerate(self.pipelines):
            # Each pipeline may modify its copy; the next one starts from the bytes as received.
            await pipeline.consume(batch if index == len(self.pipelines) - 1 else _copy(batch))


def _copy(batch: Batch) -> Batch:
    if isinstance(batch, MetricsBatch):
        return batch  # nothing modifies metrics: every pipeline can share one
    if not batch.modified:
        return TraceBatch.from_protobuf(batch.payload())
    return TraceBatch.from_protobuf(bytes(batch.request.SerializeToString()))
