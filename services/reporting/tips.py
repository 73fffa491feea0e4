"""The library of improvement tips and of what to keep, linked to scoring-model criteria."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field


class Tip(BaseModel):
    """One recommendation from the seeds, shown when one of its criteria triggers it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    criteria: tuple[str, ...] = Field(min_length=1)
    text: str
    source: str


class TipLibrary(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tips: tuple[Tip, ...]
    keep: tuple[Tip, ...]

    def tips_for(self, criterion: str) -> list[Tip]:
        """Improvement tips triggered by a weak `criterion`, in library order."""
        return [t for t in self.tips if criterion in t.criteria]

    def keep_for(self, criterion: str) -> list[Tip]:
        """What-to-keep items for a strong `criterion`, in library order."""
        return [t for t in self.keep if criterion in t.criteria]

    def unknown_criteria(self, known: Iterable[str]) -> set[str]:
        ids = set(known)
        return {c for t in (*self.tips, *self.keep) for c in t.criteria if c not in ids}


def load_tips(path: Path | None = None) -> TipLibrary:
    if path is None:
        text = resources.files("services.reporting").joinpath("tips.yaml").read_text("utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    return TipLibrary.model_validate(yaml.safe_load(text))


@cache
def default_tips() -> TipLibrary:
    return load_tips()
