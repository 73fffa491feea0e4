"""Parsing outside input: every record ends Accepted (canonical JSON) or Rejected (line, reason
naming the field, the original bytes)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from schemas.events import EVENT_ADAPTER, CallAssessed, CallPlaced, parse_event
from services.ingest.parsing import (
    Accepted,
    FieldProblem,
    Rejected,
    parse_csv,
    parse_event_record,
    parse_json_record,
    parse_jsonl,
)

KNOWN = {"GM0344", "GM0363"}


def record(**overrides: Any) -> dict[str, Any]:
    base = {
        "type": "call.placed",
        "event_id": "e-1",
        "contact_id": "c-1",
        "municipality": "GM0344",
        "campaign": "mg-2026",
        "wave": 1,
        "case": "standplaatsvergunning",
        "occurred_at": "2026-03-02T09:00:00+01:00",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def line(**overrides: Any) -> bytes:
    return json.dumps(record(**overrides)).encode()


def only(outcomes) -> Accepted | Rejected:
    items = list(outcomes)
    assert len(items) == 1, items
    return items[0]


# ------------------------------------------------------------------ JSONL


def test_good_lines_are_accepted_with_canonical_payload() -> None:
    assessed = line(
        type="call.assessed",
        event_id="e-2",
        answers={"vriendelijkheid_aanname": "vriendelijk"},
        report="Vriendelijk te woord gestaan.",
    )
    outcomes = list(parse_jsonl([line(), assessed], "calls.jsonl", KNOWN))
    assert [type(o) for o in outcomes] == [Accepted, Accepted]
    placed, judged = outcomes
    assert isinstance(placed, Accepted) and isinstance(judged, Accepted)
    assert (placed.source, placed.line, judged.line) == ("calls.jsonl", 1, 2)
    assert isinstance(placed.event, CallPlaced)
    assert isinstance(judged.event, CallAssessed)
    assert judged.event.answers == {"vriendelijkheid_aanname": "vriendelijk"}
    # canonical: the contract's own serialisation, defaults filled in, re-parses to the event
    assert placed.payload == EVENT_ADAPTER.dump_json(placed.event)
    doc = json.loads(placed.payload)
    assert doc["schema_version"] == 2  # the current contract version, filled in by default
    assert doc["type"] == "call.placed"
    assert parse_event(placed.payload) == placed.event


def test_payload_does_not_depend_on_input_formatting() -> None:
    compact = json.dumps(record(), separators=(",", ":")).encode()
    spaced = json.dumps(dict(reversed(record().items())), indent=2).replace("\n", " ").encode()
    a = only(parse_jsonl([compact], "a"))
    b = only(parse_jsonl([spaced], "b"))
    assert isinstance(a, Accepted) and isinstance(b, Accepted)
    assert a.payload == b.payload


def test_blank_lines_are_skipped_but_counted() -> None:
    data = b"\n" + line() + b"\n   \n\n" + line(event_id="e-2") + b"\n\t\n"
    outcomes = list(parse_jsonl(io.BytesIO(data), "f.jsonl"))
    assert [(type(o), o.line) for o in outcomes] == [(Accepted, 2), (Accepted, 5)]


def rejected_at(lines: list[bytes], number: int, **kwargs: Any) -> Rejected:
    outcome = next(o for o in parse_jsonl(lines, "in.jsonl", **kwargs) if o.line == number)
    assert isinstance(outcome, Rejected), outcome
    assert outcome.source == "in.jsonl"
    assert str(outcome).startswith(f"in.jsonl:{number}: ")
    return outcome


BAD_LINES = [
    (b"{not json}", "not valid JSON"),
    (b'{"type": "call.placed",', "not valid JSON"),
    (b"\xff\xfe{}", "not valid JSON"),
    (b"[1, 2, 3]", "not a JSON object"),
    (b'"call.placed"', "not a JSON object"),
    (line(event_id=None), "event_id"),
    (line(type=None), "type"),
    (line(type="call.teleported"), "type"),
    (line(occurred_at="2026-03-02T09:00:00"), "occurred_at"),
    (line(occurred_at="gisteren"), "occurred_at"),
    (line(municipality="0344"), "municipality"),
    (line(municipality="GM344"), "municipality"),
    (line(wave=0), "wave"),
    (line(extra="x"), "extra"),
    (line(type="call.answered", seconds_waited=-1), "seconds_waited"),
    # outside 1970–2100 UTC: the scorer could not add a deadline to such a time
    (line(occurred_at="9999-12-31T23:00:00+00:00"), "less than 2100-01-01"),
    (line(occurred_at="2099-12-31T23:30:00-01:00"), "less than 2100-01-01"),
    (line(occurred_at="0001-01-01T00:00:00+00:00"), "greater than or equal to 1970-01-01"),
    (
        line(type="call.callback_promised", deadline="9999-12-31T00:00:00+00:00"),
        "deadline",
    ),
    # NUL (PostgreSQL's text refuses it) and, in identifiers and answers, line breaks
    (line(event_id="a\u0000b"), "event_id"),
    (line(campaign="mg\n2026"), "campaign"),
    (line(type="call.assessed", answers={"vriend\telijkheid": "ja"}, report=""), "answers"),
    (line(type="call.assessed", answers={}, report="regel 1\nregel 2\u0000"), "report"),
]


@pytest.mark.parametrize(("bad", "reason_contains"), BAD_LINES)
def test_bad_lines_are_rejected_with_line_reason_and_original(
    bad: bytes, reason_contains: str
) -> None:
    lines = [line(event_id="ok-1"), b"", bad, line(event_id="ok-2")]
    outcomes = list(parse_jsonl(lines, "in.jsonl", KNOWN))
    assert [o.line for o in outcomes] == [1, 3, 4]
    assert isinstance(outcomes[0], Accepted) and isinstance(outcomes[2], Accepted)
    outcome = rejected_at(lines, 3, municipalities=KNOWN)
    assert reason_contains in outcome.reason
    assert outcome.original == bad


def test_naive_datetime_reason_names_the_field() -> None:
    outcome = rejected_at([line(occurred_at="2026-03-02T09:00:00")], 1)
    assert "occurred_at" in outcome.reason
    assert "timezone" in outcome.reason


def test_the_reason_is_what_the_field_problems_say() -> None:
    outcome = rejected_at([line(occurred_at="2026-03-02T09:00:00", wave=0)], 1)
    assert outcome.fields == (
        FieldProblem(("wave",), "Input should be greater than or equal to 1", "greater_than_equal"),
        FieldProblem(("occurred_at",), "Input should have timezone info", "timezone_aware"),
    )
    assert outcome.reason == "; ".join(str(f) for f in outcome.fields)
    assert outcome.reason.startswith("wave: Input should be greater than or equal to 1; ")
    untagged = rejected_at([b'{"event_id": "x"}'], 1)
    assert [(f.loc, f.type) for f in untagged.fields] == [((), "union_tag_not_found")]
    assert untagged.reason.startswith("record: Unable to extract tag")
    not_an_object = rejected_at([b"[1]"], 1)
    assert not_an_object.fields == () and not_an_object.reason == "not a JSON object"


def test_json_values_are_held_to_the_json_schema_types() -> None:
    # what pydantic's lax mode would turn into a number, a boolean or a time, JSON must say
    # as one: a form's checkbox sent as `true` is no score of 1
    answered = {"type": "call.answered", "seconds_waited": 12}
    loose = [
        ({"wave": "1"}, ("wave",), "int_type"),
        ({"wave": True}, ("wave",), "int_type"),
        ({**answered, "seconds_waited": "12"}, ("seconds_waited",), "float_type"),
        ({**answered, "seconds_waited": True}, ("seconds_waited",), "float_type"),
        ({"occurred_at": 1772438400}, ("occurred_at",), "datetime_type"),
    ]
    for overrides, loc, kind in loose:
        outcome = rejected_at([line(**overrides)], 1)
        assert [(f.loc, f.type) for f in outcome.fields] == [(loc, kind)], overrides
    transferred = line(type="call.transferred", to_role="vergunningen", briefed="yes")
    transferred = transferred[:-1] + b', "colleague_available": 1}'
    outcome = rejected_at([transferred], 1)
    assert [f.loc for f in outcome.fields] == [("briefed",), ("colleague_available",)]
    assert isinstance(only(parse_jsonl([line(**answered)], "in.jsonl")), Accepted)
    # an integer is a number without a fractional part, in JSON Schema as in JSON
    whole = only(parse_jsonl([line(wave=2.0)], "in.jsonl"))
    assert isinstance(whole, Accepted) and json.loads(whole.payload)["wave"] == 2
    fraction = rejected_at([line(wave=2.5, occurred_at="2026-03-02T09:00:00")], 1)
    assert [(f.loc, f.type) for f in fraction.fields] == [
        (("wave",), "int_type"),
        (("occurred_at",), "timezone_aware"),
    ]


def test_unknown_municipality_given_a_known_set() -> None:
    unknown = line(municipality="GM9999")  # well-formed, not a municipality
    outcome = rejected_at([unknown], 1, municipalities=KNOWN)
    assert outcome.reason == "municipality: unknown CBS code 'GM9999'"
    assert [(f.loc, f.type) for f in outcome.fields] == [
        (("municipality",), "unknown_municipality")
    ]
    assert outcome.original == unknown
    # without a known set only the format is checked
    assert isinstance(only(parse_jsonl([unknown], "in.jsonl")), Accepted)


def test_parse_json_record_keeps_its_line_number() -> None:
    outcome = parse_json_record(b"[]", "api", 42)
    assert isinstance(outcome, Rejected)
    assert (outcome.line, outcome.original, str(outcome)) == (
        42,
        b"[]",
        "api:42: not a JSON object",
    )


def test_rejected_jsonl_original_is_the_line_as_read() -> None:
    raw = b"  {not json}  \n"
    outcome = only(parse_jsonl([raw], "in.jsonl"))
    assert isinstance(outcome, Rejected)
    # keeping or dropping the line terminator are both fine; the record's bytes are not
    assert outcome.original in (raw, raw.rstrip(b"\r\n"))


GOOD = line()
EDGE_LINES = [
    GOOD,
    GOOD.replace(b'"wave": 1', b'"wave": 1, "wave": 2'),  # a repeated key: the last counts
    GOOD.replace(b'"c-1"', b'"  c-1 "'),  # identifiers are stripped
    GOOD.replace(b'"c-1"', b'"c\\u002d1"'),  # an escaped character
    GOOD.replace(b'"c-1"', b'"c-\\ud800"'),  # a lone surrogate
    GOOD.replace(b'"wave": 1', b'"wave": 1.0'),
    GOOD.replace(b'"wave": 1', b'"wave": "1"'),
    GOOD.replace(b'"wave": 1', b'"wave": NaN'),
    b"\xef\xbb\xbf" + GOOD,  # a byte order mark
    GOOD + b" x",  # trailing garbage
    GOOD.replace(b": ", b" :\t"),
    line(municipality="GM9999"),
    line(type="call.assessed", answers={"contact_id": "c-2"}, report='\u00e9\n"'),
    *(bad for bad, _ in BAD_LINES),
]


@pytest.mark.parametrize("raw", EDGE_LINES)
def test_parse_event_record_is_parse_json_record_without_the_payload(raw: bytes) -> None:
    fast = parse_event_record(raw, "in.jsonl", 7, KNOWN)
    slow = parse_json_record(raw, "in.jsonl", 7, KNOWN)
    assert fast == (slow.event if isinstance(slow, Accepted) else slow)


# ------------------------------------------------------------------ CSV

HEADER = b"type,event_id,contact_id,municipality,campaign,wave,case,occurred_at,answers,report\n"
PLACED = b"call.placed,e-1,c-1,GM0344,mg-2026,1,standplaatsvergunning,2026-03-02T09:00:00+01:00,,\n"
ASSESSED = (
    b"call.assessed,e-2,c-1,GM0344,mg-2026,1,standplaatsvergunning,2026-03-02T09:30:00+01:00,"
    b'"{""vriendelijkheid_aanname"": ""vriendelijk"", ""juist_antwoord"": ""onjuist""}",'
    b'"Netjes, maar fout."\n'
)


def csv_outcomes(*rows: bytes, header: bytes = HEADER, **kwargs: Any):
    return list(parse_csv(io.BytesIO(header + b"".join(rows)), "calls.csv", **kwargs))


def test_csv_rows_with_header_and_json_cells() -> None:
    placed, assessed = csv_outcomes(PLACED, ASSESSED, municipalities=KNOWN)
    assert isinstance(placed, Accepted) and isinstance(assessed, Accepted)
    assert (placed.line, assessed.line) == (2, 3)
    # empty cells are omitted: a call.placed has no answers/report fields at all
    assert isinstance(placed.event, CallPlaced)
    assert placed.event.wave == 1
    assert isinstance(assessed.event, CallAssessed)
    assert assessed.event.answers == {
        "vriendelijkheid_aanname": "vriendelijk",
        "juist_antwoord": "onjuist",
    }
    assert assessed.event.report == "Netjes, maar fout."
    assert assessed.payload == EVENT_ADAPTER.dump_json(assessed.event)
    # the same event from JSONL gives the same canonical payload
    same = only(parse_jsonl([placed.payload], "x"))
    assert isinstance(same, Accepted) and same.payload == placed.payload


def test_csv_header_with_byte_order_mark() -> None:
    (outcome,) = csv_outcomes(PLACED, header=b"\xef\xbb\xbf" + HEADER)
    assert isinstance(outcome, Accepted)


def test_csv_blank_lines_skipped_and_counted() -> None:
    outcomes = csv_outcomes(b"\n", PLACED, b"  \n", ASSESSED)
    assert [(type(o), o.line) for o in outcomes] == [(Accepted, 3), (Accepted, 5)]


def test_csv_wrong_column_count() -> None:
    short = b"call.placed,e-1,c-1,GM0344,mg-2026,1,standplaatsvergunning,2026-03-02T09:00:00Z\n"
    long = PLACED.rstrip(b"\n") + b",extra\n"
    first, second, third = csv_outcomes(short, PLACED, long)
    assert isinstance(first, Rejected) and isinstance(third, Rejected)
    assert isinstance(second, Accepted)
    assert (first.line, third.line) == (2, 4)
    assert first.reason == "expected 10 columns, found 8"
    assert third.reason == "expected 10 columns, found 11"
    assert first.original == short and third.original == long


def test_csv_bad_json_cell_names_the_column() -> None:
    bad = PLACED.replace(b"call.placed", b"call.assessed").replace(b",,\n", b",{oops},\n")
    (outcome,) = csv_outcomes(bad)
    assert isinstance(outcome, Rejected)
    assert outcome.reason.startswith("answers: not valid JSON")
    assert [(f.loc, f.type) for f in outcome.fields] == [(("answers",), "json_invalid")]
    assert outcome.original == bad


def test_csv_invalid_values_name_the_field() -> None:
    naive = PLACED.replace(b"+01:00", b"")
    unknown = PLACED.replace(b"GM0344", b"GM9999")
    not_utf8 = PLACED.replace(b"mg-2026", b"mg-\xff")
    a, b, c = csv_outcomes(naive, unknown, not_utf8, municipalities=KNOWN)
    assert isinstance(a, Rejected) and "occurred_at" in a.reason and a.line == 2
    assert isinstance(b, Rejected) and b.reason.startswith("municipality:") and b.line == 3
    assert isinstance(c, Rejected) and "unreadable CSV row" in c.reason and c.line == 4
    assert (a.original, b.original, c.original) == (naive, unknown, not_utf8)


def test_csv_cells_are_text_read_as_numbers_booleans_and_times() -> None:
    header = b"type,event_id,contact_id,municipality,campaign,wave,case,occurred_at,to_role,"
    header += b"briefed,colleague_available\n"
    row = b"call.transferred,e-1,c-1,GM0344,mg-2026,1,standplaatsvergunning,"
    row += b"2026-03-02T09:00:00+01:00,vergunningen,true,0\n"
    (outcome,) = csv_outcomes(row, header=header)
    assert isinstance(outcome, Accepted), outcome
    assert json.loads(outcome.payload)["briefed"] is True
    assert json.loads(outcome.payload)["colleague_available"] is False


def test_csv_without_rows() -> None:
    assert csv_outcomes(header=HEADER) == []
    assert list(parse_csv([], "empty.csv")) == []
