"""Prometheus metrics every service exposes (names per Prometheus conventions)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Gauge, Histogram, start_http_server

EVENTS_IN = Counter(
    "meetlat_events_in_total", "Messages consumed by a service, by event type.", ["service", "type"]
)
EVENTS_OUT = Counter(
    "meetlat_events_out_total",
    "Messages produced by a service, by event type.",
    ["service", "type"],
)
DEADLETTERED = Counter(
    "meetlat_deadlettered_total", "Messages sent to the dead-letter topic.", ["service", "reason"]
)
PROCESSING_SECONDS = Histogram(
    "meetlat_processing_seconds",
    "Time a service spends on one message (or one batch, for batching services).",
    ["service"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
DATABASE_RETRIES = Counter(
    "meetlat_database_retries_total",
    "Database writes tried again after a lost connection or a held lock, by service.",
    ["service"],
)

# Mail ingestion (`meetlat ingest mail`)
MAIL_FETCHED = Counter(
    "meetlat_mail_fetched_total", "Messages fetched from a mail source (before deduplication)."
)
MAIL_CLASSIFIED = Counter(
    "meetlat_mail_classified_total",
    "Messages processed, by kind (sent, reply, auto_reply, bounce).",
    ["kind"],
)
MAIL_UNMATCHED = Gauge(
    "meetlat_mail_unmatched", "Received messages in the holding pen (matched to no sent mail)."
)
MAIL_QUARANTINED = Counter(
    "meetlat_mail_quarantined_total", "Messages quarantined instead of analysed.", ["reason"]
)
MAIL_LAST_POLL = Gauge(
    "meetlat_mail_last_successful_poll_timestamp_seconds",
    "Unix time of the last mail poll that completed without error.",
)


class ServiceMetrics:
    """The standard metrics, bound to one service's label (each labelled child looked up
    once), and how many messages were counted as consumed through this object: a reading that
    costs nothing, for progress probes (collecting a Prometheus metric builds every sample of
    every child)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.consumed_total = 0
        self._consumed: dict[str, Counter] = {}
        self._produced: dict[str, Counter] = {}
        self._deadlettered: dict[str, Counter] = {}

    def _child(self, children: dict[str, Counter], metric: Counter, label: str) -> Counter:
        child = children.get(label)
        if child is None:
            child = children[label] = metric.labels(self.service, label)
        return child

    def consumed(self, event_type: str, count: int = 1) -> None:
        self._child(self._consumed, EVENTS_IN, event_type).inc(count)
        self.consumed_total += count

    def produced(self, event_type: str, count: int = 1) -> None:
        self._child(self._produced, EVENTS_OUT, event_type).inc(count)

    def deadlettered(self, reason: str) -> None:
        self._child(self._deadlettered, DEADLETTERED, reason).inc()

    @contextmanager
    def timed(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            PROCESSING_SECONDS.labels(self.service).observe(time.perf_counter() - start)


class MetricsPortUnavailable(Exception):
    pass


def serve_metrics(port: int, addr: str = "0.0.0.0") -> int:
    """Expose /metrics on `port` (0 = off). Returns the port."""
    if port:
        try:
            start_http_server(port, addr=addr)
        except OSError as exc:
            raise MetricsPortUnavailable(
                f"cannot serve /metrics on {addr}:{port}: {exc.strerror or exc}"
            ) from exc
    return port
