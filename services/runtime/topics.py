"""Topic declarations and their explicit creation through the Kafka admin client.

Faust does not create topics here (`topic_allow_declare=False`): every topic, including each
table's changelog, is declared with its partition count and created at start-up, because the
embedded broker does not auto-create and a changelog must have as many partitions as the topic
its table is keyed by.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from services.runtime.clients import connected
from services.runtime.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool = False
    configs: dict[str, str] = field(default_factory=dict)

    def new_topic(self, replication_factor: int) -> NewTopic:
        configs = dict(self.configs)
        if self.compacted:
            configs["cleanup.policy"] = "compact"
        return NewTopic(self.name, self.partitions, replication_factor, topic_configs=configs)


@dataclass(frozen=True)
class Topics:
    """The pipeline's topic names (see DESIGN.md, Architecture)."""

    intake: str
    observations: str
    scores: str
    surveys: str
    partials: str
    benchmarks: str
    deadletter: str

    @classmethod
    def for_settings(cls, settings: Settings) -> Topics:
        p = settings.topic_prefix
        return cls(
            intake=f"{p}.intake",
            observations=f"{p}.observations",
            scores=f"{p}.scores",
            surveys=f"{p}.surveys",
            partials=f"{p}.partials",
            benchmarks=f"{p}.benchmarks",
            deadletter=f"{p}.deadletter",
        )

    def specs(self, partitions: int) -> list[TopicSpec]:
        return [
            TopicSpec(self.intake, partitions),
            TopicSpec(self.observations, partitions),
            TopicSpec(self.scores, partitions),
            TopicSpec(self.surveys, partitions),
            TopicSpec(self.partials, partitions),
            TopicSpec(self.benchmarks, partitions, compacted=True),
            TopicSpec(self.deadletter, partitions),
        ]


def ensure_topics(
    broker_url: str, specs: Iterable[TopicSpec], replication_factor: int = 1, timeout: float = 30.0
) -> list[str]:
    """Create every topic that does not exist yet; returns the names created.

    An existing topic with a different partition count is an error: silently running with it
    would break co-partitioning of tables and their source topics.
    """
    wanted = {s.name: s for s in specs}
    admin = connected(KafkaAdminClient, broker_url, timeout, client_id="meetlat-admin")
    created = []
    try:
        existing = set(admin.list_topics())
        for spec in wanted.values():
            if spec.name in existing:
                continue
            try:
                admin.create_topics([spec.new_topic(replication_factor)])
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass  # created concurrently by another worker
        present = [s for s in wanted.values() if s.name in existing]
        if present:
            for described in admin.describe_topics([s.name for s in present]):
                spec = wanted[described["name"]]
                found = len(described["partitions"])
                if found != spec.partitions:
                    raise RuntimeError(
                        f"topic {spec.name} has {found} partitions, Meetlat needs {spec.partitions}"
                    )
    finally:
        admin.close()
    if created:
        log.info("created topics: %s", ", ".join(created))
    return created
