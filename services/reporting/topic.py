"""Read the compacted benchmarks topic back: the latest figure set of every scope."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from schemas.benchmarks import BenchmarkUpdated
from services.runtime.clients import read_to_end


def latest_benchmarks(
    broker_url: str,
    topic: str,
    timeout: float = 60.0,
    until: Mapping[int, int] | None = None,
) -> dict[str, BenchmarkUpdated]:
    """Scope key → highest version on the topic, read from the start to the current end of
    every partition (what a new reader of the compacted topic would rebuild). With `until`
    (partition → last offset, as a snapshot records its position) only up to and including
    those offsets; partitions not named are not read. A record that is not a valid
    `BenchmarkUpdated` is passed over, as the materialiser passes it over (and dead-letters
    it), and a scope whose highest version is a retraction is left out: the result is what
    SQL holds."""
    latest: dict[str, BenchmarkUpdated] = {}
    for record in read_to_end(broker_url, topic, "meetlat-benchmarks-reader", until, timeout):
        try:
            update = BenchmarkUpdated.model_validate_json(record.value)
        except ValidationError:
            continue
        held = latest.get(update.scope_key)
        if held is None or update.version > held.version:
            latest[update.scope_key] = update
    return {key: update for key, update in latest.items() if not update.retracted}
