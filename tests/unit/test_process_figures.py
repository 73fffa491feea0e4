"""Contact process figures: working hours with Dutch public holidays, and every ProcessFigures
field on hand-made phone and mail contacts; order independence.

Calendar used below (2026): Koningsdag Monday 27 April; Good Friday 3 April and Easter Monday
6 April; summer time starts Sunday 29 March (CET UTC+1 → CEST UTC+2); Bevrijdingsdag 5 May is
a day off only in lustrum years (2025, 2030), as the `holidays` library has it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import (
    CallAnswered,
    CallAssessed,
    CallbackMade,
    CallbackPromised,
    CallPlaced,
    CallTransferred,
    MailAutoReplied,
    MailReplied,
    MailSent,
    SelfCallback,
)
from schemas.scores import ContactScore, ScoreRevision
from services.aggregation.process import (
    ProcessContact,
    ProcessFigures,
    is_working_day,
    process_figures,
    working_hours_between,
)
from services.scoring.catalogue import ModelCatalogue
from services.scoring.rules import END_OF_TIME, ContactFacts, score_contact

AMS = ZoneInfo("Europe/Amsterdam")


def local(y: int, m: int, d: int, h: int = 0, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=AMS)


# ------------------------------------------------------------------ working days


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 3, 3), True),  # a Tuesday
        (date(2026, 3, 7), False),  # Saturday
        (date(2026, 3, 8), False),  # Sunday
        (date(2026, 1, 1), False),  # Nieuwjaarsdag
        (date(2026, 4, 3), False),  # Goede Vrijdag: public per the holidays library
        (date(2026, 4, 6), False),  # Tweede Paasdag
        (date(2026, 4, 27), False),  # Koningsdag
        (date(2026, 5, 5), True),  # Bevrijdingsdag, not a lustrum year: a working day
        (date(2025, 5, 5), False),  # Bevrijdingsdag 2025 (lustrum, a Monday): a day off
        (date(2026, 5, 14), False),  # Hemelvaartsdag
        (date(2026, 5, 25), False),  # Tweede Pinksterdag
        (date(2026, 12, 25), False),  # Eerste Kerstdag
        (date(2026, 12, 28), True),  # the Monday after Christmas
    ],
)
def test_dutch_working_days(day: date, working: bool) -> None:
    assert is_working_day(day) is working


# ------------------------------------------------------------------ working hours


def test_same_day_inside_office_hours() -> None:
    assert working_hours_between(local(2026, 3, 3, 10), local(2026, 3, 3, 14, 30)) == 4.5


def test_overnight() -> None:
    # Tuesday 16:00 → Wednesday 10:00: one hour each day
    assert working_hours_between(local(2026, 3, 3, 16), local(2026, 3, 4, 10)) == 2.0


def test_over_a_weekend() -> None:
    # Friday 15:00 → Monday 11:00: two hours on Friday, two on Monday
    assert working_hours_between(local(2026, 3, 6, 15), local(2026, 3, 9, 11)) == 4.0
    # all of a weekend: nothing
    assert working_hours_between(local(2026, 3, 7, 0), local(2026, 3, 9, 0)) == 0.0


def test_over_koningsdag() -> None:
    # Friday 24 April 16:00 → Tuesday 28 April 10:00: Monday 27 April is Koningsdag
    assert working_hours_between(local(2026, 4, 24, 16), local(2026, 4, 28, 10)) == 2.0
    assert working_hours_between(local(2026, 4, 27, 9), local(2026, 4, 27, 17)) == 0.0


def test_over_easter_monday() -> None:
    # Saturday 4 April → Tuesday 7 April 10:00: Easter Monday 6 April does not count
    assert working_hours_between(local(2026, 4, 4, 12), local(2026, 4, 7, 10)) == 1.0
    # Thursday 2 April 16:00 → Tuesday 7 April 10:00: Good Friday (per the library) and
    # Easter Monday both off
    assert working_hours_between(local(2026, 4, 2, 16), local(2026, 4, 7, 10)) == 2.0


def test_bevrijdingsdag_as_the_library_says() -> None:
    # 2026: a working day; 2025 (lustrum): a day off
    assert working_hours_between(local(2026, 5, 5, 9), local(2026, 5, 5, 17)) == 8.0
    assert working_hours_between(local(2025, 5, 5, 9), local(2025, 5, 5, 17)) == 0.0


def test_across_the_dst_change() -> None:
    # Friday 27 March 16:00 CET → Monday 30 March 10:00 CEST: 1 + 1 hours, though the clock
    # difference is one hour shorter than the wall-clock one
    start, end = local(2026, 3, 27, 16), local(2026, 3, 30, 10)
    assert start.utcoffset() == timedelta(hours=1)
    assert end.utcoffset() == timedelta(hours=2)
    assert working_hours_between(start, end) == 2.0
    # the same moments given in UTC
    start_utc = datetime(2026, 3, 27, 15, tzinfo=UTC)
    end_utc = datetime(2026, 3, 30, 8, tzinfo=UTC)
    assert working_hours_between(start_utc, end_utc) == 2.0
    # a whole week across the change: five full days
    assert working_hours_between(local(2026, 3, 23), local(2026, 3, 30)) == 40.0
    # and Monday 09:00–17:00 CEST is 07:00–15:00 UTC
    monday = datetime(2026, 3, 30, 6, tzinfo=UTC), datetime(2026, 3, 30, 8, tzinfo=UTC)
    assert working_hours_between(*monday) == 1.0


def test_across_the_autumn_dst_change() -> None:
    # Friday 23 October 16:00 CEST → Monday 26 October 10:00 CET
    assert working_hours_between(local(2026, 10, 23, 16), local(2026, 10, 26, 10)) == 2.0


def test_end_before_or_at_start_is_zero() -> None:
    assert working_hours_between(local(2026, 3, 4, 12), local(2026, 3, 3, 12)) == 0.0
    assert working_hours_between(local(2026, 3, 4, 12), local(2026, 3, 4, 12)) == 0.0


def test_times_outside_office_hours_clamp() -> None:
    # Tuesday 07:00 → 20:00: the whole office day
    assert working_hours_between(local(2026, 3, 3, 7), local(2026, 3, 3, 20)) == 8.0
    # before opening and after closing on the same day: nothing
    assert working_hours_between(local(2026, 3, 3, 6), local(2026, 3, 3, 8, 59)) == 0.0
    assert working_hours_between(local(2026, 3, 3, 17), local(2026, 3, 3, 23)) == 0.0
    # Tuesday 22:00 → Wednesday 08:00: nothing; → Thursday 08:00: Wednesday only
    assert working_hours_between(local(2026, 3, 3, 22), local(2026, 3, 4, 8)) == 0.0
    assert working_hours_between(local(2026, 3, 3, 22), local(2026, 3, 5, 8)) == 8.0


def test_office_hours_are_configurable() -> None:
    start, end = local(2026, 3, 3, 8), local(2026, 3, 3, 13)
    hours = working_hours_between(start, end, day_start=time(8, 30), day_end=time(12))
    assert hours == 3.5
    # another zone: 09:00–17:00 in London is 10:00–18:00 in Amsterdam (winter)
    assert working_hours_between(start, end, tz="Europe/London") == 3.0


def test_invalid_input_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        working_hours_between(datetime(2026, 3, 3, 10), local(2026, 3, 3, 12))
    with pytest.raises(ValueError, match="before day_end"):
        working_hours_between(
            local(2026, 3, 3, 10), local(2026, 3, 3, 12), day_start=time(17), day_end=time(9)
        )


moments = st.datetimes(
    min_value=datetime(2024, 12, 20), max_value=datetime(2027, 1, 10), timezones=st.just(AMS)
)


@settings(max_examples=200, deadline=None)
@given(moments, moments, moments)
def test_working_hours_add_up_and_stay_within_clock_hours(
    a: datetime, b: datetime, c: datetime
) -> None:
    a, b, c = sorted((a, b, c), key=lambda d: d.astimezone(UTC))
    whole = working_hours_between(a, c)
    assert whole == pytest.approx(working_hours_between(a, b) + working_hours_between(b, c))
    assert 0.0 <= whole <= (c - a).total_seconds() / 3600 + 1e-9
    assert working_hours_between(c, a) == 0.0


def stepped_working_hours(
    start: datetime, end: datetime, day_start: time, day_end: time, tz: str
) -> float:
    """The definition, day by day: each working day's window placed in local time, clamped
    to start–end and measured in UTC (what `working_hours_between` counts arithmetically)."""
    zone = ZoneInfo(tz)
    start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
    day, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    seconds = []
    while day <= last:
        if is_working_day(day):
            opens = datetime.combine(day, day_start, tzinfo=zone).astimezone(UTC)
            closes = datetime.combine(day, day_end, tzinfo=zone).astimezone(UTC)
            lo, hi = max(opens, start_utc), min(closes, end_utc)
            if hi > lo:
                seconds.append((hi - lo).total_seconds())
        day += timedelta(days=1)
    return math.fsum(seconds) / 3600


# Tehran (until 2022) and Jerusalem change their clocks on weekdays, Tehran and Havana at midnight
ZONES = ["Europe/Amsterdam", "Europe/London", "America/Havana", "Asia/Tehran", "Asia/Jerusalem"]
WINDOWS = [
    (time(9), time(17)),
    (time(0), time(1)),  # a clock change at midnight moves or shortens the window
    (time(1, 30), time(3, 15)),  # as does one at 02:00
    (time(8, 30, 0, 123457), time(12, 0, 0, 1)),  # not a whole number of seconds
]


@settings(max_examples=500, deadline=None)
@given(
    st.datetimes(min_value=datetime(2010, 1, 1), max_value=datetime(2030, 1, 1)),
    st.sampled_from(
        [timedelta(hours=5), timedelta(days=3), timedelta(days=40), timedelta(days=800)]
    ),
    st.floats(min_value=0, max_value=1),
    st.sampled_from(ZONES),
    st.sampled_from(ZONES),
    st.sampled_from(WINDOWS),
)
def test_working_hours_equal_stepping_day_by_day_bit_for_bit(
    naive: datetime,
    longest: timedelta,
    fraction: float,
    zone: str,
    office: str,
    window: tuple[time, time],
) -> None:
    start = naive.replace(tzinfo=UTC).astimezone(ZoneInfo(zone))
    end = (start + longest * fraction).astimezone(AMS)
    expected = stepped_working_hours(start, end, *window, office)
    found = working_hours_between(start, end, day_start=window[0], day_end=window[1], tz=office)
    assert found.hex() == expected.hex()


# ------------------------------------------------------------------ hand-made contacts

IDENTITY: dict[str, Any] = {
    "municipality": "GM0344",
    "campaign": "mg-2026",
    "wave": 1,
    "case": "standplaatsvergunning",
    "total": 7.0,
    "form": 7.0,
    "content": 7.0,
    "potential": 7.0,
    "breakdown": [],
    "corrections": [],
    "model_id": "kvk-mystery-guest",
    "model_version": "2026.1",
    "last_fact_at": "2026-03-02T12:00:00+01:00",
}


def score(
    contact_id: str, channel: str, facts: dict[str, str | float], *, answered: bool = True
) -> ContactScore:
    return ContactScore.model_validate(
        {
            **IDENTITY,
            "contact_id": contact_id,
            "channel": channel,
            "answered": answered,
            "facts": facts,
        }
    )


def call(contact_id: str, **facts: str | float) -> ContactScore:
    base: dict[str, str | float] = {
        "seconds_waited": 20.0,
        "transfers": 0.0,
        "warm_transfers": 0.0,
        "absent_transfers": 0.0,
        "callback_promised": "no",
        "self_callback": "no",
    }
    return score(contact_id, "phone", {**base, **facts})


def mail(
    contact_id: str,
    sent: datetime,
    replied: datetime | None,
    *,
    auto_reply: bool = False,
) -> ContactScore:
    facts: dict[str, str | float] = {
        "auto_reply": "yes" if auto_reply else "no",
        "sent_at": sent.isoformat(),
    }
    if replied is not None:
        facts["replied_at"] = replied.isoformat()
        facts["reply_hours"] = (replied - sent).total_seconds() / 3600
    return score(contact_id, "mail", facts, answered=replied is not None)


CALLS = [
    call("p1"),  # completed at once
    call(
        "p2",
        transfers=2.0,
        warm_transfers=1.0,
        transfer_handling="cold",
        callback_promised="yes",
        callback="kept",
    ),
    call(
        "p3", transfers=1.0, transfer_handling="cold", callback_promised="yes", callback="kept_late"
    ),
    call(
        "p4",
        transfers=1.0,
        warm_transfers=1.0,
        transfer_handling="warm",
        callback_promised="yes",
        self_callback="yes",
        callback="not_kept",
    ),
    call("p5", self_callback="yes", callback="not_offered"),
]
MAILS = [
    # Monday 09:00 → 15:00: 6 clock hours, 6 working hours
    mail("m1", local(2026, 3, 2, 9), local(2026, 3, 2, 15), auto_reply=True),
    # Friday 16:00 → Monday 10:00: 66 clock hours, 2 working hours
    mail("m2", local(2026, 3, 6, 16), local(2026, 3, 9, 10)),
    # Tuesday 12:00 → Wednesday 12:00: exactly 24 clock hours (within 24 h), 8 working hours
    mail("m3", local(2026, 3, 3, 12), local(2026, 3, 4, 12), auto_reply=True),
    # never answered, but acknowledged
    mail("m4", local(2026, 3, 3, 12), None, auto_reply=True),
]
EXPECTED = ProcessFigures(
    calls=5,
    first_attempt_share=0.2,
    transfers_per_call=0.8,
    warm_transfer_share=0.5,
    callbacks_promised=3,
    callbacks_kept=1,
    callbacks_late=1,
    callbacks_never=1,
    self_callbacks=2,
    mails=4,
    answered_share=0.75,
    auto_reply_share=0.75,
    mean_reply_hours=32.0,
    median_reply_hours=24.0,
    mean_reply_working_hours=16 / 3,
    median_reply_working_hours=6.0,
    answered_within_24h_share=0.5,
)


def test_every_field_on_hand_made_contacts() -> None:
    assert process_figures([*CALLS, *MAILS]) == EXPECTED


def test_phone_and_mail_figures_come_from_their_own_channel() -> None:
    phone_only = process_figures(CALLS)
    mail_only = process_figures(MAILS)
    phone_fields = list(ProcessFigures.model_fields)[:9]
    for name in phone_fields:
        assert getattr(phone_only, name) == getattr(EXPECTED, name)
    for name in list(ProcessFigures.model_fields)[9:]:
        assert getattr(mail_only, name) == getattr(EXPECTED, name)
    assert mail_only.calls == 0 and phone_only.mails == 0


def test_nothing_gives_none_shares_and_zero_counts() -> None:
    empty = process_figures([])
    for name, info in ProcessFigures.model_fields.items():
        value = getattr(empty, name)
        assert value == 0 if info.annotation is int else value is None, name


def test_no_transfers_give_no_warm_share() -> None:
    figures = process_figures([call("p1"), call("p5", self_callback="yes")])
    assert figures.transfers_per_call == 0.0
    assert figures.warm_transfer_share is None
    assert figures.mails == 0
    assert figures.answered_share is None and figures.answered_within_24h_share is None


def test_no_answered_mail_gives_no_reply_times() -> None:
    figures = process_figures([MAILS[3], mail("m5", local(2026, 3, 4, 9), None)])
    assert figures.mails == 2
    assert figures.answered_share == 0.0
    assert figures.auto_reply_share == 0.5
    assert figures.answered_within_24h_share == 0.0
    assert figures.mean_reply_hours is None and figures.median_reply_hours is None
    assert figures.mean_reply_working_hours is None
    assert figures.median_reply_working_hours is None
    assert figures.calls == 0 and figures.first_attempt_share is None


def test_a_send_or_reply_time_outside_the_event_times_gives_no_working_hours() -> None:
    """Only a revision not made by the scorer can carry such times (events are bounded to
    1970–2100): counting the working hours from year 1 to 9999 took 8 s and then overflowed,
    failing the aggregator's batch at every attempt."""
    far = mail("m6", datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC))
    figures = process_figures([far])
    assert figures.answered_share == 1.0
    assert figures.mean_reply_working_hours is None  # the clock hours are the revision's own
    assert figures.mean_reply_hours == far.facts["reply_hours"]
    edge = mail("m7", datetime(1970, 1, 1, tzinfo=UTC), datetime(2099, 12, 31, tzinfo=UTC))
    assert process_figures([edge]).mean_reply_working_hours == 264040.0


def test_an_unanswered_call_is_not_completed_at_the_first_attempt() -> None:
    unanswered = score("p6", "phone", {"transfers": 0.0, "callback_promised": "no"}, answered=False)
    figures = process_figures([call("p1"), unanswered])
    assert figures.first_attempt_share == 0.5


def test_missing_facts_count_as_absent() -> None:
    # an early revision without facts: one call, no transfers; one answered mail, no times
    figures = process_figures([score("p", "phone", {}), score("m", "mail", {})])
    assert figures.calls == 1 and figures.transfers_per_call == 0.0
    assert figures.first_attempt_share == 1.0
    assert figures.mails == 1 and figures.answered_share == 1.0
    assert figures.mean_reply_hours is None and figures.mean_reply_working_hours is None


@dataclass(frozen=True)
class Plain:
    """The minimal object the figures read (what a ledger entry may carry)."""

    channel: str
    answered: bool
    facts: dict[str, str | float] = field(default_factory=dict)


def test_any_object_with_channel_answered_and_facts_will_do() -> None:
    plain: list[ProcessContact] = [Plain(s.channel, s.answered, dict(s.facts)) for s in MAILS]
    assert process_figures(plain) == process_figures(MAILS)
    revisions = [ScoreRevision.model_validate({**s.model_dump(), "revision": 1}) for s in CALLS]
    assert process_figures(revisions) == process_figures(CALLS)


def test_json_round_trip_keeps_the_figures() -> None:
    contacts = [*CALLS, *MAILS]
    wired = [ContactScore.model_validate_json(s.model_dump_json()) for s in contacts]
    assert process_figures(wired) == EXPECTED


# ------------------------------------------------------------------ from the real scorer


def test_facts_of_the_real_scorer() -> None:
    model = ModelCatalogue().resolve(None)
    t0 = datetime(2026, 3, 6, 15, tzinfo=UTC)  # Friday 16:00 in Amsterdam
    base: dict[str, Any] = {
        "municipality": "GM0344",
        "campaign": "mg-2026",
        "wave": 1,
        "case": "standplaatsvergunning",
    }
    serial = iter(range(1000))

    def ev(cls: type, contact: str, hours: float, **fields: Any) -> Any:
        return cls(
            **base,
            contact_id=contact,
            event_id=f"e{next(serial)}",
            occurred_at=t0 + timedelta(hours=hours),
            **fields,
        )

    right = {"juist_antwoord": "volledig juist"}
    phone = [
        ev(CallPlaced, "c1", 0),
        ev(CallAnswered, "c1", 0.01, seconds_waited=30),
        ev(
            CallTransferred,
            "c1",
            0.02,
            to_role="vergunningen",
            briefed=True,
            colleague_available=True,
        ),
        ev(CallTransferred, "c1", 0.03, to_role="balie", briefed=False, colleague_available=True),
        ev(CallbackPromised, "c1", 0.04, deadline=t0 + timedelta(hours=2)),
        ev(CallbackMade, "c1", 3),
        ev(CallAssessed, "c1", 4, answers=right),
    ]
    direct = [
        ev(CallPlaced, "c2", 0),
        ev(CallAnswered, "c2", 0.01, seconds_waited=10),
        ev(CallAssessed, "c2", 1, answers=right),
    ]
    self_cb = [
        ev(CallPlaced, "c3", 0),
        ev(CallAnswered, "c3", 0.01, seconds_waited=10),
        ev(SelfCallback, "c3", 0.5),
        ev(CallAssessed, "c3", 1, answers=right),
    ]
    answered_mail = [
        ev(MailSent, "m1", 0, message_id="<m1@meetlat>", token="tok-1"),
        ev(MailAutoReplied, "m1", 0.1),
        ev(MailReplied, "m1", 66),  # Monday 10:00 in Amsterdam
    ]
    silent_mail = [ev(MailSent, "m2", 0, message_id="<m2@meetlat>", token="tok-2")]
    scores = []
    for events in (phone, direct, self_cb, answered_mail, silent_mail):
        outcome = score_contact(ContactFacts.of(events), model, END_OF_TIME)
        assert outcome.score is not None
        scores.append(outcome.score)

    figures = process_figures(scores)
    assert figures.calls == 3
    assert figures.first_attempt_share == pytest.approx(1 / 3)
    assert figures.transfers_per_call == pytest.approx(2 / 3)
    assert figures.warm_transfer_share == 0.5
    assert (figures.callbacks_promised, figures.callbacks_kept) == (1, 0)
    assert (figures.callbacks_late, figures.callbacks_never, figures.self_callbacks) == (1, 0, 1)
    assert figures.mails == 2
    assert figures.answered_share == 0.5
    assert figures.auto_reply_share == 0.5
    assert figures.mean_reply_hours == figures.median_reply_hours == pytest.approx(66.0)
    assert figures.mean_reply_working_hours == pytest.approx(2.0)
    assert figures.answered_within_24h_share == 0.0


# ------------------------------------------------------------------ order independence

phone_facts = st.fixed_dictionaries(
    {
        "transfers": st.integers(0, 4).map(float),
        "warm_transfers": st.integers(0, 4).map(float),
        "callback_promised": st.sampled_from(["yes", "no"]),
        "self_callback": st.sampled_from(["yes", "no"]),
    },
    optional={"callback": st.sampled_from(["kept", "kept_late", "not_kept", "not_offered"])},
)


@st.composite
def mail_contact(draw: st.DrawFn) -> Plain:
    sent = draw(st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 20), timezones=st.just(AMS)))
    answered = draw(st.booleans())
    facts: dict[str, str | float] = {
        "auto_reply": draw(st.sampled_from(["yes", "no"])),
        "sent_at": sent.isoformat(),
    }
    if answered:
        after = draw(st.floats(0.0, 200.0, allow_nan=False))
        replied = sent + timedelta(hours=after)
        facts["replied_at"] = replied.isoformat()
        facts["reply_hours"] = after
    return Plain("mail", answered, facts)


contacts = st.lists(
    st.one_of(
        st.builds(Plain, st.just("phone"), st.booleans(), phone_facts),
        mail_contact(),
    ),
    max_size=30,
)


@settings(max_examples=100, deadline=None)
@given(contacts, st.randoms(use_true_random=False))
def test_shuffled_input_gives_identical_figures(items: list[Plain], rnd: random.Random) -> None:
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert process_figures(shuffled) == process_figures(items)
    assert process_figures(reversed(items)) == process_figures(items)
