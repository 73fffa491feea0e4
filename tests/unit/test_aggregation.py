"""Running-benchmark maths: ledgers, partials, merging, figures; streaming == batch."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.benchmarks import NATION_ID, Figures
from schemas.events import (
    CallAnswered,
    CallAssessed,
    CallbackMade,
    CallbackPromised,
    Event,
    Heartbeat,
    MailAssessed,
    MailReplied,
    MailSent,
)
from schemas.reference import ReferenceData
from schemas.scores import ScoreRevision
from services.aggregation.benchmarks import (
    ALL,
    BREAKDOWNS,
    EMPTY,
    Ledger,
    LedgerEntry,
    Partial,
    apply_revision,
    breakdown_figures,
    figures,
    ledger_partials,
    merge,
    merge_partials,
    partial_of,
)
from services.recompute import benchmarks_of, recompute
from services.scoring.catalogue import ModelCatalogue
from services.scoring.rules import END_OF_TIME
from services.scoring.scorer import EMPTY_STATE, ContactState, advance, observe

REFERENCE = ReferenceData.load()
AT = datetime(2026, 3, 2, 12, tzinfo=UTC)


def rev(
    contact: str,
    revision: int,
    total: float,
    *,
    channel: str = "phone",
    potential: float | None = -1.0,
    municipality: str = "GM0344",
) -> ScoreRevision:
    """A revision; `potential` defaults to the total (pass None for an unanswered mail)."""
    fields: dict[str, Any] = {
        "contact_id": contact,
        "municipality": municipality,
        "campaign": "mg-2026",
        "wave": 1,
        "case": "standplaatsvergunning",
        "channel": channel,
        "total": total,
        "form": None,
        "content": None,
        "potential": total if potential == -1.0 else potential,
        "answered": potential is not None,
        "breakdown": (),
        "corrections": (),
        "model_id": "m",
        "model_version": "1",
        "last_fact_at": AT,
        "revision": revision,
    }
    return ScoreRevision(**fields)


# ------------------------------------------------------------------ ledger


def test_newer_revision_replaces_the_contact_entry() -> None:
    ledger: Ledger = {}
    assert apply_revision(ledger, rev("c1", 1, 5.0)) is True
    assert apply_revision(ledger, rev("c1", 2, 7.5, potential=8.0)) is True
    assert ledger == {"c1": LedgerEntry(2, "phone", 7.5, 8.0)}


def test_same_or_older_revision_is_ignored() -> None:
    ledger: Ledger = {}
    apply_revision(ledger, rev("c1", 3, 6.0))
    assert apply_revision(ledger, rev("c1", 3, 9.0)) is False
    assert apply_revision(ledger, rev("c1", 2, 1.0)) is False
    assert apply_revision(ledger, rev("c1", 1, 2.0)) is False
    assert ledger == {"c1": LedgerEntry(3, "phone", 6.0, 6.0)}


def test_ledger_entry_json_round_trip() -> None:
    for entry in (LedgerEntry(2, "mail", 0.0, None), LedgerEntry(1, "phone", 6.5, 7.25)):
        assert LedgerEntry.from_json(entry.to_json()) == entry


def test_partials_per_channel() -> None:
    ledger: Ledger = {}
    for r in (
        rev("p1", 1, 6.0),
        rev("p2", 2, 8.0, potential=9.0),
        rev("m1", 1, 7.0, channel="mail"),
        rev("m2", 1, 0.0, channel="mail", potential=None),
    ):
        apply_revision(ledger, r)
    parts = ledger_partials(ledger)
    assert set(parts) == set(BREAKDOWNS) == {"all", "channel=phone", "channel=mail"}
    assert parts["channel=phone"] == Partial(2, 14.0, 6.0, 8.0, 2, 15.0)
    assert parts["channel=mail"] == Partial(2, 7.0, 0.0, 7.0, 1, 7.0)
    assert parts[ALL] == Partial(4, 21.0, 0.0, 8.0, 3, 22.0)


def test_partial_of_nothing_is_empty() -> None:
    assert partial_of([]) == EMPTY
    assert ledger_partials({})["channel=mail"] == EMPTY


def test_merge_of_empty_partials() -> None:
    assert merge([]) == EMPTY
    assert merge([EMPTY, EMPTY]) == EMPTY
    one = Partial(2, 13.0, 5.0, 8.0, 1, 8.0)
    assert merge([EMPTY, one, EMPTY]) == one
    assert merge_partials([]) == {key: EMPTY for key in BREAKDOWNS}
    # a municipality without mail contacts adds nothing to the mail breakdown
    merged = merge_partials([{ALL: one, "channel=phone": one}, ledger_partials({})])
    assert merged == {ALL: one, "channel=phone": one, "channel=mail": EMPTY}


def test_merge_combines_counts_sums_and_extremes() -> None:
    a = Partial(2, 13.0, 5.0, 8.0, 2, 14.0)
    b = Partial(3, 12.0, 0.0, 6.0, 2, 11.0)
    assert merge([a, b]) == merge([b, a]) == Partial(5, 25.0, 0.0, 8.0, 4, 25.0)


def test_figures_mean_min_max_potential() -> None:
    assert figures(Partial(4, 21.0, 0.0, 8.0, 3, 22.0)) == Figures(
        n=4, mean=5.25, min=0.0, max=8.0, potential_n=3, potential_mean=22.0 / 3
    )
    assert figures(EMPTY) == Figures(
        n=0, mean=None, min=None, max=None, potential_n=0, potential_mean=None
    )
    # every contact unanswered: a mean of 0, no potential
    assert figures(Partial(2, 0.0, 0.0, 0.0, 0, 0.0)).potential_mean is None
    out = breakdown_figures({ALL: Partial(1, 6.0, 6.0, 6.0, 1, 7.0)})
    assert set(out) == set(BREAKDOWNS)
    assert out["channel=mail"].n == 0 and out[ALL].mean == 6.0


def test_partial_json_round_trip() -> None:
    p = Partial(3, 17.5, 0.0, 9.25, 2, 15.0)
    assert Partial.from_json(p.to_json()) == p
    assert Partial.from_json(EMPTY.to_json()) == EMPTY


# ------------------------------------------------------------------ streaming == batch

# a few municipalities in three Chambers (two share one)
MUNICIPALITIES = ["GM0344", "GM0307", "GM0363", "GM0599", "GM0518"]
assert {REFERENCE.chamber_of[m] for m in MUNICIPALITIES} >= {
    "midden-nederland",
    "amsterdam",
    "rotterdam",
}

totals = st.floats(0, 10, allow_nan=False) | st.sampled_from([0.0, 5.5, 6.1, 7.01, 10.0])


@st.composite
def contact_revisions(draw: st.DrawFn, contact: str) -> list[ScoreRevision]:
    """Every revision a contact went through (one content per revision number)."""
    municipality = draw(st.sampled_from(MUNICIPALITIES))
    channel = draw(st.sampled_from(["phone", "mail"]))
    out = []
    for number in range(1, draw(st.integers(1, 4)) + 1):
        total = draw(totals)
        unanswered = channel == "mail" and draw(st.integers(0, 3)) == 0
        potential = None if unanswered else draw(st.floats(total, 10, allow_nan=False))
        out.append(
            rev(
                contact,
                number,
                0.0 if unanswered else total,
                channel=channel,
                potential=potential,
                municipality=municipality,
            )
        )
    return out


@st.composite
def revision_stream(draw: st.DrawFn) -> tuple[list[ScoreRevision], list[ScoreRevision]]:
    """(final revision of every contact, the stream: superseded ones, duplicates, shuffled)."""
    n = draw(st.integers(0, 25))
    histories = [draw(contact_revisions(f"c{i}")) for i in range(n)]
    final = [h[-1] for h in histories]
    stream = [r for h in histories for r in h if draw(st.booleans()) or r is h[-1]]
    stream += draw(st.lists(st.sampled_from(stream), max_size=10)) if stream else []
    return final, list(draw(st.permutations(stream)))


def stream_benchmarks(stream: list[ScoreRevision], rng: random.Random) -> dict[str, Any]:
    """The streaming path: per-municipality ledgers re-publishing partials after each change
    (versioned, delivered to the Chamber and nation aggregators out of order), which keep the
    latest partials per municipality and merge them in arbitrary order."""
    ledgers: dict[str, Ledger] = {}
    versions: dict[str, int] = {}
    published: list[tuple[str, int, dict[str, Partial]]] = []
    for revision in stream:
        ledger = ledgers.setdefault(revision.municipality, {})
        if apply_revision(ledger, revision):
            versions[revision.municipality] = versions.get(revision.municipality, 0) + 1
            published.append(
                (revision.municipality, versions[revision.municipality], ledger_partials(ledger))
            )
    out: dict[str, Any] = {}
    for code, ledger in ledgers.items():
        out[f"municipality:{code}"] = breakdown_figures(ledger_partials(ledger))

    def aggregate(members: set[str]) -> dict[str, Any]:
        latest: dict[str, tuple[int, dict[str, Partial]]] = {}
        deliveries = [p for p in published if p[0] in members]
        rng.shuffle(deliveries)
        for code, version, parts in deliveries:
            if code not in latest or latest[code][0] < version:
                latest[code] = (version, parts)
        values = [parts for _, parts in latest.values()]
        rng.shuffle(values)
        return breakdown_figures(merge_partials(values))

    for chamber in {REFERENCE.chamber_of[code] for code in ledgers}:
        members = {code for code in ledgers if REFERENCE.chamber_of[code] == chamber}
        out[f"chamber:{chamber}"] = aggregate(members)
    if ledgers:
        out[f"nation:{NATION_ID}"] = aggregate(set(ledgers))
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(revision_stream(), st.randoms(use_true_random=False))
def test_streaming_equals_batch_exactly(
    case: tuple[list[ScoreRevision], list[ScoreRevision]], rng: random.Random
) -> None:
    final, stream = case
    streaming = stream_benchmarks(stream, rng)
    batch_final = list(final)
    rng.shuffle(batch_final)
    batch = {b.scope_key: b.breakdowns for b in benchmarks_of(batch_final, REFERENCE)}
    assert set(streaming) == set(batch)
    for key, expected in batch.items():
        assert streaming[key] == expected, key  # exact: fsum makes the sums order-free
    # and the batch figures are the plain statistics of the final totals
    if final:
        nation = batch[f"nation:{NATION_ID}"][ALL]
        assert nation.n == len(final)
        assert nation.min == min(r.total for r in final)
        assert nation.max == max(r.total for r in final)
        assert nation.mean == pytest.approx(sum(r.total for r in final) / len(final))
        assert nation.potential_n == sum(r.potential is not None for r in final)


# ------------------------------------------------------------------ real scorer revisions

CATALOGUE = ModelCatalogue()
MODEL = CATALOGUE.resolve(None)


def fact(cls: type, event_id: str, contact: str, municipality: str, hours: float, **f: Any) -> Any:
    return cls(
        event_id=event_id,
        contact_id=contact,
        municipality=municipality,
        campaign="mg-2026",
        wave=1,
        case="standplaatsvergunning",
        occurred_at=AT + timedelta(hours=hours),
        **f,
    )


# (event, watermark when it arrives): a mail scored unanswered once event time passes its
# 72 h deadline, then answered late; a call whose promised callback is first missed, then
# made late. Each contact goes through superseded revisions before its final one.
ARRIVALS: list[tuple[Event, float]] = [
    (fact(MailSent, "x-se", "X", "GM0344", 0, message_id="<x@x>", token="x"), 0),
    (fact(CallAnswered, "y-an", "Y", "GM0363", 1, seconds_waited=12), 1),
    (fact(CallbackPromised, "y-cp", "Y", "GM0363", 1.1, deadline=AT + timedelta(hours=5)), 1),
    (fact(CallAssessed, "y-as", "Y", "GM0363", 2, answers={"juist_antwoord": "deels juist"}), 3),
    (fact(MailAssessed, "x-as", "X", "GM0344", 10, answers={"volledigheid": "volledig"}), 10),
    (fact(MailReplied, "x-re", "X", "GM0344", 90, salutation_correct=True), 100),
    (fact(CallbackMade, "y-cm", "Y", "GM0363", 30), 100),
]


def scorer_revisions() -> list[ScoreRevision]:
    """Every revision the scorer emits for ARRIVALS, deadlines firing as the watermark passes
    them, and at the end of event time."""
    states: dict[str, ContactState] = {}
    out: list[ScoreRevision] = []
    for event, hours in ARRIVALS:
        watermark = AT + timedelta(hours=hours)
        for contact_id, state in list(states.items()):
            if state.deadline is not None and state.deadline <= watermark:
                step = advance(state, CATALOGUE.resolve, watermark)
                states[contact_id] = step.state
                out += [step.revision] if step.revision else []
        step = observe(
            states.get(event.contact_id, EMPTY_STATE), event, CATALOGUE.resolve, MODEL, watermark
        )
        states[event.contact_id] = step.state
        out += [step.revision] if step.revision else []
    for state in states.values():
        step = advance(state, CATALOGUE.resolve, END_OF_TIME)
        out += [step.revision] if step.revision else []
    return out


def without(revision: ScoreRevision) -> dict[str, Any]:
    return revision.model_dump(exclude={"revision"})


def test_superseded_scorer_revisions_leave_only_the_final_ones_in_the_benchmarks() -> None:
    revisions = scorer_revisions()
    by_contact = {c: [r for r in revisions if r.contact_id == c] for c in ("X", "Y")}
    # X: unanswered (0, no potential) at the deadline, then the late reply: speed > 72 h 1,
    # autoreply none 4, salutation 10, juist missing 1·2 (critical: capped at 5.4),
    # volledig 10 → 27 / 6 = 4.5 (below the cap)
    assert [(r.total, r.potential) for r in by_contact["X"]] == [(0.0, None), (4.5, 4.5)]
    # Y: callback undecided, then not kept (1, −1.5), then kept late (6, −1.5):
    # snelheid 10, aantal 10, deels juist 5·2, no vriendelijkheid → (30 [+ 1 | + 6]) / 4 or 5
    assert [(r.total, r.potential) for r in by_contact["Y"]] == [
        (7.5, 7.5),
        (round(31 / 5 - 1.5, 6), 6.2),
        (round(36 / 5 - 1.5, 6), 7.2),
    ]
    assert [r.revision for r in by_contact["Y"]] == [1, 2, 3]
    # the streaming ledger, fed every revision in any order and twice, keeps the final ones
    rng = random.Random(7)
    stream = revisions + revisions[:3]
    rng.shuffle(stream)
    streaming = stream_benchmarks(stream, rng)
    log: list[Event | Heartbeat] = [event for event, _ in ARRIVALS]
    log.append(Heartbeat(event_id="hb", source="test", occurred_at=AT + timedelta(hours=200)))
    oracle = recompute(log, CATALOGUE.resolve, MODEL, REFERENCE)
    assert {c: without(r) for c, r in oracle.scores.items()} == {
        "X": without(by_contact["X"][-1]),
        "Y": without(by_contact["Y"][-1]),
    }
    batch = {b.scope_key: b.breakdowns for b in oracle.benchmarks}
    assert streaming == batch
    nation = batch[f"nation:{NATION_ID}"]
    assert nation["channel=mail"] == Figures(
        n=1, mean=4.5, min=4.5, max=4.5, potential_n=1, potential_mean=4.5
    )
    assert nation[ALL].n == 2
