"""A dead letter as an operator reads it back: JSON with the original bytes, and one line of a
file to correct and ingest again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.runtime.deadletter import DeadLetter, deadletter_headers


class Record:  # (what kafka-python's consumer gives: the fields `DeadLetter.of` reads)
    def __init__(self, value: bytes | None, headers: list[tuple[str, bytes]]) -> None:
        self.partition, self.offset, self.timestamp = 1, 41, 1_772_442_000_123
        self.value, self.headers = value, headers


def letter(value: bytes | None) -> DeadLetter:
    headers = deadletter_headers("wave: too small", "invalid_event", "ingest", "forms.csv:3")
    return DeadLetter.of(Record(value, headers))


def test_a_record_and_its_headers_are_read() -> None:
    read = letter(b'{"wave": 0}')
    assert read == DeadLetter(
        1,
        41,
        datetime(2026, 3, 2, 9, 0, 0, 123_000, tzinfo=UTC),
        "ingest",
        "invalid_event",
        "forms.csv:3",
        "wave: too small",
        b'{"wave": 0}',
    )
    assert read.to_json() == {
        "partition": 1,
        "offset": 41,
        "at": "2026-03-02T09:00:00.123000Z",
        "service": "ingest",
        "kind": "invalid_event",
        "source": "forms.csv:3",
        "reason": "wave: too small",
        "value": '{"wave": 0}',
    }
    assert letter(b"\xff").to_json()["value_base64"] == "/w=="
    assert letter(None).value == b""
    assert DeadLetter.of(Record(b"x", [])).kind == ""  # (a record some other tool wrote)


@pytest.mark.parametrize(
    ("value", "line"),
    [
        (b'{"wave": 0,  "x": 1.50}', b'{"wave": 0,  "x": 1.50}'),  # as it is
        (b"call.placed,e-1,,GM0344", b"call.placed,e-1,,GM0344"),
        (b'{\n  "wave": 0\n}', b'{"wave":0}'),  # one line of JSON
        (b'{\r\n  "wave": 0\r\n}', b'{"wave":0}'),
        (b"a,b\nc,d", None),  # neither one line nor JSON
        (b'{"wave": \n', None),
    ],
)
def test_a_record_becomes_one_line(value: bytes, line: bytes | None) -> None:
    assert letter(value).as_line() == line
