"""Dead-letter records: the original bytes as the value, the reason and origin as headers;
and `DeadLetter`, such a record as an operator reads it back (`meetlat deadletter`)."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from services.runtime.metrics import ServiceMetrics

REASON_HEADER = "meetlat-reason"
REASON_KIND_HEADER = "meetlat-reason-kind"
SERVICE_HEADER = "meetlat-service"
SOURCE_HEADER = "meetlat-source"


def deadletter_headers(
    reason: str, kind: str, service: str, source: str
) -> list[tuple[str, bytes]]:
    """`kind` is a short label for metrics ('invalid_event', 'contradicts_contact', …);
    `reason` the full human-readable explanation; `source` where the bytes came from
    ('events.jsonl:12' or 'meetlat.observations/3@1041')."""
    return [
        (REASON_HEADER, reason.encode()),
        (REASON_KIND_HEADER, kind.encode()),
        (SERVICE_HEADER, service.encode()),
        (SOURCE_HEADER, source.encode()),
    ]


def headers_dict(
    headers: Mapping[str, bytes] | Iterable[tuple[str, bytes]] | None,
) -> dict[str, str]:
    """Decode Kafka headers (list of pairs or mapping) into a str → str dict."""
    items = headers.items() if isinstance(headers, Mapping) else headers or []
    return {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in items}


def message_source(message: Any) -> str:
    """Where a consumed message came from: 'topic/partition@offset'."""
    return f"{message.topic}/{message.partition}@{message.offset}"


async def reject(topic: Any, event: Any, reason: str, kind: str, metrics: ServiceMetrics) -> None:
    """Dead-letter a consumed faust event: its original key and bytes, the reason as headers."""
    message = event.message
    await topic.send(
        key=message.key,
        value=event.value or b"",
        headers=deadletter_headers(reason, kind, metrics.service, message_source(message)),
    )
    metrics.deadlettered(kind)


@dataclass(frozen=True)
class DeadLetter:
    """One record of the dead-letter topic: what was refused, by which service, why, and
    where it came from."""

    partition: int
    offset: int
    at: datetime  # when it was dead-lettered (the record's timestamp)
    service: str
    kind: str
    source: str
    reason: str
    value: bytes  # the original bytes

    @classmethod
    def of(cls, record: Any) -> DeadLetter:
        """From a consumed kafka-python record."""
        headers = headers_dict(record.headers)
        return cls(
            record.partition,
            record.offset,
            datetime.fromtimestamp(record.timestamp / 1000, UTC),
            headers.get(SERVICE_HEADER, ""),
            headers.get(REASON_KIND_HEADER, ""),
            headers.get(SOURCE_HEADER, ""),
            headers.get(REASON_HEADER, ""),
            record.value or b"",
        )

    def to_json(self) -> dict[str, Any]:
        """As JSON: the value as text when it is UTF-8, else in base64 (`value_base64`)."""
        document: dict[str, Any] = {
            "partition": self.partition,
            "offset": self.offset,
            "at": self.at.isoformat().replace("+00:00", "Z"),
            "service": self.service,
            "kind": self.kind,
            "source": self.source,
            "reason": self.reason,
        }
        try:
            document["value"] = self.value.decode()
        except UnicodeDecodeError:
            document["value_base64"] = base64.b64encode(self.value).decode()
        return document

    def as_line(self) -> bytes | None:
        """The original bytes as one line of a file to correct and ingest again: as they are,
        or, when they hold a line break, as JSON written on one line; None when they hold a
        line break and are not JSON."""
        if b"\n" not in self.value and b"\r" not in self.value:
            return self.value
        try:
            return orjson.dumps(orjson.loads(self.value))
        except orjson.JSONDecodeError:
            return None
