"""The exporters' sending queues: in memory, or in SQLite so that accepted batches survive a crash.

Both count requests (the Collector's ``sizer: requests``) and include the ones being sent, so a
full queue means "this many requests are not yet delivered", and :meth:`SendingQueue.wait_empty`
returns once everything accepted has been delivered or given up.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["MemoryQueue", "Occupancy", "PersistentQueue", "QueuedRequest", "SendingQueue"]

_T = TypeVar("_T")


@dataclass(eq=False)
class QueuedRequest:
    """One export request waiting in (or being sent from) a queue.

    ``payload`` is ``None`` only for a request recovered from SQLite that no consumer has taken yet
    (its bytes stay on disk until then). ``key`` is its SQLite row id (``None`` in memory);
    ``attempts`` counts the send attempts recorded on disk before this process took it.
    """

    payload: bytes | None
    spans: int
    key: int | None = None
    attempts: int = 0
    attempted_here: bool = False


class Occupancy:
    """How many requests are held (queued or being sent); wakes waiters when that drops to zero."""

    def __init__(self) -> None:
        self._count = 0
        self._empty = asyncio.Event()
        self._empty.set()

    @property
    def count(self) -> int:
        """Requests held now."""
        return self._count

    def add(self) -> None:
        """One more request is held."""
        self._count += 1
        self._empty.clear()

    def remove(self) -> None:
        """One request was delivered, dropped or left on disk."""
        self._count -= 1
        if self._count <= 0:
            self._count = 0
            self._empty.set()

    async def wait_empty(self, timeout: float) -> bool:
        """True once nothing is held; False if that did not happen within ``timeout`` seconds."""
        if self._empty.is_set():
            return True
        try:
            await asyncio.wait_for(self._empty.wait(), max(0.0, timeout))
        except asyncio.TimeoutError:
            return False
        return True


class SendingQueue(ABC):
    """A bounded FIFO of :class:`QueuedRequest` shared by an exporter's consumer tasks.

    Life of a request: :meth:`put` → :meth:`get` (a consumer takes it) → :meth:`begin_attempt` before
    each send → :meth:`finish` once delivered or given up, or :meth:`release` to leave it for the
    next start (persistent queue at shutdown) after counting it dropped (memory queue).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        """The most requests held at once, counting those being sent."""
        self._ready: deque[QueuedRequest] = deque()
        self._nonempty = asyncio.Event()
        self._occupancy = Occupancy()

    @property
    def persistent(self) -> bool:
        """True when held requests survive a restart."""
        return False

    def size(self) -> int:
        """Requests held now: waiting or being sent."""
        return self._occupancy.count

    def has_room(self) -> bool:
        """True if :meth:`put` would accept one more request now."""
        return self._occupancy.count < self.capacity

    async def open(self) -> None:
        """Prepare the queue (the persistent queue recovers what a previous run left)."""
        return  # memory: nothing to recover

    @abstractmethod
    async def put(self, payload: bytes, spans: int) -> bool:
        """Hold one request; False if the queue is full. Returns once the request is safe (on disk for
        the persistent queue)."""

    async def get(self) -> QueuedRequest:
        """The oldest waiting request, waiting for one if there is none."""
        while not self._ready:
            self._nonempty.clear()
            await self._nonempty.wait()
        return self._ready.popleft()

    async def begin_attempt(self, request: QueuedRequest) -> bool:
        """Record that a send of ``request`` starts; True if a previous run had already tried it (a
        possible duplicate)."""
        request.attempted_here = True
        return False

    async def finish(self, request: QueuedRequest) -> None:
        """``request`` is delivered or given up: forget it."""
        self._occupancy.remove()

    def release(self, request: QueuedRequest) -> None:
        """Stop holding ``request`` without forgetting it on disk (it is sent again after a restart)."""
        self._occupancy.remove()

    def drain(self) -> list[QueuedRequest]:
        """Take every request no consumer has taken yet (at shutdown); each must then be released."""
        taken = list(self._ready)
        self._ready.clear()
        return taken

    async def wait_empty(self, timeout: float) -> bool:
        """True once nothing is waiting or being sent; False after ``timeout`` seconds."""
        return await self._occupancy.wait_empty(timeout)

    async def close(self) -> None:
        """Release the queue's resources."""
        return  # memory: nothing to release

    def _push(self, request: QueuedRequest) -> None:
        self._ready.append(request)
        self._nonempty.set()


class MemoryQueue(SendingQueue):
    """The in-memory queue: lost on restart, so what remains at shutdown is dropped and counted."""

    async def put(self, payload: bytes, spans: int) -> bool:
        """Hold one request; False if full."""
        if not self.has_room():
            return False
        self._occupancy.add()
        self._push(QueuedRequest(payload, spans))
        return True


_SCHEMA = """
CREATE TABLE IF NOT EXISTS {table} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    spans INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    payload BLOB NOT NULL
)
"""


class PersistentQueue(SendingQueue):
    """A queue kept in an SQLite database at ``path``: what it accepted is sent even after kill -9.

    Durability: WAL journal with ``synchronous=NORMAL``. :meth:`put` returns after the row's commit,
    which in WAL mode has reached the operating system, so an accepted request survives a crash or
    kill of the process. It does not survive a power loss or kernel crash (that would need
    ``synchronous=FULL``, an fsync per commit); the Collector's file-storage default makes the same
    trade.

    Rows are deleted once delivered or given up. Before each request's first send in a process its
    ``attempts`` column is incremented and committed, so after a restart the rows that may already
    have reached the backend are known (and counted as redelivered).

    All SQLite work runs on one dedicated thread with its own connection: a commit costs a write
    syscall that must not stall the event loop, and one thread keeps the connection single-threaded.
    """

    def __init__(self, path: str, capacity: int, *, table: str = "requests") -> None:
        super().__init__(capacity)
        self.path = path
        """The database file."""
        if not table.isidentifier():
            raise ValueError(f"table {table!r} is not an SQL identifier")
        self.table = table
        """The table holding this queue's rows (one per signal; the ``spans`` column counts its items)."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="driftline-queue")
        self._db: sqlite3.Connection | None = None

    @property
    def persistent(self) -> bool:
        """Always True."""
        return True

    async def open(self) -> None:
        """Open (or create) the database and queue the requests a previous run left, oldest first."""
        rows = await self._run(self._open_db)
        for key, spans, attempts in rows:
            self._occupancy.add()
            self._push(QueuedRequest(None, spans, key, attempts))

    async def put(self, payload: bytes, spans: int) -> bool:
        """Hold one request; returns True only once its row is committed. False if full."""
        if not self.has_room():
            return False
        self._occupancy.add()  # reserve the slot now: other offers run while the commit is awaited
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._insert, payload, spans)
        try:
            key = await asyncio.shield(future)
        except asyncio.CancelledError:
            # The commit may still happen; a committed row must be sent, so queue it when it lands.
            future.add_done_callback(lambda f: self._landed(f, payload, spans))
            raise
        except BaseException:
            self._occupancy.remove()
            raise
        self._push(QueuedRequest(payload, spans, key))
        return True

    async def get(self) -> QueuedRequest:
        """The oldest waiting request with its payload read from disk if it was recovered."""
        request = await super().get()
        if request.payload is None and request.key is not None:
            try:
                request.payload = await self._run(self._load, request.key)
            except BaseException:
                self._ready.appendleft(request)  # not taken after all
                self._nonempty.set()
                raise
        return request

    async def begin_attempt(self, request: QueuedRequest) -> bool:
        """Commit ``attempts + 1`` before the first send in this process; True if an earlier run had
        already started sending it."""
        if request.attempted_here or request.key is None:
            return False
        request.attempted_here = True
        await self._run(self._mark_attempt, request.key)
        return request.attempts > 0

    async def finish(self, request: QueuedRequest) -> None:
        """Delete the delivered (or given up) request's row."""
        try:
            if request.key is not None:
                await self._run(self._delete, request.key)
        finally:
            self._occupancy.remove()

    async def close(self) -> None:
        """Close the connection (rows not delivered stay for the next start) and stop the thread."""
        try:
            await self._run(self._close_db)
        finally:
            self._executor.shutdown(wait=False)

    # --- on the queue's thread --------------------------------------------------------------------

    async def _run(self, fn: Callable[..., _T], *args: object) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the persistent queue is not open; call open() first")
        return self._db

    def _open_db(self) -> list[tuple[int, int, int]]:
        parent = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(parent, exist_ok=True)
        # isolation_level=None: autocommit, each statement below is its own committed transaction.
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=30000")  # a traces and a metrics queue may share the file
        db.execute(_SCHEMA.format(table=self.table))
        self._db = db
        return [(int(k), int(s), int(a)) for k, s, a in
                db.execute(f"SELECT id, spans, attempts FROM {self.table} ORDER BY id")]

    def _insert(self, payload: bytes, spans: int) -> int:
        cursor = self._connection().execute(f"INSERT INTO {self.table} (spans, payload) VALUES (?, ?)",
                                            (spans, payload))
        key = cursor.lastrowid
        if key is None:  # pragma: no cover - an INSERT into a rowid table always sets it
            raise RuntimeError("SQLite returned no row id")
        return key

    def _load(self, key: int) -> bytes:
        row = self._connection().execute(f"SELECT payload FROM {self.table} WHERE id = ?", (key,)).fetchone()
        return bytes(row[0]) if row is not None else b""

    def _mark_attempt(self, key: int) -> None:
        self._connection().execute(f"UPDATE {self.table} SET attempts = attempts + 1 WHERE id = ?", (key,))

    def _delete(self, key: int) -> None:
        self._connection().execute(f"DELETE FROM {self.table} WHERE id = ?", (key,))

    def _close_db(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _landed(self, future: asyncio.Future[int], payload: bytes, spans: int) -> None:
        if future.cancelled() or future.exception() is not None:
            self._occupancy.remove()
            return
        self._push(QueuedRequest(payload, spans, future.result()))
