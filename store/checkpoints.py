"""WAL checkpoints of a SQLite Database, on a thread of their own instead of inside the writer's COMMIT.

SQLite's automatic checkpoint (``wal_autocheckpoint``, 1,000 pages) runs in the
connection whose COMMIT took the WAL past the threshold: on the Database's
single writer thread, inside that COMMIT. Copying the WAL's pages into the
database file and the two fsyncs that go with it measured ~25–30 ms there (a
BatchUpsertChargers COMMIT 35–45 ms with it, 8–13 ms without), during which
no other write of the process could run.

``WalCheckpointer`` turns that off on every connection of the Database's engine
and checkpoints from its own thread and connection instead:

* the writer thread calls ``committed()`` after each COMMIT: one ``os.stat`` of
  the ``-wal`` file (~1 µs); once the file holds ``pages`` pages it wakes the
  checkpointer (an Event), and never waits for it; while the WAL has not
  started over, again only after each further ``pages`` pages of growth, so
  a WAL the writer keeps appending to is not copied anew on every COMMIT;
* the checkpointer runs ``PRAGMA wal_checkpoint(PASSIVE)``, which copies what no
  reader still needs and takes no lock a writer waits for, so the writer keeps
  committing meanwhile (``sqlite3`` releases the GIL around ``sqlite3_step``);
* ``journal_size_limit`` (below the threshold) makes the writer truncate the
  ``-wal`` file when it starts it over after a complete checkpoint, so the
  file's size is the WAL's content whenever it is past the threshold, and the
  ``stat`` measures what it should;
* PASSIVE passes repeat (up to 4) while the writer has added frames meanwhile, so
  that the writer can find the WAL all copied and start it over; when it cannot
  (the writer kept appending while each pass copied, or a reader kept a snapshot
  in the WAL) and the file reaches ``truncate_factor`` × the threshold, the
  writer thread waits, after its COMMIT and before the next, for a TRUNCATE
  checkpoint (which waits for readers, within the busy timeout): the one time a
  checkpoint holds the writer up, and what bounds the WAL;
* ``close()`` stops the thread and runs a final TRUNCATE checkpoint.

The checkpointer writes no rows. Nothing committed depends on it: a commit is
durable in the WAL (WAL mode, ``synchronous=NORMAL``) whether or not it has been
copied into the database file; checkpoints only bound the WAL's size.
Other connections to the file (migrations, tools) keep SQLite's default.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

_logger = logging.getLogger(__name__)

#: Pages in the WAL that wake the checkpointer (SQLite's own automatic checkpoint default).
CHECKPOINT_PAGES = 1000
#: The WAL file at this many times the threshold: a TRUNCATE checkpoint, which waits for readers.
TRUNCATE_FACTOR = 8
#: The page size assumed until the checkpointer has read the file's.
_DEFAULT_PAGE_SIZE = 4096
#: PASSIVE passes at most, one after another, to catch up with the frames written meanwhile.
_PASSES = 4
_WAL_HEADER = 32
_FRAME_HEADER = 24


class WalCheckpointer:
    """Checkpoints the WAL of the SQLite file at ``path`` on its own thread (see the module)."""

    def __init__(
        self,
        path: Path,
        *,
        pages: int = CHECKPOINT_PAGES,
        truncate_factor: int = TRUNCATE_FACTOR,
        busy_timeout_ms: int = 5000,
    ) -> None:
        self.path = path
        self.wal_path = Path(f"{path}-wal")
        self.pages = pages
        self.truncate_factor = truncate_factor
        self._busy_timeout_ms = busy_timeout_ms
        self._wake = threading.Event()
        # Set by the writer when the WAL reached the hard bound; _truncated answers it.
        self._truncate = False
        # The WAL file's size at the last wake (the writer thread's own; 0 once the WAL started over).
        self._woken_at = 0
        #: Times the writer woke the checkpointer (the writer thread's own count).
        self.wakes = 0
        self._truncated = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._changed = threading.Condition()
        #: Checkpoints run so far (PASSIVE, TRUNCATE and the final one); ``wait_for`` waits on it.
        self.checkpoints = 0
        self._connection: sqlite3.Connection | None = None
        self._set_page_size(_DEFAULT_PAGE_SIZE)

    def _set_page_size(self, page_size: int) -> None:
        self.wake_bytes = _WAL_HEADER + self.pages * (page_size + _FRAME_HEADER)
        self.truncate_bytes = self.truncate_factor * self.wake_bytes

    def configure(self, dbapi_connection: sqlite3.Connection, _record: Any = None) -> None:
        """The engine's "connect" hook: no checkpoint in any COMMIT; the WAL file cut back when restarted."""
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        # Below the threshold, so a WAL file past it holds that much content.
        cursor.execute(f"PRAGMA journal_size_limit={self.wake_bytes // 2}")
        cursor.close()

    def committed(self) -> None:
        """On the writer thread after a COMMIT: wake the checkpointer if the WAL has reached the threshold."""
        try:
            size = os.stat(self.wal_path).st_size
        except OSError:
            return
        if size < self.wake_bytes:
            self._woken_at = 0  # the WAL started over (cut back to journal_size_limit)
            return
        if size < self.truncate_bytes:
            # One wake per threshold's worth of growth: a WAL that a pass could not let start over
            # (the writer appended meanwhile, or a reader holds a snapshot) is not copied again on
            # every COMMIT, only once it has grown by as much again (as SQLite's own checkpoint).
            if size < self._woken_at + self.wake_bytes:
                return
            self._woken_at = size
        if self._thread is None:
            self._start()
        self.wakes += 1
        if size < self.truncate_bytes or self._thread is None or not self._thread.is_alive():
            self._wake.set()
            return
        # PASSIVE checkpoints have not let the WAL start over (the writer kept appending while they
        # copied, or readers kept a snapshot in it): hold this thread, the only writer, until a
        # TRUNCATE checkpoint has emptied it, so it cannot grow without bound.
        self._truncated.clear()
        self._truncate = True
        self._wake.set()
        self._truncated.wait(self._busy_timeout_ms / 1000)

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None or self._stopping:
                return
            thread = threading.Thread(target=self._run, name="vgi-db-checkpoint", daemon=True)
            thread.start()
            self._thread = thread

    def wait_for(self, count: int, timeout: float) -> bool:
        """Block until at least ``count`` checkpoints have run (False if ``timeout`` s pass first)."""
        with self._changed:
            return self._changed.wait_for(lambda: self.checkpoints >= count, timeout)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            try:
                if self._truncate:
                    self._truncate = False
                    try:
                        self._checkpoint("TRUNCATE")
                    finally:
                        self._truncated.set()
                    continue
                # Frames the writer added while a pass copied are copied by the next pass (each
                # shorter), so that the writer finds the WAL all copied and starts it over.
                for _ in range(_PASSES):
                    _busy, log, done = self._checkpoint("PASSIVE")
                    if done >= log or self._stopping:
                        break
            except (sqlite3.Error, OSError) as exc:
                _logger.warning("WAL checkpoint of %s failed: %s", self.path, exc)

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            # mode=rw: never create the file; isolation_level=None: no implicit transaction.
            connection = sqlite3.connect(
                f"file:{self.path}?mode=rw", uri=True, isolation_level=None, check_same_thread=False
            )
            connection.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
            self._set_page_size(int(connection.execute("PRAGMA page_size").fetchall()[0][0]))
            self._connection = connection
        return self._connection

    def _checkpoint(self, mode: str) -> tuple[int, int, int]:
        connection = self._connect()
        busy, log, done = connection.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()[0]
        with self._changed:
            self.checkpoints += 1
            self._changed.notify_all()
        return int(busy), int(log), int(done)

    def close(self) -> None:
        """Stop the thread, then checkpoint the whole WAL and truncate it (after the last write)."""
        with self._start_lock:
            self._stopping = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join()
        try:
            if self.path.exists():
                self._checkpoint("TRUNCATE")
        except sqlite3.Error as exc:
            _logger.warning("final WAL checkpoint of %s failed: %s", self.path, exc)
        finally:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
