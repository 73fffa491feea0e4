"""Sending many messages at once: one aiokafka record batch per topic partition.

faust's `Producer.send` makes a produce call per message (with a delivery future, a
partition lookup and the send signal each). A service that sends a burst of messages at the
end of a batch (the scorer's revisions and changelog values) appends them to record batches
instead and submits each batch once. faust has no bulk interface of its own: the batches
go through the aiokafka producer behind faust's (`Producer._ensure_producer()`), which faust
flushes before it commits the consumed offsets, as it does for every message it sends.

Batches are queued topic by topic, in the order each topic was first added to: when the
sender is cancelled half-way (a rebalance, a stop), what was queued still goes out and the
rest does not, so a caller decides by that order what may reach the broker without what.
"""

from __future__ import annotations

from typing import Any


class BulkSend:
    """Messages for some topic partitions, sent when `submit` is awaited."""

    def __init__(self, producer: Any, partitions: dict[tuple[str, bytes], int]) -> None:
        """`producer`: a started faust producer; `partitions`: the partition of each
        (topic, key) found so far, kept by the caller (it does not change while the topic's
        partitions do not)."""
        self.producer = producer
        self.client = producer._ensure_producer()
        self.partitions = partitions
        self.batches: dict[tuple[str, int], Any] = {}  # the open batch of each partition
        self.queued: dict[str, list[tuple[int, Any]]] = {}  # every batch, by topic

    async def partition(self, topic: str, key: bytes) -> int:
        """The partition the producer's partitioner sends `key` to."""
        found = self.partitions.get((topic, key))
        if found is None:
            await self.client.partitions_for(topic)  # the topic's metadata, for the partitioner
            found = self.partitions[topic, key] = self.producer.key_partition(topic, key).partition
        return found

    def add(self, topic: str, partition: int, key: bytes, value: bytes | None) -> None:
        batch = self.batches.get((topic, partition))
        if batch is None:
            batch = self._open(topic, partition)
        if batch.append(key=key, value=value, timestamp=None) is None:  # full: start another
            batch = self._open(topic, partition)
            if batch.append(key=key, value=value, timestamp=None) is None:
                raise ValueError(f"a message of {len(value or b'')} bytes exceeds a batch")

    def _open(self, topic: str, partition: int) -> Any:
        batch = self.batches[topic, partition] = self.client.create_batch()
        self.queued.setdefault(topic, []).append((partition, batch))
        return batch

    async def submit(self) -> None:
        """Queue every batch on the producer, topic by topic in the order they were first
        added to (faust flushes the producer before committing offsets)."""
        queued, self.queued, self.batches = self.queued, {}, {}
        for topic, batches in queued.items():
            for partition, batch in batches:
                await self.client.send_batch(batch, topic, partition=partition)
