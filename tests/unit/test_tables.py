"""The table cache writes changelog keys exactly as faust's own table writes would."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from faust.serializers import codecs

from services.runtime.tables import TableCache


class Recorded:
    """Collects what `write_bulk` adds (the one BulkSend method it calls)."""

    def __init__(self) -> None:
        self.added: list[tuple[str, int, bytes, bytes | None]] = []

    def add(self, topic: str, partition: int, key: bytes, value: bytes | None) -> None:
        self.added.append((topic, partition, key, value))


def table() -> Any:
    topic = SimpleNamespace(get_topic_name=lambda: "app-contacts-changelog")
    return SimpleNamespace(changelog_topic=topic, data=SimpleNamespace(data={}))


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
