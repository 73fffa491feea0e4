"""Pure parsing of outside input into validated events, with errors that say what and where.

Every input record ends as exactly one `Accepted` (the event and its canonical JSON) or one
`Rejected` (the reason and the original bytes, for the dead-letter topic).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from schemas.events import EVENT_ADAPTER, EVENT_TYPES, Event


@dataclass(frozen=True)
class Accepted:
    source: str
    line: int
    event: Event
    payload: bytes  # canonical JSON, what is archived and published


@dataclass(frozen=True)
class FieldProblem:
    """A field of a record that is wrong: where in the record, why, and pydantic's error
    type (or Meetlat's own, such as `unknown_municipality`)."""

    loc: tuple[str | int, ...]  # () for the record as a whole (no event type, say)
    msg: str
    type: str

    def __str__(self) -> str:
        return f"{'.'.join(str(p) for p in self.loc) or 'record'}: {self.msg}"


@dataclass(frozen=True)
class Rejected:
    source: str
    line: int
    reason: str
    original: bytes  # exactly the bytes that came in
    fields: tuple[FieldProblem, ...] = ()  # what `reason` says, by field, for an object
    kind: str = "invalid_event"  # the dead-letter kind (`conflicting_event`: see ingest)

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}"


Outcome = Accepted | Rejected


def field_problems(errors: Iterable[ErrorDetails]) -> tuple[FieldProblem, ...]:
    problems = []
    for item in errors:
        loc = item["loc"]
        if loc and loc[0] in EVENT_TYPES:
            loc = loc[1:]  # the union's tag, not a field the producer wrote
        problems.append(FieldProblem(tuple(loc), item["msg"], item["type"]))
    return tuple(problems)


def describe(error: ValidationError) -> str:
    """One line per problem, naming the field: "occurred_at: Input should have timezone info"."""
    return "; ".join(str(problem) for problem in field_problems(error.errors(include_url=False)))


def _rejected(source: str, line: int, original: bytes, *fields: FieldProblem) -> Rejected:
    return Rejected(source, line, "; ".join(str(f) for f in fields), original, fields)


def validate_cells(
    document: dict[str, Any],
    source: str,
    line: int,
    original: bytes,
    municipalities: Container[str] | None,
) -> Outcome:
    """A record read from CSV cells (text, and JSON for nested values): numbers, booleans and
    times are read from text as pydantic's lax mode reads them."""
    try:
        event = EVENT_ADAPTER.validate_python(document)
    except ValidationError as exc:
        return _rejected(source, line, original, *field_problems(exc.errors(include_url=False)))
    unknown = _unknown_municipality(event, source, line, original, municipalities)
    return unknown or Accepted(source, line, event, EVENT_ADAPTER.dump_json(event))


def _unknown_municipality(
    event: Event, source: str, line: int, original: bytes, municipalities: Container[str] | None
) -> Rejected | None:
    if municipalities is None or event.municipality in municipalities:
        return None
    unknown = f"unknown CBS code {event.municipality!r}"
    return _rejected(
        source, line, original, FieldProblem(("municipality",), unknown, "unknown_municipality")
    )


def parse_event_record(
    raw: bytes, source: str, line: int, municipalities: Container[str] | None = None
) -> Event | Rejected:
    """A JSON record's event, held to the types of the JSON Schema, or why not: `true` is no
    number, `"5"` no integer and a time an ISO 8601 string (pydantic's strict mode), while
    `7.0` is the integer 7 (as JSON Schema has it; strict mode alone would refuse it)."""
    try:
        event = EVENT_ADAPTER.validate_json(raw, strict=True)
    except ValidationError as strict:
        problems = [e for e in strict.errors(include_url=False) if not _integral_number(e)]
        if problems:
            return _refused_json(raw, source, line, problems)
        try:
            event = EVENT_ADAPTER.validate_json(raw)  # (lax: 7.0 → 7)
        except ValidationError as lax:
            return _refused_json(raw, source, line, lax.errors(include_url=False))
    return _unknown_municipality(event, source, line, raw, municipalities) or event


def _integral_number(error: ErrorDetails) -> bool:
    """An integer field given a number without a fractional part (`7.0`)."""
    found = error["input"]
    return error["type"] == "int_type" and type(found) is float and found.is_integer()


def _refused_json(raw: bytes, source: str, line: int, errors: Iterable[ErrorDetails]) -> Rejected:
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return Rejected(source, line, f"not valid JSON: {exc}", raw)
    if not isinstance(document, dict):
        return Rejected(source, line, "not a JSON object", raw)
    return _rejected(source, line, raw, *field_problems(errors))


def parse_json_record(
    raw: bytes, source: str, line: int, municipalities: Container[str] | None = None
) -> Outcome:
    """`parse_event_record` with the event's canonical JSON (what is archived and published)."""
    event = parse_event_record(raw, source, line, municipalities)
    if isinstance(event, Rejected):
        return event
    return Accepted(source, line, event, EVENT_ADAPTER.dump_json(event))


def parse_json_document(
    raw: bytes, source: str, municipalities: Container[str] | None = None
) -> list[Outcome]:
    """A JSON document of one event (an object) or several (an array of objects). Items are
    numbered from 0, as in a JSON pointer; a document that is not JSON is one `Rejected`
    numbered -1 (it has no items)."""
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return [Rejected(source, -1, f"not valid JSON: {exc}", raw)]
    if isinstance(document, dict):
        return [parse_json_record(raw, source, 0, municipalities)]
    if not isinstance(document, list):
        return [Rejected(source, 0, "not a JSON object", raw)]
    return [
        parse_json_record(json.dumps(item, ensure_ascii=False).encode(), source, n, municipalities)
        for n, item in enumerate(document)
    ]


def parse_jsonl(
    lines: Iterable[bytes], source: str, municipalities: Container[str] | None = None
) -> Iterator[Outcome]:
    """One outcome per non-blank line; line numbers count every physical line from 1."""
    for number, raw in enumerate(lines, start=1):
        if raw.strip():
            # the line as read, minus its line ending: that is what a dead letter carries
            yield parse_json_record(raw.rstrip(b"\r\n"), source, number, municipalities)


# Columns whose CSV cell holds JSON (nested values).
_JSON_COLUMNS = frozenset({"answers", "hostmanship"})


def parse_csv(
    lines: Iterable[bytes], source: str, municipalities: Container[str] | None = None
) -> Iterator[Outcome]:
    """A header row of field names; empty cells are omitted; `answers`/`hostmanship` hold JSON."""
    iterator = iter(lines)
    header_raw = next(iterator, b"")
    header = next(csv.reader([header_raw.decode("utf-8-sig")]), [])
    for number, raw in enumerate(iterator, start=2):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
            cells = next(csv.reader(io.StringIO(text)))
        except (UnicodeDecodeError, csv.Error, StopIteration) as exc:
            yield Rejected(source, number, f"unreadable CSV row: {exc}", raw)
            continue
        if len(cells) != len(header):
            yield Rejected(
                source, number, f"expected {len(header)} columns, found {len(cells)}", raw
            )
            continue
        document: dict[str, Any] = {}
        bad = None
        for name, cell in zip(header, cells, strict=True):
            if cell == "":
                continue
            if name in _JSON_COLUMNS:
                try:
                    document[name] = json.loads(cell)
                except json.JSONDecodeError as exc:
                    bad = FieldProblem((name,), f"not valid JSON ({exc})", "json_invalid")
                    break
            else:
                document[name] = cell
        if bad:
            yield _rejected(source, number, raw, bad)
        else:
            yield validate_cells(document, source, number, raw, municipalities)
