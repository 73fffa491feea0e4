"""The table cache writes changelog keys exactly as faust's own table writes would, one that
keeps only some decoded values reads what one that keeps them all reads, and after a rebalance
it holds only what belongs to the partitions the worker kept."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from faust.serializers import codecs
from faust.types import TP
from hypothesis import given
from hypothesis import strategies as st

from services.runtime.tables import TableCache


class Recorded:
    """Collects what `write_bulk` adds (the one BulkSend method it calls)."""

    def __init__(self) -> None:
        self.added: list[tuple[str, int, bytes, bytes | None]] = []

    def add(self, topic: str, partition: int, key: bytes, value: bytes | None) -> None:
        self.added.append((topic, partition, key, value))


def table() -> Any:
    topic = SimpleNamespace(get_topic_name=lambda: "app-contacts-changelog")
    return SimpleNamespace(
        changelog_topic=topic,
        data=SimpleNamespace(data={}, _key_partition={}),
        send_changelog=lambda partition, key, value, **kwargs: None,
    )


@pytest.mark.parametrize("key", ["GM0344", "mg-2026-w1-GM0715-mail-2", "cöntact ü", 'say "hi"\n'])
def test_changelog_keys_are_serialised_as_faust_serialises_table_keys(key: str) -> None:
    # a key written in two spellings would be two keys to a compacted changelog
    cache: TableCache[bytes] = TableCache(table(), lambda raw: raw or b"")
    sent = Recorded()
    cache.write_bulk(sent, key, b"value", 3)  # type: ignore[arg-type]
    cache.write_bulk(sent, key, None, 3)  # type: ignore[arg-type]
    faust_json = codecs.get_codec("json")
    assert [k for _, _, k, _ in sent.added] == [faust_json.dumps(key)] * 2
    assert faust_json.loads(sent.added[0][2]) == key
    assert sent.added[0][:2] == ("app-contacts-changelog", 3)
    assert cache.stored[key] == b"value"


def decoded(raw: bytes | None) -> str:
    return (raw or b"").decode()


def test_trim_keeps_the_most_recently_changed_values_and_decodes_the_rest_again() -> None:
    cache: TableCache[str] = TableCache(table(), decoded, capacity=2)
    for key in ("a", "b", "c"):
        cache.write_bulk(Recorded(), key, key.encode(), 0)  # type: ignore[arg-type]
        cache.put(key, key.upper())  # (a value the batch made, kept until trimmed)
    cache.put("a", "A2")  # changed again: now the most recent
    cache.trim()
    assert list(cache.values) == ["c", "a"]
    assert cache.get("a") == "A2"  # kept: not decoded from the table's older bytes
    assert cache.get("b") == "b"  # forgotten: decoded again from its bytes
    cache.trim()
    assert len(cache.values) == 2


def test_without_a_capacity_trim_keeps_every_value() -> None:
    cache: TableCache[str] = TableCache(table(), decoded)
    for key in "abcde":
        cache.put(key, key)
    cache.trim()
    assert list(cache.values) == list("abcde")


operations = st.lists(
    st.tuples(
        st.sampled_from(["write", "get", "put", "drop", "forget", "trim"]),
        st.sampled_from("abcdef"),
    ),
    max_size=60,
)


@given(operations, st.integers(1, 4))
def test_a_trimmed_cache_reads_what_an_untrimmed_one_reads(
    steps: list[tuple[str, str]], capacity: int
) -> None:
    # the same writes through a cache that trims and one that keeps everything: every read
    # agrees, and the trimmed one never keeps more than its capacity after a trim
    trimmed: TableCache[str] = TableCache(table(), decoded, capacity=capacity)
    whole: TableCache[str] = TableCache(table(), decoded)
    for number, (operation, key) in enumerate(steps):
        for cache in (trimmed, whole):
            if operation == "write":
                cache.write(key, f"{key}{number}", f"{key}{number}".encode(), 0)
            elif operation == "put":  # a batch's value, written before its end
                cache.put(key, f"{key}{number}")
                cache.write_bulk(Recorded(), key, f"{key}{number}".encode(), 0)  # type: ignore[arg-type]
            elif operation == "drop":
                cache.drop(key)
            elif operation == "forget" and cache is trimmed:
                cache.forget(key)
            elif operation == "trim":
                cache.trim()
        if operation == "get":
            assert trimmed.get(key) == whole.get(key)
        if operation == "trim":
            assert len(trimmed.values) <= capacity
    assert {k: trimmed.get(k) for k in "abcdef"} == {k: whole.get(k) for k in "abcdef"}


def test_after_a_rebalance_the_cache_holds_only_the_partitions_the_worker_kept() -> None:
    # a real faust table and memory store (never started: nothing here talks to a broker)
    app = faust.App("meetlat-unit", broker="kafka://127.0.0.1:1")
    cache: TableCache[str] = TableCache.of_bytes(app, "contacts", 4, "", decoded)
    for partition, key in enumerate("abcd"):
        cache.put(key, key.upper())
        cache.write_bulk(Recorded(), key, key.encode(), partition)  # type: ignore[arg-type]
    cache.write("e", "E", b"e", 3)  # (buffered by faust, never sent: the app is not started)
    # the rebalance: partitions 0 and 2 stay, and recovery read a newer "c" from the changelog
    cache.stored["c"] = b"c from another worker"
    kept = {TP(cache.changelog, 0), TP(cache.changelog, 2)}
    asyncio.run(cache.table.on_recovery_completed(kept, set()))
    assert sorted(cache.stored) == ["a", "c"]
    assert list(cache.values) == ["a"]  # "c" is decoded anew, from the bytes recovery read
    assert cache.get("c") == "c from another worker"
