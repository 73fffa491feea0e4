"""Batch writes to faust tables: decoded values in memory, one changelog write per batch."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cached_property
from itertools import islice
from typing import Any, Generic, TypeVar, cast

import orjson
from prometheus_client import Counter, Gauge

from services.runtime.sending import BulkSend

DECODED = Counter(
    "meetlat_table_values_decoded_total",
    "Table values decoded from their stored bytes: read for the first time since a start or a "
    "rebalance, or again after they left the decoded values a table keeps.",
    ["table"],
)
KEPT = Gauge(
    "meetlat_table_values_kept",
    "Decoded values a table keeps in memory between batches (bounded by a MEETLAT_*_KEPT setting).",
    ["table"],
)

V = TypeVar("V")


class TableCache(Generic[V]):
    """Decoded values of a table of raw bytes, trusted while the table still holds the object
    they came from (after a rebalance or recovery it holds another, and the value is decoded
    anew). A value changed by a batch is written once, when the batch ends, to the table and
    to its changelog on the given partition — the partition of the events that changed it, so
    the changelog stays co-partitioned.

    Reads go to the dict behind the table's memory store (the store is a `FastUserDict` over
    it, whose generic mapping methods cost microseconds a read; the store and its dict live as
    long as the table, and recovery updates that dict).

    The store's dict holds every key the worker wrote, also of partitions a rebalance later
    gave to another worker: faust's memory store lets go only of the keys it read from a
    changelog, by the partitions it noted for them. So `write` notes its keys' partitions
    there too, and once a rebalance's recovery is done the store drops the keys of partitions
    the worker no longer has, and this cache the decoded values whose bytes went or changed.

    A decoded value takes several times the memory of its bytes (a contact's state about 7 KB
    against 1.8; a ledger with its figures' memos 490 KB against 61), and a table keeps every
    key for good. So with a `capacity`, `trim` forgets the decoded values of the keys changed
    longest ago beyond it (and `forget` any one); their bytes stay in the table, and a later
    `get` decodes them again.
    """

    @classmethod
    def of_bytes(
        cls,
        app: Any,
        name: str,
        partitions: int,
        help: str,
        decode: Callable[[bytes | None], V],
        capacity: int | None = None,
    ) -> TableCache[V]:
        """A new table of `app` keyed by str whose values are raw bytes (in the changelog too,
        so recovery reads back exactly the bytes written), decoded by `decode`; at most
        `capacity` decoded values kept after `trim` (None: every one)."""
        table = app.Table(
            name, key_type=str, value_type=bytes, default=None, partitions=partitions, help=help
        )
        cache = cls(table, decode, name, capacity)
        table.on_recover(cache.after_recovery)
        return cache

    def __init__(
        self,
        table: Any,
        decode: Callable[[bytes | None], V],
        name: str = "",
        capacity: int | None = None,
    ) -> None:
        self.table = table
        self.decode = decode
        self.capacity = capacity
        # (insertion order is the order of change: `put` and `write` move a key to the end)
        self.values: dict[str, V] = {}  # key → decoded value
        self.sources: dict[str, Any] = {}  # key → the table's raw value it stands for
        self.name = name
        self._decoded = DECODED.labels(name)
        self._kept = KEPT.labels(name)

    @cached_property
    def changelog(self) -> str:
        return cast(str, self.table.changelog_topic.get_topic_name())

    @cached_property
    def stored(self) -> dict[str, Any]:
        return cast(dict[str, Any], self.table.data.data)

    @cached_property
    def partition_of(self) -> dict[str, int]:
        """Key → changelog partition, as the memory store notes it for the keys it recovers."""
        return cast(dict[str, int], self.table.data._key_partition)

    def get(self, key: str) -> V:
        raw = self.stored.get(key)
        value = self.values.get(key)
        if value is not None and self.sources[key] is raw:
            return value
        value = self.values[key] = self.decode(raw)
        self.sources[key] = raw
        self._decoded.inc()
        return value

    def put(self, key: str, value: V) -> None:
        """Keep `value` for this batch; `write_bulk` persists it."""
        self.values.pop(key, None)
        self.values[key] = value
        self.sources[key] = self.stored.get(key)

    def drop(self, key: str) -> None:
        """Forget `key` now; `write_bulk(..., None, ...)` sends the deletion to the changelog."""
        self.stored.pop(key, None)
        self.partition_of.pop(key, None)
        self.values.pop(key, None)
        self.sources.pop(key, None)

    def write(self, key: str, value: V, raw: bytes, partition: int) -> None:
        """Store `value` (serialised: `raw`) and send it to the changelog through faust."""
        self.stored[key] = self.sources[key] = raw
        self.partition_of[key] = partition
        self.values.pop(key, None)
        self.values[key] = value
        self.table.send_changelog(partition, key, raw)

    def delete(self, key: str, partition: int) -> None:
        """Forget `key` and send its deletion (a tombstone) to the changelog through faust."""
        self.drop(key)
        self.table.send_changelog(partition, key, None, value_serializer="raw")

    def write_bulk(self, send: BulkSend, key: str, raw: bytes | None, partition: int) -> None:
        """Store `raw` for the value `put` kept (None: it was dropped) and add it to `send`,
        for the changelog; the key as faust's json key serialiser writes it (with orjson:
        UTF-8, where `json.dumps` would escape a non-ASCII key)."""
        if raw is not None:
            self.stored[key] = self.sources[key] = raw
            self.partition_of[key] = partition
        send.add(self.changelog, partition, orjson.dumps(key), raw)

    def forget(self, key: str) -> None:
        """Forget `key`'s decoded value (its bytes stay: a later `get` decodes them again)."""
        self.values.pop(key, None)
        self.sources.pop(key, None)

    async def after_recovery(self) -> None:
        """A rebalance's recovery is done (faust has dropped the keys of partitions given up,
        and read anew what changed in the others): forget the decoded values whose bytes are
        no longer those they came from."""
        stored, sources = self.stored, self.sources
        for key in list(self.values):
            raw = stored.get(key)
            if raw is None or raw is not sources.get(key):
                self.forget(key)
        self._kept.set(len(self.values))

    def trim(self) -> None:
        """Forget the decoded values beyond `capacity`, those changed longest ago first. Call
        it once a batch's writes are done: what the batch holds may be among them."""
        excess = len(self.values) - self.capacity if self.capacity is not None else 0
        for key in list(islice(self.values, excess)) if excess > 0 else ():
            self.forget(key)
        self._kept.set(len(self.values))

    def keys_with_prefix(self, prefix: str) -> Iterator[str]:
        return (k for k in list(self.stored) if k.startswith(prefix))
