"""BulkSend queues its record batches topic by topic, in the order each topic was first added
to, whatever overflowed into a second batch: a sender cancelled half-way then leaves out a
suffix of that order (the scorer relies on it: revisions, then clocks, then contacts)."""

from __future__ import annotations

import asyncio

from aiokafka.producer.message_accumulator import BatchBuilder

from services.runtime.sending import BulkSend


class RecordingClient:
    """The two aiokafka producer calls BulkSend makes: real record batches, sends recorded."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.sent: list[tuple[str, int, int]] = []  # topic, partition, records

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(self.batch_size, 0)

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> None:
        self.sent.append((topic, partition, batch.record_count()))


class Producer:
    def __init__(self, client: RecordingClient) -> None:
        self.client = client

    def _ensure_producer(self) -> RecordingClient:
        return self.client


def test_batches_go_out_topic_by_topic_in_first_use_order() -> None:
    client = RecordingClient(batch_size=300)
    send = BulkSend(Producer(client), {})
    value = b"x" * 100
    send.add("scores", 0, b"k", value)
    send.add("clocks", 1, b"p1", value)
    send.add("contacts", 2, b"c", value)
    for _ in range(4):  # overflows into further batches of the last topic
        send.add("contacts", 2, b"c", value)
    send.add("clocks", 1, b"p1", value)
    asyncio.run(send.submit())
    topics = [topic for topic, _, _ in client.sent]
    assert topics == sorted(topics, key=["scores", "clocks", "contacts"].index)
    assert sum(n for _, _, n in client.sent) == 8
    assert topics.count("contacts") >= 3  # the overflow made more batches
    client.sent.clear()
    asyncio.run(send.submit())
    assert client.sent == []  # submitted once
