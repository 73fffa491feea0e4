"""Benchmarks: running figures per scope, as published on the benchmarks topic."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ScopeKind = Literal["municipality", "chamber", "nation"]
NATION_ID = "NL"


class Figures(BaseModel):
    """Summary of the latest contact scores in one scope and breakdown."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n: int = Field(ge=0)
    mean: float | None
    min: float | None
    max: float | None
    potential_n: int = Field(ge=0, description="Contacts that count towards the potential.")
    potential_mean: float | None


class BenchmarkUpdated(BaseModel):
    """The full figure set of one scope, keyed on the topic by `scope_key`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scope_kind: ScopeKind
    scope_id: str
    name: str
    version: int = Field(ge=1, description="Grows with every update of this scope.")
    breakdowns: dict[str, Figures] = Field(
        description="Breakdown key ('all', 'channel=phone', 'channel=mail') → figures."
    )

    @property
    def scope_key(self) -> str:
        return f"{self.scope_kind}:{self.scope_id}"


class PartialUpdated(BaseModel):
    """Internal aggregation message: one municipality's mergeable partials, sent to each scope
    (its Chamber, the nation) that combines them. Partial = [n, Σtotal, min, max, n_potential,
    Σpotential] per breakdown."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target_kind: ScopeKind
    target_id: str
    municipality: str
    version: int = Field(ge=1)
    partials: dict[str, list[float | int | None]]
