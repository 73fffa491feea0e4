"""The faust app factory: one app, the chosen services' agents registered on it.

All services can run in one worker (the embedded default), or each group of services in its
own horizontally scaled workers: give each group its own `MEETLAT_APP_ID` (its consumer group)
and `meetlat worker --service scoring`. `MEETLAT_WORKER_PROCESSES=per-service` has one
`meetlat worker` start and stop one such process per service on one machine.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import faust
from faust.exceptions import AlreadyConfiguredWarning
from sqlalchemy import Engine

from schemas.reference import ReferenceData
from schemas.scoring_model import ScoringModel
from services.runtime.db import make_engine
from services.runtime.settings import Settings
from services.runtime.topics import Topics, TopicSpec
from services.runtime.transport import faust_broker_url
from services.scoring.catalogue import ModelCatalogue, default_model

log = logging.getLogger(__name__)
SERVICES = ("ingest", "scoring", "aggregation", "combining", "reporting")


@dataclass
class Pipeline:
    """What the agents of every service share: the app, its topics, reference data, SQL."""

    app: faust.App
    settings: Settings
    topics: Topics
    reference: ReferenceData
    models: ModelCatalogue
    model: ScoringModel  # the active model: new contacts are pinned to it
    services: tuple[str, ...]
    failure: BaseException | None = None  # the first batch that failed (see runtime.batches)
    on_failure: Callable[[BaseException], None] | None = None  # set by whoever runs the worker
    _faust_topics: dict[str, Any] = field(default_factory=dict)

    def fail(self, service: str, error: BaseException, messages: int) -> None:
        """A batch of `service` could not be processed: its messages stay uncommitted and the
        worker is asked to stop (once), so that a restarted worker reads them again."""
        log.error(
            "%s: a batch of %d messages failed (%r); its offsets stay uncommitted and the "
            "worker stops, to be restarted",
            service,
            messages,
            error,
            exc_info=error,
        )
        if self.failure is None:
            self.failure = error
            # Stopping, faust waits until every message it handed to a stream is
            # acknowledged; a failed agent no longer takes the ones it had buffered, so the
            # stop could wait forever (seen in test_failed_batch). Nothing needs waiting for:
            # what was not committed is read again by the next worker. (faust reads the
            # setting when it stops; it warns that it was already read at start.)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", AlreadyConfiguredWarning)
                self.app.conf.stream_wait_empty = False
            if self.on_failure is not None:
                self.on_failure(error)

    def topic(self, name: str) -> Any:
        """A faust topic of raw bytes (agents validate values themselves, so nothing that
        fails to decode can crash a worker: it is dead-lettered instead)."""
        if name not in self._faust_topics:
            self._faust_topics[name] = self.app.topic(
                name,
                key_type=bytes,
                value_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
                partitions=self.settings.partitions,
            )
        return self._faust_topics[name]

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.sqlalchemy_url)

    def topic_specs(self) -> list[TopicSpec]:
        """Every topic the app needs: the pipeline's and each table's changelog (compacted:
        a table's state is its latest value per key)."""
        specs = self.topics.specs(self.settings.partitions)
        for table in self.app.tables.values():
            name = table.changelog_topic.get_topic_name()
            specs.append(TopicSpec(name, self.settings.partitions, compacted=True))
        return specs


def faust_settings(settings: Settings, broker_url: str) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "broker": faust_broker_url(broker_url, settings.tansu),
        "store": "memory://",
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication_factor,
        "topic_allow_declare": False,  # topics are created explicitly (runtime.topics)
        "topic_disable_leader": True,
        "processing_guarantee": "at_least_once"
        if settings.tansu
        else settings.processing_guarantee,
        "web_enabled": False,
        "autodiscover": False,
        "datadir": str(settings.data_dir / "faust"),
        "consumer_auto_offset_reset": "earliest",
        "key_serializer": "raw",
        "value_serializer": "json",
        "broker_commit_interval": 1.0,
        # Let the producer gather messages for a few milliseconds: one produce request per
        # batch instead of per message (changelog writes and revisions come in bursts).
        "producer_linger": 0.005,
        # The scorer writes a burst of changelog values and revisions (each a few KB) at the
        # end of every batch; with aiokafka's 16 KB batches a partition takes only a handful
        # before the next send must wait for the broker's reply. Larger batches (still below
        # Kafka's default 1 MB message.max.bytes) turn the burst into a few requests.
        "producer_max_batch_size": 512 * 1024,
    }
    if settings.tansu:
        # Tansu holds a group join for half the session timeout: keep it short locally so a
        # worker is ready in seconds (Kafka's defaults stay in place for production brokers).
        conf.update(
            broker_session_timeout=6.0,
            broker_heartbeat_interval=1.0,
            broker_rebalance_timeout=6.0,
            broker_commit_interval=0.5,
        )
    return conf


def load_models(settings: Settings) -> tuple[ModelCatalogue, ScoringModel]:
    """The model catalogue (built-in + MEETLAT_MODELS_DIR) and the active model, which is
    added to the catalogue when it comes from a file, so contacts pinned to it resolve."""
    models = ModelCatalogue(settings.models_dir)
    # Unset: the shipped default. A newer version in MEETLAT_MODELS_DIR is there to rescore
    # with, and becomes active only when MEETLAT_SCORING_MODEL names it.
    active = models.resolve(settings.scoring_model) if settings.scoring_model else default_model()
    if active.key not in models:
        models.add(active, origin=str(settings.scoring_model))
    return models, active


Registrar = Callable[[Pipeline], None]


def _registrars() -> dict[str, Registrar]:
    from services.aggregation.agent import register as aggregation
    from services.aggregation.agent import register_combiner as combining
    from services.ingest.agent import register as ingest
    from services.reporting.agent import register as reporting
    from services.scoring.agent import register as scoring

    return {
        "ingest": ingest,
        "scoring": scoring,
        "aggregation": aggregation,
        "combining": combining,
        "reporting": reporting,
    }


def create_pipeline(
    settings: Settings, broker_url: str, services: Sequence[str] = SERVICES
) -> Pipeline:
    unknown = set(services) - set(SERVICES)
    if unknown:
        raise ValueError(f"unknown service(s) {sorted(unknown)}; choose from {SERVICES}")
    app = faust.App(settings.app_id, **faust_settings(settings, broker_url))
    # "producer buffer full" is faust's normal backpressure (the conductor waits until the
    # buffer drains), logged as a warning for every batch that sends more than 100 messages.
    logging.getLogger("faust.transport.producer").setLevel(logging.ERROR)
    models, active = load_models(settings)
    pipeline = Pipeline(
        app=app,
        settings=settings,
        topics=Topics.for_settings(settings),
        reference=ReferenceData.load(settings.chamber_map),
        models=models,
        model=active,
        services=tuple(services),
    )
    registrars = _registrars()
    for name in SERVICES:
        if name in services:
            registrars[name](pipeline)
    return pipeline
