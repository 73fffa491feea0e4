"""The demo campaign generator: pure, deterministic, valid, and calibrated on the seeds' figures."""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from schemas.events import (
    EVENT_ADAPTER,
    CallAnswered,
    CallAssessed,
    CallbackPromised,
    CallPlaced,
    Event,
    MailAssessed,
    MailAutoReplied,
    MailReplied,
    MailSent,
    event_order,
    parse_event,
)
from schemas.reference import ReferenceData
from services.demo.campaign import CASES, CampaignSpec, generate_campaign, write_jsonl
from services.recompute import Recomputation, recompute
from services.scoring.model import DEFAULT_MODEL, OrdinalScale

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
# Typical Dutch first names: none may appear in a call report, mail body or review.
FIRST_NAMES = (
    "Jan", "Piet", "Kees", "Henk", "Anouk", "Sanne", "Lisa", "Mohammed", "Fatima", "Daan",
    "Emma", "Sophie", "Bram", "Joost", "Inge", "Marieke", "Willem", "Ahmed", "Thijs", "Femke",
)  # fmt: skip
NAME = re.compile(r"\b(" + "|".join(FIRST_NAMES) + r")\b")


@pytest.fixture(scope="module")
def reference() -> ReferenceData:
    return ReferenceData.load()


@pytest.fixture(scope="module")
def events(reference: ReferenceData) -> list[Event]:
    return generate_campaign(CampaignSpec(), reference)


@pytest.fixture(scope="module")
def result(events: list[Event], reference: ReferenceData) -> Recomputation:
    return recompute(events, DEFAULT_MODEL, reference)


def _by_contact(events: list[Event]) -> dict[str, list[Event]]:
    contacts: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        contacts[event.contact_id].append(event)
    return contacts


def _ordinal_ids(channel: str) -> set[str]:
    return {
        c.id
        for c in DEFAULT_MODEL.for_channel(channel)  # type: ignore[arg-type]
        if isinstance(c.scale, OrdinalScale)
    }


# ---------------------------------------------------------------- purity and shape


def test_same_seed_gives_identical_events(events: list[Event], reference: ReferenceData) -> None:
    again = generate_campaign(CampaignSpec(), reference)
    assert [EVENT_ADAPTER.dump_json(e) for e in again] == [
        EVENT_ADAPTER.dump_json(e) for e in events
    ]


def test_different_seed_gives_different_events(reference: ReferenceData) -> None:
    one = generate_campaign(CampaignSpec(seed=1, municipalities=20), reference)
    two = generate_campaign(CampaignSpec(seed=2, municipalities=20), reference)
    assert [EVENT_ADAPTER.dump_json(e) for e in one] != [EVENT_ADAPTER.dump_json(e) for e in two]


def test_every_event_validates_against_the_contract(events: list[Event]) -> None:
    for event in events:
        assert parse_event(EVENT_ADAPTER.dump_json(event)) == event
        assert event.occurred_at.utcoffset() is not None
        assert (event.campaign, event.wave) == ("mg-2026", 1)
        assert event.case in {case.id for case in CASES}


def test_ids_are_unique_and_deterministic(events: list[Event]) -> None:
    ids = [e.event_id for e in events]
    assert len(ids) == len(set(ids))
    pattern = re.compile(r"^mg-2026-w1-GM\d{4}-(call|mail)-\d+$")
    for contact_id, contact in _by_contact(events).items():
        assert pattern.match(contact_id), contact_id
        assert contact_id.split("-")[3] == contact[0].municipality
        numbers = sorted(int(e.event_id.rsplit("-", 1)[1]) for e in contact)
        assert numbers == list(range(1, len(contact) + 1))
        assert all(e.event_id.startswith(f"{contact_id}-") for e in contact)
    tokens = [e.token for e in events if isinstance(e, MailSent)]
    assert len(tokens) == len(set(tokens))
    assert all(re.fullmatch(r"MG-[0-9A-F]{6}", t) for t in tokens)
    assert all(
        e.message_id.startswith("<") and e.message_id.endswith("@mystery.meetlat.nl>")
        for e in events
        if isinstance(e, MailSent)
    )


def test_full_campaign_covers_every_municipality(
    events: list[Event], reference: ReferenceData
) -> None:
    contacts = _by_contact(events)
    per_municipality = Counter(c[0].municipality for c in contacts.values())
    assert set(per_municipality) == set(reference.municipalities)
    assert set(per_municipality.values()) == {4 + 3}
    cases = Counter(c[0].case for c in contacts.values())
    assert set(cases) == {case.id for case in CASES}
    assert min(cases.values()) > 0.1 * len(contacts)


def test_sample_is_exact_spread_and_reproducible(
    events: list[Event], reference: ReferenceData
) -> None:
    spec = CampaignSpec(municipalities=24)
    sample = generate_campaign(spec, reference)
    municipalities = {e.municipality for e in sample}
    assert len(municipalities) == 24
    assert {reference.chamber_of[m] for m in municipalities} == set(reference.chambers)
    assert sample == generate_campaign(spec, reference)
    # A sampled municipality gets exactly the contacts it gets in the full campaign.
    full = [e for e in events if e.municipality in municipalities]
    assert sorted(sample, key=event_order) == sorted(full, key=event_order)


def test_spec_needs_an_aware_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CampaignSpec(start=datetime(2026, 3, 2, 9, 0))
    with pytest.raises(ValueError):
        CampaignSpec(municipalities=0)


def test_a_utc_start_works(reference: ReferenceData) -> None:
    spec = CampaignSpec(municipalities=3, start=datetime(2026, 9, 7, 7, 0, tzinfo=UTC))
    sample = generate_campaign(spec, reference)
    assert min(e.occurred_at for e in sample) >= spec.start


# ---------------------------------------------------------------- realism


def test_contacts_start_on_business_days_in_office_hours(events: list[Event]) -> None:
    for event in events:
        if isinstance(event, CallPlaced | MailSent):
            local = event.occurred_at.astimezone(AMSTERDAM)
            assert local.weekday() < 5, event.event_id
            assert 9 <= local.hour < 17, event.event_id


def test_call_facts_are_plausible(events: list[Event]) -> None:
    waits = [e.seconds_waited for e in events if isinstance(e, CallAnswered)]
    assert 8 <= statistics.median(waits) <= 40
    assert sum(5 <= w <= 90 for w in waits) / len(waits) > 0.8
    for contact in _by_contact(events).values():
        promised = [e for e in contact if isinstance(e, CallbackPromised)]
        for promise in promised:
            assert timedelta(hours=12) < promise.deadline - promise.occurred_at < timedelta(days=5)
        assessed = [e for e in contact if isinstance(e, CallAssessed)]
        if assessed:
            assert assessed[0].answers.keys() == _ordinal_ids("phone")
            assert "de medewerker van het KCC" in assessed[0].report


def test_mail_facts_are_plausible(events: list[Event]) -> None:
    delays = []
    auto_replies: dict[str, set[bool]] = defaultdict(set)
    for contact in _by_contact(events).values():
        sent = next((e for e in contact if isinstance(e, MailSent)), None)
        if sent is None:
            continue
        auto_replies[sent.municipality].add(any(isinstance(e, MailAutoReplied) for e in contact))
        reply = next((e for e in contact if isinstance(e, MailReplied)), None)
        assessed = next(e for e in contact if isinstance(e, MailAssessed))
        assert assessed.occurred_at >= sent.occurred_at + timedelta(hours=96)
        if reply is None:
            assert assessed.answers == {}
        else:
            delays.append((reply.occurred_at - sent.occurred_at).total_seconds() / 3600)
            assert assessed.answers.keys() == _ordinal_ids("mail")
            assert assessed.occurred_at >= reply.occurred_at
            assert reply.spelling_errors is not None and 0 <= reply.spelling_errors <= 6
    assert all(len(kinds) == 1 for kinds in auto_replies.values())  # consistent per municipality
    with_auto_reply = sum(kinds == {True} for kinds in auto_replies.values()) / len(auto_replies)
    assert 0.35 < with_auto_reply < 0.65
    assert sum(d <= 24 for d in delays) / len(delays) > 0.5
    assert 0.05 < sum(d > 72 for d in delays) / len(delays) < 0.35
    assert max(delays) <= 11 * 24
    replies = [e for e in events if isinstance(e, MailReplied)]
    leaked = sum(bool(e.internal_forward_leaked) for e in replies) / len(replies)
    assert 0.01 < leaked < 0.1
    assert sum((e.spelling_errors or 0) <= 1 for e in replies) / len(replies) > 0.75


def test_answers_exist_on_the_model_scales(events: list[Event]) -> None:
    for event in events:
        if isinstance(event, CallAssessed):
            assert DEFAULT_MODEL.answer_errors("phone", event.answers) == []
        elif isinstance(event, MailAssessed):
            assert DEFAULT_MODEL.answer_errors("mail", event.answers) == []


def test_no_staff_names_in_texts(events: list[Event]) -> None:
    texts = []
    for event in events:
        if isinstance(event, CallAssessed):
            texts.append(event.report)
        elif isinstance(event, MailReplied):
            texts.append(event.body)
        elif isinstance(event, MailAssessed):
            texts.append(event.review)
    assert all(texts)
    offending = [t for t in texts if NAME.search(t)]
    assert offending == []


def test_events_arrive_in_time_order_except_a_few_late_facts(events: list[Event]) -> None:
    assessed_at: dict[str, int] = {}
    for position, event in enumerate(events):
        if isinstance(event, CallAssessed | MailAssessed):
            assessed_at[event.contact_id] = position
    late = [
        e
        for position, e in enumerate(events)
        if e.type in ("call.callback_made", "mail.replied") and position > assessed_at[e.contact_id]
    ]
    candidates = [e for e in events if e.type in ("call.callback_made", "mail.replied")]
    assert 0.01 < len(late) / len(candidates) < 0.06
    late_ids = {e.event_id for e in late}
    on_time = [e for e in events if e.event_id not in late_ids]
    assert on_time == sorted(on_time, key=event_order)


# ---------------------------------------------------------------- calibration (seed 2026)


def test_recompute_finds_no_contradictions(events: list[Event], result: Recomputation) -> None:
    assert result.contradictions == []
    assert len(result.scores) == len(_by_contact(events))


def test_the_wire_form_scores_the_same(events: list[Event], result: Recomputation) -> None:
    """Event times keep their UTC offset, so replies across the DST switch score the same."""
    reference = ReferenceData.load()
    parsed = [parse_event(EVENT_ADAPTER.dump_json(e)) for e in events]
    assert recompute(parsed, DEFAULT_MODEL, reference).to_json() == result.to_json()


def test_phone_figures_match_the_published_results(result: Recomputation) -> None:
    phone = result.benchmark("nation", "NL").breakdowns["channel=phone"]
    assert phone.mean is not None and phone.potential_mean is not None
    assert 6.0 <= phone.mean <= 6.4
    assert phone.mean + 0.3 < phone.potential_mean <= 7.2
    municipalities = [b for b in result.benchmarks if b.scope_kind == "municipality"]
    means = [m for b in municipalities if (m := b.breakdowns["channel=phone"].mean) is not None]
    assert len(means) == len(municipalities) == 342
    assert 3.2 <= min(means) <= 4.5
    assert 7.4 <= max(means) <= 8.3


def test_mail_figures_match_the_published_results(result: Recomputation) -> None:
    mail = result.benchmark("nation", "NL").breakdowns["channel=mail"]
    assert mail.mean is not None and mail.potential_mean is not None
    assert 6.1 <= mail.mean <= 6.5
    assert 7.8 <= mail.potential_mean <= 8.8
    assert mail.potential_mean > mail.mean + 1.5
    answered = [s.total for s in result.scores.values() if s.channel == "mail" and s.answered]
    unanswered = [s.total for s in result.scores.values() if s.channel == "mail" and not s.answered]
    assert set(unanswered) == {0.0}
    assert min(answered) <= 4.5 and max(answered) >= 9.5  # a wide spread, like 1.6–9.48


def test_first_attempt_and_unanswered_shares(events: list[Event]) -> None:
    kinds: dict[str, set[str]] = defaultdict(set)
    for event in events:
        kinds[event.contact_id].add(event.type)
    calls = [k for k in kinds.values() if "call.placed" in k]
    mails = [k for k in kinds.values() if "mail.sent" in k]
    first = sum(not k & {"call.callback_promised", "call.self_callback"} for k in calls)
    assert abs(first / len(calls) - 0.58) <= 0.05
    unanswered = sum("mail.replied" not in k for k in mails)
    assert abs(unanswered / len(mails) - 0.25) <= 0.05


# ---------------------------------------------------------------- output


def test_write_jsonl_round_trips(tmp_path: Path, reference: ReferenceData) -> None:
    sample = generate_campaign(CampaignSpec(municipalities=5), reference)
    path = tmp_path / "events.jsonl"
    assert write_jsonl(iter(sample), path) == len(sample)
    lines = path.read_bytes().splitlines()
    assert [parse_event(line) for line in lines] == sample
