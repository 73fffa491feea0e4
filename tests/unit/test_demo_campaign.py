"""The demo campaign generator: pure, deterministic, valid, and calibrated on the seeds' figures."""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from schemas.events import (
    EVENT_ADAPTER,
    CallAnswered,
    CallAssessed,
    CallbackPromised,
    CallPlaced,
    CallTransferred,
    Channel,
    Event,
    MailAssessed,
    MailAutoReplied,
    MailReplied,
    MailSent,
    event_order,
    parse_event,
)
from schemas.reference import ReferenceData
from schemas.scoring_model import ScoringModel
from services.demo.campaign import CASES, JARGON, CampaignSpec, generate_campaign, write_jsonl
from services.recompute import Recomputation, recompute
from services.scoring.catalogue import ModelCatalogue

CATALOGUE = ModelCatalogue()
MODEL = CATALOGUE.resolve(None)  # the shipped default, kvk-mystery-guest@2026.1
CALIBRATED_SEEDS = (2026, 1, 7)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
# Typical Dutch first names: none may appear in a call report, mail body or review.
FIRST_NAMES = (
    "Jan", "Piet", "Kees", "Henk", "Anouk", "Sanne", "Lisa", "Mohammed", "Fatima", "Daan",
    "Emma", "Sophie", "Bram", "Joost", "Inge", "Marieke", "Willem", "Ahmed", "Thijs", "Femke",
)  # fmt: skip
NAME = re.compile(r"\b(" + "|".join(FIRST_NAMES) + r")\b")


@cache
def _reference() -> ReferenceData:
    return ReferenceData.load()


@cache
def _campaign(seed: int) -> tuple[list[Event], Recomputation]:
    """The full campaign of a seed with the default model, and the batch oracle's result."""
    events = generate_campaign(CampaignSpec(seed=seed), _reference())
    return events, recompute(events, CATALOGUE.resolve, MODEL, _reference())


@pytest.fixture(scope="module")
def reference() -> ReferenceData:
    return _reference()


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return _campaign(2026)[0]


@pytest.fixture(scope="module")
def result() -> Recomputation:
    return _campaign(2026)[1]


def _by_contact(events: list[Event]) -> dict[str, list[Event]]:
    contacts: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        contacts[event.contact_id].append(event)
    return contacts


def _answered_ids(channel: Channel, model: ScoringModel = MODEL) -> set[str]:
    """The criteria the mystery guest answers (the others the model observes itself)."""
    return {c.id for c in model.for_channel(channel) if c.observe is None}


# ---------------------------------------------------------------- purity and shape


def test_same_seed_gives_identical_events(events: list[Event], reference: ReferenceData) -> None:
    again = generate_campaign(CampaignSpec(), reference, MODEL)
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
    transfers: Counter[int] = Counter()
    for contact in _by_contact(events).values():
        promised = [e for e in contact if isinstance(e, CallbackPromised)]
        for promise in promised:
            assert timedelta(hours=12) < promise.deadline - promise.occurred_at < timedelta(days=5)
        assessed = [e for e in contact if isinstance(e, CallAssessed)]
        if assessed:
            # only the criteria the caller answers: the model observes the rest itself
            assert assessed[0].answers.keys() == _answered_ids("phone")
            assert "de medewerker van het KCC" in assessed[0].report
            transfers[sum(isinstance(e, CallTransferred) for e in contact)] += 1
    calls = sum(transfers.values())
    assert 0.35 < sum(n for k, n in transfers.items() if k >= 1) / calls < 0.65
    assert 0.02 < sum(n for k, n in transfers.items() if k >= 2) / calls < 0.12


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
            assert assessed.answers.keys() == _answered_ids("mail")
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


def test_reply_jargon_and_address_requests(events: list[Event]) -> None:
    """003: little jargon in the mails ("dat is sterk"); when an address is asked, explain why."""
    replies = [e for e in events if isinstance(e, MailReplied)]
    jargon = [e.jargon_terms for e in replies]
    assert all(j is not None and 0 <= j <= len(JARGON) for j in jargon)
    counts = Counter(jargon)
    assert (counts[0] + counts[1]) / len(replies) > 0.85  # mostly 0–1 terms …
    assert sum(n for j, n in counts.items() if j is not None and j >= 2) > 0.03 * len(replies)
    for reply in replies:  # … and the terms counted are the ones in the body
        assert sum(term in reply.body for term, _ in JARGON) == reply.jargon_terms
    asked = [e for e in replies if e.address_requested]
    assert all(e.address_requested is not None for e in replies)
    assert 0.15 < len(asked) / len(replies) < 0.25
    explained = sum(bool(e.address_request_explained) for e in asked) / len(asked)
    assert 0.35 < explained < 0.65
    assert not any(e.address_request_explained for e in replies if not e.address_requested)
    assert all("adres" in e.body for e in asked)


def test_answers_exist_on_the_model_scales(events: list[Event]) -> None:
    for event in events:
        if isinstance(event, CallAssessed):
            assert event.answers  # a call assessment needs at least one answer
            assert MODEL.answer_errors("phone", event.answers) == []
        elif isinstance(event, MailAssessed):
            assert MODEL.answer_errors("mail", event.answers) == []


def test_observed_facts_cover_the_model_scales(result: Recomputation) -> None:
    """Every value of the observed phone facts occurs, so every scale step is exercised."""
    seen: dict[str, set[str]] = defaultdict(set)
    for score in result.scores.values():
        for item in score.breakdown:
            if "=" in item.observation:
                fact, value = item.observation.split("=", 1)
                seen[fact].add(value)
    assert seen["callback"] == {"kept", "kept_late", "not_kept", "not_offered"}
    assert seen["transfer_handling"] == {"warm", "cold", "absent"}
    assert {"0", "1", "2"} <= seen["transfers"]
    assert seen["address_request"] == {"explained", "unexplained"}
    assert seen["auto_reply"] == {"yes", "no"}
    assert {"0", "1", "2", "3"} <= seen["jargon_terms"]


def test_the_model_is_a_parameter(reference: ReferenceData) -> None:
    """Answers come from the given model's scales: another model, other answers."""
    data = MODEL.model_dump(mode="json")
    data["version"] = "test-variant"
    for criterion in data["criteria"]:
        if criterion["id"] == "vriendelijkheid_aanname":
            criterion["scale"]["values"] = {"hartelijk": 10, "zakelijk": 6, "kortaf": 2}
    data["criteria"].append(
        {
            "id": "verwachtingen",
            "label": "Verwachtingen gemanaged",
            "channel": "mail",
            "dimension": "content",
            "weight": 1,
            "scale": {"kind": "ordinal", "values": {"ja": 10, "deels": 6, "nee": 2}},
            "source": "test",
        }
    )
    variant = ScoringModel.model_validate(data)
    spec = CampaignSpec(municipalities=12)
    sample = generate_campaign(spec, reference, variant)
    friendliness = set()
    for event in sample:
        if isinstance(event, CallAssessed):
            assert variant.answer_errors("phone", event.answers) == []
            assert event.answers.keys() == _answered_ids("phone", variant)
            friendliness.add(event.answers["vriendelijkheid_aanname"])
        elif isinstance(event, MailAssessed) and event.answers:
            assert variant.answer_errors("mail", event.answers) == []
            assert "verwachtingen" in event.answers
    assert friendliness and friendliness <= {"hartelijk", "zakelijk", "kortaf"}
    catalogue = ModelCatalogue()
    catalogue.add(variant)
    assert recompute(sample, catalogue.resolve, variant, reference).contradictions == []
    # the default model is the default
    assert generate_campaign(spec, reference) == generate_campaign(spec, reference, MODEL)


def test_a_model_without_answered_phone_criteria_is_refused(reference: ReferenceData) -> None:
    data = MODEL.model_dump(mode="json")
    data["version"] = "test-observed-only"
    data["criteria"] = [
        c for c in data["criteria"] if c["channel"] == "mail" or c["observe"] is not None
    ]
    for criterion in data["criteria"]:  # the phone still needs a content criterion
        if criterion["id"] == "terugbelafspraak":
            criterion["dimension"] = "content"
    observed_only = ScoringModel.model_validate(data)
    with pytest.raises(ValueError, match="no phone criterion the caller answers"):
        generate_campaign(CampaignSpec(municipalities=2), reference, observed_only)
    mails_only = CampaignSpec(municipalities=2, calls_per_municipality=0)
    assert generate_campaign(mails_only, reference, observed_only)


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


# ---------------------------------------------------------------- calibration (seeds 2026, 1, 7)


@pytest.mark.parametrize("seed", CALIBRATED_SEEDS)
def test_recompute_finds_no_contradictions(seed: int) -> None:
    events, result = _campaign(seed)
    assert result.contradictions == []
    assert len(result.scores) == len(_by_contact(events)) == 342 * (4 + 3)


def test_the_wire_form_scores_the_same(events: list[Event], result: Recomputation) -> None:
    """Event times keep their UTC offset, so replies across the DST switch score the same."""
    parsed = [parse_event(EVENT_ADAPTER.dump_json(e)) for e in events]
    again = recompute(parsed, CATALOGUE.resolve, MODEL, _reference())
    assert again.to_json() == result.to_json()


@pytest.mark.parametrize("seed", CALIBRATED_SEEDS)
def test_phone_figures_match_the_published_results(seed: int) -> None:
    """National phone 6.2 (municipalities 3.7–7.8); potential above the mean (6.1 → 7.01)."""
    result = _campaign(seed)[1]
    phone = result.benchmark("nation", "NL").breakdowns["channel=phone"]
    assert phone.mean is not None and phone.potential_mean is not None
    assert 6.0 <= phone.mean <= 6.4
    # the potential leaves out the self-callback correction (1.5 points for the 42% of calls
    # not completed at once at most), so the seed's 0.91 gap is out of this model's reach
    assert phone.mean + 0.4 <= phone.potential_mean <= phone.mean + 1.5 * 0.47
    municipalities = [b for b in result.benchmarks if b.scope_kind == "municipality"]
    means = [m for b in municipalities if (m := b.breakdowns["channel=phone"].mean) is not None]
    assert len(means) == len(municipalities) == 342
    assert 3.2 <= min(means) <= 4.6
    assert 7.3 <= max(means) <= 8.3


@pytest.mark.parametrize("seed", CALIBRATED_SEEDS)
def test_mail_figures_match_the_published_results(seed: int) -> None:
    """National mail 6.3 (0 for no answer, else 1.6–9.48); potential 8.19 in the seed."""
    result = _campaign(seed)[1]
    mail = result.benchmark("nation", "NL").breakdowns["channel=mail"]
    assert mail.mean is not None and mail.potential_mean is not None
    assert 6.1 <= mail.mean <= 6.5
    assert 7.8 <= mail.potential_mean <= 8.8
    assert mail.potential_mean > mail.mean + 1.5
    answered = [s.total for s in result.scores.values() if s.channel == "mail" and s.answered]
    unanswered = [s.total for s in result.scores.values() if s.channel == "mail" and not s.answered]
    assert set(unanswered) == {0.0}
    assert abs(len(unanswered) / (len(answered) + len(unanswered)) - 0.25) <= 0.05
    assert min(answered) <= 5.0 and max(answered) >= 9.5  # a wide spread, like 1.6–9.48


@pytest.mark.parametrize("seed", CALIBRATED_SEEDS)
def test_first_attempt_and_unanswered_shares(seed: int) -> None:
    events = _campaign(seed)[0]
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
