"""The batch oracle: the streaming pipeline's domain functions, run over an event log at once.

`recompute` folds each contact's events through the scorer's `observe` in log order (as the
scorer would see them on its partition) and aggregates the final revisions with the same
two-level partial maths as the aggregators. Every streaming result is tested against it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from schemas.benchmarks import BenchmarkUpdated
from schemas.events import Event, Heartbeat, RescoreRequested, SurveyResponse, channel_of
from schemas.reference import ReferenceData
from schemas.scores import ScoreRevision
from schemas.scoring_model import ScoringModel
from services.aggregation.benchmarks import (
    AggregationRules,
    CombinedScope,
    Ledger,
    municipality_updates,
    rules_for,
)
from services.scoring.rules import END_OF_TIME, ContactError, is_orphan
from services.scoring.scorer import EMPTY_STATE, ContactState, ModelLookup, absorb, advance


@dataclass
class Recomputation:
    scores: dict[str, ScoreRevision] = field(default_factory=dict)
    benchmarks: list[BenchmarkUpdated] = field(default_factory=list)
    contradictions: list[str] = field(default_factory=list)

    def benchmark(
        self, scope_kind: str, scope_id: str, wave: int | None = None
    ) -> BenchmarkUpdated:
        """The scope's benchmark in `wave` (default: its latest wave)."""
        found = [
            b
            for b in self.benchmarks
            if (b.scope_kind, b.scope_id) == (scope_kind, scope_id)
            and (wave is None or b.wave == wave)
        ]
        return max(found, key=lambda b: (b.wave, b.campaign))

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
    scores: Iterable[ScoreRevision],
    surveys: Iterable[SurveyResponse],
    reference: ReferenceData,
    rules: AggregationRules,
) -> list[BenchmarkUpdated]:
    """Municipality, Chamber and national benchmarks of every campaign wave (version 1 each),
    through the same ledger → contribution → combined scope steps as the aggregators."""
    ledgers: dict[str, Ledger] = defaultdict(Ledger)
    for revision in scores:
        ledgers[revision.municipality].apply_revision(revision, rules.phases)
    for response in surveys:
        ledgers[response.municipality].apply_survey(response)
    out: list[BenchmarkUpdated] = []
    combined: dict[str, CombinedScope] = {}
    for code, ledger in sorted(ledgers.items()):
        for update, messages in municipality_updates(
            code, ledger, ledger.waves(), reference, rules
        ):
            out.append(update)
            part = ledger.contribution(update.campaign, update.wave)  # what `messages` carry
            for message in messages:
                scope = CombinedScope(message.target_kind, message.target_id, message.campaign)
                combined.setdefault(scope.prefix, scope).receive(message, part)
    for _, scope in sorted(combined.items()):
        out.extend(scope.updates(set(scope.waves), reference, rules))
    return out


def recompute(
    events: Iterable[Event | Heartbeat],
    lookup: ModelLookup,
    active: ScoringModel,
    reference: ReferenceData,
    rules: AggregationRules | None = None,
) -> Recomputation:
    log = list(events)
    scores, contradictions = score_all(log, lookup, active)
    surveys = [e for e in log if isinstance(e, SurveyResponse)]
    rules = rules or rules_for(active, lookup)
    return Recomputation(
        scores, benchmarks_of(scores.values(), surveys, reference, rules), contradictions
    )
