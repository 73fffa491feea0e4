"""Pure running-benchmark maths, shared by the aggregation agents and the batch oracle.

Two levels, so no single partition has to hold every contact:

1. A municipality keeps a *ledger*: the latest revision of each of its contacts (reduced to a
   `LedgerEntry`) and its survey responses. A revision replaces the contact's earlier one;
   duplicates and older revisions change nothing. From the ledger come the municipality's
   figures and, per campaign wave, its `Contribution`: the samples of every breakdown, one
   process record per contact and one survey record per response.
2. A Chamber or the nation keeps the latest contribution of each of its municipalities per wave
   and merges them.

A published wave left with nothing (its contacts or responses came again in another wave under
their ids) is retracted at both levels (`retraction`): an empty contribution is no member.

Every figure is a function of the *multiset* of values in a scope (fsum, sorting medians,
scipy on sorted samples), so the streaming path and the batch oracle give the same bits
whatever the order or batching of revisions.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from schemas.benchmarks import (
    ALL,
    NATION_ID,
    STANDING_BREAKDOWNS,
    BenchmarkUpdated,
    Figures,
    PartialUpdated,
    Quadrant,
    ScopeKind,
    Standing,
)
from schemas.events import SurveyResponse
from schemas.reference import ReferenceData
from schemas.scores import ScoreRevision
from schemas.scoring_model import ScoringModel
from services.aggregation.process import ProcessRecord, figures_of_records, process_record
from services.aggregation.statistics import (
    Summary,
    band,
    compare_summaries,
    quadrant,
    ranks,
    summarise,
)
from services.aggregation.statistics import welch_label as _welch_label
from services.aggregation.surveys import (
    SurveyEntry,
    SurveyRecord,
    breakdowns_of_answers,
    overall_figures,
)

PhaseLookup = Callable[[str, str], Mapping[str, Sequence[str]]]
"""(model id, model version) → criterion id → the customer-journey phases it belongs to."""

Wave = tuple[str, int]
"""A campaign wave: (campaign, wave)."""

QuadrantReference = Literal["norm", "median"]


@dataclass(frozen=True)
class AggregationRules:
    """What aggregation takes from the scoring model and the settings."""

    norm: float = 7.0
    sufficient: float = 5.5
    alpha: float = 0.05
    quadrant_reference: QuadrantReference = "norm"
    phases: PhaseLookup = field(default=lambda _id, _version: {})

    @property
    def wave_test(self) -> str:
        return _welch_label(self.alpha)


def rules_for(
    active: ScoringModel,
    lookup: Callable[[str], ScoringModel],
    quadrant_reference: QuadrantReference = "norm",
) -> AggregationRules:
    """Aggregation rules of the active scoring model; phases are read from the model each
    revision was scored with (`lookup` takes 'id@version')."""

    def phases(model_id: str, version: str) -> Mapping[str, Sequence[str]]:
        try:
            model = lookup(f"{model_id}@{version}")
        except KeyError:  # a model this worker does not know: no phase breakdowns for it
            return {}
        return _phases(model)

    return AggregationRules(
        norm=active.norm,
        sufficient=active.sufficient,
        quadrant_reference=quadrant_reference,
        phases=phases,
    )


_PHASES: dict[str, dict[str, tuple[str, ...]]] = {}


def _phases(model: ScoringModel) -> dict[str, tuple[str, ...]]:
    found = _PHASES.get(model.key)
    if found is None:
        found = _PHASES[model.key] = {c.id: tuple(c.phases) for c in model.criteria}
    return found


def scope_name(reference: ReferenceData, kind: str, scope_id: str) -> str:
    if kind == "nation":
        return "Nederland"
    if kind == "chamber":
        chamber = reference.chambers.get(scope_id)
        return chamber.name if chamber else scope_id
    municipality = reference.municipalities.get(scope_id)
    return municipality.name if municipality else scope_id


# ---------------------------------------------------------------- level 1: the ledger


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """What scopes need of a contact's latest revision."""

    revision: int
    campaign: str
    wave: int
    as_of: float  # event time of the revision's last fact, POSIX seconds
    samples: dict[str, float]  # breakdown → this contact's value
    potentials: dict[str, float]  # breakdown → this contact's potential
    process: ProcessRecord

    def to_json(self) -> list[Any]:
        return [
            self.revision,
            self.campaign,
            self.wave,
            self.as_of,
            self.samples,
            self.potentials,
            self.process.to_json(),
        ]

    @classmethod
    def from_json(cls, raw: Sequence[Any]) -> LedgerEntry:
        revision, campaign, wave, as_of, samples, potentials, process = raw
        return cls(
            int(revision),
            str(campaign),
            int(wave),
            float(as_of),
            {str(k): float(v) for k, v in samples.items()},
            {str(k): float(v) for k, v in potentials.items()},
            ProcessRecord.from_json(process),
        )


def ledger_entry(revision: ScoreRevision, phases: PhaseLookup) -> LedgerEntry:
    """The breakdown samples of a revision (see `schemas.benchmarks` for the keys); a phase's
    sample is the weighted mean of its applicable criteria."""
    channel, case = _breakdown_keys(revision.channel, revision.case)
    total = revision.total
    samples = {ALL: total, channel: total, case: total}
    if revision.form is not None:
        samples[f"{channel}/dimension=form"] = revision.form
    if revision.content is not None:
        samples[f"{channel}/dimension=content"] = revision.content
    phase_of = phases(revision.model_id, revision.model_version)
    criterion_keys = _criterion_keys(channel)
    by_phase: dict[str, list[tuple[float, float]]] = {}
    for item in revision.breakdown:
        value = item.value
        if value is None:
            continue
        criterion = item.criterion
        key = criterion_keys.get(criterion)
        if key is None:
            key = criterion_keys[criterion] = f"{channel}/criterion={criterion}"
        samples[key] = value
        for phase in phase_of.get(criterion, ()):
            pairs = by_phase.get(phase)
            if pairs is None:
                by_phase[phase] = [(value, item.weight)]
            else:
                pairs.append((value, item.weight))
    for phase in sorted(by_phase):
        pairs = by_phase[phase]
        weight = math.fsum([w for _, w in pairs])
        if weight <= 0:
            continue
        samples[f"{channel}/phase={phase}"] = math.fsum([v * w for v, w in pairs]) / weight
    potential = revision.potential
    potentials = {} if potential is None else {ALL: potential, channel: potential, case: potential}
    return LedgerEntry(
        revision=revision.revision,
        campaign=revision.campaign,
        wave=revision.wave,
        as_of=revision.last_fact_at.timestamp(),
        samples=samples,
        potentials=potentials,
        process=process_record(revision),
    )


def ledger_key(municipality: str, campaign: str) -> str:
    """A municipality's ledger of one campaign, as its aggregation table's key (a CBS code
    holds no ':', so a key of the earlier layout, the code alone, is told apart)."""
    return f"{municipality}:{campaign}"


# Breakdown keys, made once: the aggregators and the batch oracle make the same few dozen
# keys for every revision (formatting them anew was a quarter of `ledger_entry`).
_CASE_KEYS: dict[tuple[str, str], tuple[str, str]] = {}
_CRITERION_KEYS: dict[str, dict[str, str]] = {}


def _breakdown_keys(channel: str, case: str) -> tuple[str, str]:
    """The channel's key and the channel's case's key."""
    found = _CASE_KEYS.get((channel, case))
    if found is None:
        if len(_CASE_KEYS) > 10_000:  # cases are a campaign's few dozen; bound it anyway
            _CASE_KEYS.clear()
        key = f"channel={channel}"
        found = _CASE_KEYS[channel, case] = (key, f"{key}/case={case}")
    return found


def _criterion_keys(channel_key: str) -> dict[str, str]:
    """Criterion id → its key under the channel's (filled as criteria come)."""
    found = _CRITERION_KEYS.get(channel_key)
    if found is None:
        found = _CRITERION_KEYS[channel_key] = {}
    return found


@dataclass
class Ledger:
    """One municipality's latest revision per contact and survey response per event id, of one
    campaign (`ledger_key`): every figure, comparison and version is a campaign's, so a ledger
    grows with its campaign, not with the years of campaigns before it."""

    contacts: dict[str, LedgerEntry] = field(default_factory=dict)
    surveys: dict[str, SurveyEntry] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)  # "campaign:wave" → version
    _contributions: dict[tuple[str, int], Contribution] = field(
        default_factory=dict, compare=False, repr=False
    )  # computed per wave, forgotten when that wave changes (an unchanged wave keeps its
    # contribution, and so its summaries: they are the next wave's "previous" figures)
    _figures: dict[tuple[str, int], FiguresMemo] = field(
        default_factory=dict, compare=False, repr=False
    )  # per wave: most breakdowns keep their samples when one contact changes

    def apply_revision(self, revision: ScoreRevision, phases: PhaseLookup) -> set[Wave]:
        """Record `revision` if it is newer than what the ledger has; the waves it changed
        (none if it was not newer)."""
        current = self.contacts.get(revision.contact_id)
        if current is not None and current.revision >= revision.revision:
            return set()
        self.contacts[revision.contact_id] = ledger_entry(revision, phases)
        return self._changed((revision.campaign, revision.wave), current)

    def apply_survey(self, response: SurveyResponse) -> set[Wave]:
        """Record a survey response once (by event id; see `SurveyEntry.wins_over`); the waves
        it changed (none if it did not win)."""
        entry = SurveyEntry.of(response)
        held = self.surveys.get(response.event_id)
        if held is not None and not entry.wins_over(held):
            return set()
        self.surveys[response.event_id] = entry
        return self._changed((response.campaign, response.wave), held)

    def _changed(self, wave: Wave, replaced: LedgerEntry | SurveyEntry | None) -> set[Wave]:
        """Forget what is computed of `wave` and of the wave of what was replaced: an item
        given another wave under the same id leaves its earlier wave, which changes too."""
        waves = {wave}
        if replaced is not None:
            waves.add((replaced.campaign, replaced.wave))
        for changed in waves:
            self._contributions.pop(changed, None)
        return waves

    def waves(self) -> set[Wave]:
        """The campaign waves holding a contact or a response."""
        found = {(e.campaign, e.wave) for e in self.contacts.values()}
        found.update((s.campaign, s.wave) for s in self.surveys.values())
        return found

    def published(self, campaign: str, wave: int) -> bool:
        """Whether a benchmark of the wave was ever published (then it has a version)."""
        return f"{campaign}:{wave}" in self.versions

    def bump(self, campaign: str, wave: int) -> int:
        key = f"{campaign}:{wave}"
        self.versions[key] = self.versions.get(key, 0) + 1
        return self.versions[key]

    def contribution(self, campaign: str, wave: int) -> Contribution:
        found = self._contributions.get((campaign, wave))
        if found is None:
            found = self._contributions[campaign, wave] = self._contribution(campaign, wave)
        return found

    def _contribution(self, campaign: str, wave: int) -> Contribution:
        contacts = [e for e in self.contacts.values() if e.wave == wave and e.campaign == campaign]
        surveys = [s for s in self.surveys.values() if s.wave == wave and s.campaign == campaign]
        values: dict[str, list[float]] = {}
        potentials: dict[str, list[float]] = {}
        for entry in contacts:
            for key, value in entry.samples.items():
                found = values.get(key)
                if found is None:
                    values[key] = [value]
                else:
                    found.append(value)
            for key, value in entry.potentials.items():
                found = potentials.get(key)
                if found is None:
                    potentials[key] = [value]
                else:
                    found.append(value)
        stamps = [e.as_of for e in contacts] + [s.as_of for s in surveys]
        return Contribution(
            samples={
                key: (tuple(sorted(values.get(key, ()))), tuple(sorted(potentials.get(key, ()))))
                for key in sorted(values.keys() | potentials.keys())
            },
            process=[e.process for e in contacts],
            surveys=[s.record for s in surveys],
            as_of=max(stamps) if stamps else None,
            contacts=len(contacts),
        )

    def by_campaign(self) -> dict[str, Ledger]:
        """This ledger split into one per campaign, each with its campaign's versions (how a
        ledger of all a municipality's campaigns, as earlier versions kept them, is adopted)."""
        out: dict[str, Ledger] = {}
        for contact_id, entry in self.contacts.items():
            out.setdefault(entry.campaign, Ledger()).contacts[contact_id] = entry
        for event_id, survey in self.surveys.items():
            out.setdefault(survey.campaign, Ledger()).surveys[event_id] = survey
        for key, version in self.versions.items():
            campaign = key.rsplit(":", 1)[0]  # "campaign:wave"
            out.setdefault(campaign, Ledger()).versions[key] = version
        return out

    def figures_memo(self, campaign: str, wave: int) -> FiguresMemo:
        return self._figures.setdefault((campaign, wave), {})

    def to_json(self) -> dict[str, Any]:
        return {
            "c": {k: e.to_json() for k, e in self.contacts.items()},
            "s": {k: s.to_json() for k, s in self.surveys.items()},
            "v": self.versions,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> Ledger:
        if not raw:
            return cls()
        return cls(
            {k: LedgerEntry.from_json(e) for k, e in raw["c"].items()},
            {k: SurveyEntry.from_json(s) for k, s in raw["s"].items()},
            {k: int(v) for k, v in raw["v"].items()},
        )


# ---------------------------------------------------------------- level 2: contributions


@dataclass(frozen=True)
class Contribution:
    """A set of contacts and responses of one campaign wave: a municipality's, or merged."""

    # breakdown → sorted (values, potentials); tuples, not lists: tuples of floats drop out of
    # the cyclic collector's view, which otherwise walks every sample of every scope held
    samples: dict[str, tuple[tuple[float, ...], tuple[float, ...]]]
    process: list[ProcessRecord]  # in no particular order: process figures do not depend on it
    surveys: list[SurveyRecord]  # likewise
    as_of: float | None
    contacts: int
    # breakdown → summary of its values, made once: a wave's figures are also the next wave's
    # "previous" figures
    _summaries: dict[str, Summary] = field(default_factory=dict, compare=False, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_summaries": {}}  # a cache: another process makes its own

    def summary(self, breakdown: str) -> Summary:
        found = self._summaries.get(breakdown)
        if found is None:
            values = self.samples.get(breakdown, ((), ()))[0]
            found = self._summaries[breakdown] = summarise(values)
        return found

    def to_wire(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "process": [p.to_json() for p in self.process],
            "surveys": [s.to_json() for s in self.surveys],
            "as_of": None if self.as_of is None else datetime.fromtimestamp(self.as_of, UTC),
        }

    @classmethod
    def from_wire(
        cls,
        samples: Mapping[str, tuple[Sequence[float], Sequence[float]]],
        process: Iterable[Sequence[Any]],
        surveys: Iterable[Sequence[Any]],
        as_of: datetime | None,
    ) -> Contribution:
        records = [ProcessRecord.from_json(p) for p in process]
        return cls(
            samples={k: (tuple(v), tuple(p)) for k, (v, p) in samples.items()},
            process=records,
            surveys=[SurveyRecord.from_json(s) for s in surveys],
            as_of=None if as_of is None else as_of.timestamp(),
            contacts=len(records),
        )

    def mean(self, breakdown: str) -> float | None:
        values = self.samples.get(breakdown, ((), ()))[0]
        return math.fsum(values) / len(values) if values else None

    @property
    def empty(self) -> bool:
        """No contact and no response: a member's retracted wave, which counts as absent."""
        return self.contacts == 0 and not self.surveys


EMPTY_CONTRIBUTION = Contribution({}, [], [], None, 0)


def merge(parts: Iterable[Contribution]) -> Contribution:
    items = list(parts)
    values: dict[str, list[float]] = {}
    potentials: dict[str, list[float]] = {}
    for part in items:
        for key, (vals, pots) in part.samples.items():
            values.setdefault(key, []).extend(vals)
            potentials.setdefault(key, []).extend(pots)
    stamps = [p.as_of for p in items if p.as_of is not None]
    return Contribution(
        samples={
            k: (tuple(sorted(values[k])), tuple(sorted(potentials[k]))) for k in sorted(values)
        },
        process=[r for p in items for r in p.process],
        surveys=[r for p in items for r in p.surveys],
        as_of=max(stamps) if stamps else None,
        contacts=sum(p.contacts for p in items),
    )


# ---------------------------------------------------------------- figures


def figures(
    summary: Summary,
    potentials: Sequence[float],
    previous: Summary | None,
    rules: AggregationRules,
) -> Figures:
    """A breakdown's figures from the summary of its values (and of the previous wave's)."""
    change = None
    if previous is not None:
        change = compare_summaries(previous, summary, rules.alpha)
    return Figures(
        n=summary.n,
        mean=summary.mean,
        sd=summary.sd,
        ci_low=summary.ci_low,
        ci_high=summary.ci_high,
        min=summary.min,
        max=summary.max,
        median=summary.median,
        potential_n=len(potentials),
        potential_mean=math.fsum(potentials) / len(potentials) if potentials else None,
        band=band(summary.mean, rules.sufficient, rules.norm),
        previous_n=None if previous is None else previous.n,
        previous_mean=None if change is None else change.previous_mean,
        change=None if change is None else change.change,
        p_value=None if change is None else change.p_value,
        significant=False if change is None else change.significant,
    )


FiguresMemo = dict[str, tuple[tuple[Any, ...], Figures]]
"""Breakdown → (the samples its figures were computed from, those figures)."""


def breakdown_figures(
    current: Contribution,
    previous: Contribution | None,
    rules: AggregationRules,
    memo: FiguresMemo | None = None,
) -> dict[str, Figures]:
    """Figures of every breakdown; with `memo`, a breakdown whose samples (and previous wave's
    samples) are what they were last time reuses its figures instead of computing them."""
    out: dict[str, Figures] = {}
    for key, (values, potentials) in current.samples.items():
        samples = None
        if memo is not None:
            before_values = None if previous is None else previous.samples.get(key, ((), ()))[0]
            samples = (values, potentials, before_values)
            held = memo.get(key)
            if held is not None and held[0] == samples:
                out[key] = held[1]
                continue
        before = None if previous is None else previous.summary(key)
        out[key] = figures(current.summary(key), potentials, before, rules)
        if memo is not None and samples is not None:
            memo[key] = (samples, out[key])
    return out


def standings(
    members: Mapping[str, Contribution], rules: AggregationRules
) -> dict[str, dict[str, Standing]]:
    """Rank the member municipalities on each standing breakdown (those with contacts)."""
    out: dict[str, dict[str, Standing]] = {}
    for breakdown in STANDING_BREAKDOWNS:
        means = {
            code: mean
            for code, part in members.items()
            if (mean := part.mean(breakdown)) is not None
        }
        placed = ranks(means)
        out[breakdown] = {
            code: Standing(
                mean=means[code],
                rank=r.position,
                of=r.of,
                percentile=r.percentile,
                band=band(means[code], rules.sufficient, rules.norm) or "red",
            )
            for code, r in placed.items()
        }
    return out


def quadrants(
    members: Mapping[str, Contribution], rules: AggregationRules
) -> tuple[dict[str, Quadrant], str]:
    """Each municipality with a published survey result and a mystery-guest score, placed in
    the KTO × mystery-guest matrix against the norm or the national medians."""
    survey: dict[str, float] = {}
    mystery: dict[str, float] = {}
    for code, part in members.items():
        kto = overall_figures(part.surveys).totaaloordeel
        mc = part.mean(ALL)
        if kto is not None and mc is not None:
            survey[code], mystery[code] = kto, mc
    if not survey:
        return {}, ""
    if rules.quadrant_reference == "median":
        kto_ref = float(statistics.median(sorted(survey.values())))
        mc_ref = float(statistics.median(sorted(mystery.values())))
        label = f"national medians (KTO {kto_ref:.2f}, mystery guest {mc_ref:.2f})"
    else:
        kto_ref = mc_ref = rules.norm
        label = f"the norm ({rules.norm:g})"
    out: dict[str, Quadrant] = {}
    for code in sorted(survey):
        placed = quadrant(survey[code], mystery[code], kto_ref, mc_ref)
        if placed is not None:
            out[code] = placed
    return out, label


def previous_wave(waves: Iterable[int], wave: int) -> int | None:
    earlier = [w for w in waves if w < wave]
    return max(earlier) if earlier else None


def benchmark(
    kind: ScopeKind,
    scope_id: str,
    name: str,
    campaign: str,
    wave: int,
    version: int,
    current: Contribution,
    previous: tuple[int, Contribution] | None,
    rules: AggregationRules,
    members: Mapping[str, Contribution] | None = None,
    memo: FiguresMemo | None = None,
) -> BenchmarkUpdated:
    """The full figure set of a scope's wave; `members` (Chamber, nation) adds standings, and
    for the nation the quadrants."""
    ranked: dict[str, dict[str, Standing]] = {}
    placed: dict[str, Quadrant] = {}
    reference = ""
    if members is not None:
        ranked = standings(members, rules)
        if kind == "nation":
            placed, reference = quadrants(members, rules)
    return BenchmarkUpdated(
        scope_kind=kind,
        scope_id=scope_id,
        name=name,
        campaign=campaign,
        wave=wave,
        version=version,
        as_of=None if current.as_of is None else datetime.fromtimestamp(current.as_of, UTC),
        contacts=current.contacts,
        breakdowns=breakdown_figures(
            current, None if previous is None else previous[1], rules, memo
        ),
        process=figures_of_records(current.process),
        surveys=breakdowns_of_answers(current.surveys),
        standings=ranked,
        quadrants=placed,
        quadrant_reference=reference,
        previous_wave=None if previous is None else previous[0],
        wave_test=rules.wave_test if previous is not None else "",
    )


# ---------------------------------------------------------------- the two levels as steps


def municipality_updates(
    code: str,
    ledger: Ledger,
    changed: set[tuple[str, int]],
    reference: ReferenceData,
    rules: AggregationRules,
) -> list[tuple[BenchmarkUpdated, list[PartialUpdated]]]:
    """After `changed` waves of a municipality's ledger changed: each affected wave's new
    benchmark (bumping its version in the ledger) and the contribution messages for the
    municipality's Chamber and the nation."""
    return [
        (update, partial_messages(code, update, part, reference))
        for update, part in municipality_benchmarks(code, ledger, changed, reference, rules)
    ]


def municipality_benchmarks(
    code: str,
    ledger: Ledger,
    changed: set[tuple[str, int]],
    reference: ReferenceData,
    rules: AggregationRules,
) -> list[tuple[BenchmarkUpdated, Contribution]]:
    """`municipality_updates` without the messages: each affected wave's new benchmark
    (bumping its version in the ledger) and the contribution it is made of. A wave's figures
    carry its previous wave's, so the later waves of a changed campaign are republished too. A
    published wave left with nothing is retracted, and contributes nothing any more."""
    present = ledger.waves()
    out = []
    for campaign, wave in sorted(with_later_waves(changed, present)):
        if (campaign, wave) not in present:  # everything in it moved to another wave
            if ledger.published(campaign, wave):
                version = ledger.bump(campaign, wave)
                name = scope_name(reference, "municipality", code)
                withdrawn = retraction("municipality", code, name, campaign, wave, version)
                out.append((withdrawn, EMPTY_CONTRIBUTION))
            continue
        part = ledger.contribution(campaign, wave)
        before = previous_wave((w for c, w in present if c == campaign), wave)
        version = ledger.bump(campaign, wave)
        update = benchmark(
            "municipality",
            code,
            scope_name(reference, "municipality", code),
            campaign,
            wave,
            version,
            part,
            None if before is None else (before, ledger.contribution(campaign, before)),
            rules,
            memo=ledger.figures_memo(campaign, wave),
        )
        out.append((update, part))
    return out


def contribution_targets(code: str, reference: ReferenceData) -> list[tuple[ScopeKind, str]]:
    """The scopes a municipality contributes to: its Chamber (if it has one), the nation."""
    chamber = reference.chamber_of.get(code)
    nation: tuple[ScopeKind, str] = ("nation", NATION_ID)
    return [("chamber", chamber), nation] if chamber else [nation]


def partial_messages(
    code: str, update: BenchmarkUpdated, part: Contribution, reference: ReferenceData
) -> list[PartialUpdated]:
    """The messages carrying a municipality's contribution (`part`, what `update` was made
    of) to each of its target scopes."""
    (kind, target), *others = contribution_targets(code, reference)
    message = PartialUpdated(
        target_kind=kind,
        target_id=target,
        municipality=code,
        campaign=update.campaign,
        wave=update.wave,
        version=update.version,
        **part.to_wire(),
    )
    # validated once; the other targets differ only in the two target fields
    return [message] + [
        message.model_copy(update={"target_kind": kind, "target_id": target})
        for kind, target in others
    ]


def contribution_of(message: PartialUpdated) -> Contribution:
    return Contribution.from_wire(message.samples, message.process, message.surveys, message.as_of)


@dataclass
class CombinedScope:
    """A Chamber or the nation within one campaign: the latest contribution of each member
    municipality per wave, and the version of each wave's published benchmark."""

    kind: ScopeKind
    scope_id: str
    campaign: str
    waves: dict[int, dict[str, tuple[int, Contribution]]] = field(default_factory=dict)
    versions: dict[int, int] = field(default_factory=dict)
    # each wave's members merged, until one of them changes: an unchanged wave is merged (and
    # summarised, as the next wave's "previous") once, not at every update of the next wave
    _merged: dict[int, Contribution] = field(default_factory=dict, compare=False, repr=False)

    @property
    def prefix(self) -> str:
        return f"{self.kind}:{self.scope_id}:{self.campaign}"

    def receive(self, message: PartialUpdated, contribution: Contribution | None = None) -> bool:
        """Keep a member's contribution if it is newer than the one held; True if it was."""
        if not self._newer(message.municipality, message.wave, message.version):
            return False  # without reading the message's contribution
        return self.keep(
            message.municipality,
            message.wave,
            message.version,
            contribution if contribution is not None else contribution_of(message),
        )

    def keep(self, municipality: str, wave: int, version: int, contribution: Contribution) -> bool:
        """`receive` of a contribution at hand (the batch oracle's, without its message)."""
        if not self._newer(municipality, wave, version):
            return False
        self.waves.setdefault(wave, {})[municipality] = (version, contribution)
        self._merged.pop(wave, None)
        return True

    def members(self, wave: int) -> dict[str, Contribution]:
        """The wave's member municipalities and their contributions, by code; one that
        retracted its wave (an empty contribution) is not a member."""
        held = self.waves.get(wave, {})
        return {code: part for code, (_, part) in sorted(held.items()) if not part.empty}

    def _newer(self, municipality: str, wave: int, version: int) -> bool:
        held = self.waves.setdefault(wave, {}).get(municipality)
        return held is None or held[0] < version

    def updates(
        self, changed: set[int], reference: ReferenceData, rules: AggregationRules
    ) -> list[BenchmarkUpdated]:
        """The new benchmark of every changed wave and of the later waves (bumping versions);
        a retraction of a published wave whose members all retracted theirs."""
        present = {
            (self.campaign, w)
            for w, held in self.waves.items()
            if any(not part.empty for _, part in held.values())
        }
        merged = self._merged  # a wave's is also the next wave's previous

        def merged_wave(wave: int) -> Contribution:
            found = merged.get(wave)
            if found is None:
                found = merged[wave] = merge(self.members(wave).values())
            return found

        out = []
        for _, wave in sorted(with_later_waves({(self.campaign, w) for w in changed}, present)):
            if (self.campaign, wave) not in present:
                if wave in self.versions:
                    self.versions[wave] += 1
                    name = scope_name(reference, self.kind, self.scope_id)
                    out.append(
                        retraction(
                            self.kind, self.scope_id, name, self.campaign, wave, self.versions[wave]
                        )
                    )
                continue
            members = self.members(wave)
            before = previous_wave((w for _, w in present), wave)
            previous = None if before is None else (before, merged_wave(before))
            self.versions[wave] = self.versions.get(wave, 0) + 1
            out.append(
                benchmark(
                    self.kind,
                    self.scope_id,
                    scope_name(reference, self.kind, self.scope_id),
                    self.campaign,
                    wave,
                    self.versions[wave],
                    merged_wave(wave),
                    previous,
                    rules,
                    members=members,
                )
            )
        return out


def retraction(
    kind: ScopeKind, scope_id: str, name: str, campaign: str, wave: int, version: int
) -> BenchmarkUpdated:
    """The benchmark that withdraws a scope's published wave once nothing is left in it."""
    return BenchmarkUpdated(
        scope_kind=kind,
        scope_id=scope_id,
        name=name,
        campaign=campaign,
        wave=wave,
        version=version,
        as_of=None,
        contacts=0,
        breakdowns={},
        process=figures_of_records([]),
        surveys={},
        retracted=True,
    )


def with_later_waves(
    changed: set[tuple[str, int]], present: set[tuple[str, int]]
) -> set[tuple[str, int]]:
    """The changed waves plus every later wave of the same campaign (whose comparison with
    its previous wave may have changed)."""
    out = set(changed)
    for campaign, wave in changed:
        out.update((c, w) for c, w in present if c == campaign and w > wave)
    return out
