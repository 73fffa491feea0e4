"""The batch oracle on a small hand-made event log, checked against figures worked out by hand.

Utrecht (GM0344, Chamber midden-nederland) and Amsterdam (GM0363, Chamber amsterdam):

- P1, GM0344, phone: answered in 10 s (10); zeer vriendelijk 10, volledig juist 10·2,
  redelijk deskundig 6 → 46/5 = total 9.2, potential 9.2.
- P2, GM0344, phone: answered in 45 s (6); neutraal 4, deels juist 5·2 → 20/4 = 5.0;
  self-callback −1.5 → total 3.5, potential 5.0.
- M3, GM0344, mail: reply after 50 h (4); grotendeels juist 7·2 → 18/3 = total 6.0.
- M1, GM0363, mail: reply after 20 h (10), correct salutation (10); onjuist 2·2, volledig 10
  → 34/5 = total 6.8.
- M2, GM0363, mail: sent, assessed, never answered → total 0, no potential.

Plus: P1's assessment delivered twice, a P1 fact claiming Amsterdam (a contradiction, listed
and not applied) and a survey response (not a contact: skipped).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from schemas.benchmarks import NATION_ID, Figures
from schemas.events import (
    CallAnswered,
    CallAssessed,
    CallPlaced,
    Event,
    MailAssessed,
    MailReplied,
    MailSent,
    SelfCallback,
    SurveyResponse,
)
from schemas.reference import ReferenceData
from services.recompute import recompute
from services.scoring.model import DEFAULT_MODEL

REFERENCE = ReferenceData.load()
T0 = datetime(2026, 3, 2, 9, tzinfo=timezone(timedelta(hours=1)))
UTRECHT, AMSTERDAM = "GM0344", "GM0363"


def ev(cls: type, event_id: str, contact: str, municipality: str, hours: float, **f: Any) -> Any:
    return cls(
        event_id=event_id,
        contact_id=contact,
        municipality=municipality,
        campaign="mg-2026",
        wave=1,
        case="standplaatsvergunning",
        occurred_at=T0 + timedelta(hours=hours),
        **f,
    )


def sent(event_id: str, contact: str, municipality: str) -> MailSent:
    return ev(
        MailSent, event_id, contact, municipality, 0, message_id=f"<{contact}@x>", token=contact
    )


P1_ASSESSED = ev(
    CallAssessed,
    "p1-as",
    "P1",
    UTRECHT,
    1,
    answers={
        "vriendelijkheid_aanname": "zeer vriendelijk",
        "juist_antwoord": "volledig juist",
        "deskundige_indruk": "redelijk deskundig",
    },
)

LOG: list[Event] = [
    ev(CallPlaced, "p1-pl", "P1", UTRECHT, 0),
    ev(CallAnswered, "p1-an", "P1", UTRECHT, 0.01, seconds_waited=10),
    sent("m1-se", "M1", AMSTERDAM),
    P1_ASSESSED,
    ev(SelfCallback, "p1-wrong", "P1", AMSTERDAM, 0.5),  # contradicts P1's municipality
    ev(CallPlaced, "p2-pl", "P2", UTRECHT, 2),
    ev(CallAnswered, "p2-an", "P2", UTRECHT, 2.01, seconds_waited=45),
    ev(SelfCallback, "p2-sc", "P2", UTRECHT, 3),
    ev(
        CallAssessed,
        "p2-as",
        "P2",
        UTRECHT,
        4,
        answers={"vriendelijkheid_aanname": "neutraal", "juist_antwoord": "deels juist"},
    ),
    P1_ASSESSED,  # redelivered
    sent("m2-se", "M2", AMSTERDAM),
    sent("m3-se", "M3", UTRECHT),
    ev(MailReplied, "m1-re", "M1", AMSTERDAM, 20, salutation_correct=True),
    ev(MailReplied, "m3-re", "M3", UTRECHT, 50),
    ev(
        SurveyResponse,
        "kto-1",
        "K1",
        UTRECHT,
        30,
        survey_channel="counter",
        totaaloordeel=8,
        effort=1,
        hostmanship=(8, 8, 8, 8, 8, 8),
    ),
    ev(
        MailAssessed,
        "m1-as",
        "M1",
        AMSTERDAM,
        80,
        answers={"juist_antwoord_mail": "onjuist", "volledigheid": "volledig"},
    ),
    ev(MailAssessed, "m2-as", "M2", AMSTERDAM, 80),
    ev(
        MailAssessed,
        "m3-as",
        "M3",
        UTRECHT,
        80,
        answers={"juist_antwoord_mail": "grotendeels juist"},
    ),
]


@pytest.fixture(scope="module")
def result():
    return recompute(LOG, DEFAULT_MODEL, REFERENCE)


def test_contact_totals(result) -> None:
    scores = result.scores
    assert set(scores) == {"P1", "P2", "M1", "M2", "M3"}
    assert {c: s.total for c, s in scores.items()} == {
        "P1": 9.2,
        "P2": 3.5,
        "M3": 6.0,
        "M1": 6.8,
        "M2": 0.0,
    }
    assert {c: s.potential for c, s in scores.items()} == {
        "P1": 9.2,
        "P2": 5.0,
        "M3": 6.0,
        "M1": 6.8,
        "M2": None,
    }
    assert scores["P2"].corrections[0].kind == "self_callback"
    assert scores["M2"].answered is False
    assert {c: s.municipality for c, s in scores.items()} == {
        "P1": UTRECHT,
        "P2": UTRECHT,
        "M3": UTRECHT,
        "M1": AMSTERDAM,
        "M2": AMSTERDAM,
    }
    # P1: one revision only (the duplicate and the contradiction changed nothing)
    assert scores["P1"].revision == 1
    assert all(s.model_version == DEFAULT_MODEL.version for s in scores.values())


def test_contradictions_are_listed_not_applied(result) -> None:
    assert len(result.contradictions) == 1
    (line,) = result.contradictions
    assert line.startswith("p1-wrong: ")
    assert "municipality" in line and AMSTERDAM in line
    assert result.scores["P1"].corrections == ()


def figs(n, mean, low, high, pn, pmean) -> Figures:
    return Figures(n=n, mean=mean, min=low, max=high, potential_n=pn, potential_mean=pmean)


def assert_figures(actual: Figures, expected: Figures) -> None:
    assert actual.n == expected.n
    assert actual.potential_n == expected.potential_n
    assert (actual.min, actual.max) == (expected.min, expected.max)
    for got, want in (
        (actual.mean, expected.mean),
        (actual.potential_mean, expected.potential_mean),
    ):
        if want is None:
            assert got is None
        else:
            assert got == pytest.approx(want)


NONE = figs(0, None, None, None, 0, None)
EXPECTED = {
    ("municipality", UTRECHT): {
        "all": figs(3, 18.7 / 3, 3.5, 9.2, 3, 20.2 / 3),
        "channel=phone": figs(2, 6.35, 3.5, 9.2, 2, 7.1),
        "channel=mail": figs(1, 6.0, 6.0, 6.0, 1, 6.0),
    },
    ("municipality", AMSTERDAM): {
        "all": figs(2, 3.4, 0.0, 6.8, 1, 6.8),
        "channel=phone": NONE,
        "channel=mail": figs(2, 3.4, 0.0, 6.8, 1, 6.8),
    },
    ("nation", NATION_ID): {
        "all": figs(5, 5.1, 0.0, 9.2, 4, 6.75),
        "channel=phone": figs(2, 6.35, 3.5, 9.2, 2, 7.1),
        "channel=mail": figs(3, 12.8 / 3, 0.0, 6.8, 2, 6.4),
    },
}
EXPECTED["chamber", "midden-nederland"] = EXPECTED["municipality", UTRECHT]
EXPECTED["chamber", "amsterdam"] = EXPECTED["municipality", AMSTERDAM]


def test_benchmark_scopes(result) -> None:
    assert [(b.scope_kind, b.scope_id) for b in result.benchmarks] == [
        ("municipality", UTRECHT),
        ("municipality", AMSTERDAM),
        ("chamber", "amsterdam"),
        ("chamber", "midden-nederland"),
        ("nation", NATION_ID),
    ]
    assert result.benchmark("municipality", UTRECHT).name == "Utrecht"
    assert result.benchmark("chamber", "amsterdam").name == REFERENCE.chambers["amsterdam"].name
    assert result.benchmark("nation", NATION_ID).name == "Nederland"
    assert all(b.version == 1 for b in result.benchmarks)


@pytest.mark.parametrize("scope", list(EXPECTED), ids=lambda s: ":".join(s))
def test_benchmark_figures_by_hand(result, scope) -> None:
    breakdowns = result.benchmark(*scope).breakdowns
    assert set(breakdowns) == {"all", "channel=phone", "channel=mail"}
    for key, expected in EXPECTED[scope].items():
        assert_figures(breakdowns[key], expected)


def test_chamber_of_one_municipality_equals_it_exactly(result) -> None:
    assert (
        result.benchmark("chamber", "midden-nederland").breakdowns
        == result.benchmark("municipality", UTRECHT).breakdowns
    )


def test_log_order_and_duplicates_do_not_matter_for_consistent_events() -> None:
    consistent = [e for e in LOG if e.event_id != "p1-wrong"]
    forward = recompute(consistent, DEFAULT_MODEL, REFERENCE)
    backward = recompute(list(reversed(consistent)) + consistent[:5], DEFAULT_MODEL, REFERENCE)
    strip = {c: s.model_dump(exclude={"revision"}) for c, s in forward.scores.items()}
    assert {c: s.model_dump(exclude={"revision"}) for c, s in backward.scores.items()} == strip
    assert forward.benchmarks == backward.benchmarks
    assert forward.contradictions == backward.contradictions == []


def test_to_json(result) -> None:
    out = result.to_json()
    assert [s["contact_id"] for s in out["scores"]] == ["M1", "M2", "M3", "P1", "P2"]
    assert len(out["benchmarks"]) == 5
    assert out["contradictions"] == result.contradictions
