"""Which consumer groups a `meetlat worker` run has, and what its per-service processes get."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.runtime.app import SERVICES, faust_settings
from services.runtime.settings import Settings, bootstrap_servers
from services.runtime.topics import Topics
from services.runtime.worker import pipeline_groups, pipeline_topics, settings_environment


def test_one_process_is_one_consumer_group_over_every_topic() -> None:
    settings = Settings(app_id="mg", topic_prefix="t", worker_processes="one")
    topics = Topics.for_settings(settings)
    assert pipeline_groups(settings, topics) == {"mg": pipeline_topics(topics)}


def test_per_service_processes_are_a_group_each_in_pipeline_order() -> None:
    settings = Settings(app_id="mg", topic_prefix="t", worker_processes="per-service")
    topics = Topics.for_settings(settings)
    assert pipeline_groups(settings, topics) == {
        "mg-ingest": ["t.intake"],
        "mg-scoring": ["t.observations"],
        "mg-aggregation": ["t.scores", "t.surveys"],
        "mg-combining": ["t.partials"],
        "mg-reporting": ["t.benchmarks"],
    }
    # a single service needs no processes of its own: it is the app id's group
    assert settings.consumer_groups(["scoring"]) == [("mg", "scoring")]
    assert [s for _, s in settings.consumer_groups(SERVICES)] == list(SERVICES)


def test_a_per_service_worker_gets_the_settings_given_in_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(
        data_dir=Path("/tmp/x"),
        partitions=3,
        imap_folders=["INBOX", "Spam"],
        imap_password="secret",
        database_url=None,
    )
    environment = settings_environment(settings)
    assert environment == {
        "MEETLAT_DATA_DIR": "/tmp/x",
        "MEETLAT_PARTITIONS": "3",
        "MEETLAT_IMAP_FOLDERS": '["INBOX", "Spam"]',
    }
    # and read back from the environment, they are the same settings
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    again = Settings()
    assert (again.data_dir, again.partitions, again.imap_folders) == (
        Path("/tmp/x"),
        3,
        ["INBOX", "Spam"],
    )


@pytest.mark.parametrize(
    ("broker_url", "tansu"),
    [(None, True), ("tansu://127.0.0.1:9092", True), ("kafka://k1:9092", False)],
)
def test_a_tansu_broker_started_elsewhere_is_still_run_as_tansu(
    broker_url: str | None, tansu: bool
) -> None:
    settings = Settings(broker_url=broker_url, processing_guarantee="exactly_once")
    assert settings.tansu is tansu
    conf = faust_settings(settings, broker_url or "kafka://127.0.0.1:1")
    assert conf["broker"].startswith("tansu://" if tansu else "kafka://")
    # Tansu has no transactions: at-least-once whatever the setting
    assert conf["processing_guarantee"] == ("at_least_once" if tansu else "exactly_once")
    assert bootstrap_servers("tansu://127.0.0.1:9092") == ["127.0.0.1:9092"]
