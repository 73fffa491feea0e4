"""Plain Kafka producer (kafka-python) for command-line ingest, HTTP intake and replay."""

from __future__ import annotations

from typing import Protocol

from kafka import KafkaProducer
from kafka.producer.future import FutureRecordMetadata

from services.runtime.clients import connected

Headers = list[tuple[str, bytes]]


class PublishError(Exception):
    """The broker did not store what was sent (it went away, or refused the records)."""


class Publisher(Protocol):
    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: Headers | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> None: ...

    def partitions(self, topic: str) -> list[int]: ...

    def flush(self) -> None: ...


class KafkaPublisher:
    """Publishes with acks from the broker; `flush` returns once everything sent is stored, and
    raises `PublishError` when some of it was not (kafka-python's own flush only waits: a
    record that failed after its retries would otherwise pass unnoticed)."""

    def __init__(
        self, broker_url: str, delivery_timeout_s: float = 120, connect_timeout_s: float = 30
    ) -> None:
        """Raises kafka-python's KafkaTimeoutError when no broker answers within
        `connect_timeout_s`."""
        timeout_ms = int(delivery_timeout_s * 1000)
        self._producer = connected(
            KafkaProducer,
            broker_url,
            connect_timeout_s,
            acks="all",
            linger_ms=5,
            # a request may not outlast the delivery it belongs to
            request_timeout_ms=min(30_000, timeout_ms - 5),
            delivery_timeout_ms=timeout_ms,
            client_id="meetlat-ingest",
        )
        self._pending: list[FutureRecordMetadata] = []

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: Headers | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> None:
        self._pending.append(
            self._producer.send(
                topic,
                key=key,
                value=value,
                headers=headers or [],
                partition=partition,
                timestamp_ms=timestamp_ms,
            )
        )

    def partitions(self, topic: str) -> list[int]:
        return sorted(self._producer.partitions_for(topic) or ())

    def flush(self) -> None:
        self._producer.flush()
        pending, self._pending = self._pending, []
        failed = [f for f in pending if f.failed()]
        if failed:
            raise PublishError(
                f"the broker did not store {len(failed)} of {len(pending)} records: "
                f"{failed[0].exception}"
            )

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._producer.close()
