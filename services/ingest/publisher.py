"""Plain Kafka producer (kafka-python) for command-line ingest and replay."""

from __future__ import annotations

from typing import Protocol

from kafka import KafkaProducer

from services.runtime.settings import bootstrap_servers

Headers = list[tuple[str, bytes]]


class Publisher(Protocol):
    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> None: ...

    def partitions(self, topic: str) -> list[int]: ...

    def flush(self) -> None: ...


class KafkaPublisher:
    """Publishes with acks from the broker; `flush` returns once everything sent is stored."""

    def __init__(self, broker_url: str) -> None:
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap_servers(broker_url),
            acks="all",
            linger_ms=5,
            client_id="meetlat-ingest",
        )

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> None:
        self._producer.send(topic, key=key, value=value, headers=headers or [], partition=partition)

    def partitions(self, topic: str) -> list[int]:
        return sorted(self._producer.partitions_for(topic) or ())

    def flush(self) -> None:
        self._producer.flush()

    def close(self) -> None:
        self._producer.flush()
        self._producer.close()
