"""Topic declarations and their explicit creation through the Kafka admin client.

Faust does not create topics here (`topic_allow_declare=False`): every topic, including each
table's changelog, is declared with its partition count and created at start-up, because the
embedded broker does not auto-create and a changelog must have as many partitions as the topic
its table is keyed by. A changelog is compacted (as faust would declare it): a table's state is
its latest value per key, for good, where the broker's retention (a week on Kafka by default)
would delete what a worker has to recover. The dead-letter topic keeps its records for good:
nothing refused is lost. An existing topic without what its spec requires is given it.
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
FOR_GOOD = "-1"  # retention.ms: no record is deleted for its age


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool = False
    configs: dict[str, str] = field(default_factory=dict)

    def required_configs(self) -> dict[str, str]:
        configs = dict(self.configs)
        if self.compacted:
            configs["cleanup.policy"] = COMPACT
        return configs

    def new_topic(self, replication_factor: int) -> NewTopic:
        return NewTopic(
            self.name, self.partitions, replication_factor, topic_configs=self.required_configs()
        )


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
            # what a service refused is kept until it is dealt with, not for the broker's week
            TopicSpec(self.deadletter, partitions, configs={"retention.ms": FOR_GOOD}),
        ]


def ensure_topics(
    broker_url: str, specs: Iterable[TopicSpec], replication_factor: int = 1, timeout: float = 30.0
) -> list[str]:
    """Create every topic that does not exist yet; returns the names created.

    An existing topic with a different partition count is an error: silently running with it
    would break co-partitioning of tables and their source topics. An existing topic that
    lacks a config its spec requires (compaction, retention) is given it.
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
            _keep_configs(admin, present)
    finally:
        admin.close()
    if created:
        log.info("created topics: %s", ", ".join(created))
    return created


def _keep_configs(admin: KafkaAdminClient, specs: list[TopicSpec]) -> None:
    """Set on existing topics what their specs require and they lack (a changelog, or the
    dead-letter topic, that an earlier version created with the broker's retention)."""
    required = {spec.name: spec.required_configs() for spec in specs}
    required = {name: configs for name, configs in required.items() if configs}
    if not required:
        return
    described = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in required], config_filter="all"
    )["topic"]
    found = {
        name: {key: described.get(name, {}).get(key, {}).get("value") for key in configs}
        for name, configs in required.items()
    }
    wrong = {
        name: {
            key: value for key, value in configs.items() if not _holds(found[name][key], key, value)
        }
        for name, configs in required.items()
    }
    wrong = {name: configs for name, configs in wrong.items() if configs}
    if not wrong:
        return
    results = admin.alter_configs(
        [
            ConfigResource(ConfigResourceType.TOPIC, name, configs=configs)
            for name, configs in wrong.items()
        ],
        raise_on_unknown=False,
    )["topic"]
    failed = sorted(name for name, result in results.items() if result != "OK")
    if failed:
        lacking = ", ".join(f"{k}={v}" for k, v in wrong[failed[0]].items())
        raise RuntimeError(
            f"topic {failed[0]} lacks {lacking} (it has {_described(found[failed[0]])}): "
            f"without it the broker deletes what Meetlat keeps there after its retention time, "
            f"and setting it failed ({results[failed[0]]}); set it on {', '.join(failed)}"
        )
    for name, configs in wrong.items():
        log.warning(
            "topic %s had %s: set %s, so that what Meetlat keeps there is kept",
            name,
            _described(found[name]),
            ", ".join(f"{k}={v}" for k, v in configs.items()),
        )


def _holds(found: str | None, key: str, wanted: str) -> bool:
    if key == "cleanup.policy":  # "compact,delete" compacts too (with a retention on top)
        return wanted in (found or "delete").split(",")
    return found == wanted


def _described(found: dict[str, str | None]) -> str:
    return ", ".join(f"{key}={value or 'the default'}" for key, value in found.items())
