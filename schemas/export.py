"""JSON Schema export of the wire contract, for producers outside Python."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from schemas.benchmarks import BenchmarkUpdated
from schemas.events import EVENT_ADAPTER
from schemas.scores import ScoreRevision

JSON_DIR = Path(__file__).parent / "json"


class ContractJsonSchema(GenerateJsonSchema):
    """pydantic's JSON Schema, with a mapping whose keys have a pattern said as pydantic
    validates it: pydantic writes `patternProperties`, which holds only the keys that match
    and lets any other key have any value; every key must match, and every value fits."""

    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        json_schema = super().dict_schema(schema)
        by_pattern = json_schema.pop("patternProperties", None)
        if by_pattern:
            [(pattern, values)] = by_pattern.items()
            json_schema["propertyNames"] = {
                **json_schema.get("propertyNames", {}),
                "pattern": pattern,
            }
            json_schema["additionalProperties"] = values
        return json_schema


def documents() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema document."""
    adapters: dict[str, tuple[TypeAdapter[Any], str]] = {
        "event.schema.json": (EVENT_ADAPTER, "Meetlat observation event (call, mail or survey)"),
        "score-revision.schema.json": (TypeAdapter(ScoreRevision), "Meetlat score revision"),
        "benchmark-updated.schema.json": (
            TypeAdapter(BenchmarkUpdated),
            "Meetlat benchmark update",
        ),
    }
    out = {}
    for name, (adapter, title) in adapters.items():
        schema = adapter.json_schema(mode="validation", schema_generator=ContractJsonSchema)
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": title,
            **schema,
        }
        out[name] = schema
    return out


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def export(directory: Path = JSON_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in documents().items():
        path = directory / name
        path.write_text(render(document), encoding="utf-8")
        written.append(path)
    return written


def stale(directory: Path = JSON_DIR) -> list[str]:
    """Names of exported files that are missing or differ from the models."""
    problems = []
    for name, document in documents().items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != render(document):
            problems.append(name)
    return problems
