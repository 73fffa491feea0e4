"""Batch writes to faust tables: decoded values in memory, one changelog write per batch."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class TableCache(Generic[V]):
    """Decoded values of a table of raw bytes, trusted while the table still holds the object
    they came from (after a rebalance or recovery it holds another, and the value is decoded
    anew). `write` stores a value in the table and its changelog on the given partition —
    the partition of the events that changed it, so the changelog stays co-partitioned."""

    def __init__(self, table: Any, decode: Callable[[bytes | None], V]) -> None:
        self.table = table
        self.decode = decode
        self.entries: dict[str, tuple[Any, V]] = {}

    def get(self, key: str) -> V:
        raw = self.table.data.get(key)
        entry = self.entries.get(key)
        if entry is not None and entry[0] is raw:
            return entry[1]
        value = self.decode(raw)
        self.entries[key] = (raw, value)
        return value

    def write(self, key: str, value: V, raw: bytes, partition: int) -> None:
        self.table.data[key] = raw
        self.table.send_changelog(partition, key, raw)
        self.entries[key] = (raw, value)

    def keys_with_prefix(self, prefix: str) -> Iterator[str]:
        return (k for k in list(self.table.data.keys()) if k.startswith(prefix))
