"""Texts the run history keeps once, by content hash: header sets, bodies, long results.

100,000 requests of one loop usually send the same headers and get the same response
headers back; each distinct text is stored once (zlib-compressed) in the ``blobs`` table
and rows refer to it by id. A text shorter than ``INLINE`` characters stays in its row:
a reference and an index entry would cost more than the text.

One loop's answers look alike (the same keys, the same vocabulary) but each alone
compresses poorly. The first long text a writer stores becomes its dictionary: later
texts are compressed against it (zlib's preset dictionary, ``base`` names it), which
roughly halves what a 1 KiB JSON answer costs.
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
#: Texts at least this long (characters) may become a writer's compression dictionary.
DICTIONARY_MIN = 512
#: zlib uses at most the last 32 KiB of a preset dictionary.
_DICTIONARY_MAX = 32 * 1024


def digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class BlobWriter:
    """Stores texts in ``blobs`` for one connection; used by the writer thread only."""

    def __init__(self) -> None:
        self._ids: OrderedDict[bytes, int] = OrderedDict()
        self._base: tuple[int, bytes] | None = None  # the dictionary blob: id, text

    def forget(self) -> None:
        """Drop the cache: after a rolled-back transaction its ids may not exist."""
        self._ids.clear()
        self._base = None

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
            raw = text.encode("utf-8", "surrogatepass")
            base = self._base
            if base is None:
                data = zlib.compress(raw, 6)
            else:
                packer = zlib.compressobj(6, zdict=base[1])
                data = packer.compress(raw) + packer.flush()
            blob_id = db.execute(
                "INSERT INTO blobs (hash, data, base) VALUES (?, ?, ?)",
                (key, data, None if base is None else base[0]),
            ).lastrowid
            assert blob_id is not None
            if base is None and len(text) >= DICTIONARY_MIN:
                self._base = (blob_id, raw[-_DICTIONARY_MAX:])
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
    row = db.execute("SELECT data, base FROM blobs WHERE id = ?", (value,)).fetchone()
    if row is None:
        return None
    data, base = row
    if base is None:
        return zlib.decompress(data).decode("utf-8", "surrogatepass")
    found = db.execute("SELECT data FROM blobs WHERE id = ?", (base,)).fetchone()
    if found is None:
        return None
    zdict = zlib.decompress(found[0])[-_DICTIONARY_MAX:]
    unpacker = zlib.decompressobj(zdict=zdict)
    return (unpacker.decompress(data) + unpacker.flush()).decode("utf-8", "surrogatepass")
