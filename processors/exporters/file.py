"""The ``file`` exporter: OTLP-JSON lines, one ``ExportTraceServiceRequest`` or ``ExportMetricsServiceRequest``
per line, with rotation."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, TypeVar

from driftline.processors.config.model import ComponentId, FileExporterConfig, RotationSettings
from driftline.processors.exporters._logging import child_logger
from driftline.processors.exporters.base import DirectExporter
from driftline.processors.otlp.json_codec import encode_json
from driftline.processors.pipeline.batch import Batch
from driftline.processors.telemetry.metrics import SelfTelemetry

__all__ = ["BACKUP_TIME_FORMAT", "FileExporter", "RotatingFile"]

BACKUP_TIME_FORMAT = "%Y-%m-%dT%H-%M-%S.%f"
"""Backup timestamps, lumberjack's ``2006-01-02T15-04-05.000`` (``%f`` is cut to milliseconds)."""

_MEGABYTE = 1024 * 1024  # lumberjack's megabyte
_T = TypeVar("_T")
_log = child_logger("exporters")


class RotatingFile:
    """An append-only file that rotates as lumberjack (the Collector's rotation library) does.

    Before a write that would take the file past ``max_megabytes``, the file is renamed to
    ``<stem>-<timestamp><ext>`` in the same folder (UTC unless ``localtime``) and a new one started;
    then backups beyond ``max_backups`` (0 = keep all) and, when ``max_days`` > 0, backups older than
    that are deleted. A single line larger than the limit is still written, alone in a fresh file,
    rather than refused as lumberjack does: it was acknowledged to the sender.

    Blocking; used from one thread.
    """

    def __init__(self, path: str, rotation: RotationSettings | None, *, append: bool = True) -> None:
        self.path = os.path.abspath(path)
        """The live file."""
        self._rotation = rotation
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._file: BinaryIO = open(self.path, "ab" if append else "wb")  # noqa: SIM115 - closed in close()
        self._size = self._file.tell()
        self._dirty = False

    def write(self, data: bytes) -> None:
        """Append ``data`` and flush it to the operating system (it survives a crash of this process)."""
        if self._rotation is not None and self._size > 0 and \
                self._size + len(data) > self._rotation.max_megabytes * _MEGABYTE:
            self._rotate(self._rotation)
        self._file.write(data)
        self._file.flush()
        self._size += len(data)
        self._dirty = True

    def sync(self) -> None:
        """fsync what was written since the last call (it then survives a power loss)."""
        if self._dirty:
            os.fsync(self._file.fileno())
            self._dirty = False

    def close(self) -> None:
        """Sync and close the live file."""
        self.sync()
        self._file.close()

    def backups(self) -> list[str]:
        """Paths of the rotated files, newest first."""
        return [path for _, path in self._backups()]

    def _rotate(self, rotation: RotationSettings) -> None:
        self.sync()
        self._file.close()
        now = dt.datetime.now() if rotation.localtime else dt.datetime.now(dt.timezone.utc)
        stem, ext = os.path.splitext(os.path.basename(self.path))
        stamp = now.strftime(BACKUP_TIME_FORMAT)[:-3]
        os.replace(self.path, os.path.join(os.path.dirname(self.path), f"{stem}-{stamp}{ext}"))
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._size = 0
        self._prune(rotation, now)

    def _prune(self, rotation: RotationSettings, now: dt.datetime) -> None:
        found = self._backups()
        doomed: list[str] = []
        if rotation.max_backups > 0:
            doomed.extend(path for _, path in found[rotation.max_backups:])
            found = found[:rotation.max_backups]
        if rotation.max_days > 0:
            cutoff = now - dt.timedelta(days=rotation.max_days)
            doomed.extend(path for when, path in found if when < cutoff)
        for path in doomed:
            try:
                os.remove(path)
            except FileNotFoundError:
                pass

    def _backups(self) -> list[tuple[dt.datetime, str]]:
        folder = os.path.dirname(self.path)
        stem, ext = os.path.splitext(os.path.basename(self.path))
        prefix = stem + "-"
        local = self._rotation is not None and self._rotation.localtime
        found: list[tuple[dt.datetime, str]] = []
        for name in os.listdir(folder):
            if not (name.startswith(prefix) and name.endswith(ext)) or name == os.path.basename(self.path):
                continue
            stamp = name[len(prefix):len(name) - len(ext)] if ext else name[len(prefix):]
            try:
                when = dt.datetime.strptime(stamp, BACKUP_TIME_FORMAT)
            except ValueError:
                continue  # not one of ours
            when = when.astimezone() if local else when.replace(tzinfo=dt.timezone.utc)
            found.append((when, os.path.join(folder, name)))
        found.sort(reverse=True)
        return found


class FileExporter(DirectExporter):
    """Appends each batch as one OTLP-JSON line to ``config.path``.

    An exporter listed in traces and metrics pipelines is one instance, so both signals go through one
    writer into the one file, as in the Collector: a line holds ``resourceSpans`` or ``resourceMetrics``.

    ``offer`` returns after the line is written and flushed, so a crash of the processor loses no
    acknowledged batch; the file is fsynced every ``flush_interval`` seconds (power-loss safety).
    Encoding and all file I/O run on one dedicated thread, off the event loop, in offer order.
    """

    def __init__(self, component_id: ComponentId, config: FileExporterConfig, telemetry: SelfTelemetry) -> None:
        super().__init__(component_id, telemetry)
        self._config = config
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="driftline-file")
        self._file: RotatingFile | None = None
        self._syncer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open (create) the file and start the periodic fsync."""
        config = self._config
        self._file = await self._run(lambda: RotatingFile(config.path, config.rotation, append=config.append))
        self._syncer = asyncio.create_task(self._sync_periodically(), name=f"{self.id} fsync")
        await super().start()

    async def _write(self, batch: Batch) -> None:
        file = self._file
        assert file is not None
        # Encoding reads the request on the file thread: nothing changes a batch once it is offered.
        request = batch.request
        await self._run(lambda: file.write(encode_json(request) + b"\n"))

    async def _sync_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._config.flush_interval)  # a timer, not synchronisation
            file = self._file
            if file is not None:
                try:
                    await self._run(file.sync)
                except OSError as error:
                    _log.error("exporter %s: fsync failed: %s", self.id, error.strerror or error)

    async def _close(self) -> None:
        if self._syncer is not None:
            self._syncer.cancel()
            await asyncio.gather(self._syncer, return_exceptions=True)
        file = self._file
        if file is not None:
            await self._run(file.close)
            self._file = None
        self._executor.shutdown(wait=False)

    async def _run(self, fn: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)
