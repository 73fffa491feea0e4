"""Topic declarations and their explicit creation through the Kafka admin client.

Faust does not create topics here (`topic_allow_declare=False`): every topic, including each
table's changelog, is declared with its partition count and created at start-up, because the
embedded broker does not auto-create and a changelog must have as many partitions as the topic
its table is keyed by. A changelog is compacted (as faust would declare it): a table's state is
its latest value per key, for good, where the broker's retention (a week on Kafka by default)
would delete what a worker has to recover; a changelog created without it is made compacted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from services.runtime.clients import connected
from services.runtime.settings import Settings

log = logging.getLogger(__name__)

COMPACT = "compact"  # cleanup.policy: the latest record per key is kept for good


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool = False
    configs: dict[str, str] = field(default_factory=dict)

    def new_topic(self, replication_factor: int) -> NewTopic:
        configs = dict(self.configs)
        if self.compacted:
            configs["cleanup.policy"] = COMPACT
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
    would break co-partitioning of tables and their source topics. An existing topic to be
    compacted that is not is made compacted.
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
            _make_compacted(admin, [s.name for s in present if s.compacted])
    finally:
        admin.close()
    if created:
        log.info("created topics: %s", ", ".join(created))
    return created


def _make_compacted(admin: KafkaAdminClient, names: list[str]) -> None:
    """Make compacted those of the topics `names` whose cleanup policy is not (a changelog
    that an earlier version created with the broker's retention)."""
    if not names:
        return
    described = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in names], config_filter="all"
    )["topic"]
    policies = {
        name: described.get(name, {}).get("cleanup.policy", {}).get("value") or "delete"
        for name in names
    }
    wrong = [name for name, policy in policies.items() if COMPACT not in policy.split(",")]
    if not wrong:
        return
    results = admin.alter_configs(
        [
            ConfigResource(ConfigResourceType.TOPIC, name, configs={"cleanup.policy": COMPACT})
            for name in wrong
        ],
        raise_on_unknown=False,
    )["topic"]
    failed = {name: result for name, result in results.items() if result != "OK"}
    if failed:
        name, result = next(iter(failed.items()))
        raise RuntimeError(
            f"topic {name} is not compacted (cleanup.policy={policies[name]}): the broker "
            f"would delete the table state it holds after its retention time, and making it "
            f"compacted failed ({result}); set cleanup.policy=compact on "
            f"{', '.join(sorted(failed))}"
        )
    for name in wrong:
        log.warning(
            "topic %s was not compacted (cleanup.policy=%s): made compacted, so that the "
            "table state it holds is kept",
            name,
            policies[name],
        )
