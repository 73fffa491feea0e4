"""The batch oracle on a small hand-made event log, checked against figures worked out by hand
from the default model (`services/scoring/models/kvk-mystery-guest-2026.1.yaml`).

Utrecht (GM0344, Chamber midden-nederland) and Amsterdam (GM0363, Chamber amsterdam).
Phone criteria (weight): snelheid_opnemen (1), vriendelijkheid_aanname (1), doorverbinden (1),
aantal_doorverbindingen (1; 0 or 1 transfer → 10), terugbelafspraak (1), juist_antwoord (2,
critical: below 3 caps at 5.4), volledigheid_telefoon, deskundige_indruk, meedenken (1 each).
Mail: snelheid_mail (1), autoreply (1; none → 4, one → 10), aanhef, interne_forward, spelling,
jargon, adresvraag (1 each, N/A when the reply does not say), juist_antwoord_mail (2,
critical like the phone's), volledigheid, deskundige_indruk_mail, meedenken_mail (1 each).

- P1, GM0344, phone: answered in 10 s → 10; zeer vriendelijk 10; no transfer → aantal 10;
  volledig juist 10·2; weinig deskundig 4 → (10 + 10 + 10 + 20 + 4) / 6 = 54 / 6 = 9.0.
- P2, GM0344, phone: answered in 20 s → 8; neutraal 4; one cold transfer → doorverbinden 6,
  aantal 10; callback promised by +4 h and never made → terugbelafspraak not_kept 1 and the
  callback_not_kept correction −1.5; deels juist 5·2; redelijk deskundig 6
  → (8 + 4 + 6 + 10 + 1 + 10 + 6) / 8 = 45 / 8 = 5.625 = potential; total 5.625 − 1.5 = 4.125.
- P3, GM0363, phone: answered in 5 s → 10; zeer vriendelijk 10; aantal 10; self-callback →
  terugbelafspraak not_offered 2 and the self_callback correction −1.5; onjuist 2·2
  → (10 + 10 + 10 + 2 + 4) / 6 = 36 / 6 = 6.0, capped (critical) at 5.4 = potential;
  total 5.4 − 1.5 = 3.9.
- M1, GM0363, mail: reply after 20 h → 10; no auto-reply → 4; correct salutation 10; onjuist
  2·2; volledig 10 → (10 + 4 + 10 + 4 + 10) / 6 = 38 / 6 = 6.33, capped at 5.4 = total =
  potential.
- M2, GM0363, mail: sent, auto-reply only, assessed, never answered → total 0, no potential.
- M3, GM0344, mail: reply after 50 h → 4; auto-reply → 10; grotendeels juist 7·2
  → (4 + 10 + 14) / 4 = 28 / 4 = 7.0 = potential.

Plus: P1's assessment delivered twice; a P1 fact claiming Amsterdam (a contradiction, listed
and not applied); a reply for mail O1 that was never sent (an orphan, listed); a survey
response (not a contact: skipped); two ingest heartbeats (event time only: ignored).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

import pytest

from schemas.benchmarks import NATION_ID, Figures
from schemas.events import (
    CallAnswered,
    CallAssessed,
    CallbackPromised,
    CallPlaced,
    CallTransferred,
    Event,
    Heartbeat,
    MailAssessed,
    MailAutoReplied,
    MailReplied,
    MailSent,
    SelfCallback,
    SurveyResponse,
)
from schemas.reference import ReferenceData
from services.recompute import recompute
from services.scoring.catalogue import ModelCatalogue

REFERENCE = ReferenceData.load()
CATALOGUE = ModelCatalogue()
MODEL = CATALOGUE.resolve(None)
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


def heartbeat(event_id: str, hours: float) -> Heartbeat:
    return Heartbeat(
        event_id=event_id, source="ingest:test", occurred_at=T0 + timedelta(hours=hours)
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
        "deskundige_indruk": "weinig deskundig",
    },
)

LOG: list[Event | Heartbeat] = [
    ev(CallPlaced, "p1-pl", "P1", UTRECHT, 0),
    ev(CallAnswered, "p1-an", "P1", UTRECHT, 0.01, seconds_waited=10),
    sent("m1-se", "M1", AMSTERDAM),
    P1_ASSESSED,
    ev(SelfCallback, "p1-wrong", "P1", AMSTERDAM, 0.5),  # contradicts P1's municipality
    heartbeat("hb-1", 1.5),
    ev(CallPlaced, "p2-pl", "P2", UTRECHT, 2),
    ev(CallAnswered, "p2-an", "P2", UTRECHT, 2.01, seconds_waited=20),
    ev(
        CallTransferred,
        "p2-tr",
        "P2",
        UTRECHT,
        2.02,
        to_role="vergunningen",
        briefed=False,
        colleague_available=True,
    ),
    ev(CallbackPromised, "p2-cp", "P2", UTRECHT, 2.05, deadline=T0 + timedelta(hours=6)),
    ev(
        CallAssessed,
        "p2-as",
        "P2",
        UTRECHT,
        4,
        answers={
            "vriendelijkheid_aanname": "neutraal",
            "juist_antwoord": "deels juist",
            "deskundige_indruk": "redelijk deskundig",
        },
    ),
    P1_ASSESSED,  # redelivered
    ev(CallPlaced, "p3-pl", "P3", AMSTERDAM, 3),
    ev(CallAnswered, "p3-an", "P3", AMSTERDAM, 3.01, seconds_waited=5),
    ev(SelfCallback, "p3-sc", "P3", AMSTERDAM, 5),
    ev(
        CallAssessed,
        "p3-as",
        "P3",
        AMSTERDAM,
        6,
        answers={"vriendelijkheid_aanname": "zeer vriendelijk", "juist_antwoord": "onjuist"},
    ),
    sent("m2-se", "M2", AMSTERDAM),
    ev(MailAutoReplied, "m2-ar", "M2", AMSTERDAM, 0.1),
    sent("m3-se", "M3", UTRECHT),
    ev(MailAutoReplied, "m3-ar", "M3", UTRECHT, 0.1),
    ev(MailReplied, "m1-re", "M1", AMSTERDAM, 20, salutation_correct=True),
    ev(MailReplied, "m3-re", "M3", UTRECHT, 50),
    ev(MailReplied, "o1-re", "O1", AMSTERDAM, 30, salutation_correct=True),  # never sent
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
    heartbeat("hb-2", 100),
]


def run(events: list[Event | Heartbeat]):
    return recompute(events, CATALOGUE.resolve, MODEL, REFERENCE)


@pytest.fixture(scope="module")
def result():
    return run(LOG)


def test_contact_totals(result) -> None:
    scores = result.scores
    assert set(scores) == {"P1", "P2", "P3", "M1", "M2", "M3"}
    assert {c: s.total for c, s in scores.items()} == {
        "P1": 9.0,
        "P2": 4.125,
        "P3": 3.9,
        "M1": 5.4,
        "M2": 0.0,
        "M3": 7.0,
    }
    assert {c: s.potential for c, s in scores.items()} == {
        "P1": 9.0,
        "P2": 5.625,
        "P3": 5.4,
        "M1": 5.4,
        "M2": None,
        "M3": 7.0,
    }
    assert {c: [k.kind for k in s.corrections] for c, s in scores.items()} == {
        "P1": [],
        "P2": ["callback_not_kept"],
        "P3": ["critical_cap", "self_callback"],
        "M1": ["critical_cap"],
        "M2": [],
        "M3": [],
    }
    assert scores["P3"].corrections[0].points == pytest.approx(6.0 - 5.4)
    assert scores["M1"].corrections[0].points == pytest.approx(38 / 6 - 5.4)
    assert scores["M2"].answered is False
    assert {c: s.municipality for c, s in scores.items()} == {
        "P1": UTRECHT,
        "P2": UTRECHT,
        "P3": AMSTERDAM,
        "M1": AMSTERDAM,
        "M2": AMSTERDAM,
        "M3": UTRECHT,
    }
    # P1: one revision only (the duplicate and the contradiction changed nothing)
    assert scores["P1"].revision == 1
    assert all(s.model_id == MODEL.id for s in scores.values())
    assert all(s.model_version == MODEL.version == "2026.1" for s in scores.values())


def test_form_and_content_apart(result) -> None:
    scores = result.scores
    # P1 form: (10 + 10 + 10) / 3; content: (10·2 + 4) / 3
    assert (scores["P1"].form, scores["P1"].content) == (10.0, 8.0)
    # P2 form: (8 + 4 + 6 + 10 + 1) / 5 = 5.8; content: (5·2 + 6) / 3
    assert (scores["P2"].form, scores["P2"].content) == (5.8, round(16 / 3, 6))
    # M3 form: (4 + 10) / 2; content: 7·2 / 2
    assert (scores["M3"].form, scores["M3"].content) == (7.0, 7.0)


def test_contradictions_and_orphans_are_listed_not_applied(result) -> None:
    assert len(result.contradictions) == 2
    wrong, orphan = result.contradictions
    assert wrong.startswith("p1-wrong: ")
    assert "municipality" in wrong and AMSTERDAM in wrong
    assert result.scores["P1"].corrections == ()
    assert orphan.startswith("O1: ")
    assert "never sent" in orphan
    assert "O1" not in result.scores


def test_heartbeats_change_nothing_and_surveys_only_survey_figures(result) -> None:
    assert run([e for e in LOG if not isinstance(e, Heartbeat)]) == result
    bare = run([e for e in LOG if not isinstance(e, Heartbeat | SurveyResponse)])
    assert bare.scores == result.scores
    assert bare.contradictions == result.contradictions
    assert [b.breakdowns for b in bare.benchmarks] == [b.breakdowns for b in result.benchmarks]


class Expected(NamedTuple):
    n: int
    mean: float | None
    min: float | None
    max: float | None
    potential_n: int
    potential_mean: float | None


def figs(n, mean, low, high, pn, pmean) -> Expected:
    return Expected(n, mean, low, high, pn, pmean)


def assert_figures(actual: Figures, expected: Expected) -> None:
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
        # totals P1 9.0, P2 4.125, M3 7.0; potentials 9.0, 5.625, 7.0
        "all": figs(3, 20.125 / 3, 4.125, 9.0, 3, 21.625 / 3),
        "channel=phone": figs(2, 13.125 / 2, 4.125, 9.0, 2, 14.625 / 2),
        "channel=mail": figs(1, 7.0, 7.0, 7.0, 1, 7.0),
    },
    ("municipality", AMSTERDAM): {
        # totals P3 3.9, M1 5.4, M2 0; potentials 5.4, 5.4, none
        "all": figs(3, 9.3 / 3, 0.0, 5.4, 2, 5.4),
        "channel=phone": figs(1, 3.9, 3.9, 3.9, 1, 5.4),
        "channel=mail": figs(2, 5.4 / 2, 0.0, 5.4, 1, 5.4),
    },
    ("nation", NATION_ID): {
        # totals 20.125 + 9.3 = 29.425 over 6; potentials 21.625 + 10.8 = 32.425 over 5
        "all": figs(6, 29.425 / 6, 0.0, 9.0, 5, 32.425 / 5),
        # phone 9.0 + 4.125 + 3.9 = 17.025; potentials 9.0 + 5.625 + 5.4 = 20.025
        "channel=phone": figs(3, 17.025 / 3, 3.9, 9.0, 3, 20.025 / 3),
        # mail 7.0 + 5.4 + 0 = 12.4; potentials 7.0 + 5.4 over 2
        "channel=mail": figs(3, 12.4 / 3, 0.0, 7.0, 2, 6.2),
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
    assert set(breakdowns) >= {"all", "channel=phone", "channel=mail"}
    for key, expected in EXPECTED[scope].items():
        assert_figures(breakdowns[key], expected)


def test_chamber_of_one_municipality_equals_it_exactly(result) -> None:
    assert (
        result.benchmark("chamber", "midden-nederland").breakdowns
        == result.benchmark("municipality", UTRECHT).breakdowns
    )


def test_log_order_and_duplicates_do_not_matter_for_consistent_events() -> None:
    consistent = [e for e in LOG if e.event_id != "p1-wrong"]
    forward = run(consistent)
    backward = run(list(reversed(consistent)) + consistent[:5])
    strip = {c: s.model_dump(exclude={"revision"}) for c, s in forward.scores.items()}
    assert {c: s.model_dump(exclude={"revision"}) for c, s in backward.scores.items()} == strip
    assert forward.benchmarks == backward.benchmarks
    assert forward.contradictions == backward.contradictions
    assert [c.split(":")[0] for c in forward.contradictions] == ["O1"]


def test_to_json(result) -> None:
    out = result.to_json()
    assert [s["contact_id"] for s in out["scores"]] == ["M1", "M2", "M3", "P1", "P2", "P3"]
    assert len(out["benchmarks"]) == 5
    assert out["contradictions"] == result.contradictions


def test_a_reply_awaiting_its_assessment_does_not_depend_on_log_order() -> None:
    mail = [sent("m4-se", "M4", UTRECHT), ev(MailReplied, "m4-re", "M4", UTRECHT, 10)]
    forward = run(mail)
    backward = run(list(reversed(mail)))
    assert {c: s.model_dump(exclude={"revision"}) for c, s in forward.scores.items()} == {
        c: s.model_dump(exclude={"revision"}) for c, s in backward.scores.items()
    }


def _folded(events: list[Event | Heartbeat]) -> tuple[dict[str, Any], list[str]]:
    """score_all the plain way: every event through `absorb` in log order, then `advance`."""
    from schemas.events import RescoreRequested, channel_of
    from services.scoring.rules import END_OF_TIME, ContactError, is_orphan
    from services.scoring.scorer import EMPTY_STATE, absorb, advance

    lookup = CATALOGUE.resolve
    states: dict[str, Any] = {}
    contradictions: list[str] = []
    for event in events:
        if isinstance(event, Heartbeat):
            continue
        if channel_of(event) is None and not isinstance(event, RescoreRequested):
            continue
        try:
            state = absorb(states.get(event.contact_id, EMPTY_STATE), event, lookup, MODEL)
        except (ContactError, KeyError) as exc:
            contradictions.append(f"{event.event_id}: {exc}")
        else:
            states[event.contact_id] = state
    latest = {}
    for contact_id, state in states.items():
        if is_orphan(state.facts, lookup(state.model_key), END_OF_TIME):
            contradictions.append(f"{contact_id}: reply facts for a mail that was never sent")
            continue
        revision = advance(state, lookup, END_OF_TIME).revision
        if revision is not None:
            latest[contact_id] = revision.model_dump()
    return latest, contradictions


def test_grouped_scoring_equals_folding_every_event() -> None:
    """score_all groups events by contact and skips `absorb` for contacts whose events all
    agree; the scores, their order and the contradictions (in order) are those of folding
    every event through `absorb`, also with a bad first fact, an unknown model and a rescore."""
    from schemas.events import RescoreRequested
    from services.recompute import score_all

    bad_first = ev(CallAssessed, "x-as", "X1", UTRECHT, 1, answers={"onbekend": "ja"})
    log = [
        bad_first,  # X1's first fact contradicts the model: X1 starts at its second fact
        *LOG[:7],
        ev(CallPlaced, "x-pl", "X1", UTRECHT, 0),
        ev(CallAnswered, "x-an", "X1", UTRECHT, 0.01, seconds_waited=12),
        ev(RescoreRequested, "p1-rs", "P1", UTRECHT, 50, model="nope@0"),  # unknown model
        ev(RescoreRequested, "p2-rs", "P2", UTRECHT, 50, model=MODEL.key),
        *LOG[7:],
        ev(CallAssessed, "x-as2", "X1", UTRECHT, 1, answers={"juist_antwoord": "deels juist"}),
    ]
    for events in (log, list(reversed(log)), LOG):
        scores, contradictions = score_all(events, CATALOGUE.resolve, MODEL)
        expected_scores, expected_contradictions = _folded(events)
        assert {c: s.model_dump() for c, s in scores.items()} == expected_scores
        assert list(scores) == list(expected_scores)
        assert contradictions == expected_contradictions
        assert len(contradictions) >= (3 if events is not LOG else 2)


def test_worker_processes_each_take_a_shard() -> None:
    from services.recompute import in_parallel

    shards = in_parallel(2, lambda shard, shards: (shard, shards, os.getpid()))
    assert [(shard, shards) for shard, shards, _ in shards] == [(0, 2), (1, 2)]
    assert shards[0][2] == os.getpid() != shards[1][2]


def test_sharded_over_processes_equals_one_process_bit_for_bit() -> None:
    """Contacts sharded by id over two processes, municipalities by Chamber, the nation
    combined from both: the same scores (in order), contradictions (in order) and benchmarks
    as in one process — on two generated waves with surveys, plus this file's log with its
    contradiction, orphan and duplicates, and a contact whose first fact is rejected."""
    from services.demo.campaign import CampaignSpec, generate_campaign

    waves = [
        generate_campaign(
            CampaignSpec(seed=5, municipalities=60, surveys_per_municipality=11, wave=wave),
            REFERENCE,
        )
        for wave in (1, 2)
    ]
    rejected_first = ev(CallAssessed, "x-as", "X1", AMSTERDAM, 1, answers={"onbekend": "ja"})
    log = [
        rejected_first,
        *waves[0],
        *LOG,
        ev(CallPlaced, "x-pl", "X1", UTRECHT, 0),
        *waves[1],
        *LOG[:9],
    ]
    one = recompute(log, CATALOGUE.resolve, MODEL, REFERENCE, workers=1)
    two = recompute(log, CATALOGUE.resolve, MODEL, REFERENCE, workers=2)
    assert json.dumps(two.to_json()) == json.dumps(one.to_json())
    assert list(two.scores) == list(one.scores)
    assert two.contradictions == one.contradictions
    assert len(one.contradictions) >= 3
    assert {b.scope_kind for b in one.benchmarks} == {"municipality", "chamber", "nation"}


# ------------------------------------------------------------------ from a JSONL file


def _jsonl(events: list[Event]) -> bytes:
    from schemas.events import EVENT_ADAPTER

    return b"".join(EVENT_ADAPTER.dump_json(event) + b"\n" for event in events)


@pytest.mark.parametrize(
    ("raw", "contact"),
    [
        (
            b'{"type":"call.placed","contact_id":"mg-1-GM0344-call-7","wave":1}',
            "mg-1-GM0344-call-7",
        ),
        (b'{"type": "call.placed", "contact_id" :\t "P1", "wave": 1}', "P1"),
        (b'{"contact_id": "P1"}', "P1"),
        # where the id might read wrongly, the line is not read at all
        (b'{"contact_id": " P1"}', None),  # stripped when parsed
        (b'{"contact_id": "P\\u0031"}', None),  # escaped
        (b'{"contact_id": "P1", "report": "\\u00e9\\u00E9n"}', "P1"),
        (b'{"\\u0063ontact_id": "P1", "answers": {"contact_id": "P2"}}', None),
        (b'{"contact_id": "P\\\\1"}', None),
        (b'{"contact\\u005fid": "P1", "answers": {"contact_id": "P2"}}', None),
        (b'{"contact_id": "P1", "answers": {"contact_id": "P2"}}', None),
        (b'{"contact_id": 7}', None),
        (b'{"contact_id": "Utrecht \xc3\xa9"}', None),
        (b'{"type": "call.placed"}', None),
        (b"{not json", None),
    ],
)
def test_a_lines_contact_is_read_only_where_it_cannot_be_wrong(
    raw: bytes, contact: str | None
) -> None:
    from services.recompute import _line_contact

    assert _line_contact(raw) == contact


def test_every_generated_line_is_read_as_its_contact() -> None:
    from services.demo.campaign import CampaignSpec, generate_campaign
    from services.recompute import _line_contact

    events = generate_campaign(CampaignSpec(seed=3, municipalities=20), REFERENCE)
    for event, raw in zip(events, _jsonl(events).splitlines(), strict=True):
        assert _line_contact(raw) == event.contact_id
        spaced = json.dumps(json.loads(raw)).encode()  # as Python's json writes it
        assert _line_contact(spaced) == event.contact_id


@pytest.mark.parametrize("workers", [1, 2])
def test_a_jsonl_file_is_recomputed_as_its_parsed_events_are(workers: int) -> None:
    """`recompute_jsonl` (each process parses its own contacts' lines) gives the same bits as
    `recompute` of the events `parse_jsonl` accepts, and the lines it rejects, in order — with
    blank lines, CRLF endings, bad and unknown-municipality lines, lines whose contact cannot
    be read off them, the hand-made log's contradiction, orphan and duplicates, and surveys."""
    import io

    from services.demo.campaign import CampaignSpec, generate_campaign
    from services.ingest.parsing import Accepted, parse_jsonl
    from services.recompute import recompute_jsonl

    generated = generate_campaign(
        CampaignSpec(seed=9, municipalities=40, surveys_per_municipality=11), REFERENCE
    )
    events = [e for e in LOG if not isinstance(e, Heartbeat)]
    unread = ev(CallAnswered, "p9-an", "P9", UTRECHT, 0.02, seconds_waited=9)
    text = b"".join(
        [
            _jsonl(generated[:500]),
            b"\n{not json}\r\n",
            _jsonl(events).replace(b"\n", b"\r\n"),
            json.dumps(json.loads(_jsonl([unread]))).encode().replace(b'"P9"', b'"\\u0050\\u0039"'),
            b"\n   \n",
            _jsonl(
                [
                    ev(CallPlaced, "p9-pl", "P9", UTRECHT, 0),
                    ev(
                        CallAssessed,
                        "p9-as",
                        "P9",
                        UTRECHT,
                        1,
                        answers={"juist_antwoord": "onjuist"},
                    ),
                ]
            ),
            _jsonl([ev(CallPlaced, "x-pl", "X", "GM9999", 0)]),  # not a municipality
            b'{"contact_id": "P1", "type": "call.teleported"}\n',
            _jsonl(generated[500:]),
        ]
    )
    parsed = list(parse_jsonl(io.BytesIO(text), "log.jsonl", set(REFERENCE.municipalities)))
    accepted = [o.event for o in parsed if isinstance(o, Accepted)]
    expected = recompute(accepted, CATALOGUE.resolve, MODEL, REFERENCE, workers=1)

    got, skipped = recompute_jsonl(
        text, "log.jsonl", CATALOGUE.resolve, MODEL, REFERENCE, workers=workers
    )
    assert skipped == [o for o in parsed if not isinstance(o, Accepted)]
    assert [r.reason.split(":")[0] for r in skipped] == ["not valid JSON", "municipality", "record"]
    assert json.dumps(got.to_json()) == json.dumps(expected.to_json())
    assert list(got.scores) == list(expected.scores)
    assert got.contradictions == expected.contradictions
    assert got.scores["P9"].facts["seconds_waited"] == 9  # from the line read in every shard
    assert len(got.contradictions) >= 2
    assert any(b.surveys["all"].published for b in got.benchmarks)


def test_the_collector_is_left_as_it_was() -> None:
    """The oracle pauses the cyclic collector while it works and then hands what it made to
    the oldest generation; a caller's frozen heap stays frozen."""
    import gc

    frozen = gc.get_freeze_count()
    assert gc.isenabled()
    run(LOG)
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    gc.freeze()
    try:
        held = gc.get_freeze_count()
        run(LOG)
        assert gc.isenabled() and gc.get_freeze_count() == held
    finally:
        if not frozen:  # (else it was frozen before this test, and stays so)
            gc.unfreeze()


@pytest.mark.parametrize(
    ("text", "unique"),
    [
        (b'{"event_id":"a","x":1}\n{"event_id": "b"}\n\n{"event_id" :\t"c"}', True),
        (b'{"event_id":"a"}\n{"event_id":"a"}\n', False),
        (b'{"event_id":"a","report":"\\u00e9\\u00E9n"}\n{"event_id":"b"}\n', True),
        # where an id might be missed or read wrongly, the lines are read one by one
        (b'{"event_id":"a"}\n{"event\\u005fid":"a"}\n', False),
        (b'{"event_id":"a"}\n{"event_id":"\\u0061"}\n', False),
        (b'{"event_id":"a"}\n{"event_id":" a"}\n', False),
        (b'{"event_id":"a"}\n{"event_id":"b","answers":{"event_id":"x"}}\n', True),
        (b'{"event_id":"a"}\n{"event_id":"b","answers":{"event_id":"a"}}\n', False),
        (b'{"event_id":"a"}\n{"event_id":7}\n', False),
    ],
)
def test_a_files_ids_are_unique_only_where_no_line_can_be_misread(
    text: bytes, unique: bool
) -> None:
    from services.recompute import _ids_unique

    assert _ids_unique(text) is unique


@pytest.mark.parametrize("workers", [1, 2])
def test_an_event_id_that_comes_again_with_other_content_is_left_out(workers: int) -> None:
    """As ingest leaves it out of the stream: the first accepted version of an event id counts,
    a later one with other content is skipped (from a file) or listed (in memory), and the
    same fact written differently is a duplicate. Across contacts (so across shards) too."""
    from services.demo.campaign import CampaignSpec, generate_campaign
    from services.recompute import recompute_jsonl

    generated = generate_campaign(CampaignSpec(seed=5, municipalities=12), REFERENCE)
    moved = generated[5].model_copy(
        update={"occurred_at": generated[5].occurred_at + timedelta(hours=1)}
    )
    elsewhere = generated[7].model_copy(update={"contact_id": generated[-1].contact_id})
    escaped = generated[11].model_copy(update={"case": "evenementenvergunning"})
    fresh = ev(CallPlaced, "fresh-1", "F1", UTRECHT, 0)
    same_fact = json.loads(_jsonl([generated[9]]))
    same_fact["occurred_at"] = generated[9].occurred_at.astimezone(timezone(timedelta(hours=1)))
    lines = [
        _jsonl(generated),
        _jsonl([moved, elsewhere]),
        _jsonl([escaped]).replace(b'"event_id":"', b'"event_\\u0069d":"'),
        json.dumps(same_fact, default=datetime.isoformat).encode() + b"\n",
        _jsonl([fresh.model_copy(update={"municipality": "GM9999"})]),  # refused: not the first
        _jsonl([fresh, fresh.model_copy(update={"case": "x"})]),
    ]
    text = b"".join(lines)
    first = len(generated)  # lines after the generated ones, numbered from 1

    got, skipped = recompute_jsonl(
        text, "log.jsonl", CATALOGUE.resolve, MODEL, REFERENCE, workers=workers
    )
    assert [(r.line, r.kind) for r in skipped] == [
        (first + 1, "conflicting_event"),
        (first + 2, "conflicting_event"),
        (first + 3, "conflicting_event"),
        (first + 5, "invalid_event"),
        (first + 7, "conflicting_event"),
    ]
    assert skipped[0].reason == (
        f"event_id: {generated[5].event_id!r} was accepted before with other content; the "
        "first stays (a changed fact needs an event id of its own)"
    )
    expected = recompute([*generated, fresh], CATALOGUE.resolve, MODEL, REFERENCE, workers=1)
    assert json.dumps(got.to_json()) == json.dumps(expected.to_json())

    in_memory = recompute(
        [
            *generated,
            moved,
            elsewhere,
            escaped,
            generated[9],
            fresh,
            fresh.model_copy(update={"case": "x"}),
        ],
        CATALOGUE.resolve,
        MODEL,
        REFERENCE,
        workers=workers,
    )
    assert in_memory.scores == expected.scores
    assert in_memory.benchmarks == expected.benchmarks
    conflicts = [generated[5].event_id, generated[7].event_id, generated[11].event_id, "fresh-1"]
    assert (
        in_memory.contradictions
        == [
            f"{event_id!r} was accepted before with other content; the first stays (a changed fact "
            "needs an event id of its own)"
            for event_id in conflicts
        ]
        + expected.contradictions
    )
