"""Texts the run history keeps once, by content hash: header sets, bodies, long results.

100,000 requests of one loop usually send the same headers and get the same response
headers back; each distinct text is stored once (zlib-compressed) in the ``blobs`` table
and rows refer to it by id. A text shorter than ``INLINE`` characters stays in its row:
a reference and an index entry would cost more than the text.
"""

from __future__ import annotations

import hashlib
import sqlite3
import zlib
from collections import OrderedDict

#: Texts shorter than this (characters) are kept in the row itself, not in ``blobs``.
INLINE = 160
#: Blob ids remembered by one writer, so a repeated text costs no lookup (entries).
CACHE_ENTRIES = 4096


def digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class BlobWriter:
    """Stores texts in ``blobs`` for one connection; used by the writer thread only."""

    def __init__(self) -> None:
        self._ids: OrderedDict[bytes, int] = OrderedDict()

    def forget(self) -> None:
        """Drop the cache: after a rolled-back transaction its ids may not exist."""
        self._ids.clear()

    def ref(self, db: sqlite3.Connection, text: str | None) -> int | str | None:
        """What a row keeps for ``text``: None, the text itself when short, else a blob id."""
        if text is None or len(text) < INLINE:
            return text
        return self.put(db, text)

    def put(self, db: sqlite3.Connection, text: str) -> int:
        key = digest(text)
        found = self._ids.get(key)
        if found is not None:
            self._ids.move_to_end(key)
            return found
        row = db.execute("SELECT id FROM blobs WHERE hash = ?", (key,)).fetchone()
        if row is None:
            data = zlib.compress(text.encode("utf-8", "surrogatepass"), 6)
            blob_id = db.execute(
                "INSERT INTO blobs (hash, data) VALUES (?, ?)", (key, data)
            ).lastrowid
            assert blob_id is not None
        else:
            blob_id = row[0]
        self._ids[key] = blob_id
        if len(self._ids) > CACHE_ENTRIES:
            self._ids.popitem(last=False)
        return blob_id


def read(db: sqlite3.Connection, value: object) -> str | None:
    """The text a row keeps as ``value`` (inline text, or a blob id)."""
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, int):
        return None
    row = db.execute("SELECT data FROM blobs WHERE id = ?", (value,)).fetchone()
    if row is None:
        return None
    return zlib.decompress(row[0]).decode("utf-8", "surrogatepass")
