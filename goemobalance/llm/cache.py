"""On-disk response cache: one SQLite file, keyed by a hash of server URL + model + messages + parameters.

A rerun or a resumed run looks every request up here first, so nothing is sent twice. SQLite gives
atomic, crash-safe writes (a killed run leaves either whole entries or none) and fast lookups for
hundreds of thousands of entries in one file. Writes are grouped: one transaction per `flush_every`
entries or `flush_seconds`, and on `flush`/`close`, so a killed run loses at most that many answers
(they are simply asked again). Only responses are stored: never the API key or headers. The client
stores only answers that arrived and that its caller could read: failed requests and unparseable
answers are asked again on a rerun.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from typing_extensions import Self

_SCHEMA = "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL)"


def request_key(
    model: str, messages: list[Mapping[str, Any]], params: Mapping[str, Any], endpoint: str | None = None
) -> str:
    """Stable SHA-256 of the request: same server, model, messages and parameters give the same key.

    Parameters
    ----------
    model : str
        Model name as sent.
    messages : list of mappings
        The chat messages.
    params : mapping
        Sampling parameters and ``response_format``.
    endpoint : str, optional
        The server URL (`LLMConfig.endpoint`): two servers serving the same model name may answer
        differently, so one server's answers are never replayed as another's.

    Returns
    -------
    str
        64 hex digits.
    """
    payload = {"endpoint": endpoint, "model": model, "messages": list(messages), "params": dict(params)}
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseCache:
    """A persistent key -> JSON-object store in one SQLite file (WAL mode, one transaction per write).

    Writes are grouped: `put` keeps entries pending until `flush_every` of them or `flush_seconds` have
    passed, then writes them in one transaction; `get` sees pending entries too.

    Parameters
    ----------
    path : str or Path
        The SQLite file (its folder is created).
    flush_every : int, default 64
        Pending entries that trigger a write.
    flush_seconds : float, default 1.0
        Seconds since the last write after which the next `put` writes.
    """

    def __init__(self, path: str | Path, *, flush_every: int = 64, flush_seconds: float = 1.0):
        self.path = Path(path)
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        self._pending: dict[str, str] = {}
        self._last_flush = time.monotonic()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored response for `key`, or None.

        Parameters
        ----------
        key : str
            A request key (`request_key`).

        Returns
        -------
        dict or None
        """
        with self._lock:
            if key in self._pending:
                return json.loads(self._pending[key])
            row = self._db.execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        """Store (or replace) the response for `key`; written with the next group of entries.

        Parameters
        ----------
        key : str
            A request key (`request_key`).
        value : mapping
            A JSON-serialisable response.
        """
        encoded = json.dumps(dict(value), ensure_ascii=False, sort_keys=True)
        with self._lock:
            self._pending[key] = encoded
            due = (
                len(self._pending) >= self.flush_every
                or time.monotonic() - self._last_flush >= self.flush_seconds
            )
        if due:
            self.flush()

    def flush(self) -> None:
        """Write pending entries in one transaction (all or none of them land)."""
        with self._lock:
            if self._pending:
                with self._db:
                    self._db.execute("BEGIN")
                    self._db.executemany(
                        "INSERT OR REPLACE INTO responses (key, value) VALUES (?, ?)",
                        list(self._pending.items()),
                    )
                self._pending.clear()
            self._last_flush = time.monotonic()

    def __contains__(self, key: str) -> bool:
        with self._lock:
            if key in self._pending:
                return True
            return self._db.execute("SELECT 1 FROM responses WHERE key = ?", (key,)).fetchone() is not None

    def __len__(self) -> int:
        self.flush()
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        """Write pending entries and close the database."""
        self.flush()
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
