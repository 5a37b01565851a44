"""Blocks: the texts of one batch of history records, compressed together.

One loop's records look alike (the same keys, URLs that differ by an id, answers of the
same shape): compressed one by one they shrink little, compressed as one text of a few
hundred records each costs a few bytes. A row keeps ``block << MEMBER_BITS | index``;
reading one record decompresses its block (at most ``BATCH_CHARS`` characters of texts,
see ``_history_writer``), which readers keep for the next record of the same block.

Layout of ``blocks.data``: zlib of a header (the member count, then each member's length
in bytes, 4 bytes each, little-endian) followed by the members' UTF-8 texts.
"""

from __future__ import annotations

import sqlite3
import struct
import zlib

from ._store_schema import MEMBER_BITS

#: Members in one block: what a ``texts`` reference can number.
MEMBERS_MAX = (1 << MEMBER_BITS) - 1
_MASK = (1 << MEMBER_BITS) - 1
_LEVEL = 6


def write_blocks(db: sqlite3.Connection, members: list[str]) -> list[int]:
    """Store ``members`` in as few blocks as they fit; the reference of each, in order."""
    refs: list[int] = []
    for start in range(0, len(members), MEMBERS_MAX):
        chunk = [
            text.encode("utf-8", "surrogatepass") for text in members[start : start + MEMBERS_MAX]
        ]
        head = struct.pack(f"<I{len(chunk)}I", len(chunk), *(len(raw) for raw in chunk))
        data = zlib.compress(head + b"".join(chunk), _LEVEL)
        block = db.execute("INSERT INTO blocks (data) VALUES (?)", (data,)).lastrowid
        assert block is not None
        refs.extend((block << MEMBER_BITS) | i for i in range(len(chunk)))
    return refs


def split(ref: int) -> tuple[int, int]:
    """(block id, member index) of a reference."""
    return ref >> MEMBER_BITS, ref & _MASK


def unpack(data: bytes) -> list[str]:
    """The members of a block, from its stored bytes."""
    raw = zlib.decompress(data)
    (count,) = struct.unpack_from("<I", raw)
    sizes = struct.unpack_from(f"<{count}I", raw, 4)
    out = []
    at = 4 + 4 * count
    for size in sizes:
        out.append(raw[at : at + size].decode("utf-8", "surrogatepass"))
        at += size
    return out


class BlockReader:
    """Members by reference, keeping the last few blocks decoded (readers only)."""

    def __init__(self, db: sqlite3.Connection, keep: int = 4) -> None:
        self._db = db
        self._keep = keep
        self._cache: dict[int, list[str]] = {}

    def member(self, ref: int) -> str | None:
        block, index = split(ref)
        members = self._cache.get(block)
        if members is None:
            row = self._db.execute("SELECT data FROM blocks WHERE id = ?", (block,)).fetchone()
            if row is None:
                return None
            members = unpack(row[0])
            if len(self._cache) >= self._keep:
                self._cache.pop(next(iter(self._cache)))
            self._cache[block] = members
        return members[index] if index < len(members) else None
