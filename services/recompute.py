"""The batch oracle: the streaming pipeline's domain functions, run over an event log at once.

`recompute` folds each contact's events through the scorer's `observe` in log order (as the
scorer would see them on its partition) and aggregates the final revisions with the same
two-level partial maths as the aggregators. Every streaming result is tested against it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from schemas.benchmarks import NATION_ID, BenchmarkUpdated
from schemas.events import Event, Heartbeat, RescoreRequested, channel_of
from schemas.reference import ReferenceData
from schemas.scores import ScoreRevision
from schemas.scoring_model import ScoringModel
from services.aggregation.benchmarks import (
    Ledger,
    Partial,
    apply_revision,
    breakdown_figures,
    ledger_partials,
    merge_partials,
)
from services.scoring.rules import END_OF_TIME, ContactError, is_orphan
from services.scoring.scorer import EMPTY_STATE, ContactState, ModelLookup, absorb, advance


@dataclass
class Recomputation:
    scores: dict[str, ScoreRevision] = field(default_factory=dict)
    benchmarks: list[BenchmarkUpdated] = field(default_factory=list)
    contradictions: list[str] = field(default_factory=list)

    def benchmark(self, scope_kind: str, scope_id: str) -> BenchmarkUpdated:
        return next(
            b for b in self.benchmarks if (b.scope_kind, b.scope_id) == (scope_kind, scope_id)
        )

    def to_json(self) -> dict[str, object]:
        return {
            "scores": [s.model_dump(mode="json") for _, s in sorted(self.scores.items())],
            "benchmarks": [b.model_dump(mode="json") for b in self.benchmarks],
            "contradictions": self.contradictions,
        }


def score_all(
    events: Iterable[Event | Heartbeat], lookup: ModelLookup, active: ScoringModel
) -> tuple[dict[str, ScoreRevision], list[str]]:
    """Final revision per contact once every deadline has passed (watermark = end of time).

    Each event is checked as the scorer checks it, in log order; each contact is then scored
    once — the scorer's last revision equals that score whatever the order (property-tested).
    Events that contradict their contact or the model, and orphaned mail facts, are listed."""
    states: dict[str, ContactState] = {}
    contradictions: list[str] = []
    for event in events:
        if isinstance(event, Heartbeat):
            continue
        if channel_of(event) is None and not isinstance(event, RescoreRequested):
            continue  # survey responses are aggregated, not scored
        state = states.get(event.contact_id, EMPTY_STATE)
        try:
            states[event.contact_id] = absorb(state, event, lookup, active)
        except (ContactError, KeyError) as exc:
            contradictions.append(f"{event.event_id}: {exc}")
    latest: dict[str, ScoreRevision] = {}
    for contact_id, state in states.items():
        if is_orphan(state.facts, lookup(state.model_key), END_OF_TIME):
            contradictions.append(f"{contact_id}: reply facts for a mail that was never sent")
            continue
        revision = advance(state, lookup, END_OF_TIME).revision
        if revision is not None:
            latest[contact_id] = revision
    return latest, contradictions


def benchmarks_of(
    scores: Iterable[ScoreRevision], reference: ReferenceData
) -> list[BenchmarkUpdated]:
    """Municipality, Chamber and national benchmarks of the final revisions (version 1 each)."""
    ledgers: dict[str, Ledger] = defaultdict(dict)
    for revision in scores:
        apply_revision(ledgers[revision.municipality], revision)
    partials: dict[str, dict[str, Partial]] = {
        code: ledger_partials(ledger) for code, ledger in sorted(ledgers.items())
    }
    out = []
    for code, parts in partials.items():
        municipality = reference.municipalities.get(code)
        out.append(
            BenchmarkUpdated(
                scope_kind="municipality",
                scope_id=code,
                name=municipality.name if municipality else code,
                version=1,
                breakdowns=breakdown_figures(parts),
            )
        )
    by_chamber: dict[str, list[str]] = defaultdict(list)
    for code in partials:
        chamber_id = reference.chamber_of.get(code)
        if chamber_id:
            by_chamber[chamber_id].append(code)
    for chamber_id, codes in sorted(by_chamber.items()):
        chamber = reference.chambers.get(chamber_id)
        out.append(
            BenchmarkUpdated(
                scope_kind="chamber",
                scope_id=chamber_id,
                name=chamber.name if chamber else chamber_id,
                version=1,
                breakdowns=breakdown_figures(merge_partials(partials[c] for c in sorted(codes))),
            )
        )
    if partials:
        out.append(
            BenchmarkUpdated(
                scope_kind="nation",
                scope_id=NATION_ID,
                name="Nederland",
                version=1,
                breakdowns=breakdown_figures(merge_partials(partials.values())),
            )
        )
    return out


def recompute(
    events: Iterable[Event | Heartbeat],
    lookup: ModelLookup,
    active: ScoringModel,
    reference: ReferenceData,
) -> Recomputation:
    scores, contradictions = score_all(events, lookup, active)
    return Recomputation(scores, benchmarks_of(scores.values(), reference), contradictions)
