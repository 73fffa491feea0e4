"""Scoring: the default YAML model's scales, weighted means, N/A, critical items, corrections,
unanswered mail, observed facts, model pinning and rescoring, and the stateful scorer's
`observe` / `advance`.

Pure domain: no broker, no SQL. The property test at the bottom checks the rule the whole
pipeline rests on: once every deadline has passed, a contact's last revision depends only on
the *set* of its facts, not on arrival order, duplicates or how the watermark moved meanwhile.

Every expected figure is worked out by hand from
`services/scoring/models/kvk-mystery-guest-2026.1.yaml`. Two observed criteria apply to
nearly every phone call and mail, so they appear in most sums:
- `aantal_doorverbindingen` (phone, w1): the number of transfers, 0 or 1 → 10;
- `autoreply` (mail, w1): no auto-reply → 4, one → 10.
Two criteria may not be N/A: `snelheid_opnemen` (no CallAnswered → 1) and `juist_antwoord`
/ `juist_antwoord_mail` (w2; unanswered → "geen antwoord" 1, which is critical: below 3
caps the contact at 5.4).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note
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
    MailReclassified,
    MailReplied,
    MailSent,
    RescoreRequested,
    SelfCallback,
    SurveyResponse,
)
from schemas.scores import ContactScore, CriterionScore, ScoreRevision
from schemas.scoring_model import BandScale, OrdinalScale, ScoringModel
from services.scoring.catalogue import ModelCatalogue, UnknownModelError, load_model_text
from services.scoring.rules import (
    END_OF_TIME,
    ContactError,
    ContactFacts,
    Outcome,
    check_belongs,
    effective_model_key,
    is_orphan,
    reply_deadline,
    score_contact,
    weighted_mean,
)
from services.scoring.scorer import EMPTY_STATE, ContactState, ModelLookup, advance, observe

BUILTIN = ModelCatalogue()
MODEL = BUILTIN.resolve(None)
LOOKUP: ModelLookup = BUILTIN.resolve
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
MAIL_SPEED = [(24, 10), (36, 8), (48, 6), (60, 4), (72, 2)]  # and above 72 h: 1


# ------------------------------------------------------------------ variant models

YAML_TEXT = (
    resources.files("services.scoring")
    .joinpath("models", "kvk-mystery-guest-2026.1.yaml")
    .read_text(encoding="utf-8")
)
FRIENDLINESS_WEIGHT = (
    "    label: Vriendelijkheid van de aanname\n"
    "    channel: phone\n"
    "    dimension: form\n"
    "    phases: [contact]\n"
    "    weight: 1\n"
)
PHONE_CRITICAL = "    critical:\n      below: 3\n      effect: cap\n      cap: 5.4\n"


def variant_text(version: str, *replacements: tuple[str, str]) -> str:
    """The default model's YAML under another version, each replacement made once."""
    text = YAML_TEXT.replace('version: "2026.1"', f'version: "{version}"')
    assert text != YAML_TEXT
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)  # the first occurrence: the phone criterion
    return text


# B: "Vriendelijkheid van de aanname" weighs 3 instead of 1
B_TEXT = variant_text("2026.2", (FRIENDLINESS_WEIGHT, FRIENDLINESS_WEIGHT.replace(": 1", ": 3")))
# C: the friendliness answer "vriendelijk" renamed "aardig"
C_TEXT = variant_text("2026.3", ("        vriendelijk: 8\n", "        aardig: 8\n"))
# D: a wrong phone answer zeroes the contact instead of capping it
D_TEXT = variant_text(
    "2026.4", (PHONE_CRITICAL, "    critical:\n      below: 3\n      effect: zero\n")
)
MODEL_B = load_model_text(B_TEXT, "<variant B>")
MODEL_C = load_model_text(C_TEXT, "<variant C>")
MODEL_D = load_model_text(D_TEXT, "<variant D>")
VARIANTS = ModelCatalogue()
for _variant in (MODEL_B, MODEL_C, MODEL_D):
    VARIANTS.add(_variant, "<test variant>")
VLOOKUP: ModelLookup = VARIANTS.resolve


# ------------------------------------------------------------------ helpers


def ev(cls: type, event_id: str, at: datetime | float = 0.0, **fields: Any) -> Any:
    """An event of `cls` for the default contact; `at` is a datetime or hours after T0."""
    when = at if isinstance(at, datetime) else T0 + timedelta(hours=at)
    return cls(**{**BASE, "event_id": event_id, "occurred_at": when, **fields})


def hours(h: float) -> datetime:
    return T0 + timedelta(hours=h)


def outcome_of(*events: Event, watermark: datetime = END_OF_TIME, model=MODEL) -> Outcome:
    return score_contact(ContactFacts.of(events), model, watermark)


def score_of(*events: Event, watermark: datetime = END_OF_TIME, model=MODEL) -> ContactScore:
    score = outcome_of(*events, watermark=watermark, model=model).score
    assert score is not None, "expected a scoreable contact"
    return score


def fold(
    events,
    state: ContactState = EMPTY_STATE,
    *,
    watermark: datetime = END_OF_TIME,
    lookup: ModelLookup = LOOKUP,
    active: ScoringModel = MODEL,
) -> tuple[ContactState, list[ScoreRevision]]:
    """Feed events through `observe` at one watermark; the final state and every revision."""
    revisions: list[ScoreRevision] = []
    for event in events:
        step = observe(state, event, lookup, active, watermark)
        state = step.state
        if step.revision is not None:
            revisions.append(step.revision)
    return state, revisions


def value_of(score: ContactScore, criterion: str) -> float | None:
    return next(s.value for s in score.breakdown if s.criterion == criterion)


def item(score: ContactScore, criterion: str) -> CriterionScore:
    return next(s for s in score.breakdown if s.criterion == criterion)


def kinds(score: ContactScore) -> list[str]:
    return [c.kind for c in score.corrections]


def without_revision(revision: ScoreRevision) -> dict[str, Any]:
    return revision.model_dump(exclude={"revision"})


def answered_call(
    answers: dict[str, str], *extra: Event, waited: float = 10, at: float = 1
) -> list[Event]:
    """Placed, answered after `waited` s, the extra facts, assessed with `answers`."""
    return [
        ev(CallPlaced, "p", 0),
        ev(CallAnswered, "ans", 0.01, seconds_waited=waited),
        *extra,
        ev(CallAssessed, "as", at, answers=answers),
    ]


def sent(at: float = 0) -> MailSent:
    return ev(MailSent, "s", at, message_id="<m1@meetlat>", token="tok-1")


def mail_assessed(at: float = 200, **answers: str) -> MailAssessed:
    return ev(MailAssessed, "m-assessed", at, answers=answers)


RIGHT = {"juist_antwoord": "volledig juist"}  # 10, weight 2
RIGHT_MAIL = {"juist_antwoord_mail": "volledig juist"}


# ------------------------------------------------------------------ the default model


def test_the_default_model_is_the_shipped_yaml() -> None:
    assert MODEL.key == "kvk-mystery-guest@2026.1"
    assert LOOKUP("kvk-mystery-guest@2026.1") is MODEL
    assert MODEL.mail_reply_deadline_hours == 72
    assert MODEL.unanswered_mail_score == 0
    assert MODEL.corrections.self_callback == 1.5
    with pytest.raises(UnknownModelError):
        LOOKUP("kvk-mystery-guest@1999.1")


def test_a_variant_model_file_in_a_directory_resolves(tmp_path: Path) -> None:
    (tmp_path / "variant.yaml").write_text(B_TEXT, encoding="utf-8")
    catalogue = ModelCatalogue(extra_dir=tmp_path)
    loaded = catalogue.resolve("kvk-mystery-guest@2026.2")
    assert loaded == MODEL_B
    assert loaded.by_id["vriendelijkheid_aanname"].weight == 3
    assert catalogue.resolve("kvk-mystery-guest@2026.1") == MODEL
    assert MODEL_B.fingerprint() != MODEL.fingerprint()


# ------------------------------------------------------------------ the seed's scales


def test_friendliness_scale_is_the_seed_scale() -> None:
    criterion = MODEL.by_id["vriendelijkheid_aanname"]
    assert criterion.label == "Vriendelijkheid van de aanname"
    assert (criterion.channel, criterion.dimension, criterion.weight) == ("phone", "form", 1)
    assert criterion.observe is None  # answered by the mystery caller
    assert isinstance(criterion.scale, OrdinalScale)
    assert criterion.scale.values == FRIENDLINESS
    assert list(criterion.scale.values) == list(FRIENDLINESS)  # seed order, best first


@pytest.mark.parametrize(("answer", "value"), FRIENDLINESS.items())
def test_friendliness_answer_scores_its_seed_value(answer: str, value: int) -> None:
    score = score_of(*answered_call({"vriendelijkheid_aanname": answer, **RIGHT}))
    assert value_of(score, "vriendelijkheid_aanname") == value
    assert item(score, "vriendelijkheid_aanname").observation == answer
    # snelheid_opnemen 10 s → 10, aantal_doorverbindingen 0 → 10, juist_antwoord 10·2
    assert score.form == round((10 + value + 10) / 3, 6)
    assert score.content == 10
    assert score.total == round((10 + value + 10 + 10 * 2) / 5, 6)


def test_mail_speed_scale_is_the_seed_scale() -> None:
    criterion = MODEL.by_id["snelheid_mail"]
    assert criterion.label == "Snelheid van reageren per mail"
    assert (criterion.channel, criterion.dimension, criterion.weight) == ("mail", "form", 1)
    assert criterion.observe == "reply_hours"
    assert criterion.na_allowed is False
    assert isinstance(criterion.scale, BandScale)
    assert [(b.up_to, b.value) for b in criterion.scale.bands] == MAIL_SPEED
    assert criterion.scale.above == 1
    for h, value in [(0, 10), (24, 10), (36, 8), (48, 6), (60, 4), (72, 2), (72.01, 1)]:
        assert criterion.value(h) == value


@pytest.mark.parametrize(
    ("after", "value"),
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
def test_mail_speed_from_real_sent_and_replied_events(after: float, value: int) -> None:
    score = score_of(sent(), ev(MailReplied, "r", after), mail_assessed(400, **RIGHT_MAIL))
    assert value_of(score, "snelheid_mail") == value
    assert score.answered is True
    # autoreply: none → 4; juist_antwoord_mail 10·2; the reply facts are all unknown (N/A)
    assert score.form == round((value + 4) / 2, 6)
    assert score.total == round((value + 4 + 10 * 2) / 4, 6)


def test_mail_speed_uses_event_time_across_time_zones() -> None:
    amsterdam = timezone(timedelta(hours=1))
    mail = ev(MailSent, "s", datetime(2026, 3, 2, 10, tzinfo=amsterdam), message_id="x", token="t")
    # 24 h later in UTC notation: exactly on the boundary
    replied = ev(MailReplied, "r", datetime(2026, 3, 3, 9, tzinfo=UTC))
    score = score_of(mail, replied, mail_assessed(100))
    assert value_of(score, "snelheid_mail") == 10
    assert item(score, "snelheid_mail").observation == "reply_hours=24"


def test_a_reclassification_retracts_the_events_it_names() -> None:
    """`meetlat mail reclassify`: an auto-reply taken for the answer no longer counts, and a
    reply taken for an auto-reply counts from the reclassification's own MailReplied."""
    reply = ev(MailReplied, "r", 10)
    fixed = ev(MailReclassified, "rc", 50, retracts=("r",), kind="auto_reply")
    auto = ev(MailAutoReplied, "r-auto", 10)
    unanswered = score_of(sent(), reply, fixed, auto)
    assert unanswered.answered is False
    assert unanswered.facts["auto_reply"] == "yes"
    # the other way round, in any order of arrival
    back = ev(MailReclassified, "rc2", 60, retracts=("r-auto",), kind="reply")
    again = ev(MailReplied, "r2", 10)
    for events in ([sent(), auto, back, again], [again, back, auto, sent()]):
        score = score_of(*events, mail_assessed(400, **RIGHT_MAIL))
        assert score.answered is True
        assert score.facts["auto_reply"] == "no"
        assert value_of(score, "snelheid_mail") == 10


# ------------------------------------------------------------------ weighted mean and N/A


def test_weighted_mean_leaves_out_na_and_renormalises() -> None:
    def cs(value: float | None, weight: float) -> CriterionScore:
        return CriterionScore(criterion="x", dimension="form", weight=weight, value=value)

    assert weighted_mean([cs(10, 1), cs(None, 5), cs(4, 2)]) == 6.0  # (10 + 8) / 3
    assert weighted_mean([cs(None, 1), cs(None, 2)]) is None
    assert weighted_mean([]) is None

    score = score_of(
        *answered_call({"vriendelijkheid_aanname": "zeer vriendelijk", **RIGHT}, waited=40)
    )
    na = {s.criterion for s in score.breakdown if s.value is None}
    assert na == {
        "doorverbinden",  # not transferred
        "terugbelafspraak",  # completed at once
        "volledigheid_telefoon",
        "deskundige_indruk",
        "meedenken",
    }
    # snelheid 40 s → 6, vriendelijkheid 10, aantal 0 → 10, juist 10·2: 46 / 5
    assert score.total == 9.2
    assert weighted_mean(score.breakdown) == pytest.approx(46 / 5)
    # one more answer: its weight joins the denominator
    more = score_of(
        *answered_call(
            {
                "vriendelijkheid_aanname": "zeer vriendelijk",
                "deskundige_indruk": "niet deskundig",  # 2
                **RIGHT,
            },
            waited=40,
        )
    )
    assert more.total == round(48 / 6, 6) == 8.0
    assert more.content == round((20 + 2) / 3, 6)


def test_phone_contact_hand_computed() -> None:
    score = score_of(
        *answered_call(
            {
                "vriendelijkheid_aanname": "vriendelijk",  # 8
                "juist_antwoord": "grotendeels juist",  # 7, weight 2
                "deskundige_indruk": "deskundig",  # 8
            },  # meedenken, volledigheid not answered: N/A
            ev(
                CallTransferred,
                "tr",
                0.02,
                to_role="vergunningen",
                briefed=True,
                colleague_available=True,
            ),
            waited=20,  # ≤ 30 s → 8
        )
    )
    assert value_of(score, "snelheid_opnemen") == 8
    assert value_of(score, "doorverbinden") == 10  # warm transfer
    assert value_of(score, "aantal_doorverbindingen") == 10  # one transfer
    assert value_of(score, "meedenken") is None
    # form: (8 + 8 + 10 + 10) / 4 = 9; content: (7·2 + 8) / 3; total: 58 / 7
    assert score.form == 9.0
    assert score.content == round(22 / 3, 6) == 7.333333
    assert score.total == round(58 / 7, 6) == 8.285714
    assert score.potential == score.total
    assert score.corrections == ()
    assert score.answered is True
    assert score.channel == "phone"
    assert (score.model_id, score.model_version) == ("kvk-mystery-guest", "2026.1")
    assert score.last_fact_at == hours(1)


def test_mail_contact_hand_computed() -> None:
    # 30 h → 8; wrong salutation → 4; 3 errors → 5; no auto-reply → 4; forward unknown → N/A
    replied = ev(MailReplied, "r", 30, salutation_correct=False, spelling_errors=3)
    assessed = mail_assessed(80, juist_antwoord_mail="volledig juist", volledigheid="onvolledig")
    score = score_of(sent(), replied, assessed)
    assert value_of(score, "interne_forward") is None
    assert value_of(score, "jargon") is None
    assert value_of(score, "adresvraag") is None
    # form: (8 + 4 + 5 + 4) / 4; content: (10·2 + 4) / 3; total: 45 / 7
    assert score.form == 5.25
    assert score.content == 8.0
    assert score.total == round(45 / 7, 6) == 6.428571
    assert score.potential == score.total
    assert score.answered is True
    assert score.channel == "mail"


def test_na_not_allowed_scores_the_scales_lowest_value() -> None:
    lowest = {c.id: c.scale.lowest() for c in MODEL.criteria if not c.na_allowed}
    assert lowest == {
        "snelheid_opnemen": 1,
        "juist_antwoord": 1,
        "snelheid_mail": 1,
        "juist_antwoord_mail": 1,
    }
    # a call nobody picked up, assessed on friendliness only (a later pick-up by a
    # colleague is not modelled): speed and answer missing → both lowest
    score = score_of(
        ev(CallPlaced, "p", 0),
        ev(CallAssessed, "as", 1, answers={"vriendelijkheid_aanname": "zeer vriendelijk"}),
    )
    assert value_of(score, "snelheid_opnemen") == 1
    assert value_of(score, "juist_antwoord") == 1
    assert item(score, "juist_antwoord").observation == "missing (scored lowest)"
    # (1 + 10 + 10 + 1·2) / 5 = 4.6: below the critical cap, so the cap changes nothing
    assert score.total == 4.6
    assert kinds(score) == []
    # the mail's answer, missing, is lowest too: (10 + 4 + 1·2) / 4 = 4.0
    mail = score_of(sent(), ev(MailReplied, "r", 5), mail_assessed(100))
    assert value_of(mail, "juist_antwoord_mail") == 1
    assert mail.total == 4.0


# ------------------------------------------------------------------ critical criteria


def test_a_wrong_answer_caps_the_total_and_is_listed() -> None:
    answers = {
        "vriendelijkheid_aanname": "zeer vriendelijk",  # 10
        "juist_antwoord": "onjuist",  # 2·2: below 3, critical
        "deskundige_indruk": "zeer deskundig",  # 10
        "meedenken": "denkt actief mee",  # 10
    }
    score = score_of(*answered_call(answers, waited=5))  # 10, and aantal 0 → 10
    raw = (10 + 10 + 10 + 2 * 2 + 10 + 10) / 7  # 54 / 7 = 7.71
    assert score.total == 5.4
    assert score.potential == 5.4  # the cap holds for the potential as well
    assert kinds(score) == ["critical_cap"]
    assert score.corrections[0].points == pytest.approx(raw - 5.4)
    assert "juist_antwoord" in score.corrections[0].reason
    # form and content are the plain means
    assert score.form == 10.0
    assert score.content == round((4 + 10 + 10) / 4, 6) == 6.0


def test_the_cap_holds_for_the_potential_but_corrections_do_not() -> None:
    answers = {"vriendelijkheid_aanname": "zeer vriendelijk", "juist_antwoord": "onjuist"}
    score = score_of(*answered_call(answers, ev(SelfCallback, "sc", 0.5), waited=5))
    # snelheid 10, vriendelijk 10, aantal 10, terugbelafspraak not_offered 2, juist 2·2:
    # 36 / 6 = 6.0 → capped 5.4 → minus the self-callback 1.5
    assert value_of(score, "terugbelafspraak") == 2
    assert kinds(score) == ["critical_cap", "self_callback"]
    assert score.corrections[0].points == pytest.approx(0.6)
    assert score.total == 3.9
    assert score.potential == 5.4


@pytest.mark.parametrize(
    ("answer", "capped"),
    [("volledig juist", False), ("deels juist", False), ("onjuist", True), ("geen antwoord", True)],
)
def test_only_a_value_below_the_critical_threshold_caps(answer: str, capped: bool) -> None:
    score = score_of(
        *answered_call({"vriendelijkheid_aanname": "zeer vriendelijk", "juist_antwoord": answer})
    )
    value = MODEL.by_id["juist_antwoord"].value(answer)
    raw = round((10 + 10 + 10 + value * 2) / 5, 6)  # ≥ 6.4 for every answer
    assert score.total == (5.4 if capped else raw)
    assert ("critical_cap" in kinds(score)) is capped


def test_a_critical_zero_effect_zeroes_the_contact() -> None:
    score = score_of(*answered_call({"juist_antwoord": "onjuist"}), model=MODEL_D)
    assert score.total == 0.0
    assert score.potential == 0.0
    assert kinds(score) == ["critical_zero"]
    assert (score.model_id, score.model_version) == ("kvk-mystery-guest", "2026.4")
    fine = score_of(*answered_call(RIGHT), model=MODEL_D)
    assert fine.total == 10.0 and fine.corrections == ()


# ------------------------------------------------------------------ callback corrections

FRIENDLY_RIGHT = {"vriendelijkheid_aanname": "vriendelijk", **RIGHT}  # 8, 10·2
DEADLINE = hours(4)


def promised(deadline: datetime = DEADLINE) -> CallbackPromised:
    return ev(CallbackPromised, "cp", 0.05, deadline=deadline)


def test_self_callback_correction() -> None:
    without = score_of(*answered_call(FRIENDLY_RIGHT))
    with_cb = score_of(*answered_call(FRIENDLY_RIGHT, ev(SelfCallback, "sc", 0.5)))
    # snelheid 10, vriendelijk 8, aantal 10, juist 10·2: 48 / 5
    assert without.total == 9.6
    assert value_of(without, "terugbelafspraak") is None
    # + terugbelafspraak not_offered 2: 50 / 6, minus 1.5
    assert value_of(with_cb, "terugbelafspraak") == 2
    assert with_cb.total == round(50 / 6 - 1.5, 6) == 6.833333
    assert kinds(with_cb) == ["self_callback"]
    assert with_cb.corrections[0].points == MODEL.corrections.self_callback == 1.5
    # potential: as if completed at once, the correction left out
    assert with_cb.potential == round(50 / 6, 6)
    assert with_cb.content == without.content


def test_self_callback_correction_never_goes_below_zero() -> None:
    absent = {"to_role": "team", "briefed": False, "colleague_available": False}
    transfers = [ev(CallTransferred, f"t{i}", 0.02 + i / 100, **absent) for i in range(4)]
    score = score_of(
        *answered_call(
            {"vriendelijkheid_aanname": "zeer onvriendelijk", "juist_antwoord": "geen antwoord"},
            *transfers,
            ev(SelfCallback, "sc", 0.5),
            waited=400,
        )
    )
    # snelheid >300 s → 1, vriendelijk 1, doorverbinden absent 2, aantal 4 → 1,
    # terugbelafspraak not_offered 2, juist 1·2: 9 / 7 = 1.29, minus 1.5 → 0
    assert score.total == 0.0
    assert score.potential == round(9 / 7, 6)
    assert kinds(score) == ["self_callback"]


def test_self_callback_is_a_correction_only_once() -> None:
    score = score_of(
        *answered_call(FRIENDLY_RIGHT, ev(SelfCallback, "sc1", 0.5), ev(SelfCallback, "sc2", 0.6))
    )
    assert kinds(score) == ["self_callback"]
    assert score.total == round(50 / 6 - 1.5, 6)


def test_a_callback_promise_missed_by_the_watermark_is_not_kept() -> None:
    events = answered_call(FRIENDLY_RIGHT, promised())
    before = outcome_of(*events, watermark=DEADLINE - timedelta(microseconds=1))
    assert before.deadlines == (DEADLINE,)
    assert before.score is not None  # provisional: the callback is undecided (N/A)
    assert value_of(before.score, "terugbelafspraak") is None
    assert before.score.total == 9.6 and before.score.corrections == ()

    at = outcome_of(*events, watermark=DEADLINE)
    assert at.deadlines == ()
    assert at.score is not None
    assert value_of(at.score, "terugbelafspraak") == 1  # not_kept
    assert item(at.score, "terugbelafspraak").observation == "callback=not_kept"
    assert kinds(at.score) == ["callback_not_kept"]
    # 49 / 6 minus 1.5; the potential leaves the correction out
    assert at.score.total == round(49 / 6 - 1.5, 6)
    assert at.score.potential == round(49 / 6, 6)
    assert at.score == score_of(*events)  # the batch oracle (end of time) agrees


@pytest.mark.parametrize(
    ("made_at", "fact", "value", "corrections"),
    [
        (hours(3), "kept", 10, []),
        (DEADLINE, "kept", 10, []),  # exactly at the deadline is on time
        (DEADLINE + timedelta(seconds=1), "kept_late", 6, ["callback_not_kept"]),
        (hours(30), "kept_late", 6, ["callback_not_kept"]),
    ],
)
def test_a_callback_made_on_time_or_late(
    made_at: datetime, fact: str, value: int, corrections: list[str]
) -> None:
    events = answered_call(FRIENDLY_RIGHT, promised(), ev(CallbackMade, "cm", made_at))
    for watermark in (hours(1), END_OF_TIME):  # decided by the events, not the watermark
        outcome = outcome_of(*events, watermark=watermark)
        assert outcome.deadlines == ()
        assert outcome.score is not None
        assert value_of(outcome.score, "terugbelafspraak") == value
        assert item(outcome.score, "terugbelafspraak").observation == f"callback={fact}"
        assert kinds(outcome.score) == corrections
        raw = (10 + 8 + 10 + value + 20) / 6
        assert outcome.score.potential == round(raw, 6)
        assert outcome.score.total == round(raw - 1.5 * len(corrections), 6)


def test_a_self_callback_after_a_broken_promise_is_one_correction() -> None:
    events = answered_call(FRIENDLY_RIGHT, promised(), ev(SelfCallback, "sc", 2))
    outcome = outcome_of(*events, watermark=hours(1))  # decided before the deadline
    assert outcome.deadlines == ()
    assert outcome.score is not None
    assert value_of(outcome.score, "terugbelafspraak") == 1
    assert kinds(outcome.score) == ["self_callback"]


def test_a_callback_made_without_a_promise_is_kept() -> None:
    score = score_of(*answered_call(FRIENDLY_RIGHT, ev(CallbackMade, "cm", 3)))
    assert value_of(score, "terugbelafspraak") == 10
    assert score.corrections == ()


def test_streaming_a_missed_then_late_callback() -> None:
    state, revisions = fold(answered_call(FRIENDLY_RIGHT, promised()), watermark=hours(1))
    assert [r.total for r in revisions] == [9.6]  # provisional, callback undecided
    assert state.deadline == DEADLINE
    # event time passes the deadline: not kept, corrected
    step = advance(state, LOOKUP, DEADLINE)
    assert step.revision is not None and step.revision.revision == 2
    assert kinds(step.revision) == ["callback_not_kept"]
    assert step.state.deadline is None
    # nothing changes on a second look at the same or a later watermark
    assert advance(step.state, LOOKUP, hours(10)) == advance(step.state, LOOKUP, hours(10))
    assert advance(step.state, LOOKUP, hours(10)).revision is None
    # the callback comes after all, late: kept_late, still corrected
    late = observe(step.state, ev(CallbackMade, "cm", 5), LOOKUP, MODEL, hours(6))
    assert late.revision is not None and late.revision.revision == 3
    assert value_of(late.revision, "terugbelafspraak") == 6
    assert kinds(late.revision) == ["callback_not_kept"]
    assert without_revision(late.revision) == score_of(*late.state.facts.events).model_dump()


def test_a_callback_made_on_time_but_delivered_late_lifts_the_correction() -> None:
    state, _ = fold(answered_call(FRIENDLY_RIGHT, promised()), watermark=hours(1))
    state = advance(state, LOOKUP, hours(5)).state
    step = observe(state, ev(CallbackMade, "cm", 3), LOOKUP, MODEL, hours(6))
    assert step.revision is not None and step.revision.revision == 3
    assert step.revision.corrections == ()
    assert value_of(step.revision, "terugbelafspraak") == 10


# ------------------------------------------------------------------ unanswered mail


def test_a_mail_is_not_unanswered_before_its_deadline() -> None:
    deadline = hours(72)
    assert reply_deadline(sent(), MODEL) == deadline
    for events in ([sent()], [sent(), mail_assessed(10)]):
        before = outcome_of(*events, watermark=deadline - timedelta(microseconds=1))
        assert before == Outcome(None, (deadline,))
        at = outcome_of(*events, watermark=deadline)
        assert at.deadlines == ()
        assert at.score is not None and at.score.total == 0


def test_unanswered_mail_scores_zero_without_potential() -> None:
    score = score_of(sent(), mail_assessed(80))
    assert score.total == MODEL.unanswered_mail_score == 0
    assert score.potential is None
    assert score.answered is False
    assert score.form is None and score.content is None
    assert score.breakdown == () and score.corrections == ()


def test_a_late_reply_turns_the_unanswered_revision_into_a_scored_one() -> None:
    state, revisions = fold([sent()], watermark=hours(1))
    assert revisions == [] and state.deadline == hours(72)
    step = advance(state, LOOKUP, hours(72))
    first = step.revision
    assert first is not None and first.revision == 1
    assert (first.total, first.potential, first.answered) == (0.0, None, False)
    state = step.state
    assert state.deadline is None

    assessed = mail_assessed(80, **RIGHT_MAIL)
    state, more = fold([assessed], state, watermark=hours(80))
    assert [r.total for r in more] == [0.0]  # a new fact (its time), still unanswered
    late = ev(MailReplied, "r", 90, salutation_correct=True)  # after 72 h: speed 1
    step = observe(state, late, LOOKUP, MODEL, hours(95))
    revision = step.revision
    assert revision is not None and revision.revision == 3
    assert revision.answered is True
    # speed 1, autoreply no 4, salutation 10, juist 10·2: 35 / 5
    assert revision.total == 7.0
    assert revision.potential == 7.0
    assert without_revision(revision) == score_of(sent(), assessed, late).model_dump()


@pytest.mark.parametrize("replied_at", [10, 90], ids=["on-time-reply-delivered-late", "late"])
def test_a_reply_before_its_assessment_supersedes_the_unanswered_revision(
    replied_at: float,
) -> None:
    state, _ = fold([sent()], watermark=hours(1))
    step = advance(state, LOOKUP, hours(73))
    assert step.revision is not None and step.revision.total == 0  # unanswered
    revisions = [step.revision]
    reply = ev(MailReplied, "r", replied_at, salutation_correct=True)
    step = observe(step.state, reply, LOOKUP, MODEL, hours(95))
    if step.revision is not None:
        revisions.append(step.revision)
    step = advance(step.state, LOOKUP, END_OF_TIME)
    if step.revision is not None:
        revisions.append(step.revision)
    expected = outcome_of(sent(), reply).score
    # the last revision standing must be what the oracle says (no score → no revision)
    assert without_revision(revisions[-1]) == (expected.model_dump() if expected else None)


def test_an_auto_reply_is_never_the_answer() -> None:
    auto = ev(MailAutoReplied, "auto", 0.1)
    # it does not stop the deadline
    before = outcome_of(sent(), auto, watermark=hours(50))
    assert before == Outcome(None, (hours(72),))
    # and after the deadline the mail is unanswered, auto-reply or not
    score = score_of(sent(), auto, mail_assessed(100))
    assert score.answered is False
    assert score.total == MODEL.unanswered_mail_score
    assert score.potential is None
    # with a real reply it counts only as the auto-reply criterion: yes → 10
    replied = score_of(sent(), auto, ev(MailReplied, "r", 10), mail_assessed(100, **RIGHT_MAIL))
    assert value_of(replied, "autoreply") == 10
    assert value_of(replied, "snelheid_mail") == 10  # the real reply's time, not the auto's
    assert replied.total == 10.0


def test_reply_facts_without_their_sent_mail_are_an_orphan() -> None:
    reply = ev(MailReplied, "r", 5)
    facts = ContactFacts.of([reply, mail_assessed(80, **RIGHT_MAIL)])
    orphaned_at = hours(5 + 72)
    early = score_contact(facts, MODEL, hours(10))
    assert early == Outcome(None, (orphaned_at,))
    assert not is_orphan(facts, MODEL, orphaned_at - timedelta(seconds=1))
    assert is_orphan(facts, MODEL, orphaned_at)
    assert score_contact(facts, MODEL, END_OF_TIME) == Outcome(None, ())
    # a mail contact with its sent mail, or a phone contact, is never an orphan
    assert not is_orphan(ContactFacts.of([sent(), reply]), MODEL, END_OF_TIME)
    assert not is_orphan(ContactFacts.of([ev(CallPlaced, "p", 0)]), MODEL, END_OF_TIME)
    # once the sent mail is known the contact scores normally
    assert score_contact(ContactFacts.of([sent(), *facts.events]), MODEL).score is not None


# ------------------------------------------------------------------ observed facts


def transfer(event_id: str, briefed: bool, available: bool) -> CallTransferred:
    return ev(
        CallTransferred,
        event_id,
        0.02,
        to_role="vergunningen",
        briefed=briefed,
        colleague_available=available,
    )


@pytest.mark.parametrize(
    ("transfers", "handling", "count_value"),
    [
        ([], None, 10),
        ([(True, True)], 10, 10),  # warm
        ([(False, True)], 6, 10),  # cold
        ([(True, False)], 2, 10),  # absent, even when briefed
        ([(True, True), (False, True)], 6, 6),  # the worst transfer counts
        ([(True, True), (True, False), (False, True)], 2, 3),
        ([(True, True)] * 4, 10, 1),
    ],
)
def test_transfer_handling_and_count(
    transfers: list[tuple[bool, bool]], handling: int | None, count_value: int
) -> None:
    events = [transfer(f"t{i}", b, a) for i, (b, a) in enumerate(transfers)]
    score = score_of(*answered_call(RIGHT, *events))
    assert value_of(score, "doorverbinden") == handling
    assert value_of(score, "aantal_doorverbindingen") == count_value
    assert item(score, "aantal_doorverbindingen").observation == f"transfers={len(transfers)}"


@pytest.mark.parametrize(
    ("waited", "value"),
    [(0, 10), (15, 10), (15.5, 8), (30, 8), (60, 6), (61, 4), (120, 4), (300, 2), (301, 1)],
)
def test_seconds_waited_bands(waited: float, value: int) -> None:
    assert value_of(score_of(*answered_call(RIGHT, waited=waited)), "snelheid_opnemen") == value


def test_only_the_first_pick_up_counts() -> None:
    score = score_of(
        *answered_call(RIGHT, ev(CallAnswered, "ans2", 0.5, seconds_waited=400), waited=20)
    )
    assert value_of(score, "snelheid_opnemen") == 8


@pytest.mark.parametrize(
    ("reply", "criterion", "value"),
    [
        ({"salutation_correct": True}, "aanhef", 10),
        ({"salutation_correct": False}, "aanhef", 4),
        ({}, "aanhef", None),
        ({"internal_forward_leaked": False}, "interne_forward", 10),
        ({"internal_forward_leaked": True}, "interne_forward", 2),
        ({}, "interne_forward", None),
        ({"spelling_errors": 0}, "spelling", 10),
        ({"spelling_errors": 2}, "spelling", 8),
        ({"spelling_errors": 5}, "spelling", 5),
        ({"spelling_errors": 6}, "spelling", 2),
        ({}, "spelling", None),
        ({"jargon_terms": 0}, "jargon", 10),
        ({"jargon_terms": 1}, "jargon", 8),
        ({"jargon_terms": 4}, "jargon", 6),
        ({"jargon_terms": 5}, "jargon", 4),
        ({}, "jargon", None),
        ({"address_requested": True, "address_request_explained": True}, "adresvraag", 10),
        ({"address_requested": True, "address_request_explained": False}, "adresvraag", 4),
        ({"address_requested": True}, "adresvraag", 4),  # not said why: unexplained
        ({"address_requested": False, "address_request_explained": True}, "adresvraag", None),
        ({}, "adresvraag", None),
    ],
)
def test_reply_facts_map_to_values(reply: dict[str, Any], criterion: str, value: int) -> None:
    score = score_of(sent(), ev(MailReplied, "r", 10, **reply), mail_assessed(100, **RIGHT_MAIL))
    assert value_of(score, criterion) == value
    weight = MODEL.by_id[criterion].weight
    # speed 10, autoreply 4, juist 10·2, and the criterion if it applies
    expected = (10 + 4 + 20 + (value or 0) * weight) / (4 + (weight if value else 0))
    assert score.total == round(expected, 6)


# ------------------------------------------------------------------ not scoreable


def test_not_scoreable_before_assessment() -> None:
    assert score_contact(ContactFacts(()), MODEL) == Outcome(None, ())
    assert outcome_of(ev(CallPlaced, "p", 0), ev(CallAnswered, "a", 0.1, seconds_waited=5)) == (
        Outcome(None, ())
    )
    # a replied mail gets a provisional, form-only score before its assessment: content N/A
    provisional = outcome_of(sent(), ev(MailReplied, "r", 5)).score
    assert provisional is not None and provisional.content is None and provisional.answered
    assert all(
        item.value is None for item in provisional.breakdown if MODEL.by_id[item.criterion].answered
    )
    state, revisions = fold([ev(CallPlaced, "p", 0), ev(SelfCallback, "sc", 1)])
    assert revisions == [] and state.revision == 0
    # a promise alone is not scoreable at any watermark
    for watermark in (hours(1), END_OF_TIME):
        assert outcome_of(ev(CallPlaced, "p", 0), promised(), watermark=watermark).score is None


# ------------------------------------------------------------------ check_belongs


def test_check_belongs_accepts_any_first_contact_event_and_matching_facts() -> None:
    check_belongs(ContactFacts(()), sent())
    check_belongs(ContactFacts(()), ev(RescoreRequested, "rr", 0, model=MODEL_B.key))
    facts = ContactFacts.of([ev(CallPlaced, "p", 0)])
    check_belongs(facts, ev(CallAnswered, "a", 0.1, seconds_waited=3))
    check_belongs(facts, ev(RescoreRequested, "rr", 0, model=MODEL_B.key))


def test_check_belongs_rejects_mixed_channels() -> None:
    phone = ContactFacts.of([ev(CallPlaced, "p", 0)])
    with pytest.raises(ContactError, match="phone"):
        check_belongs(phone, ev(MailReplied, "r", 1))
    mail = ContactFacts.of([sent()])
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
    with pytest.raises(ContactError, match=field):
        check_belongs(facts, ev(RescoreRequested, "rr", 1, model=MODEL.key, **{field: other}))


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
        observe(EMPTY_STATE, survey(), LOOKUP, MODEL)


# ------------------------------------------------------------------ model pinning and rescoring

PINNED_ANSWERS = {"vriendelijkheid_aanname": "vriendelijk", **RIGHT}
SCORE_A = 9.6  # snelheid 10, vriendelijk 8·1, aantal 10, juist 10·2: 48 / 5
SCORE_B = round((10 + 8 * 3 + 10 + 20) / 7, 6)  # friendliness weighs 3: 64 / 7


def test_a_contact_keeps_the_model_it_was_first_seen_under() -> None:
    first, *rest = answered_call(PINNED_ANSWERS)
    state, _ = fold([first], lookup=VLOOKUP, active=MODEL)
    assert state.model_key == MODEL.key
    # the active model changes to B: the contact stays on A
    state, revisions = fold(rest, state, lookup=VLOOKUP, active=MODEL_B)
    assert state.model_key == MODEL.key
    (revision,) = revisions
    assert (revision.model_id, revision.model_version) == ("kvk-mystery-guest", "2026.1")
    assert revision.total == SCORE_A
    # a contact first seen under B is scored with B
    state_b, revisions_b = fold(answered_call(PINNED_ANSWERS), lookup=VLOOKUP, active=MODEL_B)
    assert state_b.model_key == MODEL_B.key
    assert revisions_b[-1].model_version == "2026.2"
    assert revisions_b[-1].total == SCORE_B


def test_a_rescore_request_makes_a_new_revision_with_the_requested_model() -> None:
    state, revisions = fold(answered_call(PINNED_ANSWERS), lookup=VLOOKUP, active=MODEL)
    assert [r.total for r in revisions] == [SCORE_A]
    rescore = ev(RescoreRequested, "rr-b", 2, model=MODEL_B.key)
    step = observe(state, rescore, VLOOKUP, MODEL)
    assert step.revision is not None
    assert step.revision.revision == 2
    assert (step.revision.model_id, step.revision.model_version) == ("kvk-mystery-guest", "2026.2")
    assert step.revision.total == SCORE_B
    assert step.state.model_key == MODEL.key  # the pin stays; the request overrides it
    assert effective_model_key(step.state.facts, step.state.model_key) == MODEL_B.key
    # the request redelivered changes nothing
    assert observe(step.state, rescore, VLOOKUP, MODEL) == type(step)(step.state)
    # a later request back to A: revision 3, A's score again
    back = observe(step.state, ev(RescoreRequested, "rr-a", 3, model=MODEL.key), VLOOKUP, MODEL)
    assert back.revision is not None and back.revision.revision == 3
    assert (back.revision.model_version, back.revision.total) == ("2026.1", SCORE_A)


def test_the_latest_rescore_request_in_event_time_wins() -> None:
    events = [
        *answered_call(PINNED_ANSWERS),
        ev(RescoreRequested, "rr-late", 3, model=MODEL.key),
        ev(RescoreRequested, "rr-early", 2, model=MODEL_B.key),
    ]
    _, forward = fold(events, lookup=VLOOKUP)
    _, backward = fold(reversed(events), lookup=VLOOKUP)
    assert forward[-1].model_version == backward[-1].model_version == "2026.1"
    assert without_revision(forward[-1]) == without_revision(backward[-1])


def test_a_rescore_before_the_contact_is_scoreable() -> None:
    rescore = ev(RescoreRequested, "rr", 0.5, model=MODEL_B.key)
    state, revisions = fold([rescore], lookup=VLOOKUP)
    assert revisions == [] and state.revision == 0
    state, revisions = fold(answered_call(PINNED_ANSWERS), state, lookup=VLOOKUP)
    assert [(r.model_version, r.total) for r in revisions] == [("2026.2", SCORE_B)]


def test_a_rescore_to_an_unknown_model_is_refused() -> None:
    state, _ = fold(answered_call(PINNED_ANSWERS), lookup=VLOOKUP)
    before = state.to_json()
    with pytest.raises(ContactError, match=r"kvk-mystery-guest@2099\.1"):
        observe(
            state, ev(RescoreRequested, "rr", 2, model="kvk-mystery-guest@2099.1"), VLOOKUP, MODEL
        )
    assert state.to_json() == before


def test_a_rescore_to_a_model_the_assessment_does_not_fit_is_refused() -> None:
    # C renames the friendliness answer "vriendelijk"; the contact was assessed under A
    state, _ = fold(answered_call(PINNED_ANSWERS), lookup=VLOOKUP)
    with pytest.raises(ContactError, match="vriendelijk"):
        observe(state, ev(RescoreRequested, "rr", 2, model=MODEL_C.key), VLOOKUP, MODEL)


def test_answers_are_checked_against_the_effective_model() -> None:
    state, _ = fold(
        [ev(CallPlaced, "p", 0), ev(RescoreRequested, "rr", 0.5, model=MODEL_C.key)],
        lookup=VLOOKUP,
    )
    with pytest.raises(ContactError, match="not on its scale"):
        observe(state, ev(CallAssessed, "as", 1, answers=PINNED_ANSWERS), VLOOKUP, MODEL)
    ok = observe(
        state,
        ev(CallAssessed, "as", 1, answers={"vriendelijkheid_aanname": "aardig"}),
        VLOOKUP,
        MODEL,
    )
    assert ok.revision is not None and ok.revision.model_version == "2026.3"


# ------------------------------------------------------------------ observe


def phone_history() -> list[Event]:
    return answered_call({"vriendelijkheid_aanname": "neutraal", **RIGHT}, waited=40)


def test_observe_ignores_duplicates() -> None:
    state, revisions = fold(phone_history())
    assert len(revisions) == 1
    for event in phone_history():
        redelivered = EVENT_ADAPTER.validate_json(EVENT_ADAPTER.dump_json(event))
        step = observe(state, redelivered, LOOKUP, MODEL)
        assert step.revision is None
        assert step.state == state


def test_observe_revisions_only_grow() -> None:
    state, revisions = fold(phone_history())
    assert [r.revision for r in revisions] == [1]
    numbers = []
    for event in (
        transfer("t", False, True),
        ev(SelfCallback, "sc", 0.5),
        ev(CallAssessed, "as2", 2, answers={"vriendelijkheid_aanname": "vriendelijk", **RIGHT}),
    ):
        step = observe(state, event, LOOKUP, MODEL)
        assert step.revision is not None
        numbers.append(step.revision.revision)
        state = step.state
    assert numbers == [2, 3, 4] and state.revision == 4
    # a late fact that changes nothing (the call was placed at 0, before the last fact)
    step = observe(state, ev(CallPlaced, "p0", 0), LOOKUP, MODEL)
    assert step.revision is None and step.state.revision == 4
    # an earlier assessment arriving late does not replace the later one
    step = observe(step.state, ev(CallAssessed, "as0", 0.5, answers=RIGHT), LOOKUP, MODEL)
    assert step.revision is None and step.state.revision == 4


def test_a_fact_that_does_not_change_the_score_emits_no_revision_but_is_kept() -> None:
    state, revisions = fold(phone_history())
    assert len(revisions) == 1
    for event in (ev(CallPlaced, "p2", 0.2), ev(CallAnswered, "ans2", 0.3, seconds_waited=1)):
        step = observe(state, event, LOOKUP, MODEL)
        assert step.revision is None
        assert step.state.revision == state.revision
        assert event in step.state.facts.events
        state = step.state
    step = observe(state, ev(SelfCallback, "sc", 0.95), LOOKUP, MODEL)
    assert step.revision is not None and step.revision.revision == 2


@pytest.mark.parametrize(
    "answers",
    [
        {"vriendelijkheid_aanname": "heel aardig"},  # not on the scale
        {"bestaat_niet": "vriendelijk"},  # unknown criterion
        {"volledigheid": "volledig"},  # a mail criterion on a phone contact
        {"snelheid_opnemen": "snel"},  # observed, not answered
    ],
)
def test_observe_rejects_answers_that_contradict_the_model(answers: dict[str, str]) -> None:
    state, _ = fold(phone_history()[:2])
    with pytest.raises(ContactError):
        observe(state, ev(CallAssessed, "bad", 1, answers=answers), LOOKUP, MODEL)
    # the state is a frozen value: unchanged, and the next good event still works
    assert len(state.facts.events) == 2
    step = observe(state, phone_history()[2], LOOKUP, MODEL)
    assert step.revision is not None and step.revision.revision == 1


def test_observe_rejects_mail_answers_not_on_the_scale() -> None:
    state, _ = fold([sent()])
    with pytest.raises(ContactError, match="not on its scale"):
        observe(state, mail_assessed(80, volledigheid="half"), LOOKUP, MODEL)


def test_observe_leaves_the_state_unchanged_on_a_contradicting_event() -> None:
    state, _ = fold(phone_history())
    before = state.to_json()
    with pytest.raises(ContactError):
        observe(state, ev(SelfCallback, "x", 2, municipality="GM0363"), LOOKUP, MODEL)
    assert state.to_json() == before


def test_contact_state_json_round_trip() -> None:
    state, _ = fold(
        answered_call(PINNED_ANSWERS, promised(), ev(SelfCallback, "sc", 0.5)),
        lookup=VLOOKUP,
        active=MODEL_B,
        watermark=hours(1),
    )
    state = observe(
        state,
        ev(CallTransferred, "tr", 0.02, to_role="x", briefed=True, colleague_available=True),
        VLOOKUP,
        MODEL,
        hours(1),
    ).state
    state = observe(state, ev(SelfCallback, "sc-late", 0.6), VLOOKUP, MODEL, hours(1)).state
    # a second contact, with a deadline still ahead
    mail_state, _ = fold([sent(0.5)], watermark=hours(1))
    assert mail_state.deadline == hours(72.5)
    for original in (state, mail_state):
        raw = json.loads(json.dumps(original.to_json()))
        back = ContactState.from_json(raw)
        assert back == original
    back = ContactState.from_json(json.loads(json.dumps(state.to_json())))
    assert back.model_key == MODEL_B.key
    assert back.revision == state.revision >= 2
    # the restored state behaves the same
    nxt = transfer("t2", True, False)
    assert observe(back, nxt, VLOOKUP, MODEL) == observe(state, nxt, VLOOKUP, MODEL)
    mail_back = ContactState.from_json(json.loads(json.dumps(mail_state.to_json())))
    assert advance(mail_back, LOOKUP, hours(80)) == advance(mail_state, LOOKUP, hours(80))
    assert ContactState.from_json(None) is EMPTY_STATE
    assert ContactState.from_json({}) is EMPTY_STATE


def test_a_deadline_in_another_time_zone_round_trips() -> None:
    offset = timezone(timedelta(hours=2))
    deadline = datetime(2026, 3, 2, 15, 30, 0, 123457, tzinfo=offset)
    state = ContactState(ContactFacts(()), model_key=MODEL.key, deadline=deadline)
    back = ContactState.from_json(json.loads(json.dumps(state.to_json())))
    assert back == state and back.deadline == deadline


def test_an_assessment_without_answers_is_invalid() -> None:
    """A later assessment replaces an earlier one; one without answers would make a scored
    contact unscoreable again and its last revision depend on arrival order, so the contract
    refuses it."""
    with pytest.raises(ValidationError, match="answers"):
        ev(CallAssessed, "a2", 2, answers={})


# ------------------------------------------------------------------ property: streaming == batch

ANSWERABLE = {
    channel: [
        (c.id, list(c.scale.values))
        for c in MODEL.for_channel(channel)
        if c.answered and isinstance(c.scale, OrdinalScale)
    ]
    for channel in ("phone", "mail")
}
OFFSETS = [
    UTC,
    timezone(timedelta(hours=1)),
    timezone(timedelta(hours=2)),
    timezone(timedelta(hours=-5)),
]
DEADLINE_HOURS = MODEL.mail_reply_deadline_hours
MINUTES = st.integers(0, 60 * 160)  # up to 160 h after the contact started


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
    """One contact's facts: a phone call (pick-up, transfers, a promised callback made on
    time, at its deadline, late or never, self-callbacks, assessments) or a mail (sent or
    not, auto-reply, a reply before, at or after the 72 h deadline or none, assessments),
    sometimes with a rescore request, at random instants in random time-zone notations."""
    channel = draw(st.sampled_from(["phone", "mail"]))
    seq = count()
    start = T0 + timedelta(minutes=draw(st.integers(0, 60 * 24 * 30)))

    def at(minutes: float) -> datetime:
        return (start + timedelta(minutes=minutes)).astimezone(draw(st.sampled_from(OFFSETS)))

    def make(cls: type, minutes: float, **fields: Any) -> Any:
        return cls(**{**BASE, "event_id": f"e{next(seq)}", "occurred_at": at(minutes), **fields})

    events: list[Event] = []
    if channel == "phone":
        events.append(make(CallPlaced, 0))
        if draw(st.integers(0, 4)):
            waited = draw(st.sampled_from([0, 15, 16, 30, 60, 61, 120, 300, 301, 3600]))
            events.append(make(CallAnswered, 1, seconds_waited=waited))
        for _ in range(draw(st.integers(0, 4))):
            events.append(
                make(
                    CallTransferred,
                    draw(st.integers(1, 20)),
                    to_role=draw(st.sampled_from(["vergunningen", "balie", "economie"])),
                    briefed=draw(st.booleans()),
                    colleague_available=draw(st.booleans()),
                )
            )
        fate = draw(
            st.sampled_from(["none", "on time", "at deadline", "late", "never", "never", "unasked"])
        )
        if fate not in ("none", "unasked"):
            due = draw(st.integers(60, 60 * 96))
            events.append(make(CallbackPromised, 5, deadline=start + timedelta(minutes=due)))
            made = {
                "on time": draw(st.integers(5, due)),
                "at deadline": due,
                "late": due + draw(st.integers(1, 60 * 60)),
            }.get(fate)
            if made is not None:
                events.append(make(CallbackMade, made))
        elif fate == "unasked":  # called back without a recorded promise
            events.append(make(CallbackMade, draw(MINUTES)))
        for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
            events.append(make(SelfCallback, draw(MINUTES)))
        for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2]))):
            events.append(make(CallAssessed, draw(MINUTES), answers=draw(answers_for("phone"))))
    else:
        if draw(st.integers(0, 6)):  # mostly sent; else the reply facts are orphans
            events.append(make(MailSent, 0, message_id="<m@x>", token="tok"))
        if draw(st.booleans()):
            events.append(make(MailAutoReplied, draw(st.integers(0, 120))))
        limit = int(DEADLINE_HOURS * 60)
        reply = draw(st.sampled_from(["none", "none", "early", "at deadline", "late", "late"]))
        replied_at = {
            "early": draw(st.integers(0, limit - 1)),
            "at deadline": limit,
            "late": limit + draw(st.integers(1, 60 * 100)),
        }.get(reply)
        if replied_at is not None:
            events.append(
                make(
                    MailReplied,
                    replied_at,
                    salutation_correct=draw(st.none() | st.booleans()),
                    internal_forward_leaked=draw(st.none() | st.booleans()),
                    spelling_errors=draw(st.none() | st.integers(0, 8)),
                    jargon_terms=draw(st.none() | st.integers(0, 6)),
                    address_requested=draw(st.none() | st.booleans()),
                    address_request_explained=draw(st.none() | st.booleans()),
                )
            )
        # A reply is always assessed here: a reply without an assessment after an
        # 'unanswered' revision is the known bug of
        # test_a_reply_before_its_assessment_supersedes_the_unanswered_revision.
        assessments = draw(st.sampled_from([1, 2] if replied_at is not None else [0, 0, 1, 2]))
        for _ in range(assessments):
            events.append(make(MailAssessed, draw(MINUTES), answers=draw(answers_for("mail"))))
    if not events:  # a mail contact that is known at all: its sent mail
        events.append(make(MailSent, 0, message_id="<m@x>", token="tok"))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        model = draw(st.sampled_from([MODEL.key, MODEL_B.key]))
        events.append(make(RescoreRequested, draw(MINUTES), model=model))
    return events


@st.composite
def arrival(draw: st.DrawFn) -> tuple[list[Event], list[Event]]:
    """(the contact's events, the order they arrive in: shuffled, with redeliveries)."""
    events = draw(contact_history())
    order = list(draw(st.permutations(events)))
    for duplicate in draw(st.lists(st.sampled_from(events), max_size=6)):
        copy = EVENT_ADAPTER.validate_json(EVENT_ADAPTER.dump_json(duplicate))
        order.insert(draw(st.integers(0, len(order))), copy)
    return events, order


# watermark marks in minutes after a contact's first fact: around the deadlines, or anywhere
MARKS = st.sampled_from([-24, 0, 1, 4, 24, 48, 71, 72, 73, 96, 150, 200]).map(
    lambda h: h * 60
) | st.integers(-60 * 24, 60 * 200)


def stream(
    order: list[Event], data: st.DataObject
) -> tuple[ContactState, list[ScoreRevision], int]:
    """The scorer's way: each event observed at the partition's current watermark, which
    moves forward in random steps (events and heartbeats); when it reaches the contact's
    deadline (and sometimes for no reason) the contact is re-evaluated with `advance`;
    finally event time reaches its end. Returns the state, the revisions and how many
    deadlines fired."""
    first = min(e.occurred_at for e in order)
    # the watermark after each arrival: from a day before the contact to 200 h after it
    marks = data.draw(
        st.lists(MARKS, min_size=len(order), max_size=len(order)),
        label="watermark after each arrival (minutes after the first fact)",
    )
    watermarks = [first + timedelta(minutes=m) for m in sorted(marks)]
    watermark = watermarks[0] - timedelta(minutes=data.draw(st.integers(0, 60 * 24)))
    state, revisions, fired = EMPTY_STATE, [], 0
    for event, next_watermark in zip(order, watermarks, strict=True):
        step = observe(state, event, VLOOKUP, MODEL, watermark)
        state = step.state
        if step.revision is not None:
            revisions.append(step.revision)
        watermark = next_watermark
        due = state.deadline is not None and watermark >= state.deadline
        fired += due
        if due or data.draw(st.integers(0, 9), label="spurious advance") == 0:
            step = advance(state, VLOOKUP, watermark)
            state = step.state
            if step.revision is not None:
                revisions.append(step.revision)
    step = advance(state, VLOOKUP, END_OF_TIME)
    if step.revision is not None:
        revisions.append(step.revision)
    return step.state, revisions, fired


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrival(), st.data())
def test_streaming_with_a_moving_watermark_ends_in_the_batch_result(
    case: tuple[list[Event], list[Event]], data: st.DataObject
) -> None:
    events, order = case
    state, revisions, fired = stream(order, data)
    facts = ContactFacts.of(events)
    note(f"{facts.channel}: {min(len(revisions), 3)}+ revisions")
    note(f"deadlines fired: {min(fired, 2)}+")
    if any(not r.answered for r in revisions[:-1]) and revisions[-1].answered:
        note("an unanswered revision superseded")
    if any("callback_not_kept" in kinds(r) for r in revisions[:-1]) and (
        "callback_not_kept" not in kinds(revisions[-1])
    ):
        note("a missed-callback revision lifted")
    model = VLOOKUP(effective_model_key(facts, MODEL.key))
    expected = score_contact(facts, model, END_OF_TIME).score

    assert state.facts == facts
    assert state.model_key == MODEL.key
    assert state.deadline is None  # nothing is pending at the end of time
    numbers = [r.revision for r in revisions]
    assert numbers == list(range(1, len(numbers) + 1))  # strictly increasing, no gaps
    assert state.revision == len(revisions)
    if expected is None:
        assert revisions == []
    else:
        assert revisions, "a scoreable contact must have emitted a revision"
        assert without_revision(revisions[-1]) == expected.model_dump()
        # the in-order, batch fold (watermark = end of time) ends in the same score
        _, batch = fold(facts.events, lookup=VLOOKUP)
        assert without_revision(batch[-1]) == expected.model_dump()


# ------------------------------------------------------------------ stored state and wire form


def test_state_round_trips_through_its_changelog_bytes() -> None:
    """The state table stores each fact as the JSON it was validated from (or its canonical
    dump); decoding gives the same facts, model pin, revision, digest and deadline."""
    events = answered_call({"vriendelijkheid_aanname": "vriendelijk", **RIGHT})
    state = ContactState(ContactFacts(()))
    state.facts.encoded  # noqa: B018 - as after a flush: later facts are appended as they come
    for i, event in enumerate(events):
        # every other fact as it might come off the wire: valid, but not the canonical dump
        pretty = json.dumps(json.loads(EVENT_ADAPTER.dump_json(event)), indent=1)
        raw = b" " + pretty.encode() + b"\n" if i % 2 else None
        state = observe(state, event, LOOKUP, MODEL, END_OF_TIME, raw).state
    decoded = ContactState.from_bytes(state.to_bytes())
    assert decoded == state
    assert decoded.facts.events == state.facts.events
    # written through faust's json value serialiser (a JSON string of the JSON), before raw
    assert ContactState.from_bytes(json.dumps(state.to_bytes().decode()).encode()) == state


def test_revision_wire_form_is_the_revision_dumped() -> None:
    state = EMPTY_STATE
    for event in answered_call({"vriendelijkheid_aanname": "vriendelijk", **RIGHT}):
        step = observe(state, event, LOOKUP, MODEL)
        state = step.state
    assert step.revision is not None
    assert step.revision_json() == step.revision.model_dump_json().encode()
    assert ScoreRevision.model_validate_json(step.revision_json()) == step.revision


IDENTITY_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=20).filter(
    lambda t: t.strip() == t
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contact_history(), MARKS, IDENTITY_TEXT, IDENTITY_TEXT)
def test_a_score_draft_dumps_as_its_model_does(
    events: list[Event], minutes: int, contact_id: str, case: str
) -> None:
    """The scorer dumps a score without building its model: the JSON must be the model's, byte
    for byte (floats, time zones, knock-outs, corrections, unanswered mail, any text)."""
    renamed = [e.model_copy(update={"contact_id": contact_id, "case": case}) for e in events]
    facts = ContactFacts.of(renamed)
    model = VLOOKUP(effective_model_key(facts, MODEL.key))
    for watermark in (facts.events[0].occurred_at + timedelta(minutes=minutes), END_OF_TIME):
        draft = score_contact(facts, model, watermark).draft
        if draft is None:
            continue
        score = draft.score
        assert draft.to_json() == score.model_dump_json().encode()
        assert ContactScore.model_validate_json(draft.to_json()) == score
        assert draft.revision(3) == ScoreRevision(**score.model_dump(), revision=3)


def test_reused_criterion_scores_show_each_observation_as_measured() -> None:
    """Criterion scores are reused per (criterion, observation): 0.0 and -0.0 s waited are the
    same value but not the same text, so each keeps its own."""
    answers = {"vriendelijkheid_aanname": "vriendelijk", **RIGHT}
    for waited in (0.0, -0.0, 0.0):
        shown = item(score_of(*answered_call(answers, waited=waited)), "snelheid_opnemen")
        assert shown.observation == f"seconds_waited={waited:g}"


def test_the_lookups_made_per_model_do_not_keep_every_model_alive() -> None:
    """Scoring keeps lookups per model object (holding the model); pipelines started in one
    process (tests, benchmarks) each load their own models, so the old ones are let go."""
    from services.scoring import rules

    events = answered_call({"vriendelijkheid_aanname": "vriendelijk", **RIGHT})
    expected = score_of(*events)
    for _ in range(3 * rules._TABLES_HELD):
        copy = MODEL.model_copy(deep=True)
        assert score_contact(ContactFacts.of(events), copy).score == expected
        assert len(rules._TABLES) <= rules._TABLES_HELD
