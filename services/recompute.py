"""The batch oracle: the streaming pipeline's domain functions, run over an event log at once.

`recompute` folds each contact's events through the scorer's `observe` in log order (as the
scorer would see them on its partition) and aggregates the final revisions with the same
two-level partial maths as the aggregators. Every streaming result is tested against it.

Contacts are independent, and so are municipalities up to the Chamber and national combine:
a large log is scored in shards by contact id and aggregated in shards of whole Chambers, one
forked process per core, and the result is the same bits and order as in one process. From a
JSONL file (`recompute_jsonl`, what `meetlat recompute FILE` runs) each process parses only the
lines of its own contacts.

An event whose id came earlier in the log with other content is left out, as ingest leaves it
out of the stream (`services.ingest.event_ids`).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache, partial
from operator import attrgetter, itemgetter
from typing import Any, TypeVar

from schemas.benchmarks import NATION_ID, BenchmarkUpdated
from schemas.events import (
    EVENT_ADAPTER,
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
    Contribution,
    Ledger,
    contribution_targets,
    municipality_benchmarks,
    rules_for,
)
from services.ingest.event_ids import conflict_reason, conflicting, later_versions
from services.ingest.parsing import Accepted, Rejected, parse_event_record
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
    events: Iterable[Event | Heartbeat],
    lookup: ModelLookup,
    active: ScoringModel,
    *,
    workers: int | None = 1,
) -> tuple[dict[str, ScoreRevision], list[str]]:
    """Final revision per contact once every deadline has passed (watermark = end of time).

    Each event is checked as the scorer checks it, in log order; each contact is then scored
    once — the scorer's last revision equals that score whatever the order (property-tested).
    Events that contradict their contact or the model, and orphaned mail facts, are listed.
    `workers`: processes to score in (None: one per core); contacts are independent, so the
    result is the same."""
    log = _as_sequence(events)
    with _cyclic_gc_paused():
        return _merged_scores(
            in_parallel(_processes(workers, len(log)), partial(_score_shard, log, lookup, active))
        )


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """The oracle makes millions of small objects and no reference cycles; the cyclic
    collector would traverse the whole growing heap again and again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if not gc.get_freeze_count():
                # Hand what the pause made to the oldest generation: the next young
                # collection would walk all of it (1.3 s after a million events) only to
                # move it there. (A caller that froze its heap keeps it frozen as it is.)
                gc.freeze()
                gc.unfreeze()
            gc.enable()


@dataclass
class _Scored:
    """One shard's contacts, each under its key: the log index of its first absorbed event
    (contacts are listed in that order)."""

    revisions: list[tuple[int, str, ScoreRevision]] = field(default_factory=list)
    orphans: list[tuple[int, str]] = field(default_factory=list)  # key, contradiction
    rejected: list[tuple[int, str]] = field(default_factory=list)  # log index, contradiction
    # read from a file (`recompute_jsonl`): the shard's survey responses and unreadable lines
    surveys: list[tuple[int, SurveyResponse]] = field(default_factory=list)  # line, response
    skipped: list[Rejected] = field(default_factory=list)


def _merged_scores(shards: Iterable[_Scored]) -> tuple[dict[str, ScoreRevision], list[str]]:
    """Scores in contact order; contradictions as `absorb` met them (log order), then the
    orphans in contact order."""
    revisions: list[tuple[int, str, ScoreRevision]] = []
    orphans: list[tuple[int, str]] = []
    rejected: list[tuple[int, str]] = []
    for shard in shards:
        revisions += shard.revisions
        orphans += shard.orphans
        rejected += shard.rejected
    revisions.sort(key=itemgetter(0))
    orphans.sort(key=itemgetter(0))
    rejected.sort(key=itemgetter(0))
    latest = {contact_id: revision for _, contact_id, revision in revisions}
    return latest, [reason for _, reason in rejected] + [reason for _, reason in orphans]


def _score_shard(
    log: Sequence[Event | Heartbeat],
    lookup: ModelLookup,
    active: ScoringModel,
    shard: int,
    shards: int,
) -> _Scored:
    """Score the contacts of one shard (`hash(contact id) % shards`)."""
    mine = (
        (index, event)
        for index, event in enumerate(log)
        if not isinstance(event, Heartbeat)
        and (shards == 1 or hash(event.contact_id) % shards == shard)
    )
    return _score_contacts(mine, lookup, active)


def _score_contacts(
    events: Iterable[tuple[int, Event]], lookup: ModelLookup, active: ScoringModel
) -> _Scored:
    """Score the contacts of these events, each under its position in the log.

    Events are grouped by contact first. A contact whose events all agree (one channel, one
    municipality/campaign/wave/case, assessments that fit the active model, no rescore
    request) passes every check `absorb` makes, so its facts are simply its distinct events;
    any other contact is folded through `absorb` event by event, exactly as the scorer would."""
    groups: dict[str, list[tuple[int, Event]]] = {}
    for index, event in events:
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
    out = _Scored()
    fits: dict[tuple[Any, ...], bool] = {}  # assessments' answers → fit the model
    for contact_id, group in groups.items():
        if model is not None and _agrees(group, model, fits):
            unique: dict[str, Event] = {}
            for _, event in group:
                unique.setdefault(event.event_id, event)
            facts = ContactFacts(tuple(sorted(unique.values(), key=event_order)))
            state, first = ContactState(facts, active.key), group[0][0]
        else:
            state, first = EMPTY_STATE, -1
            for index, event in group:
                try:
                    state = absorb(state, event, lookup, active)
                except (ContactError, KeyError) as exc:
                    out.rejected.append((index, f"{event.event_id}: {exc}"))
                else:
                    first = index if first < 0 else first
            if first < 0:
                continue
        if is_orphan(state.facts, lookup(state.model_key), END_OF_TIME):
            out.orphans.append((first, f"{contact_id}: reply facts for a mail that was never sent"))
            continue
        revision = first_revision(state, lookup, END_OF_TIME)
        if revision is not None:
            out.revisions.append((first, contact_id, revision))
    return out


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
    *,
    workers: int | None = 1,
) -> list[BenchmarkUpdated]:
    """Municipality, Chamber and national benchmarks of every campaign wave (version 1 each),
    through the same ledger → contribution → combined scope steps as the aggregators.

    Municipalities are aggregated in shards of whole Chambers, one per process (`workers`,
    None: one per core): a shard also combines its Chambers; the nation combines them all."""
    revisions, responses = list(scores), list(surveys)
    with _cyclic_gc_paused():
        return _benchmarks(
            revisions,
            responses,
            reference,
            rules,
            _processes(workers, len(revisions) + len(responses)),
        )


def _benchmarks(
    revisions: list[ScoreRevision],
    responses: list[SurveyResponse],
    reference: ReferenceData,
    rules: AggregationRules,
    processes: int,
) -> list[BenchmarkUpdated]:
    aggregate = partial(_aggregate_shard, revisions, responses, reference, rules)
    municipal: list[tuple[str, list[BenchmarkUpdated]]] = []
    combined: list[tuple[str, list[BenchmarkUpdated]]] = []
    nations: dict[str, CombinedScope] = {}
    for part in in_parallel(processes, aggregate):
        municipal += part.municipal
        combined += part.chambers
        for code, campaign, wave, version, contribution in part.national:
            scope = CombinedScope("nation", NATION_ID, campaign)
            nations.setdefault(scope.prefix, scope).keep(code, wave, version, contribution)
    combined += [
        (prefix, scope.updates(set(scope.waves), reference, rules))
        for prefix, scope in nations.items()
    ]
    out = [update for _, updates in sorted(municipal, key=itemgetter(0)) for update in updates]
    out += [update for _, updates in sorted(combined, key=itemgetter(0)) for update in updates]
    return out


@dataclass
class _Aggregated:
    """One shard's municipality and Chamber benchmarks (by municipality code and by scope
    prefix) and its municipalities' contributions to the nation."""

    municipal: list[tuple[str, list[BenchmarkUpdated]]] = field(default_factory=list)
    chambers: list[tuple[str, list[BenchmarkUpdated]]] = field(default_factory=list)
    national: list[tuple[str, str, int, int, Contribution]] = field(default_factory=list)


def _aggregate_shard(
    revisions: list[ScoreRevision],
    responses: list[SurveyResponse],
    reference: ReferenceData,
    rules: AggregationRules,
    shard: int,
    shards: int,
) -> _Aggregated:
    """Aggregate the municipalities of one shard (see `_chamber_shards`), one ledger (a
    municipality's campaign, as the aggregator keeps them) at a time: a ledger is dropped once
    its benchmarks and contributions are made."""
    codes = _chamber_shards(revisions, responses, reference, shards)[shard]
    mine: dict[tuple[str, str], tuple[list[ScoreRevision], list[SurveyResponse]]] = {}
    for revision in revisions:
        if revision.municipality in codes:
            key = (revision.municipality, revision.campaign)
            mine.setdefault(key, ([], []))[0].append(revision)
    for response in responses:
        if response.municipality in codes:
            key = (response.municipality, response.campaign)
            mine.setdefault(key, ([], []))[1].append(response)
    out = _Aggregated()
    chambers: dict[str, CombinedScope] = {}
    for (code, _), (scored, surveyed) in sorted(mine.items()):
        ledger = Ledger()
        for revision in scored:
            ledger.apply_revision(revision, rules.phases)
        for response in surveyed:
            ledger.apply_survey(response)
        made = municipality_benchmarks(code, ledger, ledger.waves(), reference, rules)
        out.municipal.append((code, [update for update, _ in made]))
        for update, part in made:
            for kind, target in contribution_targets(code, reference):
                if kind == "nation":
                    out.national.append((code, update.campaign, update.wave, update.version, part))
                else:
                    scope = CombinedScope(kind, target, update.campaign)
                    scope = chambers.setdefault(scope.prefix, scope)
                    scope.keep(code, update.wave, update.version, part)
    out.chambers = [
        (prefix, scope.updates(set(scope.waves), reference, rules))
        for prefix, scope in chambers.items()
    ]
    return out


def _chamber_shards(
    revisions: list[ScoreRevision],
    responses: list[SurveyResponse],
    reference: ReferenceData,
    shards: int,
) -> list[set[str]]:
    """Municipality codes in `shards` shards of about equal work (revisions and responses),
    each Chamber's municipalities in one shard: the largest first, each to the least loaded
    shard (the same in every process)."""
    load: Counter[str] = Counter(r.municipality for r in revisions)
    load.update(r.municipality for r in responses)
    groups: dict[str, set[str]] = {}
    for code in load:
        chamber = reference.chamber_of.get(code)
        groups.setdefault(f"chamber {chamber}" if chamber else code, set()).add(code)
    weight = {key: sum(load[code] for code in codes) for key, codes in groups.items()}
    out: list[set[str]] = [set() for _ in range(shards)]
    sizes = [0] * shards
    for key in sorted(groups, key=lambda k: (-weight[k], k)):
        smallest = sizes.index(min(sizes))
        out[smallest] |= groups[key]
        sizes[smallest] += weight[key]
    return out


def recompute(
    events: Iterable[Event | Heartbeat],
    lookup: ModelLookup,
    active: ScoringModel,
    reference: ReferenceData,
    rules: AggregationRules | None = None,
    *,
    workers: int | None = None,
) -> Recomputation:
    """Score and aggregate an event log. `workers`: processes to use; None: one per core
    for a log of `PARALLEL_FROM` events or more, else this process alone. The result does
    not depend on it."""
    log = _as_sequence(events)
    processes = _processes(workers, len(log))
    rules = rules or rules_for(active, lookup)
    with _cyclic_gc_paused():
        left_out = later_versions(log)
        conflicts = [conflict_reason(log[position].event_id) for position in left_out]
        if left_out:
            skip = set(left_out)
            log = [event for position, event in enumerate(log) if position not in skip]
        scores, contradictions = _merged_scores(
            in_parallel(processes, partial(_score_shard, log, lookup, active))
        )
        surveys = [e for e in log if isinstance(e, SurveyResponse)]
        benchmarks = _benchmarks(list(scores.values()), surveys, reference, rules, processes)
    return Recomputation(scores, benchmarks, conflicts + contradictions)


def recompute_jsonl(
    text: bytes,
    source: str,
    lookup: ModelLookup,
    active: ScoringModel,
    reference: ReferenceData,
    rules: AggregationRules | None = None,
    *,
    workers: int | None = None,
) -> tuple[Recomputation, list[Rejected]]:
    """`recompute` of a JSONL event file's content (`source`: its name in reasons), each line
    read as `parse_jsonl` reads it; the lines it rejects come back in line order.

    Each process parses the lines of its own shard of contacts: parsing costs about a third
    of scoring and aggregating, and a log parsed before the processes fork would have to be
    read through by every one of them (copying the pages of its objects)."""
    processes = _processes(workers, text.count(b"\n"))
    rules = rules or rules_for(active, lookup)
    municipalities = frozenset(reference.municipalities)
    with _cyclic_gc_paused():
        conflicts = _later_version_lines(text, source, municipalities)
        left_out = frozenset(r.line for r in conflicts)
        shards = in_parallel(
            processes,
            partial(_score_lines, text, source, municipalities, lookup, active, left_out),
        )
        scores, contradictions = _merged_scores(shards)
        surveys = sorted((item for shard in shards for item in shard.surveys), key=itemgetter(0))
        skipped = sorted(
            [*conflicts, *(r for shard in shards for r in shard.skipped)], key=attrgetter("line")
        )
        benchmarks = _benchmarks(
            list(scores.values()), [s for _, s in surveys], reference, rules, processes
        )
    return Recomputation(scores, benchmarks, contradictions), skipped


def _score_lines(
    text: bytes,
    source: str,
    municipalities: frozenset[str],
    lookup: ModelLookup,
    active: ScoringModel,
    left_out: frozenset[int],
    shard: int,
    shards: int,
) -> _Scored:
    """Parse and score the lines of one shard's contacts (`hash(contact id) % shards`, as
    `_score_shard`), but those `left_out`. A line whose contact `_line_contact` cannot tell is
    parsed in every shard and kept by its contact's; if it is rejected, by shard
    `line number % shards`."""
    mine: list[tuple[int, Event]] = []
    surveys: list[tuple[int, SurveyResponse]] = []
    skipped: list[Rejected] = []
    for number, raw in enumerate(text.split(b"\n"), start=1):
        if not raw.strip() or number in left_out:
            continue
        raw = raw.rstrip(b"\r\n")
        contact = _line_contact(raw) if shards > 1 else None
        if contact is not None and hash(contact) % shards != shard:
            continue  # another shard's contact
        parsed = parse_event_record(raw, source, number, municipalities)
        if isinstance(parsed, Rejected):
            if contact is not None or number % shards == shard:
                skipped.append(parsed)
            continue
        if contact is None:
            if hash(parsed.contact_id) % shards != shard:
                continue
        elif parsed.contact_id != contact:
            raise AssertionError(
                f"{source}:{number}: contact read as {contact!r}, parsed as {parsed.contact_id!r}"
            )
        if type(parsed) is SurveyResponse:
            surveys.append((number, parsed))
        else:
            mine.append((number, parsed))
    scored = _score_contacts(mine, lookup, active)
    scored.surveys, scored.skipped = surveys, skipped
    return scored


def _later_version_lines(
    text: bytes, source: str, municipalities: frozenset[str]
) -> list[Rejected]:
    """The lines whose event id an earlier accepted line holds with other content, refused
    as ingest refuses them. Only the lines of an id that occurs more than once (and those
    whose id cannot be read without parsing) are parsed."""
    if _ids_unique(text):
        return []
    lines = text.split(b"\n")
    first: dict[str, int] = {}  # event id → its first line
    again: list[tuple[str, int]] = []
    for number, raw in enumerate(lines, start=1):
        event_id = _line_field(raw, _EVENT_ID_KEY)
        if event_id is None:
            if not raw.strip():
                continue
            parsed = parse_event_record(raw.rstrip(b"\r"), source, number, municipalities)
            if isinstance(parsed, Rejected):
                continue  # (skipped as such where its contact's lines are scored)
            event_id = parsed.event_id
        if first.setdefault(event_id, number) != number:
            again.append((event_id, number))
    if not again:
        return []
    numbers = sorted({first[event_id] for event_id, _ in again} | {n for _, n in again})
    events: list[tuple[int, Event]] = []
    for number in numbers:
        parsed = parse_event_record(lines[number - 1].rstrip(b"\r"), source, number, municipalities)
        if not isinstance(parsed, Rejected):
            events.append((number, parsed))
    return [
        conflicting(Accepted(source, number, event, EVENT_ADAPTER.dump_json(event)))
        for number, event in (events[index] for index in later_versions([e for _, e in events]))
    ]


_EVENT_ID_KEY = b'"event_id"'
_EVENT_IDS = re.compile(rb'"event_id"[ \t\r\n]*:[ \t\r\n]*"([!#-\[\]-~]+)"')


def _ids_unique(text: bytes) -> bool:
    """True when no two lines of a JSONL text can hold events with the same id, decided
    without reading it line by line (the usual file: one pass of C code).

    If no \\u escape writes a letter of `event_id`, a valid event's line holds the bytes
    `"event_id"` for its key (as `_line_field` says). If every occurrence of them is followed
    by a value that needs no unescaping or stripping, every valid event's id is among those
    values, and if they are all different, so are the ids. Anything else (an answer keyed
    `event_id` among them) only makes this answer False, and the lines are read one by one."""
    if any(code.lower() in _escapes(_EVENT_ID_KEY) for code in _ESCAPE.findall(text)):
        return False
    ids = _EVENT_IDS.findall(text)
    return len(ids) == text.count(_EVENT_ID_KEY) and len(set(ids)) == len(ids)


_VALUE = re.compile(rb'[ \t\r\n]*:[ \t\r\n]*"([!#-\[\]-~]+)"')  # no space, " or \
_ESCAPE = re.compile(rb"\\u([0-9a-fA-F]{4})")
_CONTACT_KEY = b'"contact_id"'


def _line_contact(raw: bytes) -> str | None:
    return _line_field(raw, _CONTACT_KEY)


@cache
def _escapes(key: bytes) -> frozenset[bytes]:
    return frozenset(b"%04x" % c for c in key.strip(b'"'))


def _line_field(raw: bytes, key: bytes) -> str | None:
    """An identifier field (`key`, quoted) of the event on a JSONL line, read without parsing
    the line, or None where that could be wrong.

    Unless a \\u escape writes one of its letters, a key can only be written as its quoted
    bytes, so a valid event's line holds them at least once, for its own key. If they occur
    exactly once, that is the key, and a value of printable ASCII without quote, backslash or
    space is the identifier as parsed (nothing to unescape, no whitespace to strip). A line
    that is not a valid event may be read wrongly: it is rejected wherever it is parsed."""
    if raw.count(key) != 1:
        return None
    if b"\\u" in raw and any(code.lower() in _escapes(key) for code in _ESCAPE.findall(raw)):
        return None
    found = _VALUE.match(raw, raw.find(key) + len(key))
    return None if found is None else found.group(1).decode("ascii")


# ---------------------------------------------------------------- processes

PARALLEL_FROM = 20_000
"""Events from which `recompute` uses every core by default; below, starting processes costs
more than it saves."""

Result = TypeVar("Result")


def _as_sequence(events: Iterable[Event | Heartbeat]) -> Sequence[Event | Heartbeat]:
    return events if isinstance(events, Sequence) else list(events)


def _processes(workers: int | None, size: int) -> int:
    if workers is None:
        if size < PARALLEL_FROM:
            return 1
        if hasattr(os, "sched_getaffinity"):  # the cores this process may run on
            return len(os.sched_getaffinity(0))
        return os.cpu_count() or 1
    return max(1, workers)


def in_parallel(processes: int, work: Callable[[int, int], Result]) -> list[Result]:
    """[work(0, n), work(1, n), …, work(n − 1, n)] for n = `processes`: shard 0 in this
    process, the others at the same time in worker processes, which inherit `work` and its
    inputs by fork (only the results are copied). Where fork is unsafe — another platform, or
    a process that runs other threads — n is 1 and this process does all the work."""
    if "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1:
        processes = 1
    if processes == 1:
        return [work(0, 1)]
    with ProcessPoolExecutor(
        processes - 1,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_adopt,
        initargs=(work, processes),
    ) as pool:
        others = [pool.submit(_adopted, shard) for shard in range(1, processes)]
        own = work(0, processes)
        return [own, *(future.result() for future in others)]


_WORK: tuple[Callable[[int, int], Any], int] | None = None  # a worker's, inherited at fork


def _adopt(work: Callable[[int, int], Any], processes: int) -> None:
    global _WORK
    _WORK = (work, processes)


def _adopted(shard: int) -> Any:
    assert _WORK is not None, "a worker process without work"
    work, processes = _WORK
    return work(shard, processes)
