"""Dead-letter records: the original bytes as the value, the reason and origin as headers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

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
