"""Scoring: the seed's scales, weighted means, corrections, and the stateful scorer's `observe`.

Pure domain: no broker, no SQL. The property test at the bottom checks the rule the whole
pipeline rests on: a contact's score depends on the *set* of its facts, not on arrival order
or duplicates.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.events import (
    EVENT_ADAPTER,
    CallAnswered,
    CallAssessed,
    CallbackMade,
    CallbackPromised,
    CallPlaced,
    CallTransferred,
    Event,
    MailAssessed,
    MailAutoReplied,
    MailReplied,
    MailSent,
    SelfCallback,
    SurveyResponse,
)
from schemas.scores import ScoreRevision
from services.scoring.model import DEFAULT_MODEL, OrdinalScale
from services.scoring.rules import (
    ContactError,
    ContactFacts,
    check_belongs,
    score_contact,
    weighted_mean,
)
from services.scoring.scorer import EMPTY_STATE, ContactState, observe

MODEL = DEFAULT_MODEL
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BASE: dict[str, Any] = {
    "contact_id": "c-1",
    "municipality": "GM0344",
    "campaign": "mg-2026",
    "wave": 1,
    "case": "standplaatsvergunning",
}

FRIENDLINESS = {
    "zeer vriendelijk": 10,
    "vriendelijk": 8,
    "niet onvriendelijk": 6,
    "neutraal": 4,
    "onvriendelijk": 2,
    "zeer onvriendelijk": 1,
}


def ev(cls: type, event_id: str, at: datetime | float = 0.0, **fields: Any) -> Any:
    """An event of `cls` for the default contact; `at` is a datetime or hours after T0."""
    when = at if isinstance(at, datetime) else T0 + timedelta(hours=at)
    return cls(**{**BASE, "event_id": event_id, "occurred_at": when, **fields})


def score_of(*events: Event):
    return score_contact(ContactFacts.of(events), MODEL)


def fold(events, state: ContactState = EMPTY_STATE):
    """Feed events through `observe`; return the final state and every revision emitted."""
    revisions: list[ScoreRevision] = []
    for event in events:
        state, revision = observe(state, event, MODEL)
        if revision is not None:
            revisions.append(revision)
    return state, revisions


def value_of(score, criterion: str) -> float | None:
    return next(s.value for s in score.breakdown if s.criterion == criterion)


def mail_replied_after(hours: float, **reply: Any):
    sent = ev(MailSent, "m-sent", 0, message_id="<m1@meetlat>", token="tok-1")
    replied = ev(MailReplied, "m-reply", hours, **reply)
    assessed = ev(MailAssessed, "m-assessed", 200)
    return score_of(sent, replied, assessed)


# ------------------------------------------------------------------ the seed's scales


def test_friendliness_scale_is_the_seed_scale() -> None:
    criterion = MODEL.by_id["vriendelijkheid_aanname"]
    assert criterion.label == "Vriendelijkheid van de aanname"
    assert (criterion.channel, criterion.dimension, criterion.weight) == ("phone", "form", 1)
    assert isinstance(criterion.scale, OrdinalScale)
    assert dict(criterion.scale.values) == FRIENDLINESS
    assert list(criterion.scale.values) == list(FRIENDLINESS)  # seed order, best first


@pytest.mark.parametrize(("answer", "value"), FRIENDLINESS.items())
def test_friendliness_answer_scores_its_seed_value(answer: str, value: int) -> None:
    score = score_of(
        ev(CallAssessed, "a", 1, answers={"vriendelijkheid_aanname": answer}),
    )
    assert score is not None
    assert value_of(score, "vriendelijkheid_aanname") == value
    # the only applicable criterion: the contact's total is that value
    assert score.total == value
    assert score.form == value
    assert score.content is None


def test_mail_speed_scale_is_the_seed_scale() -> None:
    criterion = MODEL.by_id["snelheid_mail"]
    assert criterion.label == "Snelheid van reageren per mail"
    assert (criterion.channel, criterion.dimension, criterion.weight) == ("mail", "form", 1)
    for hours, value in [(0, 10), (24, 10), (36, 8), (48, 6), (60, 4), (72, 2), (1000, 1)]:
        assert criterion.scale.value(hours) == value


@pytest.mark.parametrize(
    ("hours", "value"),
    [
        (0.5, 10),
        (24, 10),
        (24.01, 8),
        (30, 8),
        (36, 8),
        (36.01, 6),
        (48, 6),
        (48.5, 4),
        (60, 4),
        (61, 2),
        (72, 2),
        (72.5, 1),
        (300, 1),
    ],
)
def test_mail_speed_from_real_sent_and_replied_events(hours: float, value: int) -> None:
    score = mail_replied_after(hours)
    assert score is not None
    assert value_of(score, "snelheid_mail") == value
    assert score.answered is True
    # nothing else applies (no answers, no reply facts): the total is the speed value
    assert score.total == value


def test_mail_speed_uses_event_time_across_time_zones() -> None:
    amsterdam = timezone(timedelta(hours=1))
    sent = ev(MailSent, "s", datetime(2026, 3, 2, 10, tzinfo=amsterdam), message_id="x", token="t")
    # 24 h later in UTC notation: exactly on the boundary
    replied = ev(MailReplied, "r", datetime(2026, 3, 3, 9, tzinfo=UTC))
    score = score_of(sent, replied, ev(MailAssessed, "a", 100))
    assert score is not None
    assert value_of(score, "snelheid_mail") == 10


def test_auto_reply_is_not_an_answer() -> None:
    sent = ev(MailSent, "s", 0, message_id="x", token="t")
    auto = ev(MailAutoReplied, "auto", 0.1)
    score = score_of(sent, auto, ev(MailAssessed, "a", 100))
    assert score is not None
    assert score.answered is False
    assert score.total == MODEL.unanswered_mail_score


# ------------------------------------------------------------------ weighted mean


def test_weighted_mean_leaves_out_na_and_renormalises() -> None:
    # vriendelijkheid (w1) = 10, juist_antwoord (w2) = 2, the rest N/A
    score = score_of(
        ev(
            CallAssessed,
            "a",
            1,
            answers={"vriendelijkheid_aanname": "zeer vriendelijk", "juist_antwoord": "onjuist"},
        )
    )
    assert score is not None
    assert score.total == round((10 * 1 + 2 * 2) / 3, 6)
    assert score.form == 10
    assert score.content == 2
    na = [s.criterion for s in score.breakdown if s.value is None]
    assert set(na) == {"snelheid_opnemen", "doorverbinden", "deskundige_indruk", "meedenken"}
    assert weighted_mean(score.breakdown) == pytest.approx(14 / 3)
    assert weighted_mean(s for s in score.breakdown if s.value is None) is None


def test_phone_contact_hand_computed() -> None:
    score = score_of(
        ev(CallPlaced, "p", 0),
        ev(CallAnswered, "ans", 0.01, seconds_waited=20),  # ≤ 30 s → 8
        ev(
            CallTransferred,
            "tr",
            0.02,
            to_role="vergunningen",
            briefed=True,
            colleague_available=True,
        ),
        ev(
            CallAssessed,
            "as",
            1,
            answers={
                "vriendelijkheid_aanname": "vriendelijk",  # 8
                "juist_antwoord": "grotendeels juist",  # 7, weight 2
                "deskundige_indruk": "deskundig",  # 8
            },  # meedenken not answered: N/A
        ),
    )
    assert score is not None
    assert value_of(score, "snelheid_opnemen") == 8
    assert value_of(score, "doorverbinden") == 10  # warm transfer
    assert value_of(score, "meedenken") is None
    # form: (8 + 8 + 10) / 3; content: (7·2 + 8) / 3; total: 48 / 6
    assert score.form == round(26 / 3, 6) == 8.666667
    assert score.content == round(22 / 3, 6) == 7.333333
    assert score.total == 8.0
    assert score.potential == 8.0
    assert score.corrections == ()
    assert score.answered is True
    assert score.channel == "phone"
    assert score.last_fact_at == T0 + timedelta(hours=1)


def test_mail_contact_hand_computed() -> None:
    sent = ev(MailSent, "s", 0, message_id="<m@x>", token="t")
    replied = ev(
        MailReplied, "r", 30, salutation_correct=False, spelling_errors=3
    )  # 30 h → 8; wrong salutation → 4; 3 errors → 5; forward unknown → N/A
    assessed = ev(
        MailAssessed,
        "a",
        80,
        answers={"juist_antwoord_mail": "volledig juist", "volledigheid": "onvolledig"},
    )  # 10 (weight 2), 4
    score = score_of(sent, replied, assessed)
    assert score is not None
    assert value_of(score, "interne_forward") is None
    assert score.form == round(17 / 3, 6) == 5.666667
    assert score.content == 8.0
    assert score.total == round(41 / 6, 6) == 6.833333
    assert score.potential == score.total
    assert score.answered is True


def test_transfer_to_absent_colleague_scores_the_worst_transfer() -> None:
    score = score_of(
        ev(CallTransferred, "t1", 0.1, to_role="balie", briefed=True, colleague_available=True),
        ev(CallTransferred, "t2", 0.2, to_role="team", briefed=False, colleague_available=False),
        ev(CallAssessed, "a", 1, answers={"juist_antwoord": "onjuist"}),
    )
    assert score is not None
    assert value_of(score, "doorverbinden") == 2
    assert score.total == 2  # (2·1 + 2·2) / 3


# ------------------------------------------------------------------ corrections


def test_self_callback_correction() -> None:
    answers = {"vriendelijkheid_aanname": "vriendelijk", "juist_antwoord": "volledig juist"}
    without = score_of(ev(CallAssessed, "a", 1, answers=answers))
    with_cb = score_of(ev(SelfCallback, "sc", 0.5), ev(CallAssessed, "a", 1, answers=answers))
    assert without is not None and with_cb is not None
    raw = (8 + 20) / 3
    assert without.total == round(raw, 6)
    assert with_cb.total == round(raw - MODEL.self_callback_points, 6)
    assert MODEL.self_callback_points > 0
    assert [c.kind for c in with_cb.corrections] == ["self_callback"]
    assert with_cb.corrections[0].points == MODEL.self_callback_points
    # potential: as if completed at once, the correction left out
    assert with_cb.potential == without.potential == round(raw, 6)
    assert with_cb.form == without.form and with_cb.content == without.content


def test_self_callback_correction_never_goes_below_zero() -> None:
    score = score_of(
        ev(SelfCallback, "sc", 0.5),
        ev(CallAssessed, "a", 1, answers={"vriendelijkheid_aanname": "zeer onvriendelijk"}),
    )
    assert score is not None
    assert 1 - MODEL.self_callback_points < 0
    assert score.total == 0.0
    assert score.potential == 1.0


def test_self_callback_is_a_phone_correction_only_once() -> None:
    score = score_of(
        ev(SelfCallback, "sc1", 0.5),
        ev(SelfCallback, "sc2", 0.6),
        ev(CallAssessed, "a", 1, answers={"vriendelijkheid_aanname": "zeer vriendelijk"}),
    )
    assert score is not None
    assert len(score.corrections) == 1
    assert score.total == 10 - MODEL.self_callback_points


# ------------------------------------------------------------------ unanswered mail


def test_unanswered_mail_scores_the_model_unanswered_score() -> None:
    sent = ev(MailSent, "s", 0, message_id="<m@x>", token="t")
    assessed = ev(MailAssessed, "a", 80)
    state, revisions = fold([sent, assessed])
    assert len(revisions) == 1
    first = revisions[0]
    assert first.revision == 1
    assert first.total == MODEL.unanswered_mail_score == 0
    assert first.potential is None
    assert first.answered is False
    assert first.form is None and first.content is None
    assert first.breakdown == () and first.corrections == ()

    late = ev(MailReplied, "r", 90, salutation_correct=True)  # after 72 h: speed 1
    state, revision = observe(state, late, MODEL)
    assert revision is not None
    assert revision.revision == 2
    assert revision.total > first.total
    assert revision.answered is True
    assert revision.potential is not None
    assert revision.total == (1 + 10) / 2


# ------------------------------------------------------------------ not scoreable


def test_not_scoreable_before_assessment() -> None:
    assert score_contact(ContactFacts(()), MODEL) is None
    assert score_of(ev(CallPlaced, "p", 0), ev(CallAnswered, "a", 0.1, seconds_waited=5)) is None
    sent = ev(MailSent, "s", 0, message_id="x", token="t")
    assert score_of(sent, ev(MailReplied, "r", 5)) is None
    state, revisions = fold([ev(CallPlaced, "p", 0), ev(SelfCallback, "sc", 1)])
    assert revisions == [] and state.revision == 0


def test_mail_without_sent_is_not_scoreable() -> None:
    assert score_of(ev(MailReplied, "r", 5), ev(MailAssessed, "a", 80)) is None
    assert score_of(ev(MailAssessed, "a", 80)) is None


# ------------------------------------------------------------------ check_belongs


def test_check_belongs_accepts_any_first_contact_event_and_matching_facts() -> None:
    check_belongs(ContactFacts(()), ev(MailSent, "s", 0, message_id="x", token="t"))
    facts = ContactFacts.of([ev(CallPlaced, "p", 0)])
    check_belongs(facts, ev(CallAnswered, "a", 0.1, seconds_waited=3))


def test_check_belongs_rejects_mixed_channels() -> None:
    phone = ContactFacts.of([ev(CallPlaced, "p", 0)])
    with pytest.raises(ContactError, match="phone"):
        check_belongs(phone, ev(MailReplied, "r", 1))
    mail = ContactFacts.of([ev(MailSent, "s", 0, message_id="x", token="t")])
    with pytest.raises(ContactError, match="mail"):
        check_belongs(mail, ev(SelfCallback, "sc", 1))


@pytest.mark.parametrize(
    ("field", "other"),
    [("municipality", "GM0363"), ("campaign", "mg-2027"), ("wave", 2), ("case", "horeca")],
)
def test_check_belongs_rejects_a_changed_identity(field: str, other: Any) -> None:
    facts = ContactFacts.of([ev(CallPlaced, "p", 0)])
    with pytest.raises(ContactError, match=field):
        check_belongs(facts, ev(CallAnswered, "a", 0.1, seconds_waited=3, **{field: other}))


def survey(event_id: str = "kto-1") -> SurveyResponse:
    return ev(
        SurveyResponse,
        event_id,
        0,
        survey_channel="counter",
        totaaloordeel=7,
        effort=2,
        hostmanship=(7, 7, 8, 6, 7, 9),
    )


def test_check_belongs_rejects_survey_events() -> None:
    with pytest.raises(ContactError, match="survey"):
        check_belongs(ContactFacts(()), survey())
    with pytest.raises(ContactError):
        check_belongs(ContactFacts.of([ev(CallPlaced, "p", 0)]), survey())
    with pytest.raises(ContactError):
        observe(EMPTY_STATE, survey(), MODEL)


# ------------------------------------------------------------------ observe


def phone_history() -> list[Event]:
    return [
        ev(CallPlaced, "p", 0),
        ev(CallAnswered, "ans", 0.01, seconds_waited=40),
        ev(CallAssessed, "as", 1, answers={"vriendelijkheid_aanname": "neutraal"}),
    ]


def test_observe_ignores_duplicates() -> None:
    state, revisions = fold(phone_history())
    assert len(revisions) == 1
    for event in phone_history():
        redelivered = EVENT_ADAPTER.validate_json(EVENT_ADAPTER.dump_json(event))
        again, revision = observe(state, redelivered, MODEL)
        assert revision is None
        assert again == state


def test_observe_revisions_only_grow() -> None:
    state, revisions = fold(phone_history())
    assert [r.revision for r in revisions] == [1]
    state, r2 = observe(
        state,
        ev(CallTransferred, "t", 0.02, to_role="x", briefed=False, colleague_available=True),
        MODEL,
    )
    state, r3 = observe(state, ev(SelfCallback, "sc", 0.5), MODEL)
    assert r2 is not None and r3 is not None
    assert (r2.revision, r3.revision) == (2, 3)
    assert state.revision == 3
    # the contact's first events came late and changed nothing after all: still revision 3
    state, r4 = observe(
        state, ev(CallbackPromised, "cp", 0.03, deadline=T0 + timedelta(hours=4)), MODEL
    )
    assert r4 is None and state.revision == 3


def test_a_fact_that_does_not_change_the_score_emits_no_revision() -> None:
    state, revisions = fold(phone_history())
    assert len(revisions) == 1
    # an earlier fact the model does not score: same score, no revision, but it is kept
    promised = ev(CallbackPromised, "cp", 0.5, deadline=T0 + timedelta(hours=3))
    made = ev(CallbackMade, "cm", 0.9)
    for event in (promised, made):
        new_state, revision = observe(state, event, MODEL)
        assert revision is None
        assert new_state.revision == state.revision
        assert event in new_state.facts.events
        state = new_state
    # an earlier fact that changes the score does emit one
    state, revision = observe(state, ev(SelfCallback, "sc", 0.95), MODEL)
    assert revision is not None and revision.revision == 2


@pytest.mark.parametrize(
    "answers",
    [
        {"vriendelijkheid_aanname": "heel aardig"},  # not on the scale
        {"bestaat_niet": "vriendelijk"},  # unknown criterion
        {"volledigheid": "volledig"},  # a mail criterion on a phone contact
        {"snelheid_opnemen": "snel"},  # measured, not answered
    ],
)
def test_observe_rejects_answers_that_contradict_the_model(answers: dict[str, str]) -> None:
    state, _ = fold(phone_history()[:2])
    with pytest.raises(ContactError):
        observe(state, ev(CallAssessed, "bad", 1, answers=answers), MODEL)
    # the state is a frozen value: unchanged, and the next good event still works
    assert len(state.facts.events) == 2
    _, revision = observe(state, phone_history()[2], MODEL)
    assert revision is not None and revision.revision == 1


def test_observe_rejects_mail_answers_not_on_the_scale() -> None:
    state, _ = fold([ev(MailSent, "s", 0, message_id="x", token="t")])
    with pytest.raises(ContactError, match="not on its scale"):
        observe(state, ev(MailAssessed, "a", 80, answers={"volledigheid": "half"}), MODEL)


def test_observe_leaves_the_state_unchanged_on_a_contradicting_event() -> None:
    state, _ = fold(phone_history())
    before = state.to_json()
    with pytest.raises(ContactError):
        observe(state, ev(SelfCallback, "x", 2, municipality="GM0363"), MODEL)
    assert state.to_json() == before


def test_contact_state_json_round_trip() -> None:
    state, _ = fold([*phone_history(), ev(SelfCallback, "sc", 0.5)])
    raw = json.loads(json.dumps(state.to_json()))
    back = ContactState.from_json(raw)
    assert back == state
    assert back.revision == state.revision == 2
    # the restored state behaves the same
    nxt = ev(CallTransferred, "t", 0.02, to_role="x", briefed=True, colleague_available=False)
    assert observe(back, nxt, MODEL) == observe(state, nxt, MODEL)
    assert ContactState.from_json(None) is EMPTY_STATE
    assert ContactState.from_json({}) is EMPTY_STATE


def test_an_assessment_without_answers_is_invalid() -> None:
    """A later assessment replaces an earlier one; one without answers would make a scored
    contact unscoreable again and its last revision depend on arrival order, so the contract
    refuses it."""
    with pytest.raises(ValidationError, match="answers"):
        ev(CallAssessed, "a2", 2, answers={})


# ------------------------------------------------------------------ property: order-free fold

ANSWERABLE = {
    channel: [
        (c.id, list(c.scale.values))
        for c in MODEL.for_channel(channel)
        if isinstance(c.scale, OrdinalScale)
    ]
    for channel in ("phone", "mail")
}
OFFSETS = [
    UTC,
    timezone(timedelta(hours=1)),
    timezone(timedelta(hours=2)),
    timezone(timedelta(hours=-5)),
]


@st.composite
def answers_for(draw: st.DrawFn, channel: str) -> dict[str, str]:
    out = {}
    for criterion_id, values in ANSWERABLE[channel]:
        if draw(st.booleans()):
            out[criterion_id] = draw(st.sampled_from(values))
    if channel == "phone" and not out:  # a phone assessment has at least one answer
        criterion_id, values = ANSWERABLE[channel][0]
        out[criterion_id] = draw(st.sampled_from(values))
    return out


@st.composite
def contact_history(draw: st.DrawFn) -> list[Event]:
    channel = draw(st.sampled_from(["phone", "mail"]))
    seq = iter(range(1000))
    start = T0 + timedelta(minutes=draw(st.integers(0, 60 * 24 * 30)))

    def at() -> datetime:
        # minutes after the start, in a random fixed offset (the instant is what counts)
        minutes = draw(st.integers(0, 60 * 24 * 5))
        return (start + timedelta(minutes=minutes)).astimezone(draw(st.sampled_from(OFFSETS)))

    def make(cls: type, **fields: Any) -> Any:
        return cls(**{**BASE, "event_id": f"e{next(seq)}", "occurred_at": at(), **fields})

    events: list[Event] = []
    if channel == "phone":
        events.append(make(CallPlaced))
        if draw(st.booleans()):
            waited = draw(st.floats(0, 3600, allow_nan=False))
            events.append(make(CallAnswered, seconds_waited=waited))
        for _ in range(draw(st.integers(0, 2))):
            events.append(
                make(
                    CallTransferred,
                    to_role=draw(st.sampled_from(["vergunningen", "balie", "economie"])),
                    briefed=draw(st.booleans()),
                    colleague_available=draw(st.booleans()),
                )
            )
        if draw(st.booleans()):
            events.append(make(CallbackPromised, deadline=start + timedelta(hours=48)))
        if draw(st.booleans()):
            events.append(make(CallbackMade))
        if draw(st.booleans()):
            events.append(make(SelfCallback))
        if draw(st.integers(0, 5)):  # mostly assessed
            events.append(make(CallAssessed, answers=draw(answers_for("phone")), report="..."))
    else:
        if draw(st.integers(0, 5)):  # mostly sent
            events.append(make(MailSent, message_id="<m@x>", token="tok"))
        if draw(st.booleans()):
            events.append(make(MailAutoReplied))
        if draw(st.booleans()):
            events.append(
                make(
                    MailReplied,
                    salutation_correct=draw(st.none() | st.booleans()),
                    internal_forward_leaked=draw(st.none() | st.booleans()),
                    spelling_errors=draw(st.none() | st.integers(0, 12)),
                )
            )
        if draw(st.integers(0, 5)):
            events.append(make(MailAssessed, answers=draw(answers_for("mail"))))
    return events


@st.composite
def arrival(draw: st.DrawFn) -> tuple[list[Event], list[Event]]:
    """(the contact's events, the order they arrive in: shuffled, with redeliveries)."""
    events = draw(contact_history())
    order = list(draw(st.permutations(events)))
    redeliveries = st.lists(st.sampled_from(events), max_size=6) if events else st.just([])
    for duplicate in draw(redeliveries):
        copy = EVENT_ADAPTER.validate_json(EVENT_ADAPTER.dump_json(duplicate))
        order.insert(draw(st.integers(0, len(order))), copy)
    return events, order


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrival())
def test_observe_in_any_order_equals_scoring_the_set(case: tuple[list[Event], list[Event]]) -> None:
    events, order = case
    state, revisions = fold(order)
    expected = score_contact(ContactFacts.of(events), MODEL)

    assert state.facts == ContactFacts.of(events)
    numbers = [r.revision for r in revisions]
    assert numbers == sorted(set(numbers))  # strictly increasing
    assert numbers == list(range(1, len(numbers) + 1))
    assert state.revision == len(revisions)
    if expected is None:
        assert revisions == []
    else:
        assert revisions, "a scoreable contact must have emitted a revision"
        last = revisions[-1].model_dump()
        assert last.pop("revision") == state.revision
        assert last == expected.model_dump()
        # and in event-time order the fold gives the same final score
        in_time_order = fold(ContactFacts.of(events).events)[1][-1].model_dump()
        in_time_order.pop("revision")
        assert in_time_order == last
