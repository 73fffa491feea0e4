"""The batch oracle: the streaming pipeline's domain functions, run over an event log at once.

`recompute` folds each contact's events through the scorer's `observe` in log order (as the
scorer would see them on its partition) and aggregates the final revisions with the same
two-level partial maths as the aggregators. Every streaming result is tested against it.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from schemas.benchmarks import BenchmarkUpdated
from schemas.events import (
    CallAssessed,
    Channel,
    Event,
    Heartbeat,
    MailAssessed,
    RescoreRequested,
    SurveyResponse,
    channel_of,
    event_order,
)
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
from services.scoring.rules import END_OF_TIME, ContactError, ContactFacts, is_orphan
from services.scoring.scorer import (
    EMPTY_STATE,
    ContactState,
    ModelLookup,
    absorb,
    first_revision,
)


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
    Events that contradict their contact or the model, and orphaned mail facts, are listed.

    Events are grouped by contact first. A contact whose events all agree (one channel, one
    municipality/campaign/wave/case, assessments that fit the active model, no rescore
    request) passes every check `absorb` makes, so its facts are simply its distinct events;
    any other contact is folded through `absorb` event by event, exactly as before."""
    with _cyclic_gc_paused():
        return _score_all(events, lookup, active)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Scoring a national history makes millions of small objects and no reference cycles;
    the cyclic collector would traverse the whole growing heap again and again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _score_all(
    events: Iterable[Event | Heartbeat], lookup: ModelLookup, active: ScoringModel
) -> tuple[dict[str, ScoreRevision], list[str]]:
    groups: dict[str, list[tuple[int, Event]]] = {}
    for index, event in enumerate(events):
        if isinstance(event, Heartbeat):
            continue
        if channel_of(event) is None and not isinstance(event, RescoreRequested):
            continue  # survey responses are aggregated, not scored
        group = groups.get(event.contact_id)
        if group is None:
            groups[event.contact_id] = [(index, event)]
        else:
            group.append((index, event))
    try:
        model: ScoringModel | None = lookup(active.key)
    except KeyError:
        model = None  # every event is a contradiction: leave it to `absorb` to say so
    states: list[tuple[int, str, ContactState]] = []  # (first absorbed event, contact, state)
    rejected: list[tuple[int, str]] = []
    fits: dict[tuple[Any, ...], bool] = {}  # assessments' answers → fit the model
    for contact_id, group in groups.items():
        if model is not None and _agrees(group, model, fits):
            unique: dict[str, Event] = {}
            for _, event in group:
                unique.setdefault(event.event_id, event)
            facts = ContactFacts(tuple(sorted(unique.values(), key=event_order)))
            states.append((group[0][0], contact_id, ContactState(facts, active.key)))
            continue
        state, first = EMPTY_STATE, -1
        for index, event in group:
            try:
                state = absorb(state, event, lookup, active)
            except (ContactError, KeyError) as exc:
                rejected.append((index, f"{event.event_id}: {exc}"))
            else:
                first = index if first < 0 else first
        if first >= 0:
            states.append((first, contact_id, state))
    if rejected:  # as `absorb` met them: log order, then contacts by their first fact
        rejected.sort()
        states.sort(key=lambda entry: entry[0])
    contradictions = [reason for _, reason in rejected]
    latest: dict[str, ScoreRevision] = {}
    for _, contact_id, state in states:
        if is_orphan(state.facts, lookup(state.model_key), END_OF_TIME):
            contradictions.append(f"{contact_id}: reply facts for a mail that was never sent")
            continue
        revision = first_revision(state, lookup, END_OF_TIME)
        if revision is not None:
            latest[contact_id] = revision
    return latest, contradictions


def _agrees(
    group: list[tuple[int, Event]], model: ScoringModel, fits: dict[tuple[Any, ...], bool]
) -> bool:
    """True when every check `absorb` makes passes for each of these events, in any order
    (`fits` remembers which answer sets fit the model)."""
    head = group[0][1]
    channel = channel_of(head)
    if channel is None:
        return False
    identity = (head.municipality, head.campaign, head.wave, head.case)
    for _, event in group:
        if channel_of(event) != channel:
            return False
        if (event.municipality, event.campaign, event.wave, event.case) != identity:
            return False
        if isinstance(event, CallAssessed | MailAssessed):
            key = (event.type, *event.answers.items())
            fit = fits.get(key)
            if fit is None:
                kind: Channel = "phone" if isinstance(event, CallAssessed) else "mail"
                fit = fits[key] = not model.answer_errors(kind, event.answers)
            if not fit:
                return False
    return True


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
